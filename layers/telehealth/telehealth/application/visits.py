"""Check-in: where the patient is, how to reach them in an emergency, and their consents,
recorded once, then the visit's lifecycle (waiting on a task token) moves on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from telehealth.application.booking import BookingService
from telehealth.application.callers import Caller
from telehealth.domain.appointments import Actor, AppointmentRuleError
from telehealth.domain.visits import CheckIn, check_check_in
from telehealth.events import VisitCheckedIn
from telehealth.fhir import projection
from telehealth.ports import AlreadyCheckedInError, OutboxEntry


class CheckInStore(Protocol):
    def record_check_in(self, check_in: CheckIn, version: int, outbox: list[OutboxEntry]) -> None: ...

    def task_token(self, appointment_id: str, step: str) -> str | None: ...


class Resumer(Protocol):
    def resume(self, task_token: str, output: dict[str, object]) -> None: ...


class VisitService:
    def __init__(
        self, booking: BookingService, store: CheckInStore, workflows: Resumer, clock: Callable[[], datetime]
    ) -> None:
        self.booking, self.store, self.workflows, self.clock = booking, store, workflows, clock

    def check_in(
        self,
        caller: Caller,
        appointment_id: str,
        *,
        state: str,
        emergency_contact: str,
        consents_to_telehealth: bool,
        consents_to_recording: bool,
    ) -> CheckIn:
        caller.require(Actor.PATIENT)
        appointment = self.booking.owned(caller, appointment_id)
        now = self.clock()
        check_in = CheckIn(
            appointment_id, now, state, emergency_contact, consents_to_telehealth, consents_to_recording
        )
        check_check_in(appointment, check_in)
        token = self.store.task_token(appointment_id, f"check-in#v{appointment.version}")
        if token is None:
            raise AppointmentRuleError(
                "check-in-not-open", "The visit is not ready for check-in yet; try shortly."
            )
        patient = appointment.patient_id
        outbox = [
            OutboxEntry(
                projection.consent(appointment_id, patient, "telehealth", consents_to_telehealth, now), 1
            ),
            OutboxEntry(
                projection.consent(appointment_id, patient, "recording", consents_to_recording, now), 1
            ),
            self.booking.audit(caller, "C", f"Appointment/{appointment_id}", now),
            self.booking.announce(
                VisitCheckedIn(appointment_id=appointment_id, recording_consented=consents_to_recording), now
            ),
        ]
        try:
            self.store.record_check_in(check_in, appointment.version, outbox)
        except AlreadyCheckedInError as error:
            raise AppointmentRuleError("already-checked-in", "This visit is checked in already.") from error
        # Only ids and the outcome go back to the workflow: its history is kept.
        self.workflows.resume(token, {"checked_in": True, "recording_consented": consents_to_recording})
        return check_in
