"""A patient's own details: read them, give or change them (the portal's "Your details")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import AfterValidator, Field

from functions.api import context, idempotent
from functions.api.contract import PATIENTS, answers
from functions.api.routes.scheduling import US_STATES, Day, _Model
from telehealth.domain import patients

if TYPE_CHECKING:
    from telehealth.fhir.projection import PatientProfile

T = TypeVar("T")

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


def _checked(problem: Callable[[T], str | None]) -> AfterValidator:
    def check(value: T) -> T:
        found = problem(value)
        if found is not None:
            raise ValueError(found)
        return value

    return AfterValidator(check)


def _born(value: date) -> str | None:
    return patients.birth_date_problem(value, context.now().date())


PatientId = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")]
Name = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")]


class PatientDetailsIn(_Model):
    given_name: Name
    family_name: Name
    birth_date: Annotated[Day, _checked(_born)]
    home_state: Annotated[
        str,
        Field(description="USPS code of the state they live in", json_schema_extra=US_STATES),
        _checked(patients.home_state_problem),
    ]
    zone: Annotated[
        str,
        Field(max_length=64, description="The IANA zone their visits are shown in"),
        _checked(patients.zone_problem),
    ]
    phone: (
        Annotated[str, Field(max_length=16, description="E.164"), _checked(patients.phone_problem)] | None
    ) = None
    version: int = Field(ge=0, description="The version read; 0 when there is none yet")


class PatientDetailsOut(_Model):
    patient_id: str
    email: str | None = Field(description="Their sign-in's verified e-mail, where reminders go")
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    home_state: str | None
    zone: str | None
    phone: str | None
    complete: bool = Field(description="Whether they have given what booking needs")
    version: int


def details_out(profile: PatientProfile) -> PatientDetailsOut:
    return PatientDetailsOut(
        patient_id=profile.patient_id,
        email=profile.email,
        given_name=profile.given_name,
        family_name=profile.family_name,
        birth_date=profile.birth_date,
        home_state=profile.home_state,
        zone=profile.zone,
        phone=profile.phone,
        complete=profile.complete,
        version=profile.version,
    )


class PatientSearch(_Model):
    family_name: Name
    birth_date: Day
    given_name: Annotated[str, Field(max_length=60)] | None = Field(
        default=None, description="The first name, or its start, to narrow the matches"
    )


class PatientFound(_Model):
    patient_id: str
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    home_state: str | None


class PatientMatches(_Model):
    patients: list[PatientFound] = Field(description="At most 20, by first name")


@router.post(
    "/v1/patients/search",
    summary="Find a patient by last name and date of birth (staff), in the body: never in a URL",
    tags=[PATIENTS],
    **answers(),
)
def search_patients(request: PatientSearch) -> PatientMatches:
    found = context.patients().find(
        context.caller(router), request.family_name, request.birth_date, request.given_name
    )
    return PatientMatches(patients=[patient_found(p) for p in found])


def patient_found(p: PatientProfile) -> PatientFound:
    """Who a patient is, to the front desk: enough to tell two apart and book for the right one."""
    return PatientFound(
        patient_id=p.patient_id,
        given_name=p.given_name,
        family_name=p.family_name,
        birth_date=p.birth_date,
        home_state=p.home_state,
    )


@router.get("/v1/me/details", summary="The patient's own details", tags=[PATIENTS], **answers(404))
def read_details() -> PatientDetailsOut:
    return details_out(context.patients().details(context.caller(router)))


@router.put(
    "/v1/me/details",
    summary="Give or change the patient's own details (version 0: the first time)",
    tags=[PATIENTS],
    **answers(409, model=PatientDetailsOut),
)
def put_details(request: PatientDetailsIn) -> Response[PatientDetailsOut]:
    details = patients.PatientDetails(
        given_name=request.given_name.strip(),
        family_name=request.family_name.strip(),
        birth_date=request.birth_date,
        home_state=request.home_state,
        zone=request.zone,
        phone=request.phone,
    )
    saved = context.patients().update_details(context.caller(router), details, request.version)
    return Response(status_code=200, body=details_out(saved), content_type="application/json")


# --- merges: the health system's ADT A40, which staff review and may undo -------------------------


class MergedRecord(PatientFound):
    mrn: str | None = Field(description="The health system's MRN of the record")


class MergeOut(_Model):
    retired: MergedRecord = Field(description="The record retired: inactive, linked to the survivor")
    survivor: MergedRecord = Field(
        description="The record kept, which the retired one's portal account acts as"
    )
    merged_at: datetime
    appointments_moved: int = Field(description="Appointments the merge moved to the survivor")


class MergeList(_Model):
    merges: list[MergeOut] = Field(description="The merges in force, newest first (at most 50)")


def _merged(p: PatientProfile) -> MergedRecord:
    return MergedRecord(**patient_found(p).model_dump(), mrn=p.mrn)


@router.get(
    "/v1/patients/merges",
    summary="The merges of two patients' records a health system made (staff), to review or undo",
    tags=[PATIENTS],
    **answers(),
)
def list_merges() -> MergeList:
    listed = context.patient_merges().in_force(context.caller(router))
    return MergeList(
        merges=[
            MergeOut(
                retired=_merged(m.retired),
                survivor=_merged(m.survivor),
                merged_at=m.merge.merged_at,
                appointments_moved=len(m.merge.moved),
            )
            for m in listed
        ]
    )


@router.delete(
    "/v1/patients/merges/<patient_id>",
    summary="Undo a merge (staff): the records part, the appointments it moved go back",
    description="`patient_id` is the retired record's. Both records get a new version (the retired "
    "one active again, neither linked to the other), and the appointments the merge moved that are "
    "still the survivor's move back; audited. 409 while a visit among them may be under way.",
    tags=[PATIENTS],
    # A retry after a lost answer, with the same Idempotency-Key, gets the first answer (a 204),
    # not the 404 its own success made true.
    middlewares=[idempotent.by_record()],
    **answers(404, 409, ok=204, idempotent=True),
)
def undo_merge(patient_id: PatientId) -> Response[None]:
    context.patient_merges().undo(context.caller(router), patient_id)
    return Response(status_code=204)
