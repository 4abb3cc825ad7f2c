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

from telehealth.domain.cgm import summary

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
