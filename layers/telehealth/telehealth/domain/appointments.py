"""Appointments: booking, rescheduling and cancelling, and who may do which when."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum


class AppointmentStatus(Enum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    NO_SHOW = "noshow"  # the patient never checked in, or never joined
    FULFILLED = "fulfilled"  # the visit took place


class Actor(Enum):
    PATIENT = "patient"
    PROVIDER = "provider"
    STAFF = "staff"
    MACHINE = "machine"


class AppointmentRuleError(ValueError):
    """A booking rule said no; `kind` is the stable problem type, the message says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


UNDER_WAY_LEAD = timedelta(hours=1)


@dataclass(frozen=True)
class Appointment:
    appointment_id: str
    provider_id: str
    patient_id: str
    service_type: str
    start: datetime  # UTC
    end: datetime  # UTC
    patient_state: str  # where the patient said they would be, for licensure
    status: AppointmentStatus = AppointmentStatus.BOOKED
    version: int = 1
    booked_by: Actor = Actor.PATIENT
    # When this version was booked (the booking, or the reschedule that made it): a reminder is
    # owed only if its time came after. None where the table does not say.
    booked_at: datetime | None = None
    # The referral it was booked for (a health system's ServiceRequest), if any.
    referral_id: str | None = None

    def cancelled(self) -> Appointment:
        return self.closed(AppointmentStatus.CANCELLED)

    def closed(self, status: AppointmentStatus) -> Appointment:
        """Cancelled, a no-show or fulfilled: the next version, and the last."""
        return replace(self, status=status, version=self.version + 1)

    def transferred(self, patient_id: str) -> Appointment:
        """The next version, for another patient's record (a merge of two records of one person,
        or its undoing): the same visit, at the same time."""
        return replace(self, patient_id=patient_id, version=self.version + 1)

    def may_be_under_way(self, now: datetime) -> bool:
        """Booked, and its check-in open or its visit begun (within the longest lead a clinic sets
        for check-in): a change of its version now would leave the visit behind."""
        return self.status is AppointmentStatus.BOOKED and now >= self.start - UNDER_WAY_LEAD

    def moved(self, start: datetime, end: datetime, at: datetime | None = None) -> Appointment:
        """The next version at another time, booked `at` (when the move is made)."""
        return replace(self, start=start, end=end, version=self.version + 1, booked_at=at)


def check_change(
    appointment: Appointment, actor: Actor, now: datetime, cancellation_window: timedelta, what: str
) -> None:
    """Patients change their own visits up to the tenant's window before the start; staff and the
    provider may change one until it starts. Nobody changes a cancelled or past visit."""
    if appointment.status is AppointmentStatus.CANCELLED:
        raise AppointmentRuleError("appointment-cancelled", f"A cancelled appointment cannot be {what}.")
    if appointment.status is not AppointmentStatus.BOOKED:
        raise AppointmentRuleError("appointment-closed", f"A visit that has ended cannot be {what}.")
    if now >= appointment.start:
        raise AppointmentRuleError(
            "appointment-started", f"An appointment that has started cannot be {what}."
        )
    if actor is Actor.PATIENT and appointment.start - now < cancellation_window:
        hours = int(cancellation_window.total_seconds() // 3600)
        raise AppointmentRuleError(
            "outside-cancellation-window",
            f"Within {hours} hours of the start, a visit can only be {what} by the clinic.",
        )


def check_late_fee(
    appointment: Appointment, actor: Actor, now: datetime, cancellation_window: timedelta
) -> None:
    """A late-cancellation fee is the front desk's to charge, and only inside the window (before
    it, cancelling is free)."""
    if actor is not Actor.STAFF:
        raise AppointmentRuleError(
            "late-fee-staff-only", "Only the front desk charges a late-cancellation fee."
        )
    if appointment.start - now >= cancellation_window:
        raise AppointmentRuleError(
            "late-fee-not-late", "This cancellation is in good time: there is no late fee to charge."
        )


def check_bookable(start: datetime, now: datetime) -> None:
    if start <= now:
        raise AppointmentRuleError("slot-in-the-past", "That slot has already started.")
