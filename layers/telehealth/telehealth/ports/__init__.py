"""What the application needs from the outside world, as Protocols; adapters implement them.

The DynamoDB clinic store is the source of truth for scheduling, licensure and visits; the FHIR
store receives the clinical record through the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from telehealth.domain.appointments import Appointment
from telehealth.domain.licensure import License
from telehealth.domain.scheduling import Availability
from telehealth.fhir.projection import PatientProfile, PractitionerProfile


@dataclass(frozen=True)
class ProviderRecord:
    profile: PractitionerProfile
    availability: Availability
    licenses: tuple[License, ...]
    user_sub: str


@dataclass(frozen=True)
class ProviderListing:
    """One index entry: a provider holding a credential in a state, with what search filters on."""

    provider_id: str
    specialty: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class OutboxEntry:
    """Something a change must deliver: a FHIR resource at a source version (audit events are
    archived as well), or, with `destination="events"`, a domain event for the tenant's bus."""

    resource: Mapping[str, Any]
    source_version: int
    destination: str = "fhir"  # fhir | events

    @property
    def reference(self) -> str:
        kind = "Event" if self.destination == "events" else self.resource["resourceType"]
        return f"{kind}/{self.resource['id']}"


@dataclass(frozen=True)
class IdempotencyClaim:
    """A POST's key, scoped to the caller and route, with the hash of what it asked for."""

    caller: str
    route: str
    key: str
    payload_hash: str
    response: str  # what to answer if the same request comes again (JSON)


class SlotTakenError(Exception):
    """Another booking holds this slot."""


class AlreadyCheckedInError(Exception):
    """The visit has its check-in already."""


class StaleWriteError(Exception):
    """The record changed since it was read (or was cancelled meanwhile)."""


class IdempotentReplay(Exception):  # noqa: N818 (an outcome, not a failure)
    def __init__(self, response: str) -> None:
        super().__init__("replayed")
        self.response = response


class IdempotencyMismatchError(Exception):
    """The key was used before for a different request."""


class VisitWorkflows(Protocol):
    """One lifecycle execution per appointment version (ids and instants only)."""

    def start(self, appointment: Appointment) -> None: ...

    def stop(self, appointment: Appointment, cause: str) -> None: ...


class ClinicStore(Protocol):
    def providers_licensed_in(self, state: str) -> list[ProviderListing]: ...

    def provider(self, provider_id: str) -> ProviderRecord | None: ...

    def provider_for_user(self, user_sub: str) -> str | None: ...

    def booked_cells(self, provider_id: str, start: datetime, end: datetime) -> set[datetime]: ...

    def appointment(self, appointment_id: str) -> Appointment | None: ...

    def appointments_of_patient(self, patient_id: str) -> list[Appointment]: ...

    def appointments_of_provider(
        self, provider_id: str, start: datetime, end: datetime
    ) -> list[Appointment]: ...

    def patient(self, patient_id: str) -> PatientProfile | None: ...

    def replace_availability(
        self, provider_id: str, availability: Availability, expected_version: int
    ) -> int: ...

    def book(
        self, appointment: Appointment, outbox: list[OutboxEntry], claim: IdempotencyClaim | None
    ) -> None: ...

    def change(
        self,
        before: Appointment,
        after: Appointment,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None,
    ) -> None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...

    def pending_outbox(self, older_than: datetime, limit: int) -> Iterator[OutboxEntry]: ...

    def mark_delivered(self, entry: OutboxEntry) -> None: ...
