"""Continuous glucose monitoring metrics (issue #20), as the international consensus on time in
range defines them (Battelino et al., Diabetes Care 2019;42:1593-1603; Danne et al., Diabetes Care
2017;40:1631-1640): time in range 70-180 mg/dL, below 70 and below 54, above 180 and above 250,
the mean, the glucose management indicator (GMI = 3.31 + 0.02392 x mean mg/dL, Bergenstal et al.,
Diabetes Care 2018;41:2275-2280) and the coefficient of variation.

Time-weighted: each reading stands for the time until the next, up to `MAX_GAP` (a sensor that
fell silent stands for nothing), so a burst of readings does not outweigh a quiet night. Over a
14-day period, metrics are withheld when less than 70% of the period is covered: a missing day is
not a normal day. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

PERIOD = timedelta(days=14)
SUFFICIENT = 0.70  # of the period covered by readings
INTERVAL = timedelta(minutes=5)  # a CGM's reading interval (Dexcom, Libre 2/3 stream)
MAX_GAP = timedelta(minutes=15)  # a reading stands for the time until the next, at most this


@dataclass(frozen=True)
class GlucoseSummary:
    start: datetime
    end: datetime
    covered: float  # the share of the period with readings (0 to 1)
    sufficient: bool
    # The rest are None when the data are not sufficient.
    mean: float | None = None  # mg/dL
    gmi: float | None = None  # %
    cv: float | None = None  # %
    in_range: float | None = None  # % of time 70-180
    below_70: float | None = None  # % of time under 70 (including under 54)
    below_54: float | None = None
    above_180: float | None = None  # % of time over 180 (including over 250)
    above_250: float | None = None
    days_worn: int = 0  # days of the period with at least one reading


def summary(
    readings: Sequence[tuple[datetime, float]], end: datetime, period: timedelta = PERIOD
) -> GlucoseSummary:
    """The metrics of the `period` that ends at `end`, from (time, mg/dL) readings (any order;
    those outside the period are left out)."""
    start = end - period
    inside = sorted((t, g) for t, g in readings if start <= t < end)
    weights: list[tuple[float, float]] = []  # (glucose, seconds it stands for)
    for i, (at, glucose) in enumerate(inside):
        following = inside[i + 1][0] if i + 1 < len(inside) else at + INTERVAL
        stands_for = min(following - at, MAX_GAP, end - at)
        if stands_for > timedelta(0):
            weights.append((glucose, stands_for.total_seconds()))
    covered_s = sum(w for _, w in weights)
    covered = covered_s / period.total_seconds()
    if covered < SUFFICIENT:
        return GlucoseSummary(start, end, round(covered, 4), False)
    days_worn = len({t.date() for t, _ in inside})

    def share(test: float) -> float:
        return round(100 * test / covered_s, 1)

    mean = sum(g * w for g, w in weights) / covered_s
    variance = sum(w * (g - mean) ** 2 for g, w in weights) / covered_s
    return GlucoseSummary(
        start,
        end,
        round(covered, 4),
        True,
        mean=round(mean, 1),
        gmi=round(3.31 + 0.02392 * mean, 1),
        cv=round(100 * math.sqrt(variance) / mean, 1),
        in_range=share(sum(w for g, w in weights if 70 <= g <= 180)),
        below_70=share(sum(w for g, w in weights if g < 70)),
        below_54=share(sum(w for g, w in weights if g < 54)),
        above_180=share(sum(w for g, w in weights if g > 180)),
        above_250=share(sum(w for g, w in weights if g > 250)),
        days_worn=days_worn,
    )


@dataclass(frozen=True)
class Targets:
    """The consensus's targets for time in ranges (Battelino et al. 2019, Table 4), in %."""

    in_range_above: float
    below_70_under: float
    below_54_under: float
    above_180_under: float
    above_250_under: float
    cv_at_most: float = 36.0


MOST_ADULTS = Targets(70, 4, 1, 25, 5)
# Older or high-risk patients: less time in range asked, less time low allowed.
OLDER_OR_HIGH_RISK = Targets(50, 1, 1, 50, 10)
TARGETS: dict[str, Targets] = {"most-adults": MOST_ADULTS, "older-or-high-risk": OLDER_OR_HIGH_RISK}


def targets_name(targets: Targets) -> str:
    """The name a set of targets is kept and shown by (`TARGETS`' key)."""
    return next(name for name, t in TARGETS.items() if t == targets)


def missed(found: GlucoseSummary, targets: Targets = MOST_ADULTS) -> tuple[tuple[str, bool], ...]:
    """Each target the fortnight missed, and whether it is about time spent low (which asks for a
    clinician's review; the rest are a word for the care team). Nothing when the data are not
    sufficient: a fortnight without enough readings is no evidence of anything."""
    if not found.sufficient:
        return ()
    checks = (
        (found.below_54, targets.below_54_under, "time below 54 mg/dL", True),
        (found.below_70, targets.below_70_under, "time below 70 mg/dL", True),
        (found.above_250, targets.above_250_under, "time above 250 mg/dL", False),
        (found.above_180, targets.above_180_under, "time above 180 mg/dL", False),
        (found.cv, targets.cv_at_most, "glucose variability (CV)", False),
    )
    found_missed = [(name, low) for value, limit, name, low in checks if value is not None and value > limit]
    if found.in_range is not None and found.in_range < targets.in_range_above:
        found_missed.append(("time in range 70-180 mg/dL", False))
    return tuple(found_missed)
