"""A patient's insurance: the payers the clinic can check, the coverage the patient records, and
what the payer said of it. Only tenants with payments on have these routes (infra/topology.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from functions.api import context, idempotent
from functions.api.contract import PAYMENTS, answers
from functions.api.routes.patients import Name, PatientId, _born, _checked
from functions.api.routes.scheduling import _Model
from telehealth.application.callers import NotFoundError
from telehealth.domain.coverage import Coverage, Person, Relationship

if TYPE_CHECKING:
    from telehealth.domain.coverage import PatientCoverage

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


class PayerOut(_Model):
    payer_id: str
    name: str


class PayerList(_Model):
    payers: list[PayerOut]


class PersonIn(_Model):
    given_name: Name
    family_name: Name
    birth_date: Annotated[date, _checked(_born)]


class CoverageIn(_Model):
    payer_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{2,20}$")] = Field(description="From GET /v1/payers")
    member_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{2,40}$")] = Field(description="As on the card")
    group_number: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,40}$")] | None = None
    relationship: Literal["self", "spouse", "child", "other"] = Field(
        default="self", description="The patient's relationship to the policyholder"
    )
    subscriber: PersonIn | None = Field(
        default=None, description="The policyholder, unless it is the patient"
    )


class RejectionOut(_Model):
    code: str = Field(description="The payer's AAA reason")
    words: str


class CheckOut(_Model):
    status: Literal["active", "inactive", "rejected", "unavailable"]
    checked_at: datetime
    service_type: str = Field(description="The clinic's kind of visit it was checked for")
    plan_name: str | None
    plan_begin: date | None
    plan_end: date | None
    copay_minor: int | None = Field(description="In network, per visit, in cents")
    coinsurance_percent: float | None
    deductible_remaining_minor: int | None
    out_of_pocket_remaining_minor: int | None
    rejections: list[RejectionOut]


class CoverageOut(_Model):
    payer_id: str
    payer_name: str
    member_id: str
    group_number: str | None
    relationship: str
    status_words: str = Field(
        description="The last check in words: the patient's (their own), the desk's (a patient's)"
    )
    check: CheckOut | None = Field(description="The payer's last answer (null: being checked)")
    version: int


def coverage_out(found: PatientCoverage, *, for_desk: bool = False) -> CoverageOut:
    from telehealth.application.coverage import status_words

    c, check = found.coverage, found.check
    answer = check.eligibility if check else None
    return CoverageOut(
        payer_id=c.payer_id,
        payer_name=found.payer_name,
        member_id=c.member_id,
        group_number=c.group_number,
        relationship=c.relationship.value,
        status_words=status_words(found, for_desk=for_desk),
        check=CheckOut(
            status=answer.status.value,
            checked_at=check.checked_at,
            service_type=check.service_type,
            plan_name=answer.plan_name,
            plan_begin=answer.plan_begin,
            plan_end=answer.plan_end,
            copay_minor=answer.copay_minor,
            coinsurance_percent=float(answer.coinsurance_percent)
            if answer.coinsurance_percent is not None
            else None,
            deductible_remaining_minor=answer.deductible_remaining_minor,
            out_of_pocket_remaining_minor=answer.out_of_pocket_remaining_minor,
            rejections=[RejectionOut(code=r.code, words=r.words) for r in answer.rejections],
        )
        if check and answer
        else None,
        version=found.version,
    )


@router.get(
    "/v1/payers",
    summary="The insurers whose coverage the clinic can check",
    tags=[PAYMENTS],
    **answers(503, feature="payments"),
)
def payers() -> PayerList:
    listed = context.insurance().payers(context.caller(router))
    return PayerList(payers=[PayerOut(payer_id=p.payer_id, name=p.name) for p in listed])


@router.get(
    "/v1/me/coverage",
    summary="Your insurance and what your insurer said of it (patients)",
    tags=[PAYMENTS],
    **answers(404, feature="payments"),
)
def my_coverage() -> CoverageOut:
    found = context.insurance().view(context.caller(router))
    if found is None:
        raise NotFoundError("no insurance on file")
    return coverage_out(found)


@router.get(
    "/v1/patients/<patient_id>/coverage",
    summary="A patient's insurance and what their insurer said of it (the front desk)",
    tags=[PAYMENTS],
    **answers(404, feature="payments"),
)
def patient_coverage(patient_id: PatientId) -> CoverageOut:
    found = context.insurance().view(context.caller(router), patient_id)
    if found is None:
        raise NotFoundError("no insurance on file")
    return coverage_out(found, for_desk=True)


@router.put(
    "/v1/patients/<patient_id>/coverage",
    summary="Record a patient's insurance (the front desk): checked with the insurer next",
    tags=[PAYMENTS],
    # A retry gets the first answer rather than recording (and checking) the insurance again.
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, 503, idempotent=True, feature="payments"),
)
def record_patient_coverage(patient_id: PatientId, request: CoverageIn) -> CoverageOut:
    recorded = context.insurance().record(context.caller(router), _coverage(request), patient_id)
    return coverage_out(recorded, for_desk=True)


def _coverage(request: CoverageIn) -> Coverage:
    holder = request.subscriber
    return Coverage(
        request.payer_id,
        request.member_id,
        Relationship(request.relationship),
        request.group_number,
        Person(holder.given_name, holder.family_name, holder.birth_date) if holder else None,
    )


@router.put(
    "/v1/me/coverage",
    summary="Record your insurance (patients): checked with your insurer next, in the background",
    tags=[PAYMENTS],
    middlewares=[idempotent.by_record()],
    **answers(409, 422, 503, idempotent=True, feature="payments"),
)
def record_coverage(request: CoverageIn) -> CoverageOut:
    return coverage_out(context.insurance().record(context.caller(router), _coverage(request)))
