"""The clinic's settings and services: what an admin may set, the guard rails booking applies with
them (horizon, open bookings per patient), who may change them, versions and the change kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from telehealth.application.callers import Caller, NotAuthorizedError
from telehealth.application.clinic_admin import ClinicAdmin, CurrentSettings
from telehealth.domain.appointments import Actor, AppointmentRuleError
from telehealth.domain.clinic_settings import (
    WORKFLOW_LIMIT,
    AlertEscalation,
    Change,
    ClinicSettings,
    Service,
    SettingsError,
    TriageSettings,
    check_open_bookings,
    check_service_offered,
    check_within_horizon,
    longest_horizon,
    with_changes,
)
from telehealth.domain.licensure import License
from telehealth.domain.scheduling import LONGEST_VISIT
from telehealth.domain.service_types import SNOMED_CT, ServiceType
from telehealth.domain.visits import VisitTimings
from telehealth.fhir.projection import PractitionerProfile
from telehealth.ports import OutboxEntry, ProviderRecord, StaleWriteError
from telehealth.ports.admin import DirectoryEntry, DirectoryPage

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ADMIN = Caller(Actor.STAFF, "sub-admin", frozenset(), frozenset({"admins"}))
STAFF = Caller(Actor.STAFF, "sub-staff", frozenset(), frozenset({"staff"}))
PATIENT = Caller(Actor.PATIENT, "patient-1", frozenset(), frozenset())
PROVIDER = Caller(Actor.PROVIDER, "sub-dr", frozenset(), frozenset({"providers"}))
MACHINE = Caller(Actor.MACHINE, "client-1", frozenset({"telehealth/appointments.read"}), frozenset())


class MemoryAdminStore:
    """The admin store's contract in memory: versions checked, every change kept."""

    def __init__(self) -> None:
        self.stored: tuple[ClinicSettings, int] | None = None
        self.history: list[Change] = []
        self.catalogue: dict[str, tuple[Service, int]] = {}
        self.service_changes: dict[str, list[Change]] = {}
        self.reads = 0

    def current(self) -> tuple[tuple[ClinicSettings, int] | None, dict[str, tuple[Service, int]]]:
        self.reads += 1
        return self.stored, dict(self.catalogue)

    def settings(self) -> tuple[ClinicSettings, int] | None:
        return self.stored

    def save_settings(self, settings: ClinicSettings, expected_version: int, change: Change) -> int:
        if (self.stored[1] if self.stored else 0) != expected_version:
            raise StaleWriteError("stale")
        self.stored = (settings, change.version)
        self.history.insert(0, change)
        return change.version

    def settings_history(self, limit: int) -> list[Change]:
        return self.history[:limit]

    def services(self) -> dict[str, tuple[Service, int]]:
        return dict(self.catalogue)

    def save_service(self, service: Service, expected_version: int, change: Change) -> int:
        if (self.catalogue[service.code][1] if service.code in self.catalogue else 0) != expected_version:
            raise StaleWriteError("stale")
        self.catalogue[service.code] = (service, change.version)
        self.service_changes.setdefault(service.code, []).insert(0, change)
        return change.version

    def service_history(self, code: str, limit: int) -> list[Change]:
        return self.service_changes.get(code, [])[:limit]


def _admin(store: MemoryAdminStore | None = None) -> tuple[ClinicAdmin, MemoryAdminStore]:
    store = store or MemoryAdminStore()
    return ClinicAdmin(store, lambda: NOW, ClinicSettings(cancellation_window=timedelta(hours=24))), store


# --- the booking horizon -----------------------------------------------------------------------------


def test_a_visit_beyond_the_horizon_is_refused_and_one_inside_it_is_not() -> None:
    settings = ClinicSettings(booking_horizon=timedelta(days=30))
    check_within_horizon(NOW + timedelta(days=30), NOW, settings)
    with pytest.raises(AppointmentRuleError) as refused:
        check_within_horizon(NOW + timedelta(days=30, minutes=5), NOW, settings)
    assert refused.value.kind == "beyond-booking-horizon"
    assert "30 days" in str(refused.value)


def test_the_horizon_keeps_every_visit_inside_the_year_its_workflow_may_run() -> None:
    timings = VisitTimings()
    furthest = longest_horizon(timings)
    # Booked at the horizon, the longest visit's lifecycle (admission wait, overrun) ends in a year.
    assert furthest + LONGEST_VISIT + timings.admit_by_after_end + timings.overrun < WORKFLOW_LIMIT
    ClinicSettings(booking_horizon=timedelta(days=furthest.days))
    with pytest.raises(SettingsError, match="at most"):
        ClinicSettings(booking_horizon=timedelta(days=furthest.days + 1))
    # A longer wait for admission leaves less of the year for the horizon.
    slower = VisitTimings(admit_by_after_end=timedelta(days=3))
    assert longest_horizon(slower) < furthest


# --- open bookings per patient -----------------------------------------------------------------------


def test_a_patient_at_the_cap_of_open_bookings_cannot_book_another() -> None:
    settings = ClinicSettings(max_open_bookings=3)
    check_open_bookings(2, settings)
    with pytest.raises(AppointmentRuleError) as refused:
        check_open_bookings(3, settings)
    assert refused.value.kind == "too-many-open-bookings"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"max_open_bookings": 0}, "max_open_bookings"),
        ({"max_open_bookings": 101}, "max_open_bookings"),
        ({"cancellation_window_hours": 169}, "cancellation_window_hours"),
        ({"booking_horizon_days": 0}, "booking_horizon_days"),
        ({"visit_timings": {"join_window": 300}}, "Chime"),
        ({"visit_timings": {"nap": 60}}, "nap"),
        ({"visit_timings": {"reminders": [86400 * 15]}}, "reminder"),
        ({"alert_escalation": {"after_minutes": 0}}, "after_minutes"),
        ({"alert_escalation": {"after_minutes": True}}, "after_minutes"),
        ({"alert_escalation": {"to": ["dr-a", "dr-a"]}}, "each once"),
        ({"alert_escalation": {"to": [f"dr-{n}" for n in range(6)]}}, "up to 5"),
        ({"alert_escalation": {"who": []}}, "alert_escalation"),
        ({"triage": {"photo_turnaround_hours": 0}}, "photo_turnaround_hours"),
        ({"triage": {"photo_turnaround_hours": 4, "photo_warning_hours": 5}}, "photo_warning_hours"),
        ({"triage": {"photo_warning_hours": -1}}, "photo_warning_hours"),
    ],
)
def test_settings_the_platform_cannot_keep_are_refused_naming_the_field(
    raw: dict[str, Any], says: str
) -> None:
    with pytest.raises(SettingsError, match=says):
        ClinicSettings.from_seconds(raw)


def test_settings_round_trip_through_their_stored_spelling() -> None:
    settings = ClinicSettings(
        cancellation_window=timedelta(hours=12),
        booking_horizon=timedelta(days=90),
        max_open_bookings=4,
        timings=VisitTimings(join_window=timedelta(seconds=6), reminders=(timedelta(hours=2),)),
        alert_escalation=AlertEscalation(timedelta(minutes=5), ("dr-a", "dr-b")),
        triage=TriageSettings(photo_turnaround=timedelta(hours=24), photo_warning=timedelta(hours=24)),
    )
    assert ClinicSettings.from_seconds(settings.as_seconds()) == settings
    assert settings.as_seconds()["alert_escalation"] == {"after_minutes": 5, "to": ["dr-a", "dr-b"]}


# --- services ----------------------------------------------------------------------------------------


def test_a_booking_names_a_service_the_clinic_offers_now() -> None:
    offered = {"general": Service("general", "General visit", 30, 4000)}
    check_service_offered("general", offered)
    check_service_offered("anything", {})  # a clinic with no list yet takes its providers' types
    for code, catalogue in [
        ("dermatology", offered),
        ("general", {"general": Service("general", "General visit", 30, 4000, active=False)}),
    ]:
        with pytest.raises(AppointmentRuleError) as refused:
            check_service_offered(code, catalogue)
        assert refused.value.kind == "service-not-offered"


@pytest.mark.parametrize(
    "fields",
    [
        {"code": "General"},
        {"minutes": 7},
        {"minutes": 245},
        {"price_minor": -1},
        {"currency": "usd"},
        {"display": ""},
        # A coding FHIR would refuse: a system that is no absolute URI, a blank or spaced code.
        {"coding": ServiceType("11429006", "snomed.info/sct")},
        {"coding": ServiceType("11429006", "http://snomed.info/ sct")},
        {"coding": ServiceType("", SNOMED_CT)},
        {"coding": ServiceType(" 11429006", SNOMED_CT)},
        {"coding": ServiceType("11429006", SNOMED_CT, "")},
        {"coding": ServiceType("11429006", SNOMED_CT, "Consultation\n")},
        {"coding": ServiceType("1" * 65, SNOMED_CT)},
    ],
)
def test_a_service_the_clinic_could_not_book_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(SettingsError):
        Service(**{"code": "general", "display": "General", "minutes": 30, "price_minor": 0, **fields})


def test_a_service_may_carry_the_code_the_record_gives_it() -> None:
    for coding in (
        ServiceType("11429006", SNOMED_CT, "Consultation"),
        ServiceType("eval 4h", "urn:oid:2.16.840.1.113883.3.1"),  # a clinic's own, no display
    ):
        assert Service("general", "General", 30, 0, coding=coding).coding == coding


# --- the admin service -------------------------------------------------------------------------------


def test_only_admins_change_settings_and_a_refusal_changes_nothing() -> None:
    admin, store = _admin()
    for caller in (STAFF, Caller(Actor.PROVIDER, "sub-dr", frozenset(), frozenset({"providers"}))):
        with pytest.raises(NotAuthorizedError):
            admin.change_settings(caller, {"max_open_bookings": 2}, 0)
        with pytest.raises(NotAuthorizedError):
            admin.settings(caller)
        with pytest.raises(NotAuthorizedError):
            admin.put_service(caller, Service("general", "General", 30, 0), 0)
    assert store.stored is None and store.catalogue == {}


def test_each_change_is_a_version_with_who_and_what_and_a_stale_one_is_refused() -> None:
    admin, store = _admin()
    assert admin.settings(ADMIN) == (admin.defaults, 0)
    first, version = admin.change_settings(ADMIN, {"max_open_bookings": 4}, 0)
    assert (first.max_open_bookings, version) == (4, 1)
    second, version = admin.change_settings(ADMIN, {"booking_horizon_days": 60}, 1)
    assert (second.max_open_bookings, second.booking_horizon, version) == (4, timedelta(days=60), 2)
    with pytest.raises(StaleWriteError):
        admin.change_settings(ADMIN, {"max_open_bookings": 9}, 1)
    assert store.stored == (second, 2)
    latest, original = admin.settings_history(ADMIN)
    assert latest.changes == {"booking_horizon_days": (180, 60)}
    assert (latest.by, latest.at, latest.version) == ("Practitioner/user-sub-admin", NOW, 2)
    assert original.changes["max_open_bookings"] == (None, 4)  # the first version: every field


def test_a_service_is_added_at_version_zero_then_changed_at_the_version_read() -> None:
    admin, _ = _admin()
    assert admin.put_service(ADMIN, Service("general", "General", 30, 4000), 0) == 1
    with pytest.raises(StaleWriteError):
        admin.put_service(ADMIN, Service("general", "General", 30, 9999), 0)  # added again: stale
    assert admin.put_service(ADMIN, Service("general", "General", 30, 4500), 1) == 2
    assert [(s.price_minor, v) for s, v in admin.services(ADMIN)] == [(4500, 2)]
    assert admin.service_history(ADMIN, "general")[0].changes == {"price_minor": (4000, 4500)}


def test_run_time_readers_see_a_change_within_the_cache_time_and_read_at_most_once_in_it() -> None:
    store = MemoryAdminStore()
    admin, _ = _admin(store)
    ticks = [0.0]
    current = CurrentSettings(store, admin.defaults, ttl_s=60, clock=lambda: ticks[0])
    assert current.settings().max_open_bookings == 10  # the defaults until an admin writes
    admin.change_settings(ADMIN, {"max_open_bookings": 2}, 0)
    reads = store.reads
    ticks[0] = 59.0
    assert current.settings().max_open_bookings == 10 and store.reads == reads  # cached
    ticks[0] = 60.0
    assert current.settings().max_open_bookings == 2


class MemoryDirectory:
    def __init__(self) -> None:
        self.saved: list[tuple[ProviderRecord, list[OutboxEntry]]] = []

        self.recorded: list[OutboxEntry] = []

    def provider(self, provider_id: str) -> ProviderRecord | None:
        return self.saved[-1][0] if self.saved else None

    def directory(self, after: str | None, limit: int) -> DirectoryPage:
        if after not in (None, "p#1"):
            raise ValueError("not a place in the directory")
        records = [r for r, _ in self.saved][-1:]
        return DirectoryPage([DirectoryEntry(r.profile, r.licenses) for r in records], None)

    def provider_for_user(self, user_sub: str) -> str | None:
        return None

    def appointment(self, appointment_id: str) -> None:
        return None

    def record(self, outbox: list[OutboxEntry]) -> None:
        self.recorded += outbox

    def save_provider(
        self,
        record: ProviderRecord,
        expected_version: int,
        before: ProviderRecord | None,
        outbox: list[OutboxEntry],
    ) -> None:
        self.saved.append((record, outbox))


def test_only_admins_keep_providers_and_each_change_reaches_the_record_with_its_audit() -> None:
    directory = MemoryDirectory()
    admin = ClinicAdmin(MemoryAdminStore(), lambda: NOW, ClinicSettings(), directory)
    profile = PractitionerProfile("dr-x", "Ada", "Example", "family-medicine", ("en",), "America/Chicago")
    ny = License("NY", "NY-1", date(2026, 1, 1), date(2027, 1, 1))
    with pytest.raises(NotAuthorizedError):
        admin.put_provider(STAFF, profile, [ny], "sub-x", 0)
    with pytest.raises(SettingsError, match="each once"):
        admin.put_provider(ADMIN, profile, [ny, ny], "sub-x", 0)
    assert directory.saved == []
    record = admin.put_provider(ADMIN, profile, [ny], "sub-x", 0)
    assert record.profile.version == 1
    practitioner, schedule, event = (e.resource for e in directory.saved[0][1])
    assert (practitioner["resourceType"], schedule["resourceType"]) == ("Practitioner", "Schedule")
    assert (event["resourceType"], event["action"]) == ("AuditEvent", "C")
    assert [e["what"]["reference"] for e in event["entity"]] == ["Practitioner/dr-x"]
    # The admin as agent: their resource written once, before the first event that names it.
    assert [e.resource["id"] for e in directory.recorded] == ["user-sub-admin"]
    with pytest.raises(StaleWriteError):
        admin.put_provider(ADMIN, profile, [], "sub-x", 0)


# Every operation of the admin service, as a caller would reach it through its route.
PROFILE = PractitionerProfile("dr-x", "Ada", "Example", "family-medicine", ("en",), "America/Chicago")
NY = License("NY", "NY-1", date(2026, 1, 1), date(2027, 1, 1))
ADMIN_OPERATIONS: dict[str, Any] = {
    "read the settings": lambda a, c: a.settings(c),
    "change the settings": lambda a, c: a.change_settings(c, {"max_open_bookings": 2}, 1),
    "read the settings' history": lambda a, c: a.settings_history(c),
    "list the services": lambda a, c: a.services(c),
    "change a service": lambda a, c: a.put_service(c, Service("general", "Free", 30, 0), 1),
    "read a service's history": lambda a, c: a.service_history(c, "general"),
    "read a provider": lambda a, c: a.provider(c, "dr-x"),
    "change a provider": lambda a, c: a.put_provider(c, PROFILE, [], "sub-x", 1),
}


@pytest.mark.parametrize("operation", sorted(ADMIN_OPERATIONS))
@pytest.mark.parametrize("caller", [PATIENT, PROVIDER, STAFF, MACHINE], ids=lambda c: c.actor.value)
def test_no_one_but_an_admin_reaches_the_administration_and_a_refusal_changes_nothing(
    operation: str, caller: Caller
) -> None:
    directory = MemoryDirectory()
    admin = ClinicAdmin(MemoryAdminStore(), lambda: NOW, ClinicSettings(), directory)
    admin.change_settings(ADMIN, {"max_open_bookings": 4}, 0)
    admin.put_service(ADMIN, Service("general", "General", 30, 4000), 0)
    admin.put_provider(ADMIN, PROFILE, [NY], "sub-x", 0)
    before = (
        admin.settings(ADMIN),
        admin.services(ADMIN),
        admin.provider(ADMIN, "dr-x"),
        len(directory.saved),
    )
    with pytest.raises(NotAuthorizedError):
        ADMIN_OPERATIONS[operation](admin, caller)
    assert (
        admin.settings(ADMIN),
        admin.services(ADMIN),
        admin.provider(ADMIN, "dr-x"),
        len(directory.saved),
    ) == before


def test_admins_and_staff_read_the_provider_directory_and_no_one_else_does() -> None:
    directory = MemoryDirectory()
    admin = ClinicAdmin(MemoryAdminStore(), lambda: NOW, ClinicSettings(), directory)
    admin.put_provider(ADMIN, PROFILE, [NY], "sub-x", 0)
    for reader in (ADMIN, STAFF):
        listed, cursor = admin.directory(reader, None, 50)
        assert [(p.profile.provider_id, p.states_today, p.profile.version) for p in listed] == [
            ("dr-x", ("NY",), 1)
        ]
        assert cursor is None
    for caller in (PATIENT, PROVIDER, MACHINE):
        with pytest.raises(NotAuthorizedError):
            admin.directory(caller, None, 50)
    for limit in (0, 101):
        with pytest.raises(SettingsError, match="limit"):
            admin.directory(STAFF, None, limit)
    admin.directory(STAFF, "cCMx", 1)  # a cursor it gave out ("p#1")
    with pytest.raises(SettingsError, match="cursor"):
        admin.directory(STAFF, "cCMy", 1)  # base64 of a place the store never gave out


def test_the_fees_and_whether_an_unpaid_visit_goes_ahead_are_settings_of_the_clinic() -> None:
    settings = with_changes(
        ClinicSettings(),
        {"no_show_fee_minor": 2500, "late_cancellation_fee_minor": 1500, "proceed_unpaid": False},
    )
    assert (settings.no_show_fee_minor, settings.late_cancellation_fee_minor, settings.proceed_unpaid) == (
        2500,
        1500,
        False,
    )
    assert ClinicSettings.from_seconds(settings.as_seconds()) == settings
    for wrong in (
        {"no_show_fee_minor": -1},
        {"no_show_fee_minor": 25.5},
        {"late_cancellation_fee_minor": 10_000_001},
        {"currency": "usd"},
        {"proceed_unpaid": "yes"},
    ):
        with pytest.raises(SettingsError):
            with_changes(ClinicSettings(), wrong)
