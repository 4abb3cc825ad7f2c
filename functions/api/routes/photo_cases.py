"""Store-and-forward (tenants with `triage` on): a patient's case of photos for a clinician to review
without a call. Photos go from the browser straight to storage: each is given a slot (a presigned
POST) that storage holds to the photo's type, size and SHA-256, for ten minutes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import Field

from functions.api import context, idempotent
from functions.api.contract import TRIAGE, answers
from functions.api.routes.patients import PatientFound, patient_found
from functions.api.routes.scheduling import SlotOut, _Model, slot_out
from functions.api.routes.triage import (
    Answer,
    AnsweredOut,
    QuestionOut,
    answered_out,
    json_response,
    question_out,
)
from telehealth.domain.photo_cases import CONTENT_TYPES, MAX_PHOTO_BYTES, MAX_PHOTOS

if TYPE_CHECKING:
    from telehealth.domain.photo_cases import CasePhoto, PhotoCase
    from telehealth.ports import UploadSlot

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

FEATURE = "triage"
_ID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
CaseId = Annotated[str, Path(pattern=_ID)]
ContentType = Literal["image/jpeg", "image/png", "image/heic", "image/heif"]
assert set(CONTENT_TYPES) == {"image/jpeg", "image/png", "image/heic", "image/heif"}


class CaseIn(_Model):
    answers: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")], Answer] = Field(
        max_length=50, description="The case's questions answered, by linkId (GET .../questions lists them)"
    )


class PhotoIn(_Model):
    content_type: ContentType
    size: int = Field(ge=1, le=MAX_PHOTO_BYTES, description="The photo's bytes, exactly")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="The photo's SHA-256, hex")


class PhotoOut(_Model):
    photo_id: str
    content_type: str
    size: int
    status: Literal["awaited", "scanning", "ready", "refused"]
    reason: str | None = Field(description="Why a refused photo cannot be shown, in the patient's words")


class CaseAnswerOut(_Model):
    provider_id: str
    assessment: str
    advice: str
    outcome: Literal["advice", "live-visit"] = Field(
        description="live-visit: a clinician needs to see the patient"
    )
    answered_at: datetime


class VisitOfferOut(_Model):
    specialty: str = Field(description="The kind of care to search for when no time is offered")
    state: str = Field(description="Where the patient is seen from (their home state)")
    soonest: SlotOut | None = Field(description="Null: no time within two weeks; search for one")


class CaseOut(_Model):
    case_id: str
    status: Literal["draft", "submitted", "answered"]
    questionnaire: str
    answers: dict[str, Any]
    photos: list[PhotoOut]
    opened_at: datetime
    submitted_at: datetime | None
    due_at: datetime | None = Field(
        description="By when a clinician answers (the clinic's turnaround promise)"
    )
    answer: CaseAnswerOut | None = Field(description="The clinician's, once the case is answered")
    visit: VisitOfferOut | None = Field(
        description="The patient's view of an answer that asks to see them (for two weeks): the "
        "soonest time with the clinician who answered, else another of their specialty",
    )


class CasesOut(_Model):
    cases: list[CaseOut] = Field(description="Newest first")


class UploadOut(_Model):
    url: str = Field(description="POST a multipart form here: every field below, then the photo as `file`")
    fields: dict[str, str]
    expires_at: datetime = Field(description="The slot's end (ten minutes)")


class AddedPhotoOut(_Model):
    case: CaseOut
    photo: PhotoOut
    upload: UploadOut


class CaseQuestionsOut(_Model):
    questionnaire: str
    questions: list[QuestionOut]
    max_photos: int
    max_photo_bytes: int


def _photo_out(p: CasePhoto) -> PhotoOut:
    return PhotoOut(
        photo_id=p.photo_id, content_type=p.content_type, size=p.size, status=p.status.value, reason=p.reason
    )


def _patients_case_out(c: PhotoCase) -> CaseOut:
    """A case as its patient sees it: with the visit offered, where the answer asks for one."""
    offer = context.photo_cases().visit_offer(context.caller(router), c)
    if offer is None:
        return _case_out(c)
    soonest = slot_out(offer.soonest, ZoneInfo("UTC")) if offer.soonest else None
    visit = VisitOfferOut(specialty=offer.specialty, state=offer.state, soonest=soonest)
    return _case_out(c).model_copy(update={"visit": visit})


def _case_out(c: PhotoCase) -> CaseOut:
    return CaseOut(
        case_id=c.case_id,
        status=c.status.value,
        questionnaire=c.questionnaire,
        answers=c.answers,
        photos=[_photo_out(p) for p in c.photos],
        opened_at=c.opened_at,
        submitted_at=c.submitted_at,
        due_at=c.due_at,
        answer=CaseAnswerOut(
            provider_id=c.answer.provider_id,
            assessment=c.answer.assessment,
            advice=c.answer.advice,
            outcome=c.answer.outcome.value,
            answered_at=c.answer.answered_at,
        )
        if c.answer
        else None,
        visit=None,
    )


@router.get(
    "/v1/me/triage/case-questions",
    summary="What a case of photos asks, and how many photos it takes",
    tags=[TRIAGE],
    **answers(feature=FEATURE),
)
def case_questions() -> CaseQuestionsOut:
    from telehealth.domain.appointments import Actor

    context.caller(router).require(Actor.PATIENT)
    questionnaire = context.photo_cases().questionnaire
    return CaseQuestionsOut(
        questionnaire=questionnaire.canonical,
        questions=[question_out(i) for i in questionnaire.items],
        max_photos=MAX_PHOTOS,
        max_photo_bytes=MAX_PHOTO_BYTES,
    )


@router.post(
    "/v1/me/triage/cases",
    summary="Open a case of photos for a clinician to review (store-and-forward)",
    tags=[TRIAGE],
    middlewares=[idempotent.in_transaction()],
    **answers(422, ok=201, model=CaseOut, idempotent=True, feature=FEATURE),
)
def open_case(request: CaseIn) -> Response[str]:
    def answer(case: PhotoCase) -> Response[str]:
        return json_response(201, _case_out(case))

    return answer(
        context.photo_cases().open(context.caller(router), request.answers, context.idempotency(answer))
    )


@router.get(
    "/v1/me/triage/cases",
    summary="My cases of photos",
    tags=[TRIAGE],
    **answers(feature=FEATURE),
)
def my_cases() -> CasesOut:
    return CasesOut(cases=[_patients_case_out(c) for c in context.photo_cases().mine(context.caller(router))])


@router.get(
    "/v1/me/triage/cases/<case_id>",
    summary="One of my cases: its photos and where it stands",
    tags=[TRIAGE],
    **answers(404, model=CaseOut, feature=FEATURE),
)
def read_case(case_id: Annotated[str, Path(pattern=_ID)]) -> Response[str]:
    return json_response(200, _patients_case_out(context.photo_cases().view(context.caller(router), case_id)))


@router.post(
    "/v1/me/triage/cases/<case_id>/photos",
    summary="Add a photo: its place in the case, and the slot to upload it through (ten minutes)",
    description="The slot is a presigned POST: send its `fields` and then the photo as `file` to its "
    "`url`. Storage refuses another type, another size or other bytes than the SHA-256 named here.",
    tags=[TRIAGE],
    middlewares=[idempotent.in_transaction()],
    **answers(404, 409, 422, ok=201, model=AddedPhotoOut, idempotent=True, feature=FEATURE),
)
def add_photo(case_id: Annotated[str, Path(pattern=_ID)], request: PhotoIn) -> Response[str]:
    def answer(added: tuple[PhotoCase, CasePhoto, UploadSlot]) -> Response[str]:
        case, photo, slot = added
        upload = UploadOut(url=slot.url, fields=slot.fields, expires_at=slot.expires_at)
        return json_response(201, AddedPhotoOut(case=_case_out(case), photo=_photo_out(photo), upload=upload))

    added = context.photo_cases().add_photo(
        context.caller(router),
        case_id,
        content_type=request.content_type,
        size=request.size,
        sha256=request.sha256,
        idempotency=context.idempotency(answer),
    )
    return answer(added)


@router.post(
    "/v1/me/triage/cases/<case_id>/submit",
    summary="Send the case to the clinicians' queue (every photo uploaded)",
    tags=[TRIAGE],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, model=CaseOut, idempotent=True, feature=FEATURE),
)
def submit_case(case_id: Annotated[str, Path(pattern=_ID)]) -> Response[str]:
    return json_response(200, _case_out(context.photo_cases().submit(context.caller(router), case_id)))


# --- the clinicians -------------------------------------------------------------------------------


class QueuedCaseOut(_Model):
    case: CaseOut
    patient: PatientFound | None
    overdue: bool = Field(description="Past the clinic's turnaround promise")
    escalated: Literal["nearing", "overdue"] | None = Field(
        description="How far the deadline timer escalated it: nearing (the on-call paged, those "
        "licensed where the patient lives first), overdue (the medical director too)"
    )


class QueueOut(_Model):
    cases: list[QueuedCaseOut] = Field(description="The soonest due first")


class ReviewOut(_Model):
    case: CaseOut
    patient: PatientFound | None
    answers: list[AnsweredOut] = Field(description="Each answer with its question, in order")


class PhotoImageOut(_Model):
    content_type: Literal["image/jpeg"]
    data: str = Field(description="The review copy (upright, sRGB, no metadata), base64")


class AnswerIn(_Model):
    assessment: str = Field(min_length=1, max_length=4000)
    advice: str = Field("", max_length=4000)
    outcome: Literal["advice", "live-visit"]


def _review_out(case: PhotoCase, patient: Any) -> ReviewOut:
    questionnaire = context.photo_cases().questionnaire
    return ReviewOut(
        case=_case_out(case),
        patient=patient_found(patient) if patient else None,
        answers=answered_out(questionnaire, case.answers),
    )


@router.get(
    "/v1/triage/cases",
    summary="The clinicians' queue of cases of photos, the soonest due first",
    tags=[TRIAGE],
    **answers(feature=FEATURE),
)
def queue() -> QueueOut:
    now = context.now()
    return QueueOut(
        cases=[
            QueuedCaseOut(
                case=_case_out(case),
                patient=patient_found(patient) if patient else None,
                overdue=case.due_at is not None and case.due_at < now,
                escalated=case.escalation.value if case.escalation else None,
            )
            for case, patient in context.photo_cases().queue(context.caller(router))
        ]
    )


@router.get(
    "/v1/triage/cases/<case_id>",
    summary="A case for review: the answers with their questions, the photos' states, the patient",
    tags=[TRIAGE],
    **answers(404, feature=FEATURE),
)
def review_case(case_id: Annotated[str, Path(pattern=_ID)]) -> ReviewOut:
    return _review_out(*context.photo_cases().for_review(context.caller(router), case_id))


@router.get(
    "/v1/triage/cases/<case_id>/photos/<photo_id>",
    summary="A photo's review copy, once it is clean and made safe to show (never a link)",
    tags=[TRIAGE],
    **answers(404, feature=FEATURE),
)
def case_photo(
    case_id: Annotated[str, Path(pattern=_ID)], photo_id: Annotated[str, Path(pattern=_ID)]
) -> Response[str]:
    import base64

    jpeg = context.photo_cases().photo(context.caller(router), case_id, photo_id)
    body = PhotoImageOut(content_type="image/jpeg", data=base64.b64encode(jpeg).decode())
    return Response(
        status_code=200,
        content_type="application/json",
        body=body.model_dump_json(),
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/v1/triage/cases/<case_id>/answer",
    summary="Answer a case (providers): an assessment and advice, or a live visit needed",
    tags=[TRIAGE],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, model=CaseOut, idempotent=True, feature=FEATURE),
)
def answer_case(case_id: Annotated[str, Path(pattern=_ID)], request: AnswerIn) -> Response[str]:
    from telehealth.domain.photo_cases import AnswerOutcome

    done = context.photo_cases().answer(
        context.caller(router),
        case_id,
        assessment=request.assessment,
        advice=request.advice,
        outcome=AnswerOutcome(request.outcome),
    )
    return json_response(200, _case_out(done))
