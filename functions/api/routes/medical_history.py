"""A patient's allergies and medicines: the patient tells them (`/v1/me/...`), the visit's
clinician reconciles them (`/v1/appointments/{id}/...`); both name the version they read, and a
stale one is a 409. Codes come from the clinic's drug list (`/v1/drugs`, `/v1/allergens`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from functions.api import context
from functions.api.contract import NOTES, answers
from functions.api.routes.scheduling import AppointmentId
from telehealth.domain.medical_history import MAX_ALLERGIES, MAX_MEDICATIONS, MAX_TEXT, MedicalHistory

if TYPE_CHECKING:  # the service's types, loaded with it on first use
    from telehealth.application.medical_history import EntryIn
    from telehealth.domain.medical_history import Coding

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

Status = Literal["active", "stopped", "entered-in-error"]
EntryId = Annotated[
    str, Field(pattern=r"^[0-9a-z]{10}$", description="As the list gave it; left out: a new entry")
]
Words = Annotated[str, Field(max_length=MAX_TEXT)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeIn(_Model):
    system: Literal["http://www.nlm.nih.gov/research/umls/rxnorm", "http://va.gov/terminology/medrt"]
    code: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}$")]


class AllergyIn(_Model):
    entry_id: EntryId | None = None
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] = Field(description="What, in words")
    code: CodeIn | None = Field(
        None, description="An ingredient (RxNorm) or a class (MED-RT) from /v1/allergens"
    )
    reaction: Words = ""
    severity: Literal["mild", "moderate", "severe"] | None = None
    status: Status = "active"


class MedicationIn(_Model):
    entry_id: EntryId | None = None
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    code: CodeIn | None = Field(None, description="A drug (RxNorm) from /v1/drugs")
    dose: Words = Field("", description="How the patient takes it, in their words")
    status: Status = "active"


class HistoryIn(_Model):
    allergies: list[AllergyIn] = Field(default_factory=list, max_length=MAX_ALLERGIES)
    medications: list[MedicationIn] = Field(default_factory=list, max_length=MAX_MEDICATIONS)
    version: int = Field(ge=0, description="The version read (0: nothing told yet)")


class CodeOut(_Model):
    system: str
    code: str
    display: str


class AllergyOut(_Model):
    entry_id: str
    text: str
    code: CodeOut | None
    reaction: str
    severity: str | None
    status: Status
    verified: bool = Field(description="A clinician confirmed it in a visit")
    recorded_by: Literal["patient", "clinician"]
    recorded_at: datetime | None


class MedicationOut(_Model):
    entry_id: str
    text: str
    code: CodeOut | None
    dose: str
    status: Status
    verified: bool
    recorded_by: Literal["patient", "clinician"]
    recorded_at: datetime | None


class HistoryOut(_Model):
    allergies: list[AllergyOut]
    medications: list[MedicationOut]
    version: int
    reconciled_at: datetime | None = Field(None, description="When a clinician last went through the lists")


class DrugOut(_Model):
    rxcui: str
    name: str
    schedule: str | None = Field(None, description="DEA schedule (II-V) of a controlled substance")


class DrugsOut(_Model):
    drugs: list[DrugOut]
    source: str


class AllergensOut(_Model):
    allergens: list[CodeOut]
    source: str


def history_out(history: MedicalHistory) -> HistoryOut:
    def code(c: Coding | None) -> CodeOut | None:
        return CodeOut(system=c.system, code=c.code, display=c.display) if c else None

    return HistoryOut(
        allergies=[
            AllergyOut(
                entry_id=a.entry_id,
                text=a.text,
                code=code(a.substance),
                reaction=a.reaction,
                severity=a.severity.value if a.severity else None,
                status=a.status.value,
                verified=a.verified,
                recorded_by=a.recorded_by.value,
                recorded_at=a.recorded_at,
            )
            for a in history.allergies
        ],
        medications=[
            MedicationOut(
                entry_id=m.entry_id,
                text=m.text,
                code=code(m.drug),
                dose=m.dose,
                status=m.status.value,
                verified=m.verified,
                recorded_by=m.recorded_by.value,
                recorded_at=m.recorded_at,
            )
            for m in history.medications
        ],
        version=history.version,
        reconciled_at=history.reconciled.at if history.reconciled else None,
    )


def _entries(body: HistoryIn) -> tuple[list[EntryIn], list[EntryIn]]:
    from telehealth.application.medical_history import EntryIn
    from telehealth.domain.medical_history import EntryStatus, Severity

    allergies = [
        EntryIn(
            a.entry_id,
            a.text,
            a.code.system if a.code else None,
            a.code.code if a.code else None,
            EntryStatus(a.status),
            reaction=a.reaction,
            severity=Severity(a.severity) if a.severity else None,
        )
        for a in body.allergies
    ]
    medications = [
        EntryIn(
            m.entry_id,
            m.text,
            m.code.system if m.code else None,
            m.code.code if m.code else None,
            EntryStatus(m.status),
            dose=m.dose,
        )
        for m in body.medications
    ]
    return allergies, medications


_MINE = "/v1/me/allergies-and-medications"
_VISITS = "/v1/appointments/<appointment_id>/allergies-and-medications"


@router.get(_MINE, summary="The patient's own allergies and medicines", tags=[NOTES], **answers(403))
def my_history() -> HistoryOut:
    return history_out(context.medical_history().mine(context.caller(router)))


@router.put(
    _MINE,
    summary="Tell the clinic about allergies and medicines (new entries, or changes to listed ones)",
    tags=[NOTES],
    **answers(403, 404, 409, 422),
)
def tell_history(body: HistoryIn) -> HistoryOut:
    allergies, medications = _entries(body)
    told = context.medical_history().tell(context.caller(router), allergies, medications, body.version)
    return history_out(told)


@router.get(
    _VISITS,
    summary="The visit's patient's allergies and medicines, for its clinician",
    tags=[NOTES],
    **answers(404),
)
def visit_history(appointment_id: AppointmentId) -> HistoryOut:
    return history_out(context.medical_history().for_visit(context.caller(router), appointment_id))


@router.put(
    _VISITS,
    summary="Reconcile the lists in the visit: every entry sent is confirmed, stopped or struck",
    tags=[NOTES],
    **answers(403, 404, 409, 422),
)
def reconcile_history(appointment_id: AppointmentId, body: HistoryIn) -> HistoryOut:
    allergies, medications = _entries(body)
    done = context.medical_history().reconcile(
        context.caller(router),
        appointment_id,
        allergies,
        medications,
        body.version,
    )
    return history_out(done)


SOURCE = "RxNorm (NLM) and MED-RT (VA), the clinic's curated subset"
SearchText = Annotated[str, Query(min_length=2, max_length=60, description="Words the name starts with")]


@router.get("/v1/drugs", summary="Search the clinic's drug list (RxNorm)", tags=[NOTES], **answers())
def search_drugs(q: SearchText) -> DrugsOut:
    from telehealth.terminology import drugs

    context.caller(router)  # any signed-in user: the list is no one's record
    return DrugsOut(
        drugs=[DrugOut(rxcui=d.rxcui, name=d.name, schedule=d.schedule) for d in drugs.search_drugs(q)],
        source=SOURCE,
    )


@router.get(
    "/v1/allergens",
    summary="Search what an allergy may be coded as: ingredients (RxNorm) and classes (MED-RT)",
    tags=[NOTES],
    **answers(),
)
def search_allergens(q: SearchText) -> AllergensOut:
    from telehealth.terminology import drugs

    context.caller(router)
    found = drugs.search_substances(q)
    return AllergensOut(
        allergens=[CodeOut(system=s.system, code=s.code, display=s.display) for s in found], source=SOURCE
    )
