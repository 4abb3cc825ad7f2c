"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017: "National Early
Warning Score (NEWS) 2: Standardising the assessment of acute-illness severity in the NHS", Chart 1
and the clinical response of Chart 4), for a patient's readings at home (issue #20).

Seven parameters each score 0 to 3 and add up. SpO2 has two scales: scale 2 is for a patient a
clinician sets it for (hypercapnic respiratory failure, as in the COPD program; target 88-92%),
where oxygen saturation at or above 93% scores only on supplemental oxygen. At home the score is
usually partial (consciousness is rarely known): it is labelled partial and names what was
missing, and its total is what the known parameters add up to. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SpO2Scale(StrEnum):
    ONE = "1"
    TWO = "2"  # hypercapnic respiratory failure: a clinician sets it for the patient


class Response(StrEnum):
    """Chart 4's clinical response, the tier an alert is raised at."""

    NONE = "none"  # aggregate 0
    ASSESS = "assess"  # aggregate 1-4: a clinician decides (the ward's "low" response)
    URGENT_REVIEW = "urgent-review"  # a single parameter scoring 3 ("low-medium")
    URGENT = "urgent"  # aggregate 5-6 ("medium")
    EMERGENCY = "emergency"  # aggregate 7 or more ("high")


@dataclass(frozen=True)
class Vitals:
    """A set of observations taken together; None where it was not measured."""

    respiration_rate: float | None = None  # per minute
    spo2: float | None = None  # %
    on_oxygen: bool | None = None  # supplemental oxygen, or air
    systolic: float | None = None  # mm[Hg]
    pulse: float | None = None  # per minute
    alert: bool | None = None  # consciousness: Alert, or new confusion, voice, pain, unresponsive
    temperature: float | None = None  # Cel


@dataclass(frozen=True)
class News2:
    total: int
    scores: dict[str, int]  # each parameter scored
    missing: tuple[str, ...]  # what was not known, in the chart's order
    response: Response

    @property
    def partial(self) -> bool:
        return bool(self.missing)


def _banded(value: float, bands: tuple[tuple[float, int], ...], above: int) -> int:
    """The score of the first band whose upper bound (inclusive) `value` is at or under."""
    for upper, score in bands:
        if value <= upper:
            return score
    return above


def _respiration(rate: float) -> int:
    return _banded(rate, ((8, 3), (11, 1), (20, 0), (24, 2)), 3)


def _spo2(spo2: float, scale: SpO2Scale, on_oxygen: bool | None) -> int | None:
    if scale is SpO2Scale.ONE:
        return _banded(spo2, ((91, 3), (93, 2), (95, 1)), 0)
    if spo2 < 93:
        return _banded(spo2, ((83, 3), (85, 2), (87, 1)), 0)  # 88-92 is the target: 0
    if on_oxygen is None:
        return None  # at or above 93%, scale 2 scores only with the oxygen known
    if not on_oxygen:
        return 0
    return _banded(spo2, ((94, 1), (96, 2)), 3)


def _systolic(systolic: float) -> int:
    return _banded(systolic, ((90, 3), (100, 2), (110, 1), (219, 0)), 3)


def _pulse(pulse: float) -> int:
    return _banded(pulse, ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2)), 3)


def _temperature(celsius: float) -> int:
    # The chart's bands are to one decimal: 35.0 and under, 35.1-36.0, 36.1-38.0, 38.1-39.0.
    return _banded(round(celsius, 1), ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1)), 2)


PARAMETERS = (
    "respiration rate",
    "oxygen saturation",
    "air or oxygen",
    "systolic blood pressure",
    "pulse",
    "consciousness",
    "temperature",
)


def news2(vitals: Vitals, scale: SpO2Scale = SpO2Scale.ONE) -> News2:
    v = vitals
    scored: dict[str, int | None] = {
        "respiration rate": None if v.respiration_rate is None else _respiration(v.respiration_rate),
        "oxygen saturation": None if v.spo2 is None else _spo2(v.spo2, scale, v.on_oxygen),
        "air or oxygen": None if v.on_oxygen is None else (2 if v.on_oxygen else 0),
        "systolic blood pressure": None if v.systolic is None else _systolic(v.systolic),
        "pulse": None if v.pulse is None else _pulse(v.pulse),
        "consciousness": None if v.alert is None else (0 if v.alert else 3),
        "temperature": None if v.temperature is None else _temperature(v.temperature),
    }
    scores = {name: s for name, s in scored.items() if s is not None}
    missing = tuple(name for name in PARAMETERS if scored[name] is None)
    total = sum(scores.values())
    return News2(total, scores, missing, _response(total, scores))


def _response(total: int, scores: dict[str, int]) -> Response:
    if total >= 7:
        return Response.EMERGENCY
    if total >= 5:
        return Response.URGENT
    if 3 in scores.values():
        return Response.URGENT_REVIEW
    return Response.ASSESS if total else Response.NONE
