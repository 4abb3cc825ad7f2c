"""Heart failure weight (issue #20): the guideline rule, and the patient's own trend.

The guideline rule (a gain of more than 2 kg within 3 days) alone catches about one
decompensation in five in published work, so each day's weight is also held against the patient's
own baseline: the median of the 14 days before it (at least 7 of them weighed) and its spread (the
median absolute deviation, scaled to a standard deviation, never under 0.3 kg: scales read to 0.1
kg and bodies vary by the day). A one-sided CUSUM of the residuals (in spreads) rises when the
weight keeps drifting up; it alarms above `CUSUM_LIMIT` and starts again. A day without a weight
changes nothing (a missing day is not a normal day): the sum carries over it. Pure: no I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

GAIN_KG = 2.0  # the guideline: more than this...
GAIN_DAYS = 3  # ...within this many days
BASELINE_DAYS = 14
BASELINE_MINIMUM = 7  # weighed days the baseline needs
SPREAD_FLOOR_KG = 0.3
MAD_TO_SD = 1.4826
CUSUM_SLACK = 0.5  # spreads a day's residual may rise before the sum grows (k)
CUSUM_LIMIT = 4.0  # the sum that alarms (h)


@dataclass(frozen=True)
class WeightDay:
    day: date
    kg: float
    gained_fast: bool  # the guideline rule
    baseline: float | None  # None until enough days are weighed
    residual: float | None  # in spreads
    cusum: float
    drifting: bool  # the CUSUM alarmed today


def assess(weights: Sequence[tuple[date, float]]) -> list[WeightDay]:
    """Each weighed day, oldest first; a day weighed twice keeps its first weight (the morning's)."""
    by_day: dict[date, float] = {}
    for day, kg in sorted(weights, key=lambda w: w[0]):
        by_day.setdefault(day, kg)
    days = sorted(by_day)
    found: list[WeightDay] = []
    cusum = 0.0
    for day in days:
        kg = by_day[day]
        window = [by_day[d] for d in days if day - timedelta(days=GAIN_DAYS) <= d < day]
        gained_fast = bool(window) and kg - min(window) > GAIN_KG
        before = [by_day[d] for d in days if day - timedelta(days=BASELINE_DAYS) <= d < day]
        baseline = residual = None
        drifting = False
        if len(before) >= BASELINE_MINIMUM:
            baseline = statistics.median(before)
            spread = max(MAD_TO_SD * statistics.median(abs(w - baseline) for w in before), SPREAD_FLOOR_KG)
            residual = (kg - baseline) / spread
            cusum = max(0.0, cusum + residual - CUSUM_SLACK)
            if cusum > CUSUM_LIMIT:
                drifting, cusum = True, 0.0
        found.append(
            WeightDay(
                day,
                kg,
                gained_fast,
                round(baseline, 2) if baseline is not None else None,
                round(residual, 2) if residual is not None else None,
                round(cusum, 2),
                drifting,
            )
        )
    return found
