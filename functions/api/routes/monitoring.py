"""Remote monitoring (tenants with `rpm` on): readings in from device gateways, makers' clouds and
patients; the care team's panel, enrolments, devices, a patient's readings and alerts.

A request's readings are each taken or refused alone: the answer (202) says how many were taken
and why each refused entry was not; a request none of whose readings could be taken is a 422
naming each. Taken readings are held to the patient's program's rules a moment later (the
readings queue), so an alert appears in the panel shortly after the 202, not in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import Field, ValidationError

from functions.api import context, idempotent, problems
from functions.api.contract import INTEGRATIONS, MONITORING, answers
from functions.api.routes.patients import PatientFound, patient_found
from functions.api.routes.prescriptions import SignedInIn, SignInOut
from functions.api.routes.scheduling import _Model
from telehealth.api_conventions import DEVICE_READINGS, DEVICE_READINGS_SCOPE, FHIR_JSON
from telehealth.domain.blood_pressure import SYMPTOMS

if TYPE_CHECKING:
    from telehealth.application.monitoring import Intake, PanelRow, PatientReadings
    from telehealth.application.rpm_billing import PatientLedger
    from telehealth.domain.monitoring import Alert, Device
    from telehealth.domain.readings import Reading

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

_ID = r"^[A-Za-z0-9-]{1,64}$"
RPM = "rpm"  # every route here is remote monitoring's (the tenant feature)
MAX_ENTRIES = 1000  # the entries (data points, a Bundle's resources) one request may carry
Program = Literal["hypertension", "diabetes", "heart-failure", "copd"]
DeviceKindName = Literal["blood-pressure-cuff", "glucose-monitor", "scale", "pulse-oximeter", "thermometer"]


class RefusedEntry(_Model):
    entry: int = Field(description="The entry's index: the data point's, or the Bundle entry's")
    reason: str


class AdviceOut(_Model):
    code: Literal["none", "repeat", "call-care-team", "call-911"]
    words: str = Field(description="What the patient reads, as it is")


class IntakeOut(_Model):
    taken: int = Field(description="Readings taken (a blood pressure is two: systolic and diastolic)")
    refused: list[RefusedEntry]
    advice: AdviceOut | None = Field(
        None, description="A patient's own readings: what to do now, from their latest blood pressures"
    )


class OpenMHealthReadings(_Model):
    device: str = Field(
        min_length=1, max_length=128, description="The device's serial, as the clinic registered it"
    )
    data_points: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ENTRIES)


class TypedReadings(_Model):
    data_points: list[dict[str, Any]] = Field(
        min_length=1, max_length=50, description="Open mHealth data points, as the portal's form makes them"
    )
    symptoms: bool = Field(
        False,
        description="The patient has any of a blood-pressure crisis's symptoms (the readings' `symptoms`)",
    )


class ReadingOut(_Model):
    code: str = Field(description="LOINC")
    value: float
    unit: str = Field(description="UCUM")
    effective: datetime
    device_id: str
    provenance: Literal["device", "manual"]


class HandedOnOut(_Model):
    provider_id: str
    name: str | None = Field(description="The provider's name, where the patient's page shows it")
    at: datetime


class AlertOut(_Model):
    alert_id: str
    rule: str
    tier: Literal["information", "review", "urgent"]
    raised_at: datetime
    escalated: bool = Field(description="Raised again at a higher tier within the rule's episode")
    note: str = Field(description="Why, for the care team")
    acknowledged_at: datetime | None
    acknowledgement: str | None
    handed_on: list[HandedOnOut] = Field(
        description="An urgent alert nobody acknowledged: the providers it went to, in turn "
        "(the clinic's settings name them)"
    )


class DeviceOut(_Model):
    device_id: str
    serial: str
    kind: str
    registered_at: datetime


class EnrolmentOut(_Model):
    patient_id: str
    program: Program
    enrolled_at: datetime
    spo2_scale: Literal["1", "2"]
    on_oxygen: bool | None
    glucose_targets: Literal["most-adults", "older-or-high-risk"]


class EnrolmentIn(_Model):
    program: Program
    spo2_scale: Literal["1", "2"] = Field(
        "1", description="2 only for hypercapnic respiratory failure, which a clinician decides"
    )
    on_oxygen: bool | None = Field(
        None,
        description="NEWS2's air or oxygen: the patient is on supplemental oxygen at home (null: unknown)",
    )
    glucose_targets: Literal["most-adults", "older-or-high-risk"] = "most-adults"


class DeviceIn(_Model):
    serial: str = Field(min_length=1, max_length=128, pattern=r"^[ -~]+$")
    kind: DeviceKindName


class AcknowledgementIn(_Model):
    note: str = Field(min_length=1, max_length=2000, description="What the clinician did about it")


class PanelRowOut(_Model):
    patient: PatientFound | None
    enrolment: EnrolmentOut
    tier: Literal["information", "review", "urgent"] | None = Field(
        description="The highest tier of the patient's open alerts"
    )
    open_alerts: list[AlertOut]
    last_reading_at: datetime | None


class PanelOut(_Model):
    patients: list[PanelRowOut] = Field(description="The most pressing first")


class PatientReadingsOut(_Model):
    patient: PatientFound | None
    enrolment: EnrolmentOut | None
    readings: list[ReadingOut] = Field(description="Oldest first")
    alerts: list[AlertOut] = Field(description="Newest first")
    devices: list[DeviceOut]
    advice: AdviceOut = Field(description="What the patient is told now (blood pressures of the last hour)")
    symptoms: list[str] = Field(description="A blood-pressure crisis's symptoms, for the patient to be asked")


def _advice_out(advice: Any) -> AdviceOut:
    return AdviceOut(code=advice.value, words=advice.words)


def _intake_out(found: Intake, *, patient: bool = False) -> Response[str]:
    body = IntakeOut(
        taken=found.taken,
        refused=[RefusedEntry(entry=i, reason=r) for i, r in found.refused],
        advice=_advice_out(found.advice) if patient else None,
    )
    return Response(status_code=202, content_type="application/json", body=body.model_dump_json())


def _enrolment_out(e: Any) -> EnrolmentOut:
    from telehealth.domain.cgm import targets_name

    return EnrolmentOut(
        patient_id=e.patient_id,
        program=e.program.value,
        enrolled_at=e.enrolled_at,
        spo2_scale=e.spo2_scale.value,
        on_oxygen=e.on_oxygen,
        glucose_targets=targets_name(e.glucose_targets),  # type: ignore[arg-type]
    )


def _alert_out(a: Alert, providers: Mapping[str, str] | None = None) -> AlertOut:
    return AlertOut(
        alert_id=a.alert_id,
        rule=a.rule,
        tier=a.tier.name.lower(),  # type: ignore[arg-type]
        raised_at=a.raised_at,
        escalated=a.escalated,
        note=a.note,
        acknowledged_at=a.acknowledged_at,
        acknowledgement=a.acknowledgement,
        handed_on=[
            HandedOnOut(provider_id=e.provider_id, name=(providers or {}).get(e.provider_id), at=e.at)
            for e in a.escalations
        ],
    )


def _reading_out(r: Reading) -> ReadingOut:
    return ReadingOut(
        code=r.code,
        value=r.value,
        unit=r.unit,
        effective=r.effective,
        device_id=r.device_id,
        provenance=r.provenance.value,
    )


def _device_out(d: Device) -> DeviceOut:
    return DeviceOut(device_id=d.device_id, serial=d.serial, kind=d.kind.value, registered_at=d.registered_at)


def _readings_out(found: PatientReadings) -> PatientReadingsOut:
    return PatientReadingsOut(
        patient=patient_found(found.patient) if found.patient else None,
        enrolment=_enrolment_out(found.enrolment) if found.enrolment else None,
        readings=[_reading_out(r) for r in found.readings],
        alerts=[_alert_out(a, found.providers) for a in found.alerts],
        devices=[_device_out(d) for d in found.devices],
        advice=_advice_out(found.advice),
        symptoms=list(SYMPTOMS),
    )


def _row_out(row: PanelRow) -> PanelRowOut:
    return PanelRowOut(
        patient=patient_found(row.patient) if row.patient else None,
        enrolment=_enrolment_out(row.enrolment),
        tier=row.tier.name.lower() if row.tier else None,  # type: ignore[arg-type]
        open_alerts=[_alert_out(a) for a in row.open_alerts],
        last_reading_at=row.last_reading_at,
    )


# --- device gateways and makers' clouds -------------------------------------------------------------


@router.post(
    DEVICE_READINGS,
    summary=f"Readings from patients' registered devices (scope {DEVICE_READINGS_SCOPE})",
    description="Two shapes. `application/fhir+json`: an Observation, or a Bundle of them, as the "
    "HL7 Personal Health Device IG shapes them (LOINC beside IEEE 11073-10101, UCUM quantities; "
    "a blood pressure as the 85354-9 panel's components); each Observation names its device by "
    "`device.identifier` or by reference to the Bundle's Device, whose identifier is the serial the "
    "clinic registered. `application/json`: `{device, data_points}`, Open mHealth data points "
    "from the one device. Whose readings they are comes from the device's registration, never "
    "from `subject`. A reading sent again is kept once (its identifier and time are its key).",
    tags=[INTEGRATIONS, MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(
        404,
        409,
        413,
        415,
        422,
        ok=202,
        model=IntakeOut,
        idempotent=True,
        feature="rpm",
        raw_body=(FHIR_JSON, "application/json"),
    ),
)
def device_readings() -> Response[str]:
    _monitoring_on()
    caller = context.caller(router)
    caller.require_scope(f"telehealth/{DEVICE_READINGS_SCOPE}")
    event = router.current_event
    sent = (event.get_header_value("Content-Type", case_sensitive=False) or "").split(";")[0].strip().lower()
    if sent not in (FHIR_JSON, "application/json"):
        return problems.problem(
            415,
            "unsupported-media-type",
            "Readings are sent as FHIR (application/fhir+json) or Open mHealth (application/json).",
        )
    try:
        body = problems.json_body(event.decoded_body or "null")
    except ValueError:  # not JSON at all (json_body refuses only what is JSON but unusable)
        return problems.problem(400, "invalid-request", "The request is not valid.", "The body is not JSON.")
    if sent == FHIR_JSON:
        if not isinstance(body, dict) or body.get("resourceType") not in ("Observation", "Bundle"):
            return problems.problem(
                422, "invalid-request", "The request is not valid.", "Send an Observation or a Bundle."
            )
        if len(body.get("entry") or []) > MAX_ENTRIES:
            return problems.problem(
                413, "too-many-entries", "Too many entries.", f"A Bundle carries at most {MAX_ENTRIES}."
            )
        return _intake_out(context.monitoring().from_gateway(caller, body))
    try:
        points = OpenMHealthReadings.model_validate(body)
    except ValidationError as error:  # answered as a route's own body's errors are, without input
        raise RequestValidationError(error.errors(include_input=False)) from None
    return _intake_out(context.monitoring().from_open_mhealth(caller, points.device, points.data_points))


def _monitoring_on() -> None:
    """The integrations' greedy resource reaches this route in every tenant: where remote
    monitoring is off it answers 404, as the feature's own resources (absent there) do."""
    import os

    from telehealth.application.callers import NotFoundError

    if not os.environ.get("READINGS_QUEUE_URL"):
        raise NotFoundError("remote monitoring is off")


# --- the patient -----------------------------------------------------------------------------------


@router.get(
    "/v1/me/readings",
    summary="My readings of the last fortnight, my devices and my program",
    tags=[MONITORING],
    **answers(feature=RPM),
)
def my_readings(days: Annotated[int, Query(ge=1, le=90)] = 14) -> PatientReadingsOut:
    return _readings_out(context.monitoring().my_readings(context.caller(router), days))


@router.post(
    "/v1/me/readings",
    summary="Readings I typed in (Open mHealth data points), and what to do now",
    description="Kept as typed in (`manual`), which RPM's device days do not count. The answer's "
    "`advice` says what to do: a blood pressure at crisis level (180 or more over 120 or more) asks "
    "for a repeat in five minutes; a repeat still there tells the care team at once, and with "
    "`symptoms` tells the patient to call 911.",
    tags=[MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(409, 422, ok=202, model=IntakeOut, idempotent=True, feature=RPM),
)
def type_in_readings(readings: TypedReadings) -> Response[str]:
    caller = context.caller(router)
    found = context.monitoring().from_patient(caller, readings.data_points, symptoms=readings.symptoms)
    return _intake_out(found, patient=True)


_DEXCOM = "/v1/me/dexcom"


class DexcomAccountOut(_Model):
    linked: bool = Field(description="The patient's Dexcom account is connected: its readings are polled")
    linked_at: datetime | None = None
    polled_through: datetime | None = Field(None, description="Readings up to here have been read")
    needs_relink: bool = Field(False, description="Dexcom refused the connection: connect again")


def _dexcom_out(account: Any) -> DexcomAccountOut:
    if account is None:
        return DexcomAccountOut(linked=False, linked_at=None, polled_through=None, needs_relink=False)
    return DexcomAccountOut(
        linked=True,
        linked_at=account.linked_at,
        polled_through=account.polled_through,
        needs_relink=account.needs_relink,
    )


@router.get(
    _DEXCOM, summary="Whether my Dexcom account is connected", tags=[MONITORING], **answers(feature=RPM)
)
def my_dexcom() -> DexcomAccountOut:
    return _dexcom_out(context.dexcom_links().account(context.caller(router)))


@router.post(
    f"{_DEXCOM}/sign-in",
    summary="Begin connecting my Dexcom account: where to sign in at Dexcom",
    description="Dexcom sends the browser back to the portal with a code and this state, within ten "
    "minutes; `PUT` them to finish. Dexcom's data reach the clinic hours after they are measured: no "
    "urgent low-glucose alert comes from them.",
    tags=[MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(409, 503, idempotent=True, feature=RPM),
)
def begin_dexcom_sign_in() -> SignInOut:
    url, state = context.dexcom_links().start_link(context.caller(router))
    return SignInOut(authorize_url=url, state=state)


@router.put(
    _DEXCOM,
    summary="Finish connecting my Dexcom account with the sign-in's code",
    description="The code is exchanged by the dexcom function; what Dexcom gives for the account is "
    "kept sealed under a key only that function may use. A state is taken once.",
    tags=[MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(422, 503, idempotent=True, feature=RPM),
)
def link_dexcom(body: SignedInIn) -> DexcomAccountOut:
    return _dexcom_out(context.dexcom_links().complete_link(context.caller(router), body.state, body.code))


@router.delete(
    _DEXCOM, summary="Disconnect my Dexcom account", tags=[MONITORING], **answers(ok=204, feature=RPM)
)
def unlink_dexcom() -> Response[str]:
    context.dexcom_links().unlink(context.caller(router))
    return Response(status_code=204, body="")


# --- the care team ---------------------------------------------------------------------------------

_PATIENT = "/v1/monitoring/patients/<patient_id>"
PatientId = Annotated[str, Path(pattern=_ID)]


@router.get(
    "/v1/monitoring/panel",
    summary="Enrolled patients, the most pressing first (providers and staff)",
    tags=[MONITORING],
    **answers(feature=RPM),
)
def panel() -> PanelOut:
    return PanelOut(patients=[_row_out(r) for r in context.monitoring().panel(context.caller(router))])


@router.put(
    f"{_PATIENT}/enrolment",
    summary="Enrol a patient in a monitoring program, or change it (providers and staff)",
    tags=[MONITORING],
    **answers(404, feature=RPM),
)
def enrol(patient_id: PatientId, enrolment: EnrolmentIn) -> EnrolmentOut:
    from telehealth.domain.monitoring import Program as Programs
    from telehealth.domain.news2 import SpO2Scale

    found = context.monitoring().enrol(
        context.caller(router),
        patient_id,
        program=Programs(enrolment.program),
        spo2_scale=SpO2Scale(enrolment.spo2_scale),
        on_oxygen=enrolment.on_oxygen,
        glucose_targets=enrolment.glucose_targets,
    )
    return _enrolment_out(found)


@router.post(
    f"{_PATIENT}/devices",
    summary="Register a patient's device: its readings are theirs from now (providers and staff)",
    tags=[MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, ok=201, model=DeviceOut, idempotent=True, feature=RPM),
)
def register_device(patient_id: PatientId, device: DeviceIn) -> Response[str]:
    from telehealth.domain.monitoring import DeviceKind

    found = context.monitoring().register_device(
        context.caller(router), patient_id, serial=device.serial, kind=DeviceKind(device.kind)
    )
    return Response(
        status_code=201, content_type="application/json", body=_device_out(found).model_dump_json()
    )


@router.get(
    f"{_PATIENT}/readings",
    summary="A patient's readings, alerts and devices (providers and staff)",
    tags=[MONITORING],
    **answers(404, feature=RPM),
)
def patient_readings(
    patient_id: PatientId, days: Annotated[int, Query(ge=1, le=90)] = 14
) -> PatientReadingsOut:
    return _readings_out(context.monitoring().patient_readings(context.caller(router), patient_id, days))


@router.post(
    f"{_PATIENT}/alerts/<alert_id>/acknowledgement",
    summary="Acknowledge an alert, saying what was done (providers)",
    tags=[MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, idempotent=True, feature=RPM),
)
def acknowledge(
    patient_id: PatientId, alert_id: Annotated[str, Path(pattern=_ID)], acknowledgement: AcknowledgementIn
) -> AlertOut:
    found = context.monitoring().acknowledge(
        context.caller(router), patient_id, alert_id, acknowledgement.note
    )
    return _alert_out(found)


# --- the billing ledger ------------------------------------------------------------------------------


class BilledCodeOut(_Model):
    code: str = Field(
        description="CPT: 99453 set-up, 99454/99445 device supply, 99457/99458/99470 management"
    )
    units: int


class LedgerPeriodOut(_Model):
    start: date
    end: date = Field(description="The period's last day")
    device_days: int = Field(
        description="Days a registered device sent readings (typed-in ones do not count)"
    )
    codes: list[BilledCodeOut]
    billing_practitioner: str | None
    not_billed: str | None = Field(description="Why nothing is billed, where nothing is")


class LedgerMonthOut(_Model):
    month: str = Field(description="YYYY-MM")
    minutes: int
    interactive: bool = Field(description="A live conversation with the patient that month")
    codes: list[BilledCodeOut]
    billing_practitioner: str | None
    not_billed: str | None


class ConsentOut(_Model):
    obtained_on: date
    method: Literal["verbal", "written"]
    recorded_by: str


class BillingPractitionerOut(_Model):
    starting: date
    provider_id: str
    name: str | None


class TimeEntryOut(_Model):
    entry_id: str
    on: date
    minutes: int
    interactive: bool


class LedgerOut(_Model):
    patient_id: str
    consent: ConsentOut | None
    billing_practitioners: list[BillingPractitionerOut] = Field(description="Each from its day on")
    time: list[TimeEntryOut]
    periods: list[LedgerPeriodOut] = Field(description="30-day periods from enrolment, through today")
    months: list[LedgerMonthOut] = Field(description="Calendar months from enrolment, through today")


class ConsentIn(_Model):
    obtained_on: date
    method: Literal["verbal", "written"]


class BillingPractitionerIn(_Model):
    provider_id: str = Field(pattern=_ID, description="Bills the periods and months that start from today on")


class TimeEntryIn(_Model):
    on: date
    minutes: int = Field(ge=1, le=240)
    interactive: bool = Field(description="It included a live conversation with the patient (audio or video)")


def _ledger_out(found: PatientLedger) -> LedgerOut:
    def codes(billed: Any) -> list[BilledCodeOut]:
        return [BilledCodeOut(code=c.code, units=c.units) for c in billed]

    return LedgerOut(
        patient_id=found.enrolment.patient_id,
        consent=ConsentOut(
            obtained_on=found.consent.obtained_on,
            method=found.consent.method.value,
            recorded_by=found.consent.recorded_by,
        )
        if found.consent
        else None,
        billing_practitioners=[
            BillingPractitionerOut(
                starting=p.starting, provider_id=p.provider_id, name=found.names.get(p.provider_id)
            )
            for p in found.practitioners
        ],
        time=[
            TimeEntryOut(entry_id=t.entry_id, on=t.on, minutes=t.minutes, interactive=t.interactive)
            for t in sorted(found.time, key=lambda t: t.on)
        ],
        periods=[
            LedgerPeriodOut(
                start=p.start,
                end=p.end - timedelta(days=1),
                device_days=p.device_days,
                codes=codes(p.codes),
                billing_practitioner=p.practitioner,
                not_billed=p.not_billed,
            )
            for p in found.ledger.periods
        ],
        months=[
            LedgerMonthOut(
                month=f"{m.month:%Y-%m}",
                minutes=m.minutes,
                interactive=m.interactive,
                codes=codes(m.codes),
                billing_practitioner=m.practitioner,
                not_billed=m.not_billed,
            )
            for m in found.ledger.months
        ],
    )


@router.get(
    f"{_PATIENT}/ledger",
    summary="What the patient's monitoring bills, period by period and month by month (providers and staff)",
    description="CMS's 2026 codes: per 30-day period from enrolment, 99454 (16 to 30 days with device "
    "readings) or 99445 (2 to 15), and 99453 once with the first period billed; per calendar month, "
    "99457 (+ 99458 for each further full 20 minutes) or 99470 (10 to 19 minutes), only with an "
    "interactive communication. Nothing is billed without the patient's consent by the period's (or "
    "month's) last day and a billing practitioner in force on its first.",
    tags=[MONITORING],
    **answers(404, feature=RPM),
)
def ledger(patient_id: PatientId) -> LedgerOut:
    return _ledger_out(context.rpm_ledger().report(context.caller(router), patient_id))


@router.put(
    f"{_PATIENT}/consent",
    summary="Record the patient's consent to remote monitoring (providers and staff)",
    tags=[MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, idempotent=True, feature=RPM),
)
def record_consent(patient_id: PatientId, consent: ConsentIn) -> LedgerOut:
    from telehealth.domain.rpm_billing import ConsentMethod

    found = context.rpm_ledger().record_consent(
        context.caller(router),
        patient_id,
        obtained_on=consent.obtained_on,
        method=ConsentMethod(consent.method),
    )
    return _ledger_out(found)


@router.put(
    f"{_PATIENT}/billing-practitioner",
    summary="Name who bills the patient's monitoring from today (providers and staff)",
    tags=[MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, idempotent=True, feature=RPM),
)
def name_billing_practitioner(patient_id: PatientId, named: BillingPractitionerIn) -> LedgerOut:
    found = context.rpm_ledger().name_billing_practitioner(
        context.caller(router), patient_id, named.provider_id
    )
    return _ledger_out(found)


@router.post(
    f"{_PATIENT}/time",
    summary="Log time spent on the patient's monitoring on a day (providers and staff)",
    tags=[MONITORING],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, ok=201, model=LedgerOut, idempotent=True, feature=RPM),
)
def log_time(patient_id: PatientId, entry: TimeEntryIn) -> Response[str]:
    found = context.rpm_ledger().log_time(
        context.caller(router), patient_id, on=entry.on, minutes=entry.minutes, interactive=entry.interactive
    )
    return Response(
        status_code=201, content_type="application/json", body=_ledger_out(found).model_dump_json()
    )
