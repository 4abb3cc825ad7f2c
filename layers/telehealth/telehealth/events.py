"""Domain facts as EventBridge events: versioned schemas, ids and instants only.

Events live on in the bus archive and in dead-letter queues, so no field here may hold PHI: a
patient is an opaque id, never a name, a reason for visit or a place. They leave through the
outbox with the change that caused them, so a fact is published if and only if it happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: ClassVar[str]
    detail_type: ClassVar[str]
    schema_version: Literal[1] = 1


class AppointmentBooked(DomainEvent):
    source: ClassVar[str] = "telehealth.scheduling"
    detail_type: ClassVar[str] = "Appointment.Booked"
    appointment_id: str
    version: int
    provider_id: str
    patient_id: str
    start: datetime
    end: datetime


class AppointmentRescheduled(AppointmentBooked):
    detail_type: ClassVar[str] = "Appointment.Rescheduled"


class AppointmentCancelled(DomainEvent):
    source: ClassVar[str] = "telehealth.scheduling"
    detail_type: ClassVar[str] = "Appointment.Cancelled"
    appointment_id: str
    version: int
    provider_id: str
    patient_id: str


class VisitCheckedIn(DomainEvent):
    source: ClassVar[str] = "telehealth.visits"
    detail_type: ClassVar[str] = "Visit.CheckedIn"
    appointment_id: str
    recording_consented: bool


CATALOGUE: tuple[type[DomainEvent], ...] = (
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    VisitCheckedIn,
)
