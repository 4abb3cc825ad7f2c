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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

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


# --- the ledger: per patient, its 30-day periods and its calendar months -------------------------


class ConsentMethod(StrEnum):
    VERBAL = "verbal"
    WRITTEN = "written"


@dataclass(frozen=True)
class Consent:
    """The patient's consent to remote monitoring (and its cost sharing), as a clinician recorded
    it: CMS bills nothing without it."""

    obtained_on: date
    method: ConsentMethod
    recorded_by: str  # the clinician's user


@dataclass(frozen=True)
class TimeEntry:
    """Treatment-management time a clinician (or clinical staff under their supervision) spent on
    the patient's monitoring on a day; `interactive`: it included a live conversation with them."""

    entry_id: str
    on: date
    minutes: int
    interactive: bool
    by: str


@dataclass(frozen=True)
class BillingPractitioner:
    """Who bills the patient's monitoring from a day on; a change takes effect with the next
    period (or month) that starts after it, so each has one."""

    starting: date
    provider_id: str


@dataclass(frozen=True)
class LedgerPeriod:
    start: date
    end: date  # exclusive
    device_days: int
    codes: tuple[BilledCode, ...]
    practitioner: str | None
    not_billed: str | None  # why nothing is billed, where nothing is


@dataclass(frozen=True)
class LedgerMonth:
    month: date  # its first day
    minutes: int
    interactive: bool
    codes: tuple[BilledCode, ...]
    practitioner: str | None
    not_billed: str | None


@dataclass(frozen=True)
class Ledger:
    periods: tuple[LedgerPeriod, ...]
    months: tuple[LedgerMonth, ...]


def practitioner_on(assignments: Iterable[BillingPractitioner], day: date) -> str | None:
    """The billing practitioner in force on `day`: the latest named to start on or before it."""
    found = [a for a in assignments if a.starting <= day]
    return max(found, key=lambda a: a.starting).provider_id if found else None


def _consented(consent: Consent | None, by: date) -> bool:
    return consent is not None and consent.obtained_on <= by


def ledger(
    enrolled: date,
    device_days: Iterable[date],
    time: Iterable[TimeEntry],
    consent: Consent | None,
    practitioners: Sequence[BillingPractitioner],
    through: date,
) -> Ledger:
    """What the patient's monitoring bills, period by period and month by month, through a day:
    a period or month is billed only with consent obtained by its last day and a billing
    practitioner in force on its first; the set-up (99453) goes with the first period billed."""
    periods: list[LedgerPeriod] = []
    set_up = False
    for p in device_periods(enrolled, device_days, through, consent=True):
        practitioner = practitioner_on(practitioners, p.start)
        supply = tuple(c for c in p.codes if c.code != "99453")
        why = (
            "no consent on file by the period's end"
            if not _consented(consent, p.end - timedelta(days=1))
            else "no billing practitioner named by the period's start"
            if practitioner is None
            else "fewer than 2 days with device readings"
            if not supply
            else None
        )
        codes: tuple[BilledCode, ...] = ()
        if why is None:
            codes = (*(() if set_up else (BilledCode("99453"),)), *supply)
            set_up = True
        periods.append(LedgerPeriod(p.start, p.end, p.device_days, codes, practitioner, why))

    entries = list(time)
    months: list[LedgerMonth] = []
    month = enrolled.replace(day=1)
    while month <= through:
        following = (month + timedelta(days=32)).replace(day=1)
        mine = [e for e in entries if month <= e.on < following]
        minutes, interactive = sum(e.minutes for e in mine), any(e.interactive for e in mine)
        practitioner = practitioner_on(practitioners, max(month, enrolled))
        consented = _consented(consent, following - timedelta(days=1))
        codes = management_codes(minutes, interactive=interactive, consent=consented) if practitioner else ()
        why = (
            None
            if codes
            else "no consent on file by the month's end"
            if not consented
            else "no billing practitioner named by the month's start"
            if practitioner is None
            else "under 10 minutes"
            if minutes < 10
            else "no interactive communication with the patient"
        )
        months.append(LedgerMonth(month, minutes, interactive, codes, practitioner, why))
        month = following
    return Ledger(tuple(periods), tuple(months))
