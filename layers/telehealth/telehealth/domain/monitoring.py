"""Remote monitoring's rules put together for one patient (issue #20): what their program watches,
and what a batch of new readings raises.

A patient is enrolled in a program (hypertension, diabetes, heart failure, COPD), which names the
rules their readings are held to. New readings evaluate only the rules whose codes they carry (a
rule with nothing new is not evaluated: missing data raise nothing and close nothing), each on
the patient's recent readings, through the rule's episode (telehealth/domain/monitoring_alerts.py).
Pure: no I/O; the readings and episodes come from the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from telehealth.domain.blood_pressure import BloodPressure, BloodPressureAdvice, advice
from telehealth.domain.cgm import MOST_ADULTS, Targets, missed, summary
from telehealth.domain.monitoring_alerts import (
    NO_READINGS,
    Episode,
    Escalation,
    Raised,
    Tier,
    blood_pressure_tier,
    cgm_tier,
    news2_tier,
    step,
)
from telehealth.domain.news2 import SpO2Scale, Vitals, news2
from telehealth.domain.readings import Reading
from telehealth.domain.weight_trend import assess

SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
WEIGHT = "29463-7"
GLUCOSE = "99504-3"
VITALS = {
    "9279-1": "respiration_rate",
    "2708-6": "spo2",
    "59408-5": "spo2",
    SYSTOLIC: "systolic",
    "8867-4": "pulse",
    "8310-5": "temperature",
}
VITALS_TOGETHER = timedelta(hours=1)  # readings this close are one set of observations
# What the care team reads of the blood-pressure rule's signal.
BLOOD_PRESSURE_NOTES = {
    BloodPressureAdvice.NONE: "below crisis level",
    BloodPressureAdvice.REPEAT: (
        "a reading at crisis level (180/120 or more): the patient is asked to measure again"
    ),
    BloodPressureAdvice.CALL_CARE_TEAM: (
        "a repeat still at crisis level, no symptoms reported: contact the patient"
    ),
    BloodPressureAdvice.CALL_911: (
        "a repeat still at crisis level with symptoms: the patient was told to call 911"
    ),
}


class Program(StrEnum):
    HYPERTENSION = "hypertension"
    DIABETES = "diabetes"
    HEART_FAILURE = "heart-failure"
    COPD = "copd"


class Rule(StrEnum):
    BLOOD_PRESSURE = "blood-pressure-crisis"
    NEWS2 = "news2"
    WEIGHT = "heart-failure-weight"
    GLUCOSE = "cgm-targets"


# What a rule is called where a person reads it (the record's Task and Flag; the screens say it
# in their own words too).
RULE_WORDS: dict[str, str] = {
    Rule.BLOOD_PRESSURE: "Blood pressure at crisis level",
    Rule.NEWS2: "NEWS2 (vital signs)",
    Rule.WEIGHT: "Weight gain (heart failure)",
    Rule.GLUCOSE: "Glucose targets over 14 days",
    NO_READINGS: "No readings for days",
}

RULES: dict[Program, tuple[Rule, ...]] = {
    Program.HYPERTENSION: (Rule.BLOOD_PRESSURE, Rule.NEWS2),
    Program.DIABETES: (Rule.GLUCOSE, Rule.BLOOD_PRESSURE, Rule.NEWS2),
    Program.HEART_FAILURE: (Rule.WEIGHT, Rule.BLOOD_PRESSURE, Rule.NEWS2),
    Program.COPD: (Rule.NEWS2, Rule.BLOOD_PRESSURE),
}
# The codes that make a rule worth evaluating again.
WATCHES: dict[Rule, frozenset[str]] = {
    Rule.BLOOD_PRESSURE: frozenset({SYSTOLIC, DIASTOLIC}),
    Rule.NEWS2: frozenset(VITALS),
    Rule.WEIGHT: frozenset({WEIGHT}),
    Rule.GLUCOSE: frozenset({GLUCOSE}),
}


class DeviceKind(StrEnum):
    BLOOD_PRESSURE_CUFF = "blood-pressure-cuff"
    GLUCOSE_MONITOR = "glucose-monitor"
    SCALE = "scale"
    PULSE_OXIMETER = "pulse-oximeter"
    THERMOMETER = "thermometer"


@dataclass(frozen=True)
class Device:
    """A device the clinic gave or registered for one patient: its readings are theirs."""

    device_id: str  # the clinic's id
    serial: str  # the maker's identifier, as the device or its gateway sends it
    patient_id: str
    kind: DeviceKind
    registered_at: datetime


@dataclass(frozen=True)
class Alert:
    """What a rule raised for the care team, once per episode (or again at a higher tier)."""

    alert_id: str
    patient_id: str
    rule: str
    tier: Tier
    raised_at: datetime
    escalated: bool
    note: str  # why, for the care team
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None  # the clinician's user
    acknowledgement: str | None = None  # their note
    # Unacknowledged and urgent: whom it was handed on to, in turn (the clinic's settings name them).
    escalations: tuple[Escalation, ...] = ()

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None


@dataclass(frozen=True)
class Enrolment:
    patient_id: str
    program: Program
    enrolled_at: datetime
    # SpO2 scale 2 where a clinician sets it (hypercapnic respiratory failure): never by default.
    spo2_scale: SpO2Scale = SpO2Scale.ONE
    # NEWS2's "air or oxygen": whether the patient breathes supplemental oxygen at home, as a
    # clinician records it (None: not known, and NEWS2 is partial without it).
    on_oxygen: bool | None = None
    # The consensus's targets for most adults, or for older and high-risk patients.
    glucose_targets: Targets = MOST_ADULTS
    enrolled_by: str | None = None  # the clinician's user


@dataclass(frozen=True)
class Evaluation:
    episodes: dict[str, Episode]
    raised: tuple[Raised, ...]
    advice: BloodPressureAdvice = BloodPressureAdvice.NONE  # what the patient reads now
    notes: Mapping[str, str] = field(default_factory=dict)  # per rule, why (for the care team)


def evaluate(
    enrolment: Enrolment,
    new: Sequence[Reading],
    recent: Sequence[Reading],
    episodes: Mapping[str, Episode],
    *,
    symptoms: bool = False,
) -> Evaluation:
    """What `new` readings (also among `recent`, the patient's readings of the last weeks) raise."""
    arrived = {r.code for r in new}
    kept = dict(episodes)
    raised: list[Raised] = []
    notes: dict[str, str] = {}
    told = BloodPressureAdvice.NONE
    latest = max((r.effective for r in new), default=None)
    for rule in RULES[enrolment.program]:
        if latest is None or not arrived & WATCHES[rule]:
            continue
        tier: Tier | None
        if rule is Rule.BLOOD_PRESSURE:
            told = blood_pressure_advice(recent, symptoms=symptoms)
            tier = blood_pressure_tier(told)
            notes[rule] = BLOOD_PRESSURE_NOTES[told]
        elif rule is Rule.GLUCOSE:
            fortnight = summary([(r.effective, r.value) for r in recent if r.code == GLUCOSE], latest)
            if not fortnight.sufficient:  # not enough to judge: the episode neither closes nor raises
                notes[rule] = f"withheld: {fortnight.covered:.0%} of the fortnight covered"
                continue
            misses = missed(fortnight, enrolment.glucose_targets)
            tier = cgm_tier(misses)
            notes[rule] = "; ".join(name for name, _ in misses) or "every target met"
        elif rule is Rule.NEWS2:
            vitals = replace(vitals_at(recent, latest), on_oxygen=enrolment.on_oxygen)
            score = news2(vitals, enrolment.spo2_scale)
            tier = news2_tier(score.response)
            missing = f"; partial, without {', '.join(score.missing)}" if score.partial else ""
            notes[rule] = f"NEWS2 {score.total} ({score.response.value}){missing}"
        else:
            days = assess([(r.effective.date(), r.value) for r in recent if r.code == WEIGHT])
            today = days[-1] if days else None
            tier = Tier.REVIEW if today and (today.gained_fast or today.drifting) else None
            notes[rule] = (
                "more than 2 kg within 3 days"
                if today and today.gained_fast
                else "a rising trend against the patient's own baseline"
                if today and today.drifting
                else "steady"
            )
        episode, alert = step(kept.get(rule), rule, tier, latest)
        if episode is None:
            kept.pop(rule, None)
        else:
            kept[rule] = episode
        if alert is not None:
            raised.append(alert)
    return Evaluation(kept, tuple(raised), told, notes)


def vitals_at(readings: Iterable[Reading], at: datetime) -> Vitals:
    """The set of observations at `at`: each vital's latest reading within the hour before."""
    found: dict[str, Reading] = {}
    for r in readings:
        name = VITALS.get(r.code)
        within = name is not None and at - VITALS_TOGETHER <= r.effective <= at
        if name and within and (name not in found or r.effective > found[name].effective):
            found[name] = r
    return Vitals(**{name: r.value for name, r in found.items()})  # type: ignore[arg-type]


def blood_pressure_advice(recent: Sequence[Reading], *, symptoms: bool) -> BloodPressureAdvice:
    """The latest two blood pressures (each a systolic and diastolic measured together)."""
    systolic = {r.effective: r.value for r in recent if r.code == SYSTOLIC}
    diastolic = {r.effective: r.value for r in recent if r.code == DIASTOLIC}
    pairs = sorted(
        (BloodPressure(systolic[t], diastolic[t], t) for t in systolic.keys() & diastolic.keys()),
        key=lambda bp: bp.at,
    )
    if not pairs:
        return BloodPressureAdvice.NONE
    return advice(pairs[-1], pairs[-2] if len(pairs) > 1 else None, symptoms=symptoms)
