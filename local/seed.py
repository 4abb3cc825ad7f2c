"""Synthetic people for each local tenant: clinicians with licenses and weekly hours in several
time zones, staff, an admin and patients.

Every name, date and address here is invented (`.example` domains); none is a real person's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from infra import topology
from local.provision import ProvisionedTenant
from local.signin import new_totp_secret
from telehealth.adapters.admin_store import DynamoClinicAdmin, DynamoProviderAdmin
from telehealth.adapters.photon import PrescriberSeal
from telehealth.adapters.prescriptions_store import DynamoPrescriptions
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.application.callers import Caller
from telehealth.application.clinic_admin import ClinicAdmin
from telehealth.domain.appointments import Actor
from telehealth.domain.clinic_settings import ClinicSettings, Service
from telehealth.domain.licensure import License
from telehealth.domain.prescribing import SCHEDULES, DeaRegistration
from telehealth.domain.prescriptions import PrescriberAccount
from telehealth.domain.scheduling import Availability, DayOff, Interval
from telehealth.domain.service_types import SNOMED_CT, ServiceType
from telehealth.fhir import projection
from telehealth.ports import OutboxEntry

DEMO_PASSWORD = "Demo-Passw0rd!"  # noqa: S105 (a published, local-only demo credential)


@dataclass(frozen=True)
class SeedUser:
    pool: str  # workforce | patients
    local_part: str
    given_name: str
    family_name: str
    group: str | None = None


SEED_USERS = (
    SeedUser("workforce", "admin", "Avery", "Admin", "admins"),
    SeedUser("workforce", "staff", "Sam", "Scheduler", "staff"),
    SeedUser("workforce", "dr.okafor", "Ngozi", "Okafor", "providers"),
    SeedUser("workforce", "dr.lindqvist", "Erik", "Lindqvist", "providers"),
    SeedUser("workforce", "dr.ramirez", "Lucia", "Ramirez", "providers"),
    SeedUser("workforce", "dr.nightingale", "Florence", "Nightingale", "providers"),
    SeedUser("workforce", "dr.seacole", "Mary", "Seacole", "providers"),
    SeedUser("workforce", "dr.barton", "Clara", "Barton", "providers"),
    SeedUser("workforce", "dr.blackwell", "Elizabeth", "Blackwell", "providers"),
    SeedUser("workforce", "dr.apgar", "Virginia", "Apgar", "providers"),
    SeedUser("workforce", "dr.drew", "Charles", "Drew", "providers"),
    SeedUser("workforce", "dr.jacobi", "Mary", "Jacobi", "providers"),
    SeedUser("workforce", "dr.taussig", "Helen", "Taussig", "providers"),
    SeedUser("workforce", "dr.williams", "Daniel", "Williams", "providers"),
    SeedUser("patients", "patient.one", "Jordan", "Testpatient"),
    SeedUser("patients", "patient.two", "Riley", "Samplecase"),
)

WEEKDAYS = (1, 2, 3, 4, 5)
THIS_YEAR, NEXT_YEAR = date(2026, 1, 1), date(2027, 12, 31)


@dataclass(frozen=True)
class SeedProvider:
    """What a clinician offers: where they sit, what they see, in which languages, when."""

    local_part: str
    specialty: str
    languages: tuple[str, ...]
    zone: str
    weekly: dict[int, tuple[Interval, ...]]
    visit_minutes: dict[str, int]
    days_off: tuple[date, ...] = (date(2026, 12, 25),)

    @property
    def provider_id(self) -> str:
        return self.local_part.replace(".", "-")


SEED_PROVIDERS = (
    SeedProvider(
        "dr.okafor",
        "family-medicine",
        ("en", "yo"),
        "America/New_York",
        {d: (Interval(time(9), time(12)), Interval(time(13), time(17))) for d in WEEKDAYS}
        | {6: (Interval(time(9), time(12)),)},
        {"general": 30, "follow-up": 15},
    ),
    SeedProvider(
        "dr.lindqvist",
        "behavioral-health",
        ("en", "sv"),
        "America/Chicago",
        {d: (Interval(time(8), time(16)),) for d in (1, 2, 3, 4)},
        # A psychological evaluation takes four hours: the longest visit the platform allows.
        {"general": 50, "evaluation": 240},
    ),
    SeedProvider(
        "dr.ramirez",
        "pediatrics",
        ("en", "es"),
        "America/Los_Angeles",
        {d: (Interval(time(7), time(19)),) for d in range(1, 8)},
        {"general": 20, "follow-up": 10},
    ),
    # Urgent care around the clock in short visits, so the demo and the tests can always book a
    # visit that is about to start (nine of them: the e2e suite books a score of such visits in minutes).
    *(
        SeedProvider(
            local_part,
            "urgent-care",
            ("en",),
            zone,
            {d: (Interval(time(0), time(23, 55)),) for d in range(1, 8)},
            {"general": 5},
            days_off=(),  # urgent care has no holiday: a visit about to start is always there
        )
        for local_part, zone in (
            ("dr.nightingale", "America/New_York"),
            ("dr.seacole", "America/Chicago"),
            ("dr.barton", "America/Denver"),
            ("dr.blackwell", "America/Los_Angeles"),
            ("dr.apgar", "America/New_York"),
            ("dr.drew", "America/Chicago"),
            ("dr.jacobi", "America/New_York"),
            ("dr.taussig", "America/Chicago"),
            ("dr.williams", "America/Denver"),
        )
    ),
)


# What the clinic offers: every visit type the providers above publish hours for. Prices in cents.
# General and follow-up visits carry the SNOMED CT procedures the record codes them with; the
# evaluation has none (an admin may give it one), so the record names it by its text. Each is
# billed as an established patient's office visit of its length, or a psychiatric evaluation.
SEED_SERVICES = (
    Service(
        "general",
        "General visit",
        30,
        4000,
        coding=ServiceType("11429006", SNOMED_CT, "Consultation"),
        billing_code="99213",
    ),
    Service(
        "follow-up",
        "Follow-up visit",
        15,
        2500,
        coding=ServiceType("390906007", SNOMED_CT, "Follow-up encounter"),
        billing_code="99212",
    ),
    Service("evaluation", "Psychological evaluation", 240, 30000, billing_code="90791"),
)


def email_of(user: SeedUser, tenant_id: str) -> str:
    return f"{user.local_part}@{tenant_id}.example"


def _dea_registrations(
    index: int, family_name: str, licenses: tuple[License, ...]
) -> tuple[DeaRegistration, ...]:
    """A DEA registration (Schedules II-V) in each state of an active license, numbered as DEA
    numbers are: a registrant letter, the family name's initial, six digits and the check digit."""
    found: list[DeaRegistration] = []
    for n, state in enumerate(sorted({c.state for c in licenses if c.valid_until >= NEXT_YEAR})):
        digits = [int(c) for c in f"{(index * 97 + n * 13) % 1_000_000:06d}"]
        check = (digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])) % 10
        number = f"F{family_name[0].upper()}{''.join(map(str, digits))}{check}"
        found.append(DeaRegistration(number, state, frozenset(SCHEDULES), date(2028, 12, 31)))
    return tuple(found)


def _credentials(index: int, states: tuple[str, ...]) -> tuple[License, ...]:
    """Licenses spread over the tenant's states: one provider each with a lapsed license, with
    compact privileges, and with licenses at both ends of the list."""

    def pick(i: int) -> str:
        return states[i % len(states)]

    if index == 0:
        return (
            License(pick(0), f"{pick(0)}-{1000 + index}", THIS_YEAR, NEXT_YEAR),
            License(pick(1), f"{pick(1)}-{2000 + index}", THIS_YEAR, NEXT_YEAR),
            License(pick(2), f"{pick(2)}-{3000 + index}", date(2020, 1, 1), date(2025, 12, 31)),  # lapsed
        )
    if index == 1:
        return (
            License(pick(1), f"PSY-{pick(1)}-{index}", THIS_YEAR, NEXT_YEAR, compact="PSYPACT"),
            License(pick(3), f"PSY-{pick(3)}-{index}", THIS_YEAR, NEXT_YEAR, compact="PSYPACT"),
        )
    if index == 2:
        return (
            License(pick(0), f"{pick(0)}-{5000 + index}", THIS_YEAR, NEXT_YEAR),
            License(pick(-1), f"{pick(-1)}-{6000 + index}", THIS_YEAR, NEXT_YEAR),
        )
    return tuple(
        License(state, f"{state}-{7000 + n}", THIS_YEAR, NEXT_YEAR) for n, state in enumerate(states)
    )


def _sub(idp: Any, pool: str, email: str) -> str:
    attributes = idp.admin_get_user(UserPoolId=pool, Username=email)["UserAttributes"]
    return str(next(a["Value"] for a in attributes if a["Name"] == "sub"))


def seed_clinic(admin: ClinicAdmin, caller: Caller, settings: Mapping[str, Any]) -> None:
    """The clinic's settings and services, through the service the admin API uses, as its admin."""
    admin.change_settings(caller, settings, 0)  # a fresh table: the settings' first version
    for service in SEED_SERVICES:
        admin.put_service(caller, service, 0)


def photon_refresh_token(tenant_id: str, provider_id: str) -> str:
    """The refresh token a seeded prescriber's Photon sign-in left (the stand-in knows them): each
    clinic's prescriber has an account of their own, so revoking one at one clinic leaves the
    same-named provider's at another linked."""
    return f"rt-{tenant_id}-{provider_id}"


def seed_tenant(
    idp: Any,
    dynamodb: Any,
    tenant: ProvisionedTenant,
    settings: Mapping[str, Any] | None = None,
    kms: Any = None,
) -> None:
    """`settings`: the clinic settings to seed (ClinicSettings.as_seconds' spelling), the tenant
    file's seed values by default; `kms`: seals the seeded prescribers' Photon accounts."""
    subs: dict[str, str] = {}
    for user in SEED_USERS:
        pool = tenant.user_pools[user.pool]
        email = email_of(user, tenant.tenant.id)
        idp.admin_create_user(
            UserPoolId=pool,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "given_name", "Value": user.given_name},
                {"Name": "family_name", "Value": user.family_name},
            ],
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=DEMO_PASSWORD, Permanent=True)
        if user.group:
            idp.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=user.group)
        if user.pool == "workforce":  # the pool requires TOTP: each has an authenticator, so to speak
            tenant.totp[email] = new_totp_secret()
        subs[user.local_part] = _sub(idp, pool, email)

    table = topology.CLINIC_TABLE.name(tenant.tenant.id)
    clinic = topology.seed_settings(tenant.tenant) if settings is None else settings
    admin = ClinicAdmin(
        DynamoClinicAdmin(table, client=dynamodb),
        lambda: datetime.now(UTC),
        ClinicSettings.from_seconds(clinic),
        DynamoProviderAdmin(table, client=dynamodb),
    )
    # The seeded admin keeps the clinic: settings, services and providers through the admin
    # service, as the API does (each change versioned; the providers reach the record).
    as_admin = Caller(Actor.STAFF, subs["admin"], frozenset(), frozenset({"admins"}))
    seed_clinic(admin, as_admin, clinic)
    users = {u.local_part: u for u in SEED_USERS}
    prescriptions = DynamoPrescriptions(table, client=dynamodb)
    for index, seed in enumerate(SEED_PROVIDERS):
        user = users[seed.local_part]
        provider_id = seed.provider_id
        profile = projection.PractitionerProfile(
            provider_id,
            user.given_name,
            user.family_name,
            seed.specialty,
            seed.languages,
            seed.zone,
            # Pages go to their sign-in address here (synthetic, delivered to the local SES).
            page_email=email_of(user, tenant.tenant.id),
        )
        hours = Availability(
            provider_id,
            seed.zone,
            seed.weekly,
            seed.visit_minutes,
            days_off=frozenset(DayOff(day).day for day in seed.days_off),
        )
        credentials = _credentials(index, tenant.tenant.states)
        admin.put_provider(as_admin, profile, credentials, subs[seed.local_part], 0, availability=hours)
        if tenant.tenant.features.eprescribing and seed.specialty != "behavioral-health":
            # A psychologist prescribes nothing; the others hold a DEA registration (II-V) in
            # each state they are licensed in.
            prescriptions.save_dea_registrations(
                provider_id, _dea_registrations(index, user.family_name, credentials), 1, []
            )
            # Their Photon account linked, as each would by signing in there from the dashboard.
            seal = PrescriberSeal(tenant.sealing_key_arns[topology.PRESCRIBER_CREDENTIALS.key], client=kms)
            sealed = seal.seal(provider_id, photon_refresh_token(tenant.tenant.id, provider_id))
            prescriptions.save_prescriber_account(
                PrescriberAccount(provider_id, sealed, datetime(2026, 11, 2, 15, tzinfo=UTC)), []
            )
    store = DynamoSchedulingStore(table, client=dynamodb)
    items: list[dict[str, Any]] = []
    for number, user in enumerate(u for u in SEED_USERS if u.pool == "patients"):
        patient = projection.PatientProfile(
            subs[user.local_part],
            user.given_name,
            user.family_name,
            date(1970 + 11 * number, 3 + number, 14),
            tenant.tenant.states[number % len(tenant.tenant.states)],
            SEED_PROVIDERS[number % len(SEED_PROVIDERS)].zone,
            email=f"{user.local_part}@{tenant.tenant.id}.example",
            phone=f"+1555010{number:04d}"[:12],
        )
        items.append(store.put_patient(patient))
        items += store.outbox_items([OutboxEntry(projection.patient(patient), patient.version)])
    store.write(items)
