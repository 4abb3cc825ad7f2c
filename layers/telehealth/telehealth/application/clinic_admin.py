"""Clinic administration: an admin changes the clinic's settings and services without a deploy,
every change versioned and kept with who made it; booking and the visit lifecycle read them at
run time (`CurrentSettings`, a short per-container cache).

The seed data goes through this same service, as the clinic's first admin.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotAuthorizedError, NotFoundError
from telehealth.domain.appointments import Actor
from telehealth.domain.clinic_settings import (
    Change,
    ClinicSettings,
    Service,
    SettingsError,
    changed_fields,
    with_changes,
)
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.licensure import License, LicensurePolicy
from telehealth.domain.scheduling import Availability
from telehealth.fhir import audit, projection
from telehealth.fhir.projection import PractitionerProfile
from telehealth.ports import OutboxEntry, ProviderRecord, StaleWriteError
from telehealth.ports.admin import ClinicAdminStore, ProviderDirectory

ADMINS = "admins"  # the workforce pool's group; set by admins only, never by a user themselves
HISTORY_LIMIT = 50
# Licences and compact privileges one provider may hold: every US jurisdiction and then some,
# and one transaction with the profile and the record's entries (DynamoDB allows 100 actions).
MAX_CREDENTIALS = 60
# A page of the provider directory: a clinic's whole roster in a few pages.
MAX_DIRECTORY_PAGE = 100


@dataclass(frozen=True)
class ListedProvider:
    """A provider as the directory shows them: who, and where they may see a patient now."""

    profile: PractitionerProfile
    states_today: tuple[str, ...]


def _encode_cursor(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise SettingsError("the cursor is not one this API gave out") from error


class ClinicAdmin:
    def __init__(
        self,
        store: ClinicAdminStore,
        clock: Callable[[], datetime],
        defaults: ClinicSettings,
        providers: ProviderDirectory | None = None,
    ) -> None:
        self.store, self.clock, self.providers = store, clock, providers
        self._trail: AuditTrail | None = None
        # What the settings are until an admin first writes them (the tenant file's seed values).
        self.defaults = defaults

    @staticmethod
    def require_admin(caller: Caller) -> None:
        """Checked here, on the server, from the token's groups (never from the request)."""
        if ADMINS not in caller.groups:
            raise NotAuthorizedError("Only the clinic's admins change its settings and services.")

    # --- settings ------------------------------------------------------------------------------------

    def settings(self, caller: Caller) -> tuple[ClinicSettings, int]:
        self.require_admin(caller)
        return self.store.settings() or (self.defaults, 0)

    def change_settings(
        self, caller: Caller, raw: Mapping[str, Any], expected_version: int
    ) -> tuple[ClinicSettings, int]:
        """The fields `raw` names, changed; the rest as they stand. A stale `expected_version`
        is a StaleWriteError (409) and nothing changes."""
        self.require_admin(caller)
        current, version = self.store.settings() or (self.defaults, 0)
        if expected_version != version:
            raise StaleWriteError("the settings changed since they were read")
        after = with_changes(current, raw)
        self._check_pageable(
            "alert_escalation.to",
            [p for p in after.alert_escalation.to if p not in current.alert_escalation.to],
        )
        self._check_pageable(
            "triage.on_call", [p for p in after.triage.on_call if p not in current.triage.on_call]
        )
        director = after.triage.medical_director
        changed = director is not None and director != current.triage.medical_director
        if changed and director and self.providers is not None and self.providers.provider(director) is None:
            raise SettingsError(f"triage.medical_director names no provider of the clinic: {director}")
        change = Change(
            version=version + 1,
            at=self.clock(),
            by=audit.user_agent(caller.subject),
            changes=changed_fields(current.as_seconds() if version else None, after.as_seconds()),
        )
        return after, self.store.save_settings(after, expected_version, change)

    def _check_pageable(self, field: str, named: list[str]) -> None:
        """Providers newly named to be paged are the clinic's, each with an address for pages."""
        if not named or self.providers is None:
            return
        found = {p: self.providers.provider(p) for p in named}
        unknown = [p for p, record in found.items() if record is None]
        if unknown:
            raise SettingsError(f"{field} names no provider of the clinic: {', '.join(unknown)}")
        unreachable = [p for p, record in found.items() if record and not record.profile.page_email]
        if unreachable:
            raise SettingsError(
                f"{field} names providers with no address for pages: {', '.join(unreachable)}"
                " (add it to their profile first)"
            )

    def settings_history(self, caller: Caller) -> list[Change]:
        self.require_admin(caller)
        return self.store.settings_history(HISTORY_LIMIT)

    # --- services ------------------------------------------------------------------------------------

    def services(self, caller: Caller) -> list[tuple[Service, int]]:
        self.require_admin(caller)
        return sorted(self.store.services().values(), key=lambda s: s[0].code)

    def put_service(self, caller: Caller, service: Service, expected_version: int) -> int:
        """Add a service (version 0) or change one (the version read); a service is never
        deleted, only made inactive, so past bookings keep what they were booked as."""
        self.require_admin(caller)
        current = self.store.services().get(service.code)
        version = current[1] if current else 0
        if expected_version != version:
            raise StaleWriteError("the service changed since it was read")
        before = _service_fields(current[0]) if current else None
        change = Change(
            version + 1,
            self.clock(),
            audit.user_agent(caller.subject),
            changed_fields(before, _service_fields(service)),
        )
        return self.store.save_service(service, expected_version, change)

    def service_history(self, caller: Caller, code: str) -> list[Change]:
        self.require_admin(caller)
        return self.store.service_history(code, HISTORY_LIMIT)

    # --- providers -----------------------------------------------------------------------------------

    def directory(
        self, caller: Caller, cursor: str | None, limit: int
    ) -> tuple[list[ListedProvider], str | None]:
        """The clinic's providers by name, a page at a time, each with the states they may see a
        patient in now. Admins keep the roster; staff (the front desk) pick from it to book and
        to see a provider's day; providers and patients are refused (docs/decisions.md)."""
        caller.require(Actor.STAFF)
        if not 1 <= limit <= MAX_DIRECTORY_PAGE:
            raise SettingsError(f"limit is 1 to {MAX_DIRECTORY_PAGE}")
        try:
            page = self._directory().directory(_decode_cursor(cursor) if cursor else None, limit)
        except ValueError as error:
            raise SettingsError("the cursor is not one this API gave out") from error
        now, policy = self.clock(), LicensurePolicy()
        listed = [ListedProvider(e.profile, policy.states_open(e.licenses, now)) for e in page.entries]
        return listed, (_encode_cursor(page.after) if page.after else None)

    def provider(self, caller: Caller, provider_id: str) -> ProviderRecord:
        self.require_admin(caller)
        found = self._directory().provider(provider_id)
        if found is None:
            raise NotFoundError("no such provider")
        return found

    def put_provider(
        self,
        caller: Caller,
        profile: PractitionerProfile,
        licenses: Sequence[License],
        user_sub: str,
        expected_version: int,
        availability: Availability | None = None,
    ) -> ProviderRecord:
        """Add a provider (version 0) or change one's profile and credentials (the version read);
        credentials left out are removed. Hours stay the provider's own (the availability route):
        a new provider starts with none, offering the clinic's active services at their usual
        length. The Practitioner and its Schedule reach the record, with an audit event."""
        self.require_admin(caller)
        keys = [(c.state, c.number) for c in licenses]
        if len(keys) > MAX_CREDENTIALS or len(set(keys)) != len(keys):
            raise SettingsError(f"a provider holds at most {MAX_CREDENTIALS} credentials, each once")
        directory = self._directory()
        before = directory.provider(profile.provider_id)
        version = before.profile.version if before else 0
        if expected_version != version:
            raise StaleWriteError("the provider changed since it was read")
        if availability is None and before is not None:
            availability = replace(before.availability, zone=profile.zone)
        if availability is None:
            offered = {s.code: s.minutes for s, _ in self.store.services().values() if s.active}
            availability = Availability(profile.provider_id, profile.zone, {}, offered or {"general": 30})
        now = self.clock()
        trail = self._trail or AuditTrail(directory, self.clock)
        self._trail = trail
        profile = replace(profile, version=version + 1)
        record = ProviderRecord(profile, availability, tuple(licenses), user_sub)
        reference = f"Practitioner/{profile.provider_id}"
        outbox = [
            OutboxEntry(projection.practitioner(profile, record.licenses), profile.version),
            OutboxEntry(
                projection.schedule(profile.provider_id, profile.specialty, profile.version), profile.version
            ),
            trail.entry(
                trail.agent(caller), Interaction.UPDATE if before else Interaction.CREATE, [reference], now
            ),
        ]
        directory.save_provider(record, expected_version, before, outbox)
        return record

    def _directory(self) -> ProviderDirectory:
        if self.providers is None:
            raise RuntimeError("this clinic admin was built without a provider directory")
        return self.providers


def _service_fields(service: Service) -> dict[str, Any]:
    return {
        "display": service.display,
        "minutes": service.minutes,
        "price_minor": service.price_minor,
        "currency": service.currency,
        "active": service.active,
        "coding": service.coding.as_fields() if service.coding else None,
    }


class CurrentSettings:
    """The clinic's settings and services as booking and the lifecycle read them: from the table,
    at most once per `ttl_s` per container (an admin's change reaches every function within that),
    the seed defaults until an admin first writes settings. Thread-safe (search reads in threads)."""

    def __init__(
        self,
        store: ClinicAdminStore,
        defaults: ClinicSettings,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.defaults, self.ttl_s, self.clock = store, defaults, ttl_s, clock
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._settings = defaults
        self._services: Mapping[str, Service] = MappingProxyType({})

    def _fresh(self) -> None:
        with self._lock:
            if self.clock() - self._read_at < self.ttl_s:
                return
            stored, services = self.store.current()  # one round trip
            self._settings = stored[0] if stored else self.defaults
            self._services = MappingProxyType({code: s for code, (s, _) in services.items()})
            self._read_at = self.clock()

    def settings(self) -> ClinicSettings:
        self._fresh()
        return self._settings

    def services(self) -> Mapping[str, Service]:
        self._fresh()
        return self._services


class FixedSettings:
    """Settings that do not change (tests, and a service built without the table)."""

    def __init__(self, settings: ClinicSettings, services: Mapping[str, Service] | None = None) -> None:
        self._settings, self._services = settings, MappingProxyType(dict(services or {}))

    def settings(self) -> ClinicSettings:
        return self._settings

    def services(self) -> Mapping[str, Service]:
        return self._services


__all__ = ["ClinicAdmin", "CurrentSettings", "FixedSettings", "ListedProvider", "SettingsError"]
