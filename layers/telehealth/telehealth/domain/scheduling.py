"""Provider availability and the slots it opens, across time zones and DST.

A provider publishes weekly hours in their own IANA zone, exceptions for given dates (a day off,
extra hours) and a visit length per service type. Hours are wall-clock intervals; a slot is a real
stretch of time. Each working interval is turned into UTC once (a start that falls in a
spring-forward gap moves forward by the gap, as calendars do; a time in a fall-back hour is its
first occurrence) and then cut into visits in elapsed time, so a DST change neither loses nor
doubles a slot: the hours worked are the hours offered.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_SEARCH_DAYS = 14
# Bookings hold the five-minute cells they cover, so two visits of different lengths can never
# overlap; every working hour and visit length therefore falls on five-minute marks.
CELL = timedelta(minutes=5)
LONGEST_VISIT = timedelta(minutes=240)


def cells(start: datetime, end: datetime) -> list[datetime]:
    """The five-minute cells a visit from `start` to `end` occupies."""
    found, cursor = [], start
    while cursor < end:
        found.append(cursor)
        cursor += CELL
    return found


class SchedulingError(ValueError):
    """A rule of scheduling was broken; the message names the rule, never a submitted value."""


@dataclass(frozen=True)
class Interval:
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise SchedulingError("an interval must end after it starts (overnight hours: split at midnight)")
        if any(t.minute % 5 or t.second or t.microsecond for t in (self.start, self.end)):
            raise SchedulingError("working hours start and end on five-minute marks")


@dataclass(frozen=True)
class DayOff:
    day: date


@dataclass(frozen=True)
class ExtraHours:
    day: date
    interval: Interval


@dataclass(frozen=True)
class Availability:
    """What a provider offers. `weekly` maps ISO weekday (1 = Monday) to intervals."""

    provider_id: str
    zone: str
    weekly: Mapping[int, Sequence[Interval]]
    visit_minutes: Mapping[str, int]
    days_off: frozenset[date] = frozenset()
    extra: Sequence[ExtraHours] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except Exception as error:
            raise SchedulingError("zone must be an IANA time zone name") from error
        if any(day not in range(1, 8) for day in self.weekly):
            raise SchedulingError("weekly hours are keyed by ISO weekday, 1 (Monday) to 7")
        if not self.visit_minutes or any(not 5 <= m <= 240 or m % 5 for m in self.visit_minutes.values()):
            raise SchedulingError("visit lengths are 5 to 240 minutes, in steps of 5")
        for day, intervals in self.weekly.items():
            _no_overlap(intervals, f"weekday {day}")

    def intervals_on(self, day: date) -> list[Interval]:
        """The wall-clock working intervals on a local date, exceptions applied."""
        if day in self.days_off:
            return []
        found = list(self.weekly.get(day.isoweekday(), ())) + [e.interval for e in self.extra if e.day == day]
        return sorted(found, key=lambda i: i.start)


def _no_overlap(intervals: Sequence[Interval], where: str) -> None:
    ordered = sorted(intervals, key=lambda i: i.start)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise SchedulingError(f"working intervals overlap on {where}")


def to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock moment as a UTC instant (PEP 495, fold 0).

    In a spring-forward gap the offset before the change applies, which moves the time forward by
    the gap (02:30 becomes 03:30); in a fall-back hour it is the first occurrence.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, order=True)
class SlotTime:
    start: datetime  # UTC
    end: datetime  # UTC
    provider_id: str = field(compare=False)

    @property
    def slot_id(self) -> str:
        """Stable and derived: the same slot always has the same id."""
        return slot_id(self.provider_id, self.start)


def slot_id(provider_id: str, start: datetime) -> str:
    return f"{provider_id}.{start.astimezone(UTC):%Y%m%dT%H%MZ}"


def parse_slot_id(value: str) -> tuple[str, datetime]:
    provider_id, _, stamp = value.rpartition(".")
    try:
        start = datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError as error:
        raise SchedulingError("not a slot id") from error
    if not provider_id:
        raise SchedulingError("not a slot id")
    return provider_id, start


def slots(
    availability: Availability, service_type: str, start: datetime, end: datetime
) -> Iterator[SlotTime]:
    """Every slot of `service_type` starting within [start, end), in time order."""
    if start.tzinfo is None or end.tzinfo is None:
        raise SchedulingError("search bounds must be instants with a time zone")
    minutes = availability.visit_minutes.get(service_type)
    if minutes is None:
        return
    length = timedelta(minutes=minutes)
    zone = ZoneInfo(availability.zone)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    day = first
    while day <= last:
        for interval in availability.intervals_on(day):
            cursor = to_utc(day, interval.start, zone)
            stop = to_utc(day, interval.end, zone)
            while cursor + length <= stop:
                if start <= cursor < end:
                    yield SlotTime(cursor, cursor + length, availability.provider_id)
                cursor += length
        day += timedelta(days=1)


def offers(availability: Availability, service_type: str, start: datetime) -> SlotTime | None:
    """The slot starting exactly at `start`, if the provider offers one."""
    for slot in slots(availability, service_type, start, start + timedelta(minutes=1)):
        if slot.start == start:
            return slot
    return None


def check_search_window(start: datetime, end: datetime, now: datetime) -> None:
    if end <= start:
        raise SchedulingError("the search window must end after it starts")
    if end - start > timedelta(days=MAX_SEARCH_DAYS):
        raise SchedulingError(f"the search window is at most {MAX_SEARCH_DAYS} days")
    if end <= now:
        raise SchedulingError("the search window is in the past")
