"""Who may change an appointment, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telehealth.domain.appointments import (
    Actor,
    Appointment,
    AppointmentRuleError,
    AppointmentStatus,
    check_bookable,
    check_change,
)
from telehealth.domain.ids import new_id

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def visit(hours_ahead: float) -> Appointment:
    start = NOW + timedelta(hours=hours_ahead)
    return Appointment("a-1", "pr-1", "p-1", "general", start, start + timedelta(minutes=30), "NY")


def test_a_patient_may_cancel_outside_the_window_but_not_inside_it() -> None:
    check_change(visit(25), Actor.PATIENT, NOW, WINDOW, "cancelled")
    with pytest.raises(AppointmentRuleError) as refused:
        check_change(visit(23), Actor.PATIENT, NOW, WINDOW, "cancelled")
    assert refused.value.kind == "outside-cancellation-window"
    assert "24 hours" in str(refused.value)


def test_staff_and_the_provider_may_change_a_visit_until_it_starts() -> None:
    for actor in (Actor.STAFF, Actor.PROVIDER):
        check_change(visit(1), actor, NOW, WINDOW, "rescheduled")
    with pytest.raises(AppointmentRuleError, match="started") as refused:
        check_change(visit(0), Actor.STAFF, NOW, WINDOW, "rescheduled")
    assert refused.value.kind == "appointment-started"


def test_a_cancelled_visit_cannot_change_again_and_each_change_bumps_the_version() -> None:
    cancelled = visit(48).cancelled()
    assert cancelled.status is AppointmentStatus.CANCELLED and cancelled.version == 2
    with pytest.raises(AppointmentRuleError) as refused:
        check_change(cancelled, Actor.STAFF, NOW, WINDOW, "cancelled")
    assert refused.value.kind == "appointment-cancelled"
    moved = visit(48).moved(NOW + timedelta(days=3), NOW + timedelta(days=3, minutes=30), NOW)
    assert moved.version == 2 and moved.start == NOW + timedelta(days=3)
    # The new version was booked when it was moved: its reminders are owed from then.
    assert moved.booked_at == NOW


def test_a_slot_that_has_started_cannot_be_booked() -> None:
    with pytest.raises(AppointmentRuleError):
        check_bookable(NOW, NOW)
    check_bookable(NOW + timedelta(minutes=1), NOW)


def test_ids_sort_by_creation_time() -> None:
    earlier, later = new_id(NOW), new_id(NOW + timedelta(milliseconds=1))
    assert len(earlier) == 26 and earlier < later
