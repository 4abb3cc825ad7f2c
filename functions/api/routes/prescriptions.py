"""E-prescribing (tenants with `eprescribing` on): the visit's provider checks and sends a
prescription to the patient's pharmacy, sees the visit's prescriptions and cancels one; a provider
does the same from a case of photos (tenants with triage on too); the patient reads theirs; the
network's webhooks move them on. The checks answer every finding at once, so
the form shows each beside its field; a send needs an `Idempotency-Key` and never sends twice."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from functions.api import context, idempotent
from functions.api.contract import PRESCRIPTIONS, answers
from functions.api.routes.admin import ProviderId
from functions.api.routes.photo_cases import CaseId
from functions.api.routes.scheduling import AppointmentId
from telehealth.api_conventions import PRESCRIBING_WEBHOOK
from telehealth.domain.prescriptions import (
    MAX_DAYS_SUPPLY,
    MAX_QUANTITY,
    MAX_REFILLS,
    MAX_SIG,
    Pharmacy,
    Prescription,
)

if TYPE_CHECKING:
    from telehealth.application.prescriptions import PrescriptionDraft, Screening, VisitPrescriptions
    from telehealth.domain.prescribing import DeaRegistration

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

PrescriptionId = Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
NOTICE_MAX_BYTES = 65_536


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


_Text = Annotated[str, Field(min_length=1, max_length=60)]


class PrescriptionIn(_Model):
    rxcui: Annotated[str, Field(pattern=r"^[0-9]{1,10}$", description="The drug, from /v1/drugs")]
    dose: _Text = Field(description='How much at a time: "1 tablet"')
    route: _Text = Field(description='"oral"')
    frequency: _Text = Field(description='"twice a day"')
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    days_supply: int = Field(ge=1, le=MAX_DAYS_SUPPLY)
    refills: int = Field(ge=0, le=MAX_REFILLS)
    substitution_allowed: bool = True
    sig: Annotated[str, Field(min_length=1, max_length=MAX_SIG)] = Field(
        description="The directions in the patient's words"
    )
    pharmacy_id: Annotated[str, Field(min_length=1, max_length=80)] = Field(description="From /v1/pharmacies")
    acknowledged: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, max_length=20, description="Codes of the warnings and alerts read"
    )
    prior_in_person: bool = Field(False, description="Attested: an in-person evaluation before")
    pdmp_checked_on: date | None = Field(None, description="Attested: the day the state's PDMP was checked")


class FindingOut(_Model):
    code: str
    severity: Literal["refusal", "warning"]
    message: str


class AlertOut(_Model):
    code: str
    kind: str = Field(description="The network's: DRUG_DRUG, DRUG_ALLERGY, DOSE...")
    severity: str
    message: str


class ChecksOut(_Model):
    findings: list[FindingOut]
    alerts: list[AlertOut] = Field(description="The e-prescribing network's own")
    to_acknowledge: list[str] = Field(description="Every code a send must acknowledge")
    refused: bool


class PharmacyOut(_Model):
    pharmacy_id: str
    name: str
    address: str
    city: str
    state: str
    postal_code: str
    phone: str


class FillOut(_Model):
    quantity: int
    at: datetime


class RenewalOut(_Model):
    request_id: str
    at: datetime
    status: Literal["pending", "approved", "denied"]
    renewed_by: str | None = Field(None, description="The prescription that renews it, once approved")


class PrescriptionOut(_Model):
    prescription_id: str
    appointment_id: str | None = Field(description="The visit it was written in (null: from a case)")
    case_id: str | None = Field(None, description="The case of photos it was written from (null: in a visit)")
    provider_id: str = Field(description="Who wrote it: only they cancel it or answer its renewals")
    status: Literal[
        "sending", "submitted", "transmitted", "failed", "dispensed", "cancel-requested", "cancelled"
    ]
    drug: str
    rxcui: str
    dose: str
    route: str
    frequency: str
    quantity: int
    quantity_unit: str
    days_supply: int
    refills: int
    substitution_allowed: bool
    sig: str
    schedule: str | None
    pharmacy: PharmacyOut
    written_at: datetime
    failure_reason: str = ""
    fills: list[FillOut]
    renewals: list[RenewalOut]
    renews: str | None = Field(None, description="The prescription this one renews")


class VisitPrescriptionsOut(_Model):
    prescriptions: list[PrescriptionOut]
    patient_state: str = Field(
        description="Where the patient checked in from (a case: where they lived when they sent it)"
    )
    pharmacy: PharmacyOut | None = Field(description="The pharmacy the patient's last prescription went to")


class DeaRegistrationIn(_Model):
    number: Annotated[str, Field(pattern=r"^[A-Z]{2}[0-9]{7}$", description="DEA's, with its check digit")]
    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    schedules: list[Literal["II", "III", "IV", "V"]] = Field(min_length=1, max_length=4)
    expires: date


class DeaRegistrationsIn(_Model):
    registrations: list[DeaRegistrationIn] = Field(max_length=60)
    version: int = Field(ge=0, description="The version read (0: none yet)")


class DeaRegistrationsOut(_Model):
    registrations: list[DeaRegistrationIn]
    version: int


class NoticeOut(_Model):
    received: bool


def pharmacy_out(p: Pharmacy) -> PharmacyOut:
    return PharmacyOut(
        pharmacy_id=p.pharmacy_id,
        name=p.name,
        address=p.address,
        city=p.city,
        state=p.state,
        postal_code=p.postal_code,
        phone=p.phone,
    )


def prescription_out(rx: Prescription) -> PrescriptionOut:
    d = rx.directions
    return PrescriptionOut(
        prescription_id=rx.prescription_id,
        appointment_id=rx.appointment_id,
        case_id=rx.case_id,
        provider_id=rx.provider_id,
        status=rx.status.value,
        drug=rx.drug_name,
        rxcui=d.rxcui,
        dose=d.dose,
        route=d.route,
        frequency=d.frequency,
        quantity=d.quantity,
        quantity_unit=d.quantity_unit,
        days_supply=d.days_supply,
        refills=d.refills,
        substitution_allowed=d.substitution_allowed,
        sig=d.sig,
        schedule=rx.schedule,
        pharmacy=pharmacy_out(rx.pharmacy),
        written_at=rx.written_at,
        failure_reason=rx.failure_reason,
        fills=[FillOut(quantity=f.quantity, at=f.at) for f in rx.fills],
        renewals=[
            RenewalOut(request_id=r.request_id, at=r.at, status=r.status.value, renewed_by=r.renewed_by)
            for r in rx.renewals
        ],
        renews=rx.renews,
    )


def _draft(body: PrescriptionIn) -> PrescriptionDraft:
    from telehealth.application.prescriptions import PrescriptionDraft
    from telehealth.domain.prescriptions import Directions

    return PrescriptionDraft(
        Directions(
            rxcui=body.rxcui,
            dose=body.dose,
            route=body.route,
            frequency=body.frequency,
            quantity=body.quantity,
            quantity_unit="",  # the drug's dose unit, from the drug list
            days_supply=body.days_supply,
            refills=body.refills,
            substitution_allowed=body.substitution_allowed,
            sig=body.sig,
        ),
        body.pharmacy_id,
        tuple(body.acknowledged),
        body.prior_in_person,
        body.pdmp_checked_on,
    )


def checks_out(screening: Screening) -> ChecksOut:
    return ChecksOut(
        findings=[
            FindingOut(code=f.code, severity=f.severity.value, message=f.message) for f in screening.findings
        ],
        alerts=[AlertOut(**a) for a in screening.alerts],
        to_acknowledge=list(screening.to_acknowledge),
        refused=any(f.severity.value == "refusal" for f in screening.findings),
    )


_PRESCRIPTIONS = "/v1/appointments/<appointment_id>/prescriptions"


@router.post(
    f"{_PRESCRIPTIONS}/checks",
    summary="Every check on a prescription as written, with the network's alerts (nothing is sent)",
    tags=[PRESCRIPTIONS],
    **answers(404, 409, 422, 503, feature="eprescribing"),
)
def check_prescription(appointment_id: AppointmentId, body: PrescriptionIn) -> ChecksOut:
    return checks_out(context.prescribing().screen(context.caller(router), appointment_id, _draft(body)))


@router.post(
    _PRESCRIPTIONS,
    summary="Send a prescription to the patient's pharmacy, once every check passed and each "
    "warning and alert is acknowledged",
    description="Needs an `Idempotency-Key`: a retry (after a lost answer or a timeout) finds the "
    "prescription its first attempt kept and resumes it, so nothing is sent twice. A refusal or an "
    "unacknowledged warning answers 422 with every finding.",
    tags=[PRESCRIPTIONS],
    middlewares=[idempotent.by_record()],
    **answers(
        404, 409, 422, 428, 503, ok=201, model=PrescriptionOut, idempotent=True, feature="eprescribing"
    ),
)
def send_prescription(appointment_id: AppointmentId, body: PrescriptionIn) -> Response[PrescriptionOut]:
    rx = context.prescribing().send(context.caller(router), appointment_id, _draft(body), _send_key())
    return Response(status_code=201, body=prescription_out(rx), content_type="application/json")


@router.get(
    _PRESCRIPTIONS,
    summary="The visit's prescriptions and where each stands (its provider's)",
    tags=[PRESCRIPTIONS],
    **answers(404, feature="eprescribing"),
)
def visit_prescriptions(appointment_id: AppointmentId) -> VisitPrescriptionsOut:
    return _prescriptions_out(context.prescribing().for_visit(context.caller(router), appointment_id))


def _send_key() -> str:
    from telehealth.domain.prescriptions import PrescriptionRuleError

    key = router.current_event.get_header_value(idempotent.KEY_HEADER, case_sensitive=False)
    if not key:
        raise PrescriptionRuleError(
            "idempotency-key-required", "A prescription is sent with an Idempotency-Key."
        )
    return key


def _prescriptions_out(found: VisitPrescriptions) -> VisitPrescriptionsOut:
    return VisitPrescriptionsOut(
        prescriptions=[prescription_out(rx) for rx in found.prescriptions],
        patient_state=found.patient_state,
        pharmacy=pharmacy_out(found.pharmacy) if found.pharmacy else None,
    )


# A case of photos' prescriptions: the route is triage's (its stack's resource), and the tenant
# needs e-prescribing on too.
_CASE_PRESCRIPTIONS = "/v1/triage/cases/<case_id>/prescriptions"
_FROM_CASE: dict[str, Any] = {"feature": "triage", "also_needs": "eprescribing"}


@router.post(
    f"{_CASE_PRESCRIPTIONS}/checks",
    summary="Every check on a prescription from a case of photos, as written (nothing is sent)",
    description="As a visit's, with the case's state; a controlled substance is refused "
    "(`store-and-forward-controlled`): it is prescribed in a live visit, never from photos.",
    tags=[PRESCRIPTIONS],
    **answers(404, 409, 422, 503, **_FROM_CASE),
)
def check_case_prescription(case_id: CaseId, body: PrescriptionIn) -> ChecksOut:
    context.feature_on("eprescribing")
    return checks_out(context.prescribing().screen_for_case(context.caller(router), case_id, _draft(body)))


@router.post(
    _CASE_PRESCRIPTIONS,
    summary="Send a prescription written from a case of photos (any provider while it waits; "
    "once answered, the clinician who answered it)",
    description="As a visit's send: an `Idempotency-Key`, every check passed, each warning and "
    "alert acknowledged. The MedicationRequest names the case's QuestionnaireResponse as its "
    "supporting information, as a case has no Encounter.",
    tags=[PRESCRIPTIONS],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, 428, 503, ok=201, model=PrescriptionOut, idempotent=True, **_FROM_CASE),
)
def send_case_prescription(case_id: CaseId, body: PrescriptionIn) -> Response[PrescriptionOut]:
    context.feature_on("eprescribing")
    rx = context.prescribing().send_for_case(context.caller(router), case_id, _draft(body), _send_key())
    return Response(status_code=201, body=prescription_out(rx), content_type="application/json")


@router.get(
    _CASE_PRESCRIPTIONS,
    summary="The prescriptions written from a case of photos and where each stands",
    tags=[PRESCRIPTIONS],
    **answers(404, **_FROM_CASE),
)
def case_prescriptions(case_id: CaseId) -> VisitPrescriptionsOut:
    context.feature_on("eprescribing")
    return _prescriptions_out(context.prescribing().for_case(context.caller(router), case_id))


@router.post(
    "/v1/prescriptions/<prescription_id>/cancel",
    summary="Ask the pharmacy to cancel a prescription (refused once it is dispensed)",
    tags=[PRESCRIPTIONS],
    middlewares=[idempotent.in_transaction()],
    **answers(404, 409, 503, idempotent=True, feature="eprescribing"),
)
def cancel_prescription(prescription_id: PrescriptionId) -> Response[PrescriptionOut]:
    def answer(rx: Prescription) -> Response[PrescriptionOut]:
        return Response(status_code=200, body=prescription_out(rx), content_type="application/json")

    rx = context.prescribing().cancel(context.caller(router), prescription_id, context.idempotency(answer))
    return answer(rx)


class RenewalAnswerIn(_Model):
    approve: bool = Field(description="Renew it (a new prescription to the same pharmacy), or deny it")
    acknowledged: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, max_length=20, description="The renewal's warnings and alerts read"
    )


class RenewalAnswerOut(_Model):
    prescription: PrescriptionOut = Field(description="The prescription asked to be renewed, as answered")
    renewal: PrescriptionOut | None = Field(description="The new prescription, when approved")


@router.post(
    "/v1/prescriptions/<prescription_id>/renewals/<request_id>",
    summary="Answer a pharmacy's renewal request: approve (a new prescription, checked and sent "
    "once per request) or deny",
    tags=[PRESCRIPTIONS],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, 503, idempotent=True, feature="eprescribing"),
)
def answer_renewal(
    prescription_id: PrescriptionId,
    request_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,80}$")],
    body: RenewalAnswerIn,
) -> RenewalAnswerOut:
    answered, renewed = context.prescribing().answer_renewal(
        context.caller(router), prescription_id, request_id, body.approve, body.acknowledged
    )
    return RenewalAnswerOut(
        prescription=prescription_out(answered), renewal=prescription_out(renewed) if renewed else None
    )


@router.get(
    "/v1/me/prescriptions",
    summary="The patient's prescriptions, newest first, and where each stands",
    tags=[PRESCRIPTIONS],
    **answers(feature="eprescribing"),
)
def my_prescriptions() -> list[PrescriptionOut]:
    return [prescription_out(rx) for rx in context.prescribing().mine(context.caller(router))]


@router.get(
    "/v1/pharmacies",
    summary="Search the e-prescribing network's pharmacy directory in a state",
    tags=[PRESCRIPTIONS],
    **answers(503, feature="eprescribing"),
)
def pharmacies(
    state: Annotated[str, Query(pattern=r"^[A-Z]{2}$", description="Where the pharmacy is")],
    name: Annotated[str, Query(max_length=60, description="Part of its name")] = "",
) -> list[PharmacyOut]:
    return [pharmacy_out(p) for p in context.prescribing().pharmacies(context.caller(router), name, state)]


@router.post(
    PRESCRIBING_WEBHOOK,
    summary="The e-prescribing network's webhook (no token: its X-Photon-Signature is checked)",
    description="The network's events (transmitted, error, dispensed, cancelled, renewal request) "
    "move the prescription they name on. The signature over the raw body is checked by the "
    "prescribing function with the tenant's webhook secret; an event is taken once by its id, in "
    "any order. A 5xx answer has the network deliver it again.",
    tags=[PRESCRIPTIONS],
    **answers(400, 409, 503, feature="eprescribing"),
)
def prescribing_notice() -> NoticeOut:
    from telehealth.ports import NoticeRefusedError

    event = router.current_event
    signature = event.get_header_value("X-Photon-Signature", case_sensitive=False) or ""
    body = event.decoded_body or ""
    if len(signature) != 64 or len(body.encode()) > NOTICE_MAX_BYTES:
        raise NoticeRefusedError("no signature of the network's shape")
    return NoticeOut(received=context.prescribing().receive(body, signature))


_ACCOUNT = "/v1/prescriptions/prescriber-account"


class PrescriberAccountOut(_Model):
    linked: bool = Field(description="The provider's Photon account is linked: they can send")
    linked_at: datetime | None = None


class SignInOut(_Model):
    """A sign-in at a third party (Photon for a prescriber, Dexcom for a patient) begun."""

    authorize_url: str = Field(description="The third party's sign-in page: open it in the browser")
    state: str = Field(description="The sign-in's state: the third party sends it back with the code")


class SignedInIn(_Model):
    """A sign-in at a third party come back: its state and code."""

    state: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{20,100}$")]
    code: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$")]


def _account_out(account: object) -> PrescriberAccountOut:
    linked_at = getattr(account, "linked_at", None)
    return PrescriberAccountOut(linked=account is not None, linked_at=linked_at)


@router.get(
    _ACCOUNT,
    summary="Whether the calling provider's Photon account is linked (needed to send)",
    tags=[PRESCRIPTIONS],
    **answers(404, feature="eprescribing"),
)
def prescriber_account() -> PrescriberAccountOut:
    return _account_out(context.prescribing().prescriber_account(context.caller(router)))


@router.post(
    f"{_ACCOUNT}/sign-in",
    summary="Begin linking the calling provider's Photon account: where to sign in at Photon",
    description="Authorization code with PKCE: Photon sends the browser back to the dashboard with "
    "a code and this state, within ten minutes; `PUT` them to finish. A retry with the same "
    "`Idempotency-Key` answers the same sign-in.",
    tags=[PRESCRIPTIONS],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 503, idempotent=True, feature="eprescribing"),
)
def begin_prescriber_sign_in() -> SignInOut:
    url, state = context.prescribing().start_link(context.caller(router))
    return SignInOut(authorize_url=url, state=state)


@router.put(
    _ACCOUNT,
    summary="Finish linking the calling provider's Photon account with the sign-in's code",
    description="The code is exchanged by the prescribing function; what Photon gives for the "
    "account is kept sealed under a key only that function may use. A state is taken once: a retry "
    "after a lost answer, with the same `Idempotency-Key`, gets the first answer.",
    tags=[PRESCRIPTIONS],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, 503, idempotent=True, feature="eprescribing"),
)
def link_prescriber_account(body: SignedInIn) -> PrescriberAccountOut:
    account = context.prescribing().complete_link(context.caller(router), body.state, body.code)
    return _account_out(account)


@router.delete(
    _ACCOUNT,
    summary="Unlink the calling provider's Photon account (revoked at Photon, then forgotten)",
    description="Photon refusing the revocation is a 502 `unlink-refused`: the account stays linked.",
    tags=[PRESCRIPTIONS],
    **answers(404, 409, 502, 503, ok=204, feature="eprescribing"),
)
def unlink_prescriber_account() -> Response[str]:
    context.prescribing().unlink(context.caller(router))
    return Response(status_code=204, body="")  # no content, so no content type


_DEA = "/v1/admin/providers/<provider_id>/dea-registrations"


def _registrations_out(found: tuple[tuple[DeaRegistration, ...], int]) -> DeaRegistrationsOut:
    registrations, version = found
    return DeaRegistrationsOut(
        registrations=[
            DeaRegistrationIn.model_validate(
                {"number": r.number, "state": r.state, "schedules": sorted(r.schedules), "expires": r.expires}
            )
            for r in registrations
        ],
        version=version,
    )


@router.get(
    _DEA,
    summary="A prescriber's DEA registrations (admins; the prescriber)",
    tags=[PRESCRIPTIONS],
    **answers(404, also_needs="eprescribing"),
)
def dea_registrations(provider_id: ProviderId) -> DeaRegistrationsOut:
    context.feature_on("eprescribing")
    return _registrations_out(context.prescribing().dea_registrations(context.caller(router), provider_id))


@router.put(
    _DEA,
    summary="Set a prescriber's DEA registrations, one per state (admins): what controlled substances need",
    tags=[PRESCRIPTIONS],
    **answers(404, 409, 422, also_needs="eprescribing"),
)
def set_dea_registrations(provider_id: ProviderId, body: DeaRegistrationsIn) -> DeaRegistrationsOut:
    from telehealth.domain.prescribing import DeaRegistration
    from telehealth.domain.prescriptions import PrescriptionRuleError

    context.feature_on("eprescribing")
    try:
        registrations = [
            DeaRegistration(r.number, r.state, frozenset(r.schedules), r.expires) for r in body.registrations
        ]
    except ValueError as error:  # our own words (the check digit), not the input
        raise PrescriptionRuleError("dea-registrations", str(error)) from error
    found = context.prescribing().set_dea_registrations(
        context.caller(router), provider_id, registrations, body.version
    )
    return _registrations_out(found)
