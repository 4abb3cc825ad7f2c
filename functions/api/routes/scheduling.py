"""Scheduling routes: search open slots, book, list, read, cancel and reschedule appointments;
and the integration route machine clients read appointments through."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from functions.api import context, idempotent
from functions.api.contract import AVAILABILITY, INTEGRATIONS, SCHEDULING, answers
from telehealth.application.callers import Caller
from telehealth.domain.appointments import Actor
from telehealth.domain.coverage import EligibilityStatus
from telehealth.domain.jurisdictions import US_JURISDICTIONS
from telehealth.domain.scheduling import Availability, ExtraHours, Interval, SchedulingError

if TYPE_CHECKING:  # the services' types; the services themselves load on first use
    from telehealth.application.booking import OfferedSlot
    from telehealth.domain.appointments import Appointment

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


def _us_state(code: str) -> str:
    if code not in US_JURISDICTIONS:
        raise ValueError("not a US state or territory")
    return code


# The schema names every code the server takes (a pattern alone let `AA` through to a 400).
US_STATES: dict[str, Any] = {"enum": sorted(US_JURISDICTIONS)}
StateCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{2}$", description="USPS code of where the patient is", json_schema_extra=US_STATES
    ),
    AfterValidator(_us_state),
]
# A provider id, then the start in UTC to the minute, with the calendar's ranges: an id of this
# shape that still names no instant (30 February) is no slot, a 404, never "not a slot id".
SLOT_ID_PATTERN = r"^[a-z0-9-]{2,64}\.\d{4}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3])[0-5]\dZ$"
SlotId = Annotated[str, Field(pattern=SLOT_ID_PATTERN)]

# Instants and days as the schema's formats say (RFC 3339 `date-time`, `date`): pydantic alone also
# takes a Unix time, `0`, or a minute without seconds, which a client reading the schema never sends.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _as_formatted(pattern: re.Pattern[str], what: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        # A string from the request must have the form; a number never does (pydantic would read
        # it as a Unix time); a date or datetime is the API's own answer on its way out.
        if isinstance(value, int | float) or (isinstance(value, str) and not pattern.fullmatch(value)):
            raise ValueError(f"{what}, as RFC 3339 writes it")
        return value

    return check


Instant = Annotated[
    AwareDatetime, BeforeValidator(_as_formatted(_DATE_TIME, "a date and time with an offset"))
]
Day = Annotated[date, BeforeValidator(_as_formatted(_DATE, "a date"))]
AppointmentId = Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderOut(_Model):
    provider_id: str
    name: str
    specialty: str
    languages: list[str]


class SlotOut(_Model):
    slot_id: str
    start: datetime = Field(description="In the zone asked for")
    end: datetime
    provider: ProviderOut


class PriceOut(_Model):
    amount_minor: int = Field(description="In minor units of the currency (cents)")
    currency: str
    insured: bool = Field(
        default=False, description="The patient's share by their insurance's last check, not the self-pay"
    )


class SlotPage(_Model):
    slots: list[SlotOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")
    price: PriceOut | None = Field(
        default=None,
        description="What a visit of this kind costs a patient who pays for it, shown before booking "
        "(null: the clinic takes no payments here, or lists no price for it)",
    )


class BookRequest(_Model):
    slot_id: SlotId
    service_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")] = "general"
    state: StateCode
    patient_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] | None = Field(
        default=None, description="Staff booking on a patient's behalf; patients leave it out"
    )
    referral_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9-.]{1,64}$")] | None = Field(
        default=None, description="Staff booking the visit a referral asked for: it leaves the worklist"
    )


class RescheduleRequest(_Model):
    slot_id: SlotId


class CancelRequest(_Model):
    """Optional: a cancellation needs no body."""

    charge_late_fee: bool = Field(
        default=False,
        description="Staff only, inside the cancellation window, when the patient asked to drop the "
        "visit: the clinic's late-cancellation fee is taken from its hold (payments)",
    )


class AppointmentOut(_Model):
    appointment_id: str
    provider_id: str
    patient_id: str
    service_type: str
    start: datetime
    end: datetime
    patient_state: str
    status: Literal["booked", "cancelled", "noshow", "fulfilled"]
    version: int


class AppointmentList(_Model):
    appointments: list[AppointmentOut]


def appointment_out(a: Appointment) -> AppointmentOut:
    return AppointmentOut(
        appointment_id=a.appointment_id,
        provider_id=a.provider_id,
        patient_id=a.patient_id,
        service_type=a.service_type,
        start=a.start,
        end=a.end,
        patient_state=a.patient_state,
        status=a.status.value,
        version=a.version,
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception as error:
        raise SchedulingError("zone must be an IANA time zone name, such as America/Chicago") from error


def slot_out(offered: OfferedSlot, zone: ZoneInfo) -> SlotOut:
    profile = offered.provider.profile
    return SlotOut(
        slot_id=offered.slot.slot_id,
        start=offered.slot.start.astimezone(zone),
        end=offered.slot.end.astimezone(zone),
        provider=ProviderOut(
            provider_id=profile.provider_id,
            name=f"{profile.given_name} {profile.family_name}",
            specialty=profile.specialty,
            languages=list(profile.languages),
        ),
    )


@router.get(
    "/v1/slots",
    summary="Open slots with providers licensed where the patient is",
    tags=[SCHEDULING],
    **answers(422),
)
def search_slots(
    state: Annotated[
        str,
        Query(
            pattern=r"^[A-Z]{2}$",
            description="USPS code of where the patient will be",
            json_schema_extra=US_STATES,
        ),
    ],
    start: Annotated[
        Instant,
        Query(
            alias="from",
            description="Earliest start wanted; none starting within two minutes of now is offered",
        ),
    ],
    end: Annotated[Instant, Query(alias="to")],
    zone: Annotated[str, Query(description="IANA zone to answer in, e.g. America/Denver")] = "UTC",
    specialty: Annotated[str | None, Query(max_length=40)] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    service_type: Annotated[str, Query(pattern=r"^[a-z][a-z0-9-]{1,30}$")] = "general",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    provider_id: Annotated[
        str | None, Query(pattern=r"^[a-z0-9-]{2,64}$", description="One provider's times only")
    ] = None,
) -> SlotPage:
    from telehealth.application.booking import SlotQuery

    tz = _zone(zone)
    if state not in US_JURISDICTIONS:
        raise SchedulingError("state must be a US state or territory (USPS code)")
    caller = context.caller(router)
    page, next_cursor = context.booking().search(
        caller, SlotQuery(state, start, end, service_type, specialty, language, cursor, limit, provider_id)
    )
    return SlotPage(
        slots=[slot_out(o, tz) for o in page], next_cursor=next_cursor, price=_price(caller, service_type)
    )


def _price(caller: Caller, service_type: str) -> PriceOut | None:
    """What a visit of the kind costs the caller: a patient's share by their insurance's last
    check (the co-payment), else the clinic's price; a read of the table, never the payer."""
    if not os.environ.get("PAYMENTS_FUNCTION"):  # the tenant takes no payments
        return None
    price, insured = context.booking().price_of(service_type), False
    if price.amount_minor and caller.actor is Actor.PATIENT:
        price, answer = context.insurance().share(caller.subject, price)
        insured = answer is not None and answer.status is EligibilityStatus.ACTIVE
    if not price.amount_minor:
        return None
    return PriceOut(amount_minor=price.amount_minor, currency=price.currency, insured=insured)


@router.post(
    "/v1/appointments",
    summary="Book a slot (patients for themselves, staff for a patient)",
    tags=[SCHEDULING],
    middlewares=[idempotent.in_transaction()],
    **answers(404, 409, 422, ok=201, model=AppointmentOut, idempotent=True),
)
def book(request: BookRequest) -> Response[AppointmentOut]:
    def answer(booked: Appointment) -> Response[AppointmentOut]:
        return Response(status_code=201, body=appointment_out(booked), content_type="application/json")

    done = context.booking().book(
        context.caller(router),
        slot=request.slot_id,
        service_type=request.service_type,
        state=request.state,
        patient_id=request.patient_id,
        idempotency=context.idempotency(answer),
        referral_id=request.referral_id,
    )
    return answer(done)


@router.get(
    "/v1/appointments",
    summary="Own appointments; a provider's schedule; staff by provider",
    tags=[SCHEDULING],
    **answers(404),
)
def list_appointments(
    provider_id: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
) -> AppointmentList:
    found = context.booking().appointments(
        context.caller(router), provider_id=provider_id, start=start, end=end
    )
    return AppointmentList(appointments=[appointment_out(a) for a in found])


@router.get("/v1/appointments/<appointment_id>", summary="One appointment", tags=[SCHEDULING], **answers(404))
def read_appointment(appointment_id: AppointmentId) -> AppointmentOut:
    return appointment_out(context.booking().appointment(context.caller(router), appointment_id))


def changed(appointment: Appointment) -> Response[AppointmentOut]:
    return Response(status_code=200, body=appointment_out(appointment), content_type="application/json")


@router.post(
    "/v1/appointments/<appointment_id>/cancel",
    summary="Cancel (patients: outside the window)",
    tags=[SCHEDULING],
    middlewares=[idempotent.in_transaction()],
    **answers(404, 409, 422, idempotent=True),
)
def cancel(appointment_id: AppointmentId, request: CancelRequest | None = None) -> Response[AppointmentOut]:
    fee = request.charge_late_fee if request is not None else False
    done = context.visits().cancel(
        context.caller(router), appointment_id, context.idempotency(changed), charge_late_fee=fee
    )
    return changed(done)


@router.post(
    "/v1/appointments/<appointment_id>/reschedule",
    summary="Move to another slot of the same provider",
    tags=[SCHEDULING],
    middlewares=[idempotent.in_transaction()],
    **answers(404, 409, 422, idempotent=True),
)
def reschedule(appointment_id: AppointmentId, request: RescheduleRequest) -> Response[AppointmentOut]:
    done = context.booking().reschedule(
        context.caller(router), appointment_id, request.slot_id, context.idempotency(changed)
    )
    return changed(done)


WALL_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"


def _wall_clock(value: object) -> object:
    """A time on the provider's wall clock, as the schema says: no offset (JSON Schema's `time`
    format wants one, which is why the schema says a pattern instead), no fractions."""
    if isinstance(value, str) and not re.fullmatch(WALL_CLOCK, value):
        raise ValueError("a wall-clock time, HH:MM or HH:MM:SS")
    return value


WallClock = Annotated[
    time,
    BeforeValidator(_wall_clock),
    WithJsonSchema(
        {"type": "string", "pattern": WALL_CLOCK, "description": "On the provider's wall clock, no offset"}
    ),
]


class IntervalIn(_Model):
    start: WallClock
    end: WallClock


class ExtraHoursIn(_Model):
    day: Day
    start: WallClock
    end: WallClock


# The largest hours a provider may publish: half-hour blocks all day, a year of exceptions, twenty
# services. They bound the profile item far below DynamoDB's 400 KB (a test stores the largest).
MAX_INTERVALS_A_DAY = 48
MAX_EXCEPTIONS = 366
MAX_SERVICES = 20


class AvailabilityIn(_Model):
    weekly: dict[
        # JSON's keys are strings: the schema says the digit (pydantic's own would say an integer)
        Annotated[int, Field(ge=1, le=7), WithJsonSchema({"type": "string", "pattern": "^[1-7]$"})],
        Annotated[list[IntervalIn], Field(max_length=MAX_INTERVALS_A_DAY)],
    ] = Field(
        description="ISO weekday (1 = Monday) to working intervals, in the provider's zone",
        json_schema_extra={"additionalProperties": False},  # the server takes no other key
    )
    visit_minutes: Annotated[
        dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")], Annotated[int, Field(ge=5, le=240)]],
        Field(min_length=1, max_length=MAX_SERVICES, json_schema_extra={"additionalProperties": False}),
    ]
    days_off: Annotated[list[Day], Field(max_length=MAX_EXCEPTIONS)] = []
    extra: Annotated[list[ExtraHoursIn], Field(max_length=MAX_EXCEPTIONS)] = []
    version: int = Field(description="The version read; a concurrent change makes this a 409")


class AvailabilityOut(AvailabilityIn):
    provider_id: str
    zone: str


ProviderId = Annotated[str, Path(pattern=r"^[a-z0-9-]{2,64}$")]


@router.get(
    "/v1/providers/<provider_id>/availability",
    summary="A provider's hours (the provider, or staff)",
    tags=[AVAILABILITY],
    **answers(404),
)
def read_availability(provider_id: ProviderId) -> AvailabilityOut:
    record = context.booking().availability(context.caller(router), provider_id)
    a = record.availability
    return AvailabilityOut(
        provider_id=provider_id,
        zone=a.zone,
        weekly={d: [IntervalIn(start=i.start, end=i.end) for i in v] for d, v in a.weekly.items()},
        visit_minutes=dict(a.visit_minutes),
        days_off=sorted(a.days_off),
        extra=[ExtraHoursIn(day=e.day, start=e.interval.start, end=e.interval.end) for e in a.extra],
        version=record.profile.version,
    )


@router.put(
    "/v1/providers/<provider_id>/availability",
    summary="Publish new hours (the provider, or staff)",
    tags=[AVAILABILITY],
    **answers(404, 409),
)
def publish_availability(provider_id: ProviderId, request: AvailabilityIn) -> AvailabilityOut:
    def hours(zone: str) -> Availability:
        return Availability(
            provider_id=provider_id,
            zone=zone,
            weekly={d: tuple(Interval(i.start, i.end) for i in v) for d, v in request.weekly.items()},
            visit_minutes=request.visit_minutes,
            days_off=frozenset(request.days_off),
            extra=tuple(ExtraHours(e.day, Interval(e.start, e.end)) for e in request.extra),
        )

    availability, version = context.booking().publish_availability(
        context.caller(router), provider_id, hours, request.version
    )
    return AvailabilityOut(
        provider_id=provider_id, zone=availability.zone, **{**request.model_dump(), "version": version}
    )


class CallerOut(_Model):
    role: Literal["patient", "provider", "staff"] = Field(
        description="As the API treats the caller: admins and staff are staff, whatever else they are"
    )
    provider_id: str | None = Field(description="A provider's own profile; null for anyone else")
    zone: str | None = Field(description="That provider's IANA zone: their hours and their day are on it")


@router.get(
    "/v1/me",
    summary="Who is calling: their role and, for a provider, their provider id and zone",
    tags=[SCHEDULING],
    **answers(),
)
def who_am_i() -> CallerOut:
    caller = context.caller(router)
    own = context.booking().own_provider(caller)
    return CallerOut(
        role=caller.actor.value,  # type: ignore[arg-type]  # machine clients never reach /v1 (scope)
        provider_id=own.profile.provider_id if own else None,
        zone=own.profile.zone if own else None,
    )


@router.get(
    "/integrations/appointments",
    summary="Appointments of a provider (scope appointments.read)",
    tags=[INTEGRATIONS],
    **answers(404),
)
def integration_appointments(
    provider_id: Annotated[str, Query(max_length=64)],
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
) -> AppointmentList:
    caller = context.caller(router)
    caller.require_scope("telehealth/appointments.read")
    found = context.booking().appointments(caller, provider_id=provider_id, start=start, end=end)
    return AppointmentList(appointments=[appointment_out(a) for a in found])
