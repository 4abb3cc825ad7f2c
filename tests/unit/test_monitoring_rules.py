"""Remote monitoring's pure rules (issue #20, first part): readings normalized or refused with a
reason, NEWS2 scored per the RCP's 2017 chart (boundaries from the chart, written out here), the
blood-pressure crisis rule, the CGM consensus metrics, heart failure weight (the guideline rule and
the patient's own trend, on synthetic series with a step, a ramp and noise), the RPM billing
ledger, and alerts (tiers, one per episode, hysteresis, silence). Every value is synthetic."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from telehealth.domain.blood_pressure import BloodPressure, BloodPressureAdvice, advice
from telehealth.domain.cgm import summary
from telehealth.domain.monitoring import Enrolment, Program, evaluate, vitals_at
from telehealth.domain.monitoring_alerts import (
    Tier,
    blood_pressure_tier,
    news2_tier,
    next_escalation,
    silence,
    step,
)
from telehealth.domain.news2 import Response, SpO2Scale, Vitals, news2
from telehealth.domain.readings import MEASURES, Provenance, Reading, ReadingRefusedError, reading
from telehealth.domain.rpm_billing import (
    BillingPractitioner,
    Consent,
    ConsentMethod,
    TimeEntry,
    device_periods,
    ledger,
    management_codes,
    practitioner_on,
)
from telehealth.domain.weight_trend import assess

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _reading(code: str, value: float, unit: str, **kw: object) -> float:
    fields: dict[str, object] = {
        "patient_id": "p1",
        "device_id": "cuff-1",
        "effective": NOW,
        "identifier": "r1",
        **kw,
    }
    return reading(code=code, value=value, unit=unit, **fields).value  # type: ignore[arg-type]


def test_units_ucum_converts_are_converted_to_the_codes_own() -> None:
    assert _reading("29463-7", 176.4, "[lb_av]") == 80.01
    assert _reading("29463-7", 80500, "g") == 80.5
    assert _reading("8310-5", 98.6, "[degF]") == 37.0
    assert _reading("99504-3", 5.5, "mmol/L") == 99.09
    assert _reading("8480-6", 16, "kPa") == 120.01
    assert _reading("8867-4", 72, "{beats}/min") == 72
    assert _reading("2708-6", 97, "%") == 97


@pytest.mark.parametrize(
    ("code", "value", "unit", "extra", "said"),
    [
        ("1234-5", 1, "%", {}, "not a measurement the clinic monitors"),
        ("8480-6", 120, "mmHg", {}, "not 'mmHg'"),  # UCUM says mm[Hg]
        ("29463-7", 80, "mg/dL", {}, "is in UCUM kg, g, [lb_av]"),
        ("8480-6", 400, "mm[Hg]", {}, "outside what a patient has: 40 to 300"),
        ("2708-6", 101, "%", {}, "outside"),
        ("8867-4", 72, "/min", {"effective": datetime(2026, 12, 1, 9, 0)}, "time zone"),
        ("8867-4", 72, "/min", {"identifier": ""}, "identifier"),
    ],
)
def test_a_reading_that_cannot_be_kept_is_refused_with_a_reason_without_its_value(
    code: str, value: float, unit: str, extra: dict[str, object], said: str
) -> None:
    with pytest.raises(ReadingRefusedError, match=said.replace("[", r"\[").replace("]", r"\]")) as refused:
        _reading(code, value, unit, **extra)
    if "outside" in said:  # the patient's value stays out of the reason: codes and bounds only
        assert f"{value:g}" not in str(refused.value)


def test_a_resent_reading_is_the_same_reading() -> None:
    one = reading(
        patient_id="p1", device_id="cuff-1", code="8867-4", value=72, unit="/min",
        effective=NOW, identifier="r1",
    )  # fmt: skip
    again = reading(
        patient_id="p1", device_id="cuff-1", code="8867-4", value=72, unit="/min",
        effective=NOW, identifier="r1", provenance=Provenance.MANUAL,
    )  # fmt: skip
    assert one.key == again.key == "cuff-1#r1"
    assert one.provenance is Provenance.DEVICE


# --- NEWS2 -----------------------------------------------------------------------------------------

# Each parameter's band edges, from Chart 1 (value: score).
EDGES: dict[str, dict[float, int]] = {
    "respiration_rate": {8: 3, 9: 1, 11: 1, 12: 0, 20: 0, 21: 2, 24: 2, 25: 3},
    "systolic": {90: 3, 91: 2, 100: 2, 101: 1, 110: 1, 111: 0, 219: 0, 220: 3},
    "pulse": {40: 3, 41: 1, 50: 1, 51: 0, 90: 0, 91: 1, 110: 1, 111: 2, 130: 2, 131: 3},
    "temperature": {35.0: 3, 35.1: 1, 36.0: 1, 36.1: 0, 38.0: 0, 38.1: 1, 39.0: 1, 39.1: 2},
    "spo2": {91: 3, 92: 2, 93: 2, 94: 1, 95: 1, 96: 0},
}
NAMES = {
    "respiration_rate": "respiration rate",
    "systolic": "systolic blood pressure",
    "pulse": "pulse",
    "temperature": "temperature",
    "spo2": "oxygen saturation",
}


@pytest.mark.parametrize("parameter", list(EDGES))
def test_each_parameter_scores_as_the_chart_at_every_band_edge(parameter: str) -> None:
    for value, score in EDGES[parameter].items():
        scored = news2(Vitals(**{parameter: value}))  # type: ignore[arg-type]  # numeric fields only
        assert scored.scores == {NAMES[parameter]: score}, (parameter, value)


def test_scale_2_scores_saturation_at_or_above_93_only_on_oxygen() -> None:
    on_air = {83: 3, 84: 2, 85: 2, 86: 1, 87: 1, 88: 0, 92: 0, 93: 0, 99: 0}
    for spo2, score in on_air.items():
        assert news2(Vitals(spo2=spo2, on_oxygen=False), SpO2Scale.TWO).scores["oxygen saturation"] == score
    on_oxygen = {92: 0, 93: 1, 94: 1, 95: 2, 96: 2, 97: 3}
    for spo2, score in on_oxygen.items():
        scored = news2(Vitals(spo2=spo2, on_oxygen=True), SpO2Scale.TWO)
        assert (scored.scores["oxygen saturation"], scored.scores["air or oxygen"]) == (score, 2)
    unknown = news2(Vitals(spo2=95), SpO2Scale.TWO)
    assert "oxygen saturation" in unknown.missing and "air or oxygen" in unknown.missing
    assert news2(Vitals(spo2=86), SpO2Scale.TWO).scores["oxygen saturation"] == 1  # known without it


def test_a_full_set_adds_up_and_maps_to_the_charts_response() -> None:
    full = news2(
        Vitals(
            respiration_rate=22,
            spo2=95,
            on_oxygen=False,
            systolic=105,
            pulse=115,
            alert=True,
            temperature=38.5,
        )
    )
    assert (full.total, full.partial, full.response) == (2 + 1 + 0 + 1 + 2 + 0 + 1, False, Response.EMERGENCY)
    assert news2(Vitals(respiration_rate=22, pulse=115, systolic=105)).response is Response.URGENT  # 5
    assert news2(Vitals(respiration_rate=22, pulse=95)).response is Response.ASSESS  # 3, no single 3
    assert news2(Vitals(respiration_rate=16, pulse=70)).response is Response.NONE
    confused = news2(Vitals(alert=False, respiration_rate=16))
    assert (confused.total, confused.response) == (3, Response.URGENT_REVIEW)  # a single parameter's 3


def test_a_home_score_is_partial_and_names_what_was_missing() -> None:
    home = news2(Vitals(spo2=91, pulse=88, systolic=132))
    assert home.partial and home.total == 3 and home.response is Response.URGENT_REVIEW
    assert home.missing == ("respiration rate", "air or oxygen", "consciousness", "temperature")


# --- Blood pressure at crisis level ------------------------------------------------------------------


def _bp(systolic: float, diastolic: float, minutes: int) -> BloodPressure:
    return BloodPressure(systolic, diastolic, NOW + timedelta(minutes=minutes))


def test_a_crisis_reading_asks_for_a_repeat_and_a_confirmed_one_says_what_to_do() -> None:
    first = _bp(182, 100, 0)
    assert advice(first, None, symptoms=True) is BloodPressureAdvice.REPEAT
    assert advice(_bp(150, 121, 0), None, symptoms=False) is BloodPressureAdvice.REPEAT  # diastolic alone
    assert advice(_bp(179, 119, 0), None, symptoms=True) is BloodPressureAdvice.NONE
    repeat = _bp(185, 95, 6)
    assert advice(repeat, first, symptoms=True) is BloodPressureAdvice.CALL_911
    assert advice(repeat, first, symptoms=False) is BloodPressureAdvice.CALL_CARE_TEAM
    assert advice(_bp(185, 95, 2), first, symptoms=True) is BloodPressureAdvice.REPEAT  # too soon
    assert advice(_bp(185, 95, 45), first, symptoms=True) is BloodPressureAdvice.REPEAT  # a new first
    assert advice(repeat, _bp(150, 90, 0), symptoms=True) is BloodPressureAdvice.REPEAT
    assert "call 911" in BloodPressureAdvice.CALL_911.words.lower()
    assert "measure it again" in BloodPressureAdvice.REPEAT.words


# --- CGM ---------------------------------------------------------------------------------------------


def _trace(
    days: float, glucose: object, every_min: int = 5, start: datetime = NOW
) -> list[tuple[datetime, float]]:
    count = int(days * 24 * 60 / every_min)
    at = [start + timedelta(minutes=every_min * i) for i in range(count)]
    return [(t, glucose(i) if callable(glucose) else float(glucose)) for i, t in enumerate(at)]  # type: ignore[arg-type]


END = NOW + timedelta(days=14)


def test_a_steady_trace_is_all_in_range_with_the_consensus_gmi() -> None:
    found = summary(_trace(14, 100), END)
    assert found.sufficient and found.covered == 1.0
    assert (found.mean, found.gmi, found.cv, found.in_range, found.below_70, found.above_180) == (
        100.0,
        5.7,  # 3.31 + 0.02392 x 100
        0.0,
        100.0,
        0.0,
        0.0,
    )


def test_time_is_weighted_and_the_bands_nest() -> None:
    # Alternating hours at 50 and 260 mg/dL: half the time each.
    found = summary(_trace(14, lambda i: 50.0 if (i // 12) % 2 == 0 else 260.0), END)
    assert (found.below_70, found.below_54, found.above_180, found.above_250, found.in_range) == (
        50.0,
        50.0,
        50.0,
        50.0,
        0.0,
    )
    assert found.mean == 155.0 and found.cv == pytest.approx(100 * 105 / 155, abs=0.1)
    # A burst of high readings a second apart stands for seconds, not for as many readings.
    burst = [(NOW + timedelta(days=3, seconds=s), 400.0) for s in range(100)]
    assert summary([*_trace(14, 100), *burst], END).above_250 == 0.0


def test_metrics_are_withheld_below_70_percent_of_the_period_and_gaps_count_as_missing() -> None:
    short = summary(_trace(9.5, 100), END)  # 9.5 of 14 days: 68%
    assert not short.sufficient and short.mean is None and short.covered == pytest.approx(9.5 / 14, abs=0.001)
    # Hourly readings cover 15 minutes of each hour: a silent sensor stands for nothing.
    sparse = summary(_trace(14, 100, every_min=60), END)
    assert not sparse.sufficient and sparse.covered == pytest.approx(0.25, abs=0.001)


# --- Heart failure weight -----------------------------------------------------------------------------


def _series(days: int, shape: object, seed: int = 7) -> list[tuple[date, float]]:
    """80 kg with the day's noise (a standard deviation of 0.25 kg), plus `shape(day)`."""
    noise = random.Random(seed)  # noqa: S311 (seeded noise for a synthetic series, not a secret)
    first = date(2026, 10, 1)
    return [
        (first + timedelta(days=d), round(80 + noise.gauss(0, 0.25) + shape(d), 1))  # type: ignore[operator]
        for d in range(days)
    ]


def test_a_steady_weight_raises_nothing_over_a_hundred_days() -> None:
    days = assess(_series(100, lambda d: 0.0))
    assert not any(d.gained_fast or d.drifting for d in days)
    assert days[6].baseline is None and days[7].baseline is not None  # seven days weighed first


def test_a_ramp_the_guideline_misses_is_caught_by_the_patients_own_trend() -> None:
    # 0.15 kg a day from day 30: 0.45 kg in any three days, never the guideline's 2 kg.
    days = assess(_series(60, lambda d: 0.15 * max(0, d - 30)))
    assert not any(d.gained_fast for d in days)
    first = next(d for d in days if d.drifting)
    assert 30 < (first.day - date(2026, 10, 1)).days <= 40  # within ten days of the ramp's start
    assert not any(d.drifting for d in days if (d.day - date(2026, 10, 1)).days <= 30)


def test_a_step_is_caught_by_the_guideline_that_day_and_a_missing_day_changes_nothing() -> None:
    series = _series(40, lambda d: 2.5 if d >= 30 else 0.0)
    days = {d.day: d for d in assess(series)}
    step = date(2026, 10, 1) + timedelta(days=30)
    assert days[step].gained_fast and not days[step - timedelta(days=1)].gained_fast
    without = assess([w for w in series if w[0] != step - timedelta(days=1)])
    assert {d.day for d in without} == set(days) - {step - timedelta(days=1)}


# --- RPM billing ----------------------------------------------------------------------------------


def test_device_days_bill_one_supply_code_a_period_and_the_set_up_once() -> None:
    enrolled = date(2026, 1, 1)
    days = [enrolled + timedelta(days=d) for d in range(20)]  # the first period: 20 days
    days += [enrolled + timedelta(days=30 + d) for d in (0, 5, 9)]  # the second: 3 days
    days += [enrolled + timedelta(days=60)]  # the third: 1 day
    periods = device_periods(enrolled, days, enrolled + timedelta(days=75), consent=True)
    assert [(p.device_days, [c.code for c in p.codes]) for p in periods] == [
        (20, ["99453", "99454"]),
        (3, ["99445"]),
        (1, []),
    ]
    assert all(
        not p.codes for p in device_periods(enrolled, days, enrolled + timedelta(days=75), consent=False)
    )


def test_management_time_bills_99470_or_99457_with_99458_never_both() -> None:
    def codes(minutes: int, interactive: bool = True) -> list[tuple[str, int]]:
        return [(c.code, c.units) for c in management_codes(minutes, interactive=interactive, consent=True)]

    assert codes(9) == []
    assert codes(10) == codes(19) == [("99470", 1)]
    assert codes(20) == codes(39) == [("99457", 1)]
    assert codes(40) == [("99457", 1), ("99458", 1)]
    assert codes(65) == [("99457", 1), ("99458", 2)]
    assert codes(45, interactive=False) == []


def test_the_ledger_bills_a_period_or_month_only_with_consent_and_one_billing_practitioner() -> None:
    enrolled = date(2026, 1, 10)
    days = [enrolled + timedelta(days=d) for d in range(60)]  # a reading every day, two periods
    consent = Consent(date(2026, 2, 12), ConsentMethod.VERBAL, "user-rn")  # in the second period
    time = [
        TimeEntry("t1", date(2026, 2, 3), 15, False, "user-rn"),
        TimeEntry("t2", date(2026, 2, 20), 10, True, "user-rn"),  # February: 25 minutes, a call
        TimeEntry("t3", date(2026, 3, 2), 30, False, "user-rn"),  # March: no call
    ]
    named = [BillingPractitioner(date(2026, 1, 10), "dr-a"), BillingPractitioner(date(2026, 2, 20), "dr-b")]
    found = ledger(enrolled, days, time, consent, named, date(2026, 3, 15))
    assert [
        (p.start, p.device_days, [c.code for c in p.codes], p.practitioner, p.not_billed)
        for p in found.periods
    ] == [
        (date(2026, 1, 10), 30, [], "dr-a", "no consent on file by the period's end"),
        (date(2026, 2, 9), 30, ["99453", "99454"], "dr-a", None),  # dr-b starts mid-period: next one
        (date(2026, 3, 11), 0, [], "dr-b", "fewer than 2 days with device readings"),
    ]
    assert [
        (m.month, m.minutes, [c.code for c in m.codes], m.practitioner, m.not_billed) for m in found.months
    ] == [
        (date(2026, 1, 1), 0, [], "dr-a", "no consent on file by the month's end"),
        (date(2026, 2, 1), 25, ["99457"], "dr-a", None),
        (date(2026, 3, 1), 30, [], "dr-b", "no interactive communication with the patient"),
    ]
    assert practitioner_on(named, date(2026, 1, 9)) is None
    nobody = ledger(enrolled, days, time, consent, [], date(2026, 3, 15))
    assert {p.not_billed for p in nobody.periods[1:2]} == {
        "no billing practitioner named by the period's start"
    }


# --- Alerts: tiers, one per episode, hysteresis, silence ---------------------------------------------


def test_an_episode_raises_once_escalates_and_closes_only_after_clear_in_a_row() -> None:
    at = [NOW + timedelta(hours=h) for h in range(10)]
    episode, raised = step(None, "news2", Tier.REVIEW, at[0])
    assert raised is not None and (raised.tier, raised.escalated) == (Tier.REVIEW, False)
    episode, raised = step(episode, "news2", Tier.REVIEW, at[1])
    assert raised is None  # the same episode
    episode, raised = step(episode, "news2", Tier.URGENT, at[2])
    assert raised is not None and raised.escalated and episode is not None and episode.tier is Tier.URGENT
    episode, raised = step(episode, "news2", None, at[3])
    assert episode is not None and raised is None  # one clear evaluation is not the end
    episode, raised = step(episode, "news2", Tier.INFORMATION, at[4])  # wavering at the threshold
    assert episode is not None and raised is None and episode.clear_in_a_row == 0
    episode, _ = step(episode, "news2", None, at[5])
    episode, _ = step(episode, "news2", None, at[6])
    assert episode is None
    assert step(None, "news2", None, at[7]) == (None, None)
    _, again = step(None, "news2", Tier.REVIEW, at[8])
    assert again is not None  # a new episode raises anew


def test_silence_is_an_information_alert_of_its_own_and_the_tiers_map_the_rules() -> None:
    enrolled = NOW - timedelta(days=10)
    assert silence(NOW - timedelta(days=2), enrolled, NOW) is None
    assert silence(NOW - timedelta(days=3), enrolled, NOW) is Tier.INFORMATION
    assert silence(None, NOW - timedelta(days=1), NOW) is None  # enrolled yesterday
    assert news2_tier(Response.EMERGENCY) is news2_tier(Response.URGENT) is Tier.URGENT
    assert news2_tier(Response.URGENT_REVIEW) is Tier.REVIEW and news2_tier(Response.NONE) is None
    assert blood_pressure_tier(BloodPressureAdvice.REPEAT) is Tier.REVIEW
    assert blood_pressure_tier(BloodPressureAdvice.CALL_911) is Tier.URGENT


# --- One patient's program, evaluated on new readings ------------------------------------------------


def _r(code: str, value: float, minutes: int, n: int) -> Reading:
    return reading(
        patient_id="p1",
        device_id="hub-1",
        code=code,
        value=value,
        unit=MEASURES[code].unit,
        effective=NOW + timedelta(minutes=minutes),
        identifier=f"r{n}",
    )


def test_new_readings_evaluate_only_the_rules_they_touch_and_raise_once_an_episode() -> None:
    patient = Enrolment("p1", Program.HYPERTENSION, NOW - timedelta(days=30))
    first = [_r("8480-6", 186, 0, 1), _r("8462-4", 98, 0, 2)]
    found = evaluate(patient, first, first, {})
    assert found.advice is BloodPressureAdvice.REPEAT
    assert [(a.rule, a.tier) for a in found.raised] == [("blood-pressure-crisis", Tier.REVIEW)]
    # NEWS2 was evaluated on the systolic too: partial, and said so for the care team.
    assert "partial, without respiration rate" in found.notes["news2"]
    repeat = [_r("8480-6", 184, 7, 3), _r("8462-4", 97, 7, 4)]
    again = evaluate(patient, repeat, first + repeat, found.episodes, symptoms=True)
    assert again.advice is BloodPressureAdvice.CALL_911
    assert [(a.tier, a.escalated) for a in again.raised] == [(Tier.URGENT, True)]
    # A weight says nothing to a hypertension program, and raises nothing.
    weight = [_r("29463-7", 90, 30, 5)]
    assert evaluate(patient, weight, first + repeat + weight, again.episodes).raised == ()


def test_news2_takes_the_set_measured_together_and_scale_2_where_set() -> None:
    copd = Enrolment("p1", Program.COPD, NOW, spo2_scale=SpO2Scale.TWO)
    earlier = [_r("8867-4", 130, -120, 1)]  # two hours before: not in this set
    now = [_r("59408-5", 89, 0, 2), _r("9279-1", 22, 0, 3), _r("8867-4", 95, -10, 4)]
    vitals = vitals_at(earlier + now, NOW)
    assert (vitals.spo2, vitals.respiration_rate, vitals.pulse) == (89, 22, 95)
    found = evaluate(copd, now, earlier + now, {})
    assert found.notes["news2"].startswith("NEWS2 3 (assess)")  # 89% is scale 2's target: 0
    assert [(a.rule, a.tier) for a in found.raised] == [("news2", Tier.INFORMATION)]
    on_scale_1 = evaluate(Enrolment("p2", Program.COPD, NOW), now, earlier + now, {})
    assert on_scale_1.notes["news2"].startswith("NEWS2 6 (urgent)")
    # Supplemental oxygen at home, as the clinician records it: scored (2), and no longer missing.
    assert "air or oxygen" in found.notes["news2"]
    on_oxygen = evaluate(
        Enrolment("p3", Program.COPD, NOW, spo2_scale=SpO2Scale.TWO, on_oxygen=True), now, earlier + now, {}
    )
    assert (
        on_oxygen.notes["news2"].startswith("NEWS2 5 (") and "air or oxygen" not in on_oxygen.notes["news2"]
    )


def test_an_urgent_alert_nobody_acknowledges_goes_to_each_person_named_in_turn() -> None:
    raised, after, chain = datetime(2026, 12, 1, 7, 0, tzinfo=UTC), timedelta(minutes=15), ("dr-a", "dr-b")

    def at(
        minutes: float, handed_on: int, *, open: bool = True, tier: Tier = Tier.URGENT
    ) -> tuple[object, ...]:
        found = next_escalation(
            open=open,
            tier=tier,
            raised_at=raised,
            handed_on=handed_on,
            chain=chain,
            after=after,
            now=raised + timedelta(minutes=minutes),
        )
        return found.to, found.next_at and (found.next_at - raised) / timedelta(minutes=1)

    assert at(0, 0) == (None, 15)  # the timer's first step: wait for the first person's turn
    assert at(15, 0) == ("dr-a", 30)  # unacknowledged at 15 minutes: the first person, then wait
    assert at(16, 1) == (None, 30)  # a retried step does not hand it on twice
    assert at(30, 1) == ("dr-b", None)  # the last person named: nothing after
    assert at(61, 2) == (None, None)
    assert at(40, 0) == ("dr-a", 30)  # a late step hands on once; the next is due at once
    assert at(15, 0, open=False) == (None, None)  # acknowledged: the timer ends
    assert at(15, 0, tier=Tier.REVIEW) == (None, None)  # only urgent alerts escalate
    nobody = next_escalation(
        open=True, tier=Tier.URGENT, raised_at=raised, handed_on=0, chain=(), after=after, now=raised
    )
    assert (nobody.to, nobody.next_at) == (None, None)  # nobody named: it stays on the panel


def test_the_escalation_timer_never_wakes_before_the_turn_is_due() -> None:
    from functions.workflow import wake_at

    assert wake_at(datetime(2026, 12, 1, 7, 15, 0, 250_000, tzinfo=UTC)) == "2026-12-01T07:15:01Z"
    assert wake_at(datetime(2026, 12, 1, 7, 15, 0, tzinfo=UTC)) == "2026-12-01T07:15:00Z"
