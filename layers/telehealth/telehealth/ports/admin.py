"""What clinic administration needs from storage, and what booking and the visit lifecycle read of
it at run time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from telehealth.domain.appointments import Appointment
from telehealth.domain.clinic_settings import Change, ClinicSettings, Service
from telehealth.domain.licensure import License
from telehealth.fhir.projection import PractitionerProfile
from telehealth.ports import OutboxEntry, ProviderRecord


@dataclass(frozen=True)
class DirectoryEntry:
    """A provider as the clinic's directory lists them: the profile and every credential."""

    profile: PractitionerProfile
    licenses: tuple[License, ...]


@dataclass(frozen=True)
class DirectoryPage:
    """Providers in the directory's order (family name, given name, id) and where the next page
    starts (opaque to the application; None on the last page)."""

    entries: list[DirectoryEntry]
    after: str | None


class ClinicAdminStore(Protocol):
    """The clinic's settings and services, each versioned (0: never written), every change kept.

    A write names the version it read; a write over another version raises StaleWriteError and
    changes nothing. The version's change record is written in the same transaction."""

    def current(self) -> tuple[tuple[ClinicSettings, int] | None, dict[str, tuple[Service, int]]]:
        """The settings and every service as they stand, in one read."""
        ...

    def settings(self) -> tuple[ClinicSettings, int] | None: ...

    def save_settings(self, settings: ClinicSettings, expected_version: int, change: Change) -> int: ...

    def settings_history(self, limit: int) -> list[Change]: ...

    def services(self) -> dict[str, tuple[Service, int]]: ...

    def save_service(self, service: Service, expected_version: int, change: Change) -> int: ...

    def service_history(self, code: str, limit: int) -> list[Change]: ...


class ClinicRulesSource(Protocol):
    """The clinic's settings and services as they stand (perhaps a few seconds old)."""

    def settings(self) -> ClinicSettings: ...

    def services(self) -> Mapping[str, Service]: ...


class ProviderDirectory(Protocol):
    """Providers as admins keep them: profile and credentials, versioned by the profile's version
    (which the provider's own availability changes share); and what the audit trail reads."""

    def provider_for_user(self, user_sub: str) -> str | None: ...

    def appointment(self, appointment_id: str) -> Appointment | None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...

    def provider(self, provider_id: str) -> ProviderRecord | None: ...

    def directory(self, after: str | None, limit: int) -> DirectoryPage:
        """Up to `limit` providers from where `after` (a page's `after`) left off; a position
        this store never gave out raises ValueError."""
        ...

    def save_provider(
        self,
        record: ProviderRecord,
        expected_version: int,
        before: ProviderRecord | None,
        outbox: list[OutboxEntry],
    ) -> None:
        """The record at `record.profile.version`, if the stored one is at `expected_version`
        (absent for 0), credentials `before` held and `record` does not removed, with `outbox`, in
        one transaction; otherwise StaleWriteError and nothing changes."""
        ...
