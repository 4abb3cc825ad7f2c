"""The CGM metrics on traces no one here wrote: 14 days of two virtual patients of the UVA/Padova
Type 1 simulator (tests/fixtures/cgm/, made once by tools/cgm_fixtures.py with simglucose). On a
steady five-minute cadence a time-weighted share is the share of readings, which the test counts
itself; GMI follows its formula from the mean; the bands nest; a trace with five days missing is
withheld, and one with every other reading missing (ten-minute cadence) still covers the period."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from telehealth.domain.cgm import OLDER_OR_HIGH_RISK, missed, summary
from telehealth.domain.monitoring import Enrolment, Program, evaluate
from telehealth.domain.monitoring_alerts import Tier, cgm_tier
from telehealth.domain.readings import reading

FIXTURES = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "cgm").glob("*.json"))


def load(path: Path) -> tuple[list[tuple[datetime, float]], datetime]:
    document: dict[str, Any] = json.loads(path.read_text())
    start = datetime.fromisoformat(document["start"].replace("Z", "+00:00")).astimezone(UTC)
    readings = [(start + timedelta(minutes=m), float(g)) for m, g in document["readings"]]
    return readings, start + timedelta(days=document["days"])


def test_the_traces_are_there() -> None:
    assert len(FIXTURES) == 2, FIXTURES


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_the_metrics_of_a_simulated_fortnight_agree_with_a_count_of_its_readings(path: Path) -> None:
    readings, end = load(path)
    found = summary(readings, end)
    assert found.sufficient and found.covered == pytest.approx(1.0, abs=0.001)
    inside = [g for t, g in readings if t < end]
    share = {
        "in_range": sum(70 <= g <= 180 for g in inside),
        "below_70": sum(g < 70 for g in inside),
        "below_54": sum(g < 54 for g in inside),
        "above_180": sum(g > 180 for g in inside),
        "above_250": sum(g > 250 for g in inside),
    }
    for name, count in share.items():
        assert getattr(found, name) == pytest.approx(100 * count / len(inside), abs=0.15), name
    mean, cv, in_range = found.mean, found.cv, found.in_range
    below_70, below_54, above_180, above_250 = (
        found.below_70,
        found.below_54,
        found.above_180,
        found.above_250,
    )
    assert mean is not None and cv is not None and in_range is not None
    assert below_70 is not None and below_54 is not None and above_180 is not None and above_250 is not None
    assert mean == pytest.approx(sum(inside) / len(inside), abs=0.2)
    assert found.gmi == pytest.approx(3.31 + 0.02392 * mean, abs=0.05)
    assert below_54 <= below_70 and above_250 <= above_180
    assert in_range + below_70 + above_180 == pytest.approx(100, abs=0.2)
    assert 0 < cv < 100


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_missing_days_withhold_the_metrics_and_a_sparser_cadence_does_not(path: Path) -> None:
    readings, end = load(path)
    gap = (end - timedelta(days=9), end - timedelta(days=4))
    without = [(t, g) for t, g in readings if not gap[0] <= t < gap[1]]
    withheld = summary(without, end)
    assert not withheld.sufficient and withheld.mean is None
    assert withheld.covered == pytest.approx(9 / 14, abs=0.01)
    every_other = summary(readings[::2], end)
    assert every_other.sufficient and every_other.covered == pytest.approx(1.0, abs=0.001)


def test_the_simulated_patients_time_low_asks_for_a_review() -> None:
    """Alerts on the traces: both virtual patients spend more than 4% of the fortnight below 70
    mg/dL, the consensus's target, and the adolescent more than 1% below 54."""
    by_name = {p.stem: summary(*load(p)) for p in FIXTURES}
    adolescent = [name for name, _ in missed(by_name["adolescent-003"])]
    adult = [name for name, _ in missed(by_name["adult-001"])]
    assert adolescent[:2] == ["time below 54 mg/dL", "time below 70 mg/dL"]
    assert "time below 70 mg/dL" in adult and "time below 54 mg/dL" not in adult
    assert "time in range 70-180 mg/dL" not in adult  # 91.8% in range
    assert cgm_tier(missed(by_name["adolescent-003"])) is Tier.REVIEW
    assert cgm_tier(missed(by_name["adult-001"])) is Tier.REVIEW
    # An older or high-risk patient is held to a stricter time low, not a stricter time in range.
    assert "time below 70 mg/dL" in [n for n, _ in missed(by_name["adult-001"], OLDER_OR_HIGH_RISK)]


def test_a_fortnight_without_enough_readings_raises_nothing() -> None:
    readings, end = load(FIXTURES[0])
    sparse = summary(readings[: len(readings) // 2], end)
    assert missed(sparse) == () and cgm_tier(()) is None


def test_a_diabetes_programs_new_glucose_evaluates_the_fortnight_behind_it() -> None:
    readings, end = load(FIXTURES[0])  # the adolescent
    kept = [
        reading(
            patient_id="p1", device_id="cgm", code="99504-3", value=g, unit="mg/dL",
            effective=t, identifier=str(n),
        )
        for n, (t, g) in enumerate(readings)
        if t < end
    ]  # fmt: skip
    patient = Enrolment("p1", Program.DIABETES, end - timedelta(days=30))
    found = evaluate(patient, kept[-12:], kept, {})
    assert [(a.rule, a.tier) for a in found.raised] == [("cgm-targets", Tier.REVIEW)]
    assert "time below 54 mg/dL" in found.notes["cgm-targets"]
    early = evaluate(patient, kept[:12], kept[:12], found.episodes)  # an hour of data: withheld
    assert early.raised == () and early.episodes == found.episodes
    assert early.notes["cgm-targets"].startswith("withheld")
