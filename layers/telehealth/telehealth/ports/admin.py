"""What clinic administration needs from storage, and what booking and the visit lifecycle read of
it at run time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from telehealth.domain.clinic_settings import Change, ClinicSettings, Service


class ClinicAdminStore(Protocol):
    """The clinic's settings and services, each versioned (0: never written), every change kept.

    A write names the version it read; a write over another version raises StaleWriteError and
    changes nothing. The version's change record is written in the same transaction."""

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
