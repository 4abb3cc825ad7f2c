"""The visit around an appointment: check-in with where the patient is and what they consent to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from telehealth.domain.appointments import Appointment, AppointmentRuleError, AppointmentStatus

CHECK_IN_OPENS = timedelta(minutes=15)
# A patient not checked in this long after the start is a no-show.
NO_SHOW_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class CheckIn:
    """What the law and an emergency need at the start of a telehealth visit."""

    appointment_id: str
    at: datetime
    state: str  # where the patient is now: licensure is checked against it at admission
    emergency_contact: str  # a callback number or an address, for an emergency during the visit
    consents_to_telehealth: bool
    consents_to_recording: bool


def check_check_in(appointment: Appointment, check_in: CheckIn) -> None:
    if appointment.status is not AppointmentStatus.BOOKED:
        raise AppointmentRuleError("appointment-cancelled", "A cancelled appointment has no check-in.")
    if check_in.at < appointment.start - CHECK_IN_OPENS:
        raise AppointmentRuleError("check-in-not-open", "Check-in opens 15 minutes before the visit.")
    if check_in.at > appointment.start + NO_SHOW_GRACE:
        raise AppointmentRuleError("check-in-closed", "Check-in closed 10 minutes after the start.")
    if not check_in.consents_to_telehealth:
        raise AppointmentRuleError(
            "consent-required", "A telehealth visit needs the patient's consent to telehealth."
        )
