"""The RPM billing ledger (issue #20), as CMS's 2026 Physician Fee Schedule codes it.

Per 30-day period from the patient's enrolment: the device supply, by the days with readings the
device transmitted (typed-in readings do not count): 99454 for 16 to 30 days, 99445 for 2 to 15,
one or the other; the device's set-up and education (99453) once, with the first period that bills
a supply code. Per calendar month: the clinicians' treatment-management time, billable only with an
interactive communication with the patient that month: 99457 for the first 20 minutes and 99458
for each further full 20, or, for 10 to 19 minutes, 99470 (never with 99457). Nothing is billed
without the patient's consent on file, and a period has one billing practitioner. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

PERIOD_DAYS = 30


@dataclass(frozen=True)
class BilledCode:
    code: str
    units: int = 1


@dataclass(frozen=True)
class DevicePeriod:
    start: date
    device_days: int
    codes: tuple[BilledCode, ...]

    @property
    def end(self) -> date:  # exclusive
        return self.start + timedelta(days=PERIOD_DAYS)


def device_periods(
    enrolled: date, device_days: Iterable[date], through: date, *, consent: bool
) -> list[DevicePeriod]:
    """Each 30-day period from `enrolled` that has begun by `through`, with the days the device
    transmitted in it and what they bill."""
    days = set(device_days)
    periods: list[DevicePeriod] = []
    set_up_billed = False
    start = enrolled
    while start <= through:
        end = start + timedelta(days=PERIOD_DAYS)
        count = sum(1 for d in days if start <= d < end)
        codes: list[BilledCode] = []
        supply = "99454" if count >= 16 else "99445" if count >= 2 else None
        if consent and supply:
            if not set_up_billed:
                codes.append(BilledCode("99453"))
                set_up_billed = True
            codes.append(BilledCode(supply))
        periods.append(DevicePeriod(start, count, tuple(codes)))
        start = end
    return periods


def management_codes(minutes: int, *, interactive: bool, consent: bool) -> tuple[BilledCode, ...]:
    """What a calendar month's treatment-management time bills."""
    if not (consent and interactive) or minutes < 10:
        return ()
    if minutes < 20:
        return (BilledCode("99470"),)
    further = (minutes - 20) // 20
    return (BilledCode("99457"), *((BilledCode("99458", further),) if further else ()))
