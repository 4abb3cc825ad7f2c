"""Availability to slots: weekly hours, exceptions, visit lengths and both US DST transitions."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from telehealth.domain.scheduling import (
    Availability,
    DayOff,
    ExtraHours,
    Interval,
    SchedulingError,
    offers,
    parse_slot_id,
    slots,
)

NEW_YORK, LOS_ANGELES = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")
# 2026: clocks go forward on 8 March and back on 1 November (US rules), at 02:00 local.
SPRING, FALL = date(2026, 3, 8), date(2026, 11, 1)


def every_day(*intervals: Interval, zone: str = "America/New_York", minutes: int = 30) -> Availability:
    return Availability(
        provider_id="pr-1",
        zone=zone,
        weekly={d: intervals for d in range(1, 8)},
        visit_minutes={"general": minutes},
    )


def day_slots(availability: Availability, day: date, zone: ZoneInfo = NEW_YORK) -> list[datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone)
    return [s.start for s in slots(availability, "general", start, start + timedelta(days=1))]


def test_weekly_hours_give_slots_of_the_visit_length_in_the_providers_zone() -> None:
    found = day_slots(every_day(Interval(time(9), time(12))), date(2026, 6, 3))
    assert len(found) == 6
    assert found[0] == datetime(2026, 6, 3, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(found))


def test_a_visit_that_would_overrun_the_interval_is_not_offered() -> None:
    assert len(day_slots(every_day(Interval(time(9), time(10, 50)), minutes=45), date(2026, 6, 3))) == 2


@pytest.mark.parametrize("day", [SPRING, FALL])
def test_office_hours_on_a_dst_day_are_untouched(day: date) -> None:
    found = day_slots(every_day(Interval(time(9), time(17))), day)
    assert len(found) == 16
    assert found[0].astimezone(NEW_YORK).time() == time(9)


def test_spring_forward_offers_the_real_hours_worked_and_no_nonexistent_time() -> None:
    # 00:00 to 04:00 on the night clocks skip 02:00-03:00 is three real hours: six slots.
    found = day_slots(every_day(Interval(time(0), time(4))), SPRING)
    assert len(found) == 6
    local = [t.astimezone(NEW_YORK).strftime("%H:%M") for t in found]
    assert local == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30"]
    assert len(set(found)) == len(found)


def test_fall_back_offers_the_repeated_hour_once_each_with_no_doubles() -> None:
    # 00:00 to 04:00 on the night 01:00-02:00 happens twice is five real hours: ten slots.
    found = day_slots(every_day(Interval(time(0), time(4))), FALL)
    assert len(found) == 10
    assert len(set(found)) == 10
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(found))


def test_a_nonexistent_start_moves_forward_by_the_gap() -> None:
    found = day_slots(every_day(Interval(time(2, 30), time(4))), SPRING)
    assert [t.astimezone(NEW_YORK).strftime("%H:%M") for t in found] == ["03:30"]


@pytest.mark.parametrize("day", [SPRING, FALL])
def test_a_patient_in_another_zone_sees_the_same_instants_in_their_own_time(day: date) -> None:
    availability = every_day(Interval(time(9), time(11)))
    # The patient searches their own day; the provider's slots are the same instants either way.
    provider_view = set(day_slots(availability, day, NEW_YORK))
    patient_view = set(day_slots(availability, day, LOS_ANGELES))
    assert provider_view == patient_view
    assert sorted(t.astimezone(LOS_ANGELES).strftime("%H:%M") for t in patient_view)[0] == "06:00"


def test_the_patients_dst_change_is_not_the_providers() -> None:
    # Between the two zones' spring changes (02:00 NY, then 02:00 LA three hours later) the gap
    # between them is an hour smaller for a few hours; slots still come out once each.
    availability = every_day(Interval(time(0), time(6)), zone="America/Los_Angeles")
    found = day_slots(availability, SPRING, LOS_ANGELES)
    assert len(found) == len(set(found)) == 10


def test_days_off_and_extra_hours_apply_on_their_dates() -> None:
    base = every_day(Interval(time(9), time(10)))
    off = Availability(**{**base.__dict__, "days_off": frozenset({date(2026, 6, 3)})})
    assert day_slots(off, date(2026, 6, 3)) == []
    extra = Availability(
        **{**base.__dict__, "extra": (ExtraHours(date(2026, 6, 3), Interval(time(18), time(19))),)}
    )
    assert len(day_slots(extra, date(2026, 6, 3))) == 4
    assert DayOff(date(2026, 6, 3)).day.isoweekday() == 3


def test_bad_availability_is_refused_with_the_rule_named() -> None:
    with pytest.raises(SchedulingError, match="overlap"):
        every_day(Interval(time(9), time(11)), Interval(time(10), time(12)))
    with pytest.raises(SchedulingError, match="IANA"):
        every_day(Interval(time(9), time(10)), zone="Mars/Olympus")
    with pytest.raises(SchedulingError, match="end after"):
        Interval(time(10), time(9))


def test_slot_ids_are_stable_and_round_trip() -> None:
    availability = every_day(Interval(time(9), time(10)))
    (first, *_) = slots(
        availability, "general", datetime(2026, 6, 3, tzinfo=UTC), datetime(2026, 6, 4, tzinfo=UTC)
    )
    assert first.slot_id == "pr-1.20260603T1300Z"
    assert parse_slot_id(first.slot_id) == ("pr-1", first.start)
    assert offers(availability, "general", first.start) == first
    assert offers(availability, "general", first.start + timedelta(minutes=10)) is None
    with pytest.raises(SchedulingError):
        parse_slot_id("garbage")


def test_bookings_hold_five_minute_cells_and_hours_fall_on_five_minute_marks() -> None:
    from telehealth.domain.scheduling import cells

    start = datetime(2026, 6, 3, 13, tzinfo=UTC)
    assert cells(start, start + timedelta(minutes=15)) == [start + timedelta(minutes=m) for m in (0, 5, 10)]
    # A 30-minute visit at 09:00 and a 15-minute one at 09:15 share cells: they cannot both hold.
    thirty, fifteen = (
        cells(start, start + timedelta(minutes=30)),
        cells(start + timedelta(minutes=15), start + timedelta(minutes=30)),
    )
    assert set(thirty) & set(fifteen)
    with pytest.raises(SchedulingError, match="five-minute"):
        Interval(time(9, 7), time(10))
    with pytest.raises(SchedulingError, match="steps of 5"):
        every_day(Interval(time(9), time(10)), minutes=12)
