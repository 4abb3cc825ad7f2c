"""Clinic administration routes (admins only, checked on the server; staff also read the provider
directory, to book and to see a provider's day): the clinic's settings, services and providers,
each change versioned (the version read goes with every write; a stale one is a 409) and kept
with who made it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from functions.api import context
from functions.api.contract import ADMIN, answers
from telehealth.application.clinic_admin import MAX_CREDENTIALS, MAX_DIRECTORY_PAGE, ListedProvider
from telehealth.domain.charges import BILLING_CODE
from telehealth.domain.clinic_settings import (
    MAX_OPEN_BOOKINGS,
    MAX_PRICE_MINOR,
    Change,
    ClinicSettings,
    Service,
)
from telehealth.domain.licensure import License, LicenseStatus
from telehealth.domain.service_types import (
    ABSOLUTE_URI,
    DISPLAY,
    FHIR_CODE,
    MAX_CODE,
    MAX_DISPLAY,
    MAX_SYSTEM,
    ServiceType,
)
from telehealth.fhir.projection import PractitionerProfile
from telehealth.ports import ProviderRecord

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]
ServiceCode = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,30}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VisitTimingsIn(_Model):
    """The visit's clocks in seconds; a clock left out stays as it is."""

    check_in_opens: Seconds | None = None
    no_show_grace: Seconds | None = None
    join_window: Seconds | None = Field(
        default=None, description="Under 300: Chime ends an empty meeting then"
    )
    admit_by_after_end: Seconds | None = None
    overrun: Seconds | None = None
    link_lifetime: Seconds | None = Field(default=None, description="600 at most")
    reminders: Annotated[list[Seconds], Field(max_length=5)] | None = Field(
        default=None, description="How long before the start each reminder goes out"
    )


class VisitTimingsOut(_Model):
    check_in_opens: float
    no_show_grace: float
    join_window: float
    admit_by_after_end: float
    overrun: float
    link_lifetime: float
    reminders: list[float]


class ControlledSubstancesIn(_Model):
    """The rules, with their dates, for prescribing controlled substances by telemedicine."""

    flexibilities_until: date | None = Field(
        None, description="The last day of the DEA's telemedicine flexibilities (2026-12-31 as of writing)"
    )
    after_flexibilities: Literal["in-person-required"] | None = Field(
        None, description="The rule after that day: a prior in-person evaluation, save the buprenorphine rule"
    )
    buprenorphine_max_days: Annotated[int, Field(ge=1, le=365)] | None = Field(
        None, description="Days' supply of a drug for opioid use disorder without an in-person evaluation"
    )
    pdmp_max_age_days: Annotated[int, Field(ge=0, le=90)] | None = Field(
        None, description="How recent the attested check of the state's PDMP must be"
    )


class AlertEscalationIn(_Model):
    """Remote monitoring: whom an urgent alert goes to when no clinician has acknowledged it."""

    after_minutes: Annotated[int, Field(ge=1, le=240)] | None = Field(
        None, description="How long an urgent alert waits for a clinician before the next person is told"
    )
    to: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=5)] | None = (
        Field(None, description="The providers told, in turn, one each `after_minutes` (provider ids)")
    )


class AlertEscalationOut(_Model):
    after_minutes: int
    to: list[str]


class TriageSettingsIn(_Model):
    """Virtual triage (tenants with it on); fields left out stay."""

    medical_director: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="The provider who signs the triage rule sets off (a provider id)"
    )
    on_call: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=5)] | None
    ) = Field(None, description="Providers paged when a patient is shown an emergency instruction")
    urgent_within_minutes: Annotated[int, Field(ge=30, le=1440)] | None = Field(
        None, description="How soon an urgent-care slot must start for triage's 'now' to offer it"
    )
    self_care: bool | None = Field(
        None, description="Whether triage may send a patient to self-care (else to a visit within days)"
    )
    photo_turnaround_hours: Annotated[int, Field(ge=1, le=168)] | None = Field(
        None, description="How soon a clinician answers a case of photos (store-and-forward), the promise"
    )
    photo_warning_hours: Annotated[int, Field(ge=0, le=168)] | None = Field(
        None,
        description="How long before its deadline a case still unanswered is escalated to the on-call "
        "(at most the turnaround; equal to it: as the case arrives)",
    )


class TriageSettingsOut(_Model):
    medical_director: str | None
    on_call: list[str]
    urgent_within_minutes: int
    self_care: bool
    photo_turnaround_hours: int
    photo_warning_hours: int


class ControlledSubstancesOut(_Model):
    flexibilities_until: date
    after_flexibilities: str
    buprenorphine_max_days: int
    pdmp_max_age_days: int


class SettingsIn(_Model):
    """The settings to change; those left out stay as they are."""

    cancellation_window_hours: Annotated[int, Field(ge=0, le=168)] | None = None
    booking_horizon_days: Annotated[int, Field(ge=1, le=366)] | None = Field(
        default=None, description="How far ahead a visit may be booked or moved to"
    )
    max_open_bookings: Annotated[int, Field(ge=1, le=MAX_OPEN_BOOKINGS)] | None = Field(
        default=None, description="Booked visits one patient may hold at once"
    )
    visit_timings: VisitTimingsIn | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = Field(
        default=None, description="The clinic's currency (ISO 4217), the fees' below"
    )
    no_show_fee_minor: Annotated[int, Field(ge=0, le=MAX_PRICE_MINOR)] | None = Field(
        default=None, description="Taken from the hold when the patient does not come (0: nothing)"
    )
    late_cancellation_fee_minor: Annotated[int, Field(ge=0, le=MAX_PRICE_MINOR)] | None = Field(
        default=None, description="Taken when staff cancel, late, a visit the patient asked to drop"
    )
    proceed_unpaid: bool | None = Field(
        default=None, description="Whether a visit goes ahead when the card refused its hold"
    )
    note_template: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(
        default=None,
        min_length=1,
        max_length=12,
        description="The sections of a clinician's note, in order (SOAP unless changed); a note "
        "already started keeps its own",
    )
    controlled_substances: ControlledSubstancesIn | None = None
    alert_escalation: AlertEscalationIn | None = None
    triage: TriageSettingsIn | None = None
    version: int = Field(ge=0, description="The version read (0: never changed); a stale one is a 409")


class SettingsOut(_Model):
    cancellation_window_hours: int
    booking_horizon_days: int
    max_open_bookings: int
    visit_timings: VisitTimingsOut
    currency: str
    no_show_fee_minor: int
    late_cancellation_fee_minor: int
    proceed_unpaid: bool
    note_template: list[str]
    controlled_substances: ControlledSubstancesOut
    alert_escalation: AlertEscalationOut
    triage: TriageSettingsOut
    version: int = Field(description="Send it back with a change")


class Coding(_Model):
    """The code the clinical record gives the service (a FHIR Coding: the Appointment's
    `serviceType`), such as SNOMED CT's 11429006 'Consultation'."""

    system: Annotated[str, Field(max_length=MAX_SYSTEM, pattern=ABSOLUTE_URI.pattern)] = Field(
        description="The code system, an absolute URI (http://snomed.info/sct for SNOMED CT)"
    )
    code: Annotated[str, Field(max_length=MAX_CODE, pattern=FHIR_CODE.pattern)]
    display: Annotated[str, Field(max_length=MAX_DISPLAY, pattern=DISPLAY.pattern)] | None = None

    def as_domain(self) -> ServiceType:
        return ServiceType(self.code, self.system, self.display)


class ServiceIn(_Model):
    display: Annotated[str, Field(min_length=1, max_length=80)]
    minutes: Annotated[int, Field(ge=5, le=240, multiple_of=5)]
    price_minor: Annotated[int, Field(ge=0, le=10_000_000)] = Field(description="In minor units (cents)")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    active: bool = True
    coding: Coding | None = Field(
        default=None, description="Left out: the record names the service by its code alone"
    )
    billing_code: Annotated[str, Field(pattern=BILLING_CODE.pattern)] | None = Field(
        default=None,
        description="The CPT (or HCPCS) code a completed visit is billed as; left out: none",
    )
    version: int = Field(ge=0, description="The version read; 0 adds a service")


class ServiceOut(_Model):
    code: str
    display: str
    minutes: int
    price_minor: int
    currency: str
    active: bool
    coding: Coding | None
    billing_code: str | None
    version: int


class ServiceList(_Model):
    services: list[ServiceOut]


class FieldChange(_Model):
    before: Any
    after: Any


class ChangeOut(_Model):
    version: int
    at: datetime
    by: str = Field(description="Who made the change (a FHIR reference)")
    changes: dict[str, FieldChange]


class History(_Model):
    versions: list[ChangeOut] = Field(description="Newest first")


def settings_out(settings: ClinicSettings, version: int) -> SettingsOut:
    return SettingsOut(**settings.as_seconds(), version=version)


def service_out(service: Service, version: int) -> ServiceOut:
    return ServiceOut(
        code=service.code,
        display=service.display,
        minutes=service.minutes,
        price_minor=service.price_minor,
        currency=service.currency,
        active=service.active,
        coding=Coding(**service.coding.as_fields()) if service.coding else None,
        billing_code=service.billing_code,
        version=version,
    )


def history(changes: list[Change]) -> History:
    return History(
        versions=[
            ChangeOut(
                version=c.version,
                at=c.at,
                by=c.by,
                changes={k: FieldChange(before=b, after=a) for k, (b, a) in c.changes.items()},
            )
            for c in changes
        ]
    )


@router.get("/v1/admin/settings", summary="The clinic's settings (admins)", tags=[ADMIN], **answers(404))
def read_settings() -> SettingsOut:
    return settings_out(*context.clinic_admin().settings(context.caller(router)))


@router.put(
    "/v1/admin/settings",
    summary="Change the clinic's settings (admins); fields left out stay",
    tags=[ADMIN],
    **answers(404, 409),
)
def change_settings(request: SettingsIn) -> SettingsOut:
    raw = request.model_dump(exclude_none=True, exclude={"version"})
    for nested in ("visit_timings", "controlled_substances", "alert_escalation", "triage"):
        if nested in raw and not raw[nested]:
            del raw[nested]
    return settings_out(*context.clinic_admin().change_settings(context.caller(router), raw, request.version))


@router.get(
    "/v1/admin/settings/history",
    summary="Every version of the settings: who changed what, when",
    tags=[ADMIN],
    **answers(404),
)
def settings_history() -> History:
    return history(context.clinic_admin().settings_history(context.caller(router)))


@router.get(
    "/v1/admin/services",
    summary="The clinic's services: code, length, price (admins)",
    tags=[ADMIN],
    **answers(404),
)
def list_services() -> ServiceList:
    found = context.clinic_admin().services(context.caller(router))
    return ServiceList(services=[service_out(s, v) for s, v in found])


@router.put(
    "/v1/admin/services/<code>",
    summary="Add a service (version 0) or change one (admins); never deleted, made inactive",
    tags=[ADMIN],
    **answers(404, 409),
)
def put_service(code: ServiceCode, request: ServiceIn) -> Response[ServiceOut]:
    service = Service(
        code=code,
        display=request.display,
        minutes=request.minutes,
        price_minor=request.price_minor,
        currency=request.currency,
        active=request.active,
        coding=request.coding.as_domain() if request.coding else None,
        billing_code=request.billing_code,
    )
    version = context.clinic_admin().put_service(context.caller(router), service, request.version)
    return Response(
        status_code=201 if version == 1 else 200,
        body=service_out(service, version),
        content_type="application/json",
    )


@router.get(
    "/v1/admin/services/<code>/history", summary="Every version of a service", tags=[ADMIN], **answers(404)
)
def service_history(code: ServiceCode) -> History:
    return history(context.clinic_admin().service_history(context.caller(router), code))


# --- providers ------------------------------------------------------------------------------------

ProviderId = Annotated[str, Path(pattern=r"^[a-z0-9-]{2,64}$")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="BCP 47")]


class LicenseIn(_Model):
    """A state licence, or with `compact` a compact privilege to practise in `state`."""

    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    number: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,40}$")]
    valid_from: date
    valid_until: date
    status: Literal["active", "inactive", "suspended", "revoked"] = "active"
    compact: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{1,20}$")] | None = None


class ProviderIn(_Model):
    given_name: Annotated[str, Field(min_length=1, max_length=60)]
    family_name: Annotated[str, Field(min_length=1, max_length=60)]
    specialty: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]
    languages: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]], Field(max_length=10)
    ]
    zone: Annotated[str, Field(max_length=64, description="IANA zone the provider's hours are in")]
    user_sub: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$", description="Their workforce user's sub")]
    page_email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = Field(
        None, description="Where the clinic pages them: an urgent monitoring alert handed on to them"
    )
    licenses: Annotated[list[LicenseIn], Field(max_length=MAX_CREDENTIALS)]
    version: int = Field(ge=0, description="The version read; 0 adds a provider")


class ProviderOut(ProviderIn):
    provider_id: str


def _profile_fields(p: PractitionerProfile) -> dict[str, Any]:
    """What the full record and the directory's row both say of a provider's profile."""
    return {
        "provider_id": p.provider_id,
        "given_name": p.given_name,
        "family_name": p.family_name,
        "specialty": p.specialty,
        "languages": list(p.languages),
        "zone": p.zone,
        "version": p.version,
        "page_email": p.page_email,
    }


def provider_out(record: ProviderRecord) -> ProviderOut:
    return ProviderOut(
        **_profile_fields(record.profile),
        user_sub=record.user_sub,
        licenses=[
            LicenseIn(
                state=c.state,
                number=c.number,
                valid_from=c.valid_from,
                valid_until=c.valid_until,
                status=c.status.value,
                compact=c.compact,
            )
            for c in record.licenses
        ],
    )


class ListedProviderOut(_Model):
    provider_id: str
    given_name: str
    family_name: str
    specialty: str
    languages: list[str]
    zone: str = Field(description="IANA zone the provider's hours are in")
    states_today: list[str] = Field(
        description="Where the provider may see a patient now: an active licence or compact "
        "privilege valid today there (USPS codes)"
    )
    version: int = Field(description="The profile's version (send it with a change)")


class ProviderPage(_Model):
    providers: list[ListedProviderOut] = Field(description="By family name, then given name")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


def listed_out(listed: ListedProvider) -> ListedProviderOut:
    # The directory's row, for picking a provider: their address for pages is the full record's.
    row = {k: v for k, v in _profile_fields(listed.profile).items() if k != "page_email"}
    return ListedProviderOut(**row, states_today=list(listed.states_today))


@router.get(
    "/v1/admin/providers",
    summary="The clinic's providers, by name, with where each may practise today (admins and staff)",
    tags=[ADMIN],
    **answers(),
)
def list_providers(
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DIRECTORY_PAGE)] = 50,
) -> ProviderPage:
    found, next_cursor = context.clinic_admin().directory(context.caller(router), cursor, limit)
    return ProviderPage(providers=[listed_out(p) for p in found], next_cursor=next_cursor)


@router.get(
    "/v1/admin/providers/<provider_id>",
    summary="A provider's profile and credentials (admins)",
    tags=[ADMIN],
    **answers(404),
)
def read_provider(provider_id: ProviderId) -> ProviderOut:
    return provider_out(context.clinic_admin().provider(context.caller(router), provider_id))


@router.put(
    "/v1/admin/providers/<provider_id>",
    summary="Add a provider (version 0) or change one's profile, licences and privileges (admins)",
    tags=[ADMIN],
    **answers(404, 409),
)
def put_provider(provider_id: ProviderId, request: ProviderIn) -> Response[ProviderOut]:
    from telehealth.domain.scheduling import SchedulingError

    try:
        licenses = [
            License(c.state, c.number, c.valid_from, c.valid_until, LicenseStatus(c.status), c.compact)
            for c in request.licenses
        ]
    except ValueError as error:  # our own message (a state, dates in order), not the input
        raise SchedulingError(str(error)) from error
    profile = PractitionerProfile(
        provider_id,
        request.given_name,
        request.family_name,
        request.specialty,
        tuple(request.languages),
        request.zone,
        page_email=request.page_email,
    )
    record = context.clinic_admin().put_provider(
        context.caller(router), profile, licenses, request.user_sub, request.version
    )
    return Response(
        status_code=201 if request.version == 0 else 200,
        body=provider_out(record),
        content_type="application/json",
    )
