"""The front desk's worklist of referrals: what health systems sent (ServiceRequests through the
FHIR facade) and no visit is booked for yet. Staff book from it (`referral_id` in the booking)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import Field

from functions.api import context
from functions.api.contract import PATIENTS, answers
from functions.api.routes.patients import PatientFound, patient_found
from functions.api.routes.scheduling import _Model

if TYPE_CHECKING:
    from telehealth.application.referrals import WaitingReferral

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


class ReferralOut(_Model):
    referral_id: str
    reason: str = Field(description="Why the patient was referred, in the referrer's words")
    requester: str = Field(description="Who referred them")
    priority: str = Field(description="routine, urgent, asap or stat")
    service: str | None = Field(description="What the referrer asks for, if they said")
    authored_at: datetime
    status: str = Field(description="open (on the worklist) or booked")
    appointment_id: str | None
    patient: PatientFound | None


class Worklist(_Model):
    referrals: list[ReferralOut] = Field(description="Most pressing first, then oldest first; at most 200")


def referral_out(w: WaitingReferral) -> ReferralOut:
    r = w.referral
    return ReferralOut(
        referral_id=r.referral_id,
        reason=r.reason,
        requester=r.requester,
        priority=r.priority.value,
        service=r.service,
        authored_at=r.authored_at,
        status=r.status.value,
        appointment_id=r.appointment_id,
        patient=patient_found(w.patient) if w.patient else None,
    )


@router.get("/v1/referrals", summary="Referrals waiting for a visit (staff)", tags=[PATIENTS], **answers())
def worklist() -> Worklist:
    return Worklist(referrals=[referral_out(w) for w in context.referrals().worklist(context.caller(router))])


@router.get(
    "/v1/referrals/<referral_id>",
    summary="One referral, to book from (staff)",
    tags=[PATIENTS],
    **answers(404),
)
def one_referral(referral_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9-.]{1,64}$")]) -> ReferralOut:
    return referral_out(context.referrals().one(context.caller(router), referral_id))
