"""Clinic administration against the emulated table: versions and the kept history, a stale write
refused whole, and booking following settings an admin changed, without a deploy."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from infra import topology
from telehealth.adapters.admin_store import DynamoClinicAdmin, DynamoProviderAdmin
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.application.booking import BookingService, ClinicRules
from telehealth.application.callers import Caller, NotAuthorizedError
from telehealth.application.clinic_admin import ClinicAdmin, CurrentSettings
from telehealth.domain.appointments import Actor, Appointment, AppointmentRuleError
from telehealth.domain.clinic_settings import ClinicSettings, Service, SettingsError
from telehealth.domain.licensure import License, LicenseStatus
from telehealth.domain.scheduling import Availability, Interval, slot_id
from telehealth.domain.service_types import SNOMED_CT, ServiceType
from telehealth.fhir.projection import PatientProfile, PractitionerProfile
from telehealth.ports import ProviderRecord, StaleWriteError
from tests.integration.conftest import MotoServer

ADMIN = Caller(Actor.STAFF, "sub-admin", frozenset(), frozenset({"admins"}))
PATIENT = Caller(Actor.PATIENT, "patient-1", frozenset(), frozenset())


@pytest.fixture
def table(emulator: MotoServer) -> str:
    name = f"admin-{uuid.uuid4().hex[:8]}"
    emulator.client("dynamodb").create_table(**topology.CLINIC_TABLE.create_request(name))
    return name


def _admin(emulator: MotoServer, table: str) -> ClinicAdmin:
    store = DynamoClinicAdmin(table, client=emulator.client("dynamodb"))
    return ClinicAdmin(store, lambda: datetime.now(UTC), ClinicSettings())


def test_settings_versions_are_kept_and_a_stale_write_changes_nothing(
    emulator: MotoServer, table: str
) -> None:
    admin = _admin(emulator, table)
    admin.change_settings(ADMIN, {"max_open_bookings": 4}, 0)
    admin.change_settings(ADMIN, {"booking_horizon_days": 30}, 1)
    with pytest.raises(StaleWriteError):  # a second admin who read version 1
        admin.change_settings(ADMIN, {"max_open_bookings": 50}, 1)
    with pytest.raises(StaleWriteError):  # nor can a first write happen twice
        admin.store.save_settings(ClinicSettings(), 0, admin.settings_history(ADMIN)[-1])
    settings, version = admin.settings(ADMIN)
    assert (settings.max_open_bookings, settings.booking_horizon.days, version) == (4, 30, 2)
    history = admin.settings_history(ADMIN)
    assert [c.version for c in history] == [2, 1]
    assert history[0].changes == {"booking_horizon_days": (180, 30)}
    assert history[0].by == "Practitioner/user-sub-admin"


def test_services_are_listed_in_one_query_with_their_history(emulator: MotoServer, table: str) -> None:
    admin = _admin(emulator, table)
    admin.put_service(ADMIN, Service("general", "General visit", 30, 4000), 0)
    admin.put_service(ADMIN, Service("follow-up", "Follow-up", 15, 2500), 0)
    admin.put_service(ADMIN, Service("general", "General visit", 30, 4500), 1)
    assert [(s.code, s.price_minor, v) for s, v in admin.services(ADMIN)] == [
        ("follow-up", 2500, 1),
        ("general", 4500, 2),
    ]
    assert [c.changes.get("price_minor") for c in admin.service_history(ADMIN, "general")] == [
        (4000, 4500),
        (None, 4000),
    ]
    # The code the record gives a service is kept with it, and its change in the history.
    coded = Service("follow-up", "Follow-up", 15, 2500, coding=ServiceType("390906007", SNOMED_CT))
    admin.put_service(ADMIN, coded, 1)
    assert dict(admin.services(ADMIN))[coded] == 2
    assert admin.service_history(ADMIN, "follow-up")[0].changes == {
        "coding": (None, {"system": SNOMED_CT, "code": "390906007"})
    }


class NoWorkflows:
    def start(self, appointment: Appointment) -> None: ...

    def stop(self, appointment: Appointment, cause: str) -> None: ...


def _booking(emulator: MotoServer, table: str) -> BookingService:
    client = emulator.client("dynamodb")
    store = DynamoSchedulingStore(table, client=client)
    every_day = {d: (Interval(time(0), time(23, 55)),) for d in range(1, 8)}
    record = ProviderRecord(
        PractitionerProfile("dr-cap", "Ada", "Example", "urgent-care", ("en",), "UTC"),
        Availability("dr-cap", "UTC", every_day, {"general": 5}),
        (License("NY", "NY-1", date(2026, 1, 1), date(2030, 12, 31)),),
        "sub-dr-cap",
    )
    store.write(store.put_provider(record))
    # Read at every request (no cache), so the test sees a change at once.
    settings = CurrentSettings(DynamoClinicAdmin(table, client=client), ClinicSettings(), ttl_s=0)
    rules = ClinicRules("test", timedelta(hours=24), frozenset({"NY"}))
    return BookingService(store, rules, lambda: datetime.now(UTC), NoWorkflows(), settings=settings)


def _book(booking: BookingService, start: datetime, service_type: str = "general") -> Any:
    return booking.book(
        PATIENT,
        slot=slot_id("dr-cap", start),
        service_type=service_type,
        state="NY",
        patient_id=None,
        idempotency=None,
    )


def test_booking_follows_the_horizon_cap_and_services_an_admin_sets(emulator: MotoServer, table: str) -> None:
    admin, booking = _admin(emulator, table), _booking(emulator, table)
    soon = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    admin.change_settings(ADMIN, {"max_open_bookings": 2, "booking_horizon_days": 5}, 0)
    # A patient whose details the clinic has (booking refuses anyone else before its other rules).
    store = DynamoSchedulingStore(table, client=emulator.client("dynamodb"))
    patient = PatientProfile("patient-1", "Pat", "Example", date(1980, 1, 1), "NY", "UTC")
    store.write([store.put_patient(patient)])

    with pytest.raises(AppointmentRuleError) as far:
        _book(booking, soon + timedelta(days=5))
    assert far.value.kind == "beyond-booking-horizon"
    _book(booking, soon)
    second = _book(booking, soon + timedelta(minutes=5))
    with pytest.raises(AppointmentRuleError) as hoarding:
        _book(booking, soon + timedelta(minutes=10))
    assert hoarding.value.kind == "too-many-open-bookings"
    assert len(booking.store.appointments_of_patient("patient-1")) == 2  # the refusals wrote nothing
    # The clinic's staff may book past the cap on the patient's behalf.
    staff = Caller(Actor.STAFF, "sub-staff", frozenset(), frozenset({"staff"}))
    extra = booking.book(
        staff,
        slot=slot_id("dr-cap", soon + timedelta(minutes=15)),
        service_type="general",
        state="NY",
        patient_id="patient-1",
        idempotency=None,
    )
    booking.cancel(staff, extra.appointment_id, None)

    # A cancelled visit is no longer open: the patient may book again.
    booking.cancel(PATIENT, second.appointment_id, None)
    _book(booking, soon + timedelta(minutes=10))

    # Once the clinic lists its services, a visit type it does not offer is refused.
    admin.change_settings(ADMIN, {"max_open_bookings": 10}, 1)
    admin.put_service(ADMIN, Service("follow-up", "Follow-up", 15, 2500), 0)
    with pytest.raises(AppointmentRuleError) as unlisted:
        _book(booking, soon + timedelta(minutes=20))
    assert unlisted.value.kind == "service-not-offered"


def test_an_admin_adds_a_provider_then_withdraws_a_licence_and_search_follows(
    emulator: MotoServer, table: str
) -> None:
    client = emulator.client("dynamodb")
    admin = ClinicAdmin(
        DynamoClinicAdmin(table, client=client),
        lambda: datetime.now(UTC),
        ClinicSettings(),
        DynamoProviderAdmin(table, client=client),
    )
    admin.put_service(ADMIN, Service("general", "General visit", 20, 4000), 0)
    profile = PractitionerProfile("dr-new", "Grace", "Example", "family-medicine", ("en",), "America/Denver")
    ny = License("NY", "NY-77", date(2026, 1, 1), date(2030, 12, 31))
    nj = License("NJ", "NJ-78", date(2026, 1, 1), date(2030, 12, 31), compact="IMLC")
    added = admin.put_provider(ADMIN, profile, [ny, nj], "sub-new", 0)
    # A new provider offers the clinic's services at their usual length, and no hours yet.
    assert (added.profile.version, dict(added.availability.visit_minutes)) == (1, {"general": 20})
    store = DynamoSchedulingStore(table, client=client)
    assert [p.provider_id for p in store.providers_licensed_in("NJ")] == ["dr-new"]

    with pytest.raises(StaleWriteError):
        admin.put_provider(ADMIN, profile, [ny], "sub-new", 0)  # added again: stale, nothing changes
    assert [p.provider_id for p in store.providers_licensed_in("NJ")] == ["dr-new"]

    admin.put_provider(ADMIN, profile, [ny], "sub-new", 1)  # the NJ privilege withdrawn
    assert store.providers_licensed_in("NJ") == []
    stored = admin.provider(ADMIN, "dr-new")
    assert (stored.licenses, stored.profile.version) == ((ny,), 2)
    # The record learns each version, with who did it.
    pending = client.scan(
        TableName=table,
        FilterExpression="begins_with(pk, :o)",
        ExpressionAttributeValues={":o": {"S": "OUTBOX#Practitioner/dr-new"}},
    )
    assert sorted(int(i["sk"]["S"].removeprefix("V#")) for i in pending["Items"]) == [1, 2]


def test_the_directory_lists_every_provider_by_name_a_page_at_a_time_with_where_they_practise_today(
    emulator: MotoServer, table: str
) -> None:
    client = emulator.client("dynamodb")
    now = datetime.now(UTC)
    admin = ClinicAdmin(
        DynamoClinicAdmin(table, client=client),
        lambda: now,
        ClinicSettings(),
        DynamoProviderAdmin(table, client=client),
    )
    today = now.date()
    current = License("NY", "NY-1", today - timedelta(days=400), today + timedelta(days=400))
    lapsed = License("NJ", "NJ-1", today - timedelta(days=400), today - timedelta(days=30))
    suspended = License(
        "CO", "CO-1", today - timedelta(days=10), today + timedelta(days=10), LicenseStatus.SUSPENDED
    )
    names = [
        ("dr-c", "Zoe", "Abbott"),
        ("dr-a", "Ada", "baker"),
        ("dr-b", "Ben", "Baker"),
        ("dr-d", "Cy", "Young"),
    ]
    for provider_id, given, family in names:
        profile = PractitionerProfile(
            provider_id, given, family, "family-medicine", ("en",), "America/Denver"
        )
        admin.put_provider(ADMIN, profile, [current, lapsed, suspended], f"sub-{provider_id}", 0)
    # Their licences are in the same index (under LICENSED#<state>): none is listed as a provider.
    staff = Caller(Actor.STAFF, "sub-staff", frozenset(), frozenset({"staff"}))

    listed, cursor, pages = [], None, 0
    while True:
        page, cursor = admin.directory(staff, cursor, 3)
        listed += page
        pages += 1
        if cursor is None:
            break
    assert pages == 2  # 3 and 1: the last page says it is the last, with no empty page after it
    # By family name then given name, whatever the case they were typed in.
    assert [p.profile.provider_id for p in listed] == ["dr-c", "dr-a", "dr-b", "dr-d"]
    assert {p.states_today for p in listed} == {("NY",)}  # not lapsed, not suspended
    assert listed[0].profile.version == 1

    # A licence withdrawn and a rename: the directory follows the profile's own write.
    renamed = PractitionerProfile("dr-d", "Cy", "Aaron", "family-medicine", ("en",), "America/Denver")
    admin.put_provider(ADMIN, renamed, [], "sub-dr-d", 1)
    first, _ = admin.directory(ADMIN, None, 10)
    assert [(p.profile.provider_id, p.states_today) for p in first][:2] == [("dr-d", ()), ("dr-c", ("NY",))]

    # A cursor this API never gave out is a 400, never a read somewhere else.
    for forged in ("not base64!", "eA==", base64.urlsafe_b64encode(b"x#y#DR A").decode()):
        with pytest.raises(SettingsError, match="cursor"):
            admin.directory(ADMIN, forged, 10)
    with pytest.raises(NotAuthorizedError):
        admin.directory(PATIENT, None, 10)
