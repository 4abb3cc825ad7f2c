"""The clinician's note of a visit. The editor saves the draft as the provider types (`PUT`, with
the revision it was made on: a save on a stale revision is a 409, never a silent overwrite), signs
it, and corrects a signed note by an amendment or adds to it by an addendum. Diagnoses are
ICD-10-CM codes from the clinic's list (`GET /v1/diagnoses`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from functions.api import context, idempotent
from functions.api.contract import NOTES, answers
from functions.api.routes.scheduling import AppointmentId
from telehealth.domain.notes import (
    MAX_ADDENDUM,
    MAX_DIAGNOSES,
    MAX_FOLLOW_UP_DAYS,
    MAX_INSTRUCTIONS,
    MAX_RENDERED_CHARACTERS,
    MAX_SECTION_TITLE,
    MAX_SECTIONS,
    ClinicalNote,
)

if TYPE_CHECKING:
    from telehealth.application.notes import NoteDraft

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


DiagnosisCode = Annotated[
    str, Field(pattern=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$", description="ICD-10-CM, with its dot")
]


class SectionIn(_Model):
    title: Annotated[str, Field(min_length=1, max_length=MAX_SECTION_TITLE)]
    text: Annotated[str, Field(max_length=MAX_RENDERED_CHARACTERS)]


class FollowUpIn(_Model):
    within_days: Annotated[int, Field(ge=1, le=MAX_FOLLOW_UP_DAYS)]
    reason: Annotated[str, Field(max_length=200)] = ""


class NoteContentIn(_Model):
    sections: list[SectionIn] = Field(
        min_length=1,
        max_length=MAX_SECTIONS,
        description="Every section of the note's template, in its order",
    )
    diagnoses: list[DiagnosisCode] = Field(default_factory=list, max_length=MAX_DIAGNOSES)
    instructions: Annotated[str, Field(max_length=MAX_INSTRUCTIONS)] = Field(
        "", description="For the patient, in plain words (their after-visit summary)"
    )
    follow_up: FollowUpIn | None = None
    observation_ids: list[Annotated[str, Field(max_length=80)]] = Field(
        default_factory=list,
        max_length=4,
        description="Vital signs of the visit the clinician confirmed, to cite",
    )


class DraftIn(NoteContentIn):
    revision: int = Field(ge=0, description="The revision the draft was made on (0: a new note)")


class SignIn(_Model):
    revision: int = Field(ge=1, description="The revision signed: what the clinician saw")


class AmendmentIn(NoteContentIn):
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    revision: int = Field(ge=1)


class AddendumIn(_Model):
    text: Annotated[str, Field(min_length=1, max_length=MAX_ADDENDUM)]
    revision: int = Field(ge=1)


class DiagnosisOut(_Model):
    code: str
    display: str
    plain: str | None = Field(None, description="In the patient's words")


class SectionOut(_Model):
    title: str
    text: str


class FollowUpOut(_Model):
    within_days: int
    reason: str


class SignedOut(_Model):
    number: int = Field(description="1: the original; 2 on: amendments")
    signed_at: datetime
    reason: str = ""


class AddendumOut(_Model):
    number: int
    text: str
    added_at: datetime


class NoteOut(_Model):
    appointment_id: str
    status: Literal["draft", "signed", "amended"]
    revision: int
    saved_at: datetime | None = None
    access: Literal["author", "clinician", "billing"]
    diagnoses: list[DiagnosisOut]
    # The narrative: not for the front desk (billing reads status and diagnoses alone).
    template: list[str] | None = None
    sections: list[SectionOut] | None = None
    instructions: str | None = None
    follow_up: FollowUpOut | None = None
    observation_ids: list[str] | None = None
    signed: list[SignedOut] = Field(default_factory=list)
    addenda: list[AddendumOut] | None = None


class RevisionOut(_Model):
    revision: int
    status: str
    saved_at: datetime


class DiagnosesOut(_Model):
    diagnoses: list[DiagnosisOut]
    source: str


def note_out(note: ClinicalNote, access: str) -> NoteOut:
    from telehealth.terminology import icd10cm

    content = note.content
    diagnoses = [
        DiagnosisOut(
            code=d.code, display=d.display, plain=(known.plain if (known := icd10cm.lookup(d.code)) else None)
        )
        for d in content.diagnoses
    ]
    out = NoteOut(
        appointment_id=note.appointment_id,
        status=note.status,  # type: ignore[arg-type]  # one of the three, as ClinicalNote says
        revision=note.revision,
        saved_at=note.saved_at if note.revision else None,
        access=access,  # type: ignore[arg-type]
        diagnoses=diagnoses,
        signed=[SignedOut(number=s.number, signed_at=s.signed_at, reason=s.reason) for s in note.signed],
    )
    if access == "billing":
        return out
    return out.model_copy(
        update={
            "template": list(note.template),
            "sections": [SectionOut(title=t, text=x) for t, x in content.sections],
            "instructions": content.instructions,
            "follow_up": FollowUpOut(
                within_days=content.follow_up.within_days, reason=content.follow_up.reason
            )
            if content.follow_up
            else None,
            "observation_ids": list(content.observation_ids),
            "addenda": [AddendumOut(number=a.number, text=a.text, added_at=a.added_at) for a in note.addenda],
        }
    )


def _draft(body: NoteContentIn) -> NoteDraft:
    from telehealth.application.notes import NoteDraft
    from telehealth.domain.notes import FollowUp

    return NoteDraft(
        sections=[(s.title, s.text) for s in body.sections],
        diagnosis_codes=body.diagnoses,
        instructions=body.instructions,
        follow_up=FollowUp(body.follow_up.within_days, body.follow_up.reason) if body.follow_up else None,
        observation_ids=body.observation_ids,
    )


def _answer(note: ClinicalNote, status: int = 200) -> Response[NoteOut]:
    return Response(status_code=status, body=note_out(note, "author"), content_type="application/json")


_NOTE = "/v1/appointments/<appointment_id>/note"


@router.get(_NOTE, summary="The visit's note, as the caller may read it", tags=[NOTES], **answers(404, 409))
def read_note(appointment_id: AppointmentId) -> NoteOut:
    note, access = context.notes().note(context.caller(router), appointment_id)
    return note_out(note, access.value)


@router.put(
    _NOTE,
    summary="Save the draft as the provider has it (autosave), on the revision it was made on",
    tags=[NOTES],
    **answers(403, 404, 409, 422),
)
def save_draft(appointment_id: AppointmentId, body: DraftIn) -> NoteOut:
    draft = _draft(body)
    note = context.notes().save_draft(context.caller(router), appointment_id, draft, body.revision)
    return note_out(note, "author")


@router.post(
    f"{_NOTE}/sign",
    summary="Sign the draft as saved at `revision`: into the patient's record",
    tags=[NOTES],
    middlewares=[idempotent.in_transaction()],
    **answers(403, 404, 409, 422, idempotent=True),
)
def sign_note(appointment_id: AppointmentId, body: SignIn) -> Response[NoteOut]:
    note = context.notes().sign(
        context.caller(router), appointment_id, body.revision, context.idempotency(_answer)
    )
    return _answer(note)


@router.post(
    f"{_NOTE}/amendments",
    summary="Correct the signed note: a new signed version; every earlier one is kept",
    tags=[NOTES],
    middlewares=[idempotent.in_transaction()],
    **answers(403, 404, 409, 422, idempotent=True),
)
def amend_note(appointment_id: AppointmentId, body: AmendmentIn) -> Response[NoteOut]:
    note = context.notes().amend(
        context.caller(router),
        appointment_id,
        _draft(body),
        body.reason,
        body.revision,
        context.idempotency(_answer),
    )
    return _answer(note)


@router.post(
    f"{_NOTE}/addenda",
    summary="Add to the signed note (a result that came in, a call after the visit)",
    tags=[NOTES],
    middlewares=[idempotent.in_transaction()],
    **answers(403, 404, 409, 422, idempotent=True),
)
def add_addendum(appointment_id: AppointmentId, body: AddendumIn) -> Response[NoteOut]:
    note = context.notes().add_addendum(
        context.caller(router), appointment_id, body.text, body.revision, context.idempotency(_answer)
    )
    return _answer(note)


@router.get(
    f"{_NOTE}/revisions",
    summary="The note's saved revisions, newest first (its author's)",
    tags=[NOTES],
    **answers(404),
)
def note_revisions(appointment_id: AppointmentId) -> list[RevisionOut]:
    found = context.notes().revisions(context.caller(router), appointment_id)
    return [RevisionOut(revision=r, status=s, saved_at=at) for r, s, at in found]


@router.get(
    "/v1/diagnoses",
    summary="Search the clinic's ICD-10-CM list by code or words",
    tags=[NOTES],
    **answers(403),
)
def diagnoses(
    q: Annotated[str, Query(min_length=2, max_length=60, description="A code's start, or words")],
) -> DiagnosesOut:
    from telehealth.domain.appointments import Actor
    from telehealth.terminology import icd10cm

    context.caller(router).require(Actor.PROVIDER, Actor.STAFF)
    return DiagnosesOut(
        diagnoses=[
            DiagnosisOut(code=c.code, display=c.description, plain=c.plain) for c in icd10cm.search(q)
        ],
        source="ICD-10-CM (CDC NCHS), the clinic's curated subset",
    )


class SummaryDiagnosisOut(_Model):
    words: str = Field(description="In plain words")
    code: str = Field(description="ICD-10-CM")


class SummaryFollowUpOut(_Model):
    within_days: int
    reason: str
    by: date = Field(description="The last day the clinician would like to see the patient again by")


class SummaryOut(_Model):
    appointment_id: str
    visit_start: datetime
    provider_id: str = Field(description="Who to book the follow-up with")
    clinician: str
    diagnoses: list[SummaryDiagnosisOut]
    instructions: str
    follow_up: SummaryFollowUpOut | None = None
    signed_at: datetime
    updated: bool = Field(description="The clinician corrected the note after first signing it")


@router.get(
    "/v1/appointments/<appointment_id>/summary",
    summary="The patient's after-visit summary, once the clinician signed the note",
    tags=[NOTES],
    **answers(404),
)
def visit_summary(appointment_id: AppointmentId) -> SummaryOut:
    found = context.after_visit().summary(context.caller(router), appointment_id)
    by = found.follow_up_by(context.now().date())
    return SummaryOut(
        appointment_id=found.appointment_id,
        visit_start=found.visit_start,
        provider_id=found.provider_id,
        clinician=found.clinician,
        diagnoses=[SummaryDiagnosisOut(words=w, code=c) for w, c in found.diagnoses],
        instructions=found.instructions,
        follow_up=SummaryFollowUpOut(
            within_days=found.follow_up.within_days, reason=found.follow_up.reason, by=by
        )
        if found.follow_up and by
        else None,
        signed_at=found.signed_at,
        updated=found.updated,
    )


class FollowUpPatientOut(_Model):
    patient_id: str
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    home_state: str | None


class FollowUpToBookOut(_Model):
    appointment_id: str = Field(description="The visit whose note asks for the follow-up")
    patient: FollowUpPatientOut | None
    provider_id: str = Field(description="Who to book it with")
    clinician: str
    due: date = Field(description="The last day the clinician would like to see the patient again by")
    reason: str


@router.get(
    "/v1/follow-ups",
    summary="The desk's worklist: follow-ups signed notes ask for that no visit answers yet",
    tags=[NOTES],
    **answers(),
)
def follow_ups() -> list[FollowUpToBookOut]:
    found = context.after_visit().follow_ups(context.caller(router))
    return [
        FollowUpToBookOut(
            appointment_id=f.appointment_id,
            patient=FollowUpPatientOut(
                patient_id=f.patient.patient_id,
                given_name=f.patient.given_name,
                family_name=f.patient.family_name,
                birth_date=f.patient.birth_date,
                home_state=f.patient.home_state,
            )
            if f.patient
            else None,
            provider_id=f.provider_id,
            clinician=f.clinician,
            due=f.due,
            reason=f.reason,
        )
        for f in found
    ]
