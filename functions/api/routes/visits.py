"""Visit routes. The patient checks in, watches the waiting room, asks for a join link and redeems
it; the provider sees the queue, admits, and ends the visit.

Join links carry a secret, so they travel only in bodies: a link is redeemed by POSTing it, and
the portal receives it in a URL fragment, which browsers never send to a server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from functions.api import context, idempotent
from functions.api.contract import VISITS, VITALS, answers
from functions.api.routes.scheduling import AppointmentId, StateCode
from telehealth.domain.visits import CheckIn, Visit

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckInRequest(_Model):
    state: StateCode
    emergency_contact: Annotated[str, Field(min_length=5, max_length=200)] = Field(
        description="A callback number or an address where help can be sent during the visit"
    )
    consent_to_telehealth: bool
    consent_to_recording: bool
    reason: Annotated[str, Field(max_length=500)] = Field(
        "", description="Why the patient is seeking care today, in their words (shown to the provider)"
    )
    at_home: bool | None = Field(
        None,
        description="Whether the patient is at home for the visit (the claim's place of service: "
        "10 at home, 02 elsewhere); left out: not said, billed as elsewhere",
    )


class CheckInOut(_Model):
    appointment_id: str
    checked_in_at: datetime
    recording_consented: bool


VisitStateName = Literal["booked", "checked-in", "admitted", "in-call", "completed", "no-show", "cancelled"]


class WaitingRoomOut(_Model):
    appointment_id: str
    state: VisitStateName
    check_in_opens_at: datetime
    position: int | None = Field(None, description="1: next to be admitted")
    estimated_wait_s: int | None = None
    outcome: str | None = Field(None, description="How the visit ended, when it has")
    recording: Literal["none", "recording", "processing", "available"] = "none"
    next_step: str


class LinkOut(_Model):
    link: str = Field(description="Single use; put it in the portal's URL fragment, never a path or query")
    expires_at: datetime


class RedeemRequest(_Model):
    link: Annotated[str, Field(min_length=10, max_length=200)]


class JoinInfoOut(BaseModel):
    """What the Chime SDK client needs: `Meeting` and `Attendee` as CreateMeeting returns them."""

    Meeting: dict[str, Any]
    Attendee: dict[str, Any]


class QueueEntryOut(_Model):
    appointment_id: str
    patient_id: str
    start: datetime
    checked_in_at: datetime
    waited_s: int
    reason: str


class QueueOut(_Model):
    waiting: list[QueueEntryOut]
    current_appointment_id: str | None


class GuestIn(_Model):
    role: Literal["interpreter", "caregiver"]
    user_id: Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9-]+$")] = Field(
        description="The invited user (their account id): their join link is bound to them"
    )


class AdmitRequest(_Model):
    guests: Annotated[list[GuestIn], Field(max_length=4)] = []


class AdmitOut(_Model):
    appointment_id: str
    state: VisitStateName
    meeting_id: str
    link: LinkOut


class VisitOut(_Model):
    appointment_id: str
    state: VisitStateName
    outcome: str | None


def _visit_out(visit: Visit) -> VisitOut:
    return VisitOut(appointment_id=visit.appointment_id, state=visit.state.value, outcome=visit.outcome)


NEXT_STEP = {
    "booked": "Check in when check-in opens.",
    "checked-in": "Wait to be admitted; this page updates.",
    "admitted": "Ask for your join link and join the video visit.",
    "in-call": "You are in the visit; ask for a new join link if you dropped.",
    "completed": "The visit is over.",
    "no-show": "The visit did not take place; book again if you still need care.",
    "cancelled": "The visit was cancelled; book again if you still need care.",
}


@router.post(
    "/v1/appointments/<appointment_id>/check-in",
    summary="Check in (opens 15 minutes before the start)",
    tags=[VISITS],
    middlewares=[idempotent.in_transaction()],
    **answers(404, 409, 422, idempotent=True),
)
def check_in(appointment_id: AppointmentId, request: CheckInRequest) -> Response[CheckInOut]:
    def answer(done: CheckIn) -> Response[CheckInOut]:
        body = CheckInOut(
            appointment_id=appointment_id,
            checked_in_at=done.at,
            recording_consented=done.consents_to_recording,
        )
        return Response(status_code=200, body=body, content_type="application/json")

    done = context.visits().check_in(
        context.caller(router),
        appointment_id,
        state=request.state,
        emergency_contact=request.emergency_contact,
        consents_to_telehealth=request.consent_to_telehealth,
        consents_to_recording=request.consent_to_recording,
        reason=request.reason,
        at_home=request.at_home,
        idempotency=context.idempotency(answer),
    )
    return answer(done)


@router.get(
    "/v1/appointments/<appointment_id>/waiting-room",
    summary="Where the visit stands: position and estimated wait while waiting",
    tags=[VISITS],
    **answers(404),
)
def waiting_room(appointment_id: AppointmentId) -> WaitingRoomOut:
    status = context.visits().waiting_room(context.caller(router), appointment_id)
    appointment, visit = status.appointment, status.visit
    state = visit.state.value if visit else ("booked" if appointment.status.value == "booked" else None)
    if state is None:  # closed before any check-in: a no-show or a cancellation
        state = "no-show" if appointment.status.value == "noshow" else "cancelled"
    return WaitingRoomOut(
        appointment_id=appointment_id,
        state=state,  # type: ignore[arg-type]  # a VisitState value or one of the two above
        check_in_opens_at=status.check_in_opens,
        position=status.place.position if status.place else None,
        estimated_wait_s=int(status.place.estimated_wait.total_seconds()) if status.place else None,
        outcome=visit.outcome if visit else None,
        recording=visit.recording if visit else "none",  # type: ignore[arg-type]
        next_step=NEXT_STEP[state],
    )


@router.post(
    "/v1/appointments/<appointment_id>/join-link",
    summary="A fresh single-use join link for yourself (the last one stops working)",
    tags=[VISITS],
    # A Chime attendee, then the table: Powertools keeps the answer, the link sealed by the key.
    middlewares=[idempotent.by_record(sealed=["link"])],
    **answers(404, 409, 410, 422, ok=201, model=LinkOut, idempotent=True),
)
def join_link(appointment_id: AppointmentId) -> Response[LinkOut]:
    link, expires = context.visits().issue_link(context.caller(router), appointment_id)
    return Response(
        status_code=201,
        body=LinkOut(link=link.text, expires_at=expires),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/v1/join",
    summary="Redeem a join link, once, for your Chime join information",
    tags=[VISITS],
    middlewares=[idempotent.in_transaction(sealed=["Attendee.JoinToken"])],
    **answers(404, 409, 410, 422, model=JoinInfoOut, idempotent=True),
)
def redeem(request: RedeemRequest) -> Response[JoinInfoOut]:
    def answer(info: dict[str, Any]) -> Response[JoinInfoOut]:
        return Response(
            status_code=200,
            body=JoinInfoOut(Meeting=info["Meeting"], Attendee=info["Attendee"]),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return answer(context.visits().redeem(context.caller(router), request.link, context.idempotency(answer)))


@router.get(
    "/v1/waiting-room",
    summary="The provider's queue: who waits, why, and for how long",
    tags=[VISITS],
    **answers(),
)
def queue() -> QueueOut:
    line, current = context.visits().queue(context.caller(router))
    now = context.now()
    return QueueOut(
        waiting=[
            QueueEntryOut(
                appointment_id=v.appointment_id,
                patient_id=v.patient_id,
                start=v.start,
                checked_in_at=v.checked_in_at,
                waited_s=max(0, int((now - v.checked_in_at).total_seconds())),
                reason=v.reason,
            )
            for v in line
        ],
        current_appointment_id=current.appointment_id if current else None,
    )


@router.post(
    "/v1/appointments/<appointment_id>/admit",
    summary="Admit the patient into the video visit (optionally with an interpreter or a caregiver)",
    tags=[VISITS],
    # A Chime meeting, then the table: Powertools keeps the answer, the link sealed by the key.
    middlewares=[idempotent.by_record(sealed=["link.link"])],
    **answers(404, 409, 422, model=AdmitOut, idempotent=True),
)
def admit(
    appointment_id: AppointmentId, request: Annotated[AdmitRequest | None, Body()] = None
) -> Response[AdmitOut]:
    from telehealth.domain.visits import Role

    guests = {g.user_id: Role(g.role) for g in (request.guests if request else [])}
    done = context.visits().admit(context.caller(router), appointment_id, guests)
    return Response(
        status_code=200,
        body=AdmitOut(
            appointment_id=appointment_id,
            state=done.visit.state.value,
            meeting_id=done.visit.meeting_id or "",
            link=LinkOut(link=done.link.text, expires_at=done.expires_at),
        ),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/v1/appointments/<appointment_id>/end",
    summary="End the visit (the meeting ends for all)",
    tags=[VISITS],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, idempotent=True),
)
def end(appointment_id: AppointmentId) -> VisitOut:
    return _visit_out(context.visits().end(context.caller(router), appointment_id))


class ReadingOut(_Model):
    sign: Literal["heart-rate", "respiratory-rate"]
    per_minute: float
    quality: float
    status: Literal["preliminary", "final", "entered-in-error"]
    observation_id: str
    reviewed_at: datetime | None = Field(
        default=None, description="When the visit's provider confirmed or rejected it; null while preliminary"
    )


class VitalsOut(_Model):
    appointment_id: str
    method: str
    readings: list[ReadingOut]
    refused: dict[str, str] = Field(
        description="Signs that could not be read honestly, and why (the worker's code); oxygen "
        "saturation is always here: it is never estimated from video"
    )
    note: str


class ReviewRequest(_Model):
    sign: Literal["heart-rate", "respiratory-rate"]
    decision: Literal["confirm", "reject"]


@router.get(
    "/v1/appointments/<appointment_id>/vitals",
    summary="Vital signs estimated from the visit video (preliminary until reviewed), for the provider",
    tags=[VITALS],
    **answers(404),
)
def vitals(appointment_id: AppointmentId) -> VitalsOut:
    from telehealth.fhir.projection import ESTIMATE_NOTE

    found = context.vitals().estimates(context.caller(router), appointment_id)
    return VitalsOut(
        appointment_id=appointment_id,
        method=found.method,
        readings=[
            ReadingOut(
                sign=r.sign.value,
                per_minute=round(r.per_minute, 1),
                quality=round(r.quality, 2),
                status=r.status.value,
                observation_id=found.observation_id(r.sign),
                reviewed_at=r.reviewed_at,
            )
            for r in found.readings
        ],
        refused=dict(found.not_read),
        note=ESTIMATE_NOTE,
    )


@router.post(
    "/v1/appointments/<appointment_id>/vitals/review",
    summary="Confirm (final) or reject (entered-in-error) one estimate",
    tags=[VITALS],
    middlewares=[idempotent.in_transaction()],
    **answers(404, 409, 422, idempotent=True),
)
def review_vitals(appointment_id: AppointmentId, request: ReviewRequest) -> Response[ReadingOut]:
    from telehealth.domain.vitals import Reading, VitalSign

    def answer(reviewed: tuple[Reading, str]) -> Response[ReadingOut]:
        reading, observation_id = reviewed
        body = ReadingOut(
            sign=request.sign,
            per_minute=round(reading.per_minute, 1),
            quality=round(reading.quality, 2),
            status=reading.status.value,
            observation_id=observation_id,
            reviewed_at=reading.reviewed_at,
        )
        return Response(status_code=200, body=body, content_type="application/json")

    reviewed = context.vitals().review(
        context.caller(router),
        appointment_id,
        VitalSign(request.sign),
        request.decision == "confirm",
        context.idempotency(answer),
    )
    return answer(reviewed)
