"""Virtual triage (tenants with `triage` on): a patient's symptom intake, the care team's view of
it, and the medical director's sign-off of the rules.

The intake is asked one question at a time by the API: the portal sends every answer so far, and
hears the next question, or the end. Each answer is held to the red flags before anything else
reads it; one that holds ends the intake with the emergency instruction the patient must be shown.
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
from telehealth.domain.questionnaires import MAX_TEXT

if TYPE_CHECKING:
    from collections.abc import Mapping

    from telehealth.application.triage import RuleSetView, Step
    from telehealth.domain.questionnaires import Item, Questionnaire
    from telehealth.domain.triage import Intake

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

FEATURE = "triage"
_ID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
Answer = bool | int | float | Annotated[str, Field(max_length=MAX_TEXT)] | None


class OptionOut(_Model):
    code: str
    display: str


class QuestionOut(_Model):
    link_id: str = Field(description="The Questionnaire item's linkId: the answer's key")
    text: str
    type: Literal["boolean", "integer", "decimal", "choice", "text"]
    required: bool = Field(description="False: it may be answered null (left blank)")
    options: list[OptionOut]
    minimum: float | None
    maximum: float | None
    help: str


class EmergencyOut(_Model):
    call: Literal["911", "988"]
    instruction: str = Field(description="What the patient is shown, word for word (and was kept)")
    shown_at: datetime


class OfferOut(_Model):
    specialty: str = Field(description="The kind of care to book")
    start: datetime = Field(alias="from", description="A slot should start from this instant...")
    end: datetime = Field(alias="to", description="...to this one")
    state: str | None = Field(description="Where the slots were looked for (the patient's home state)")
    soonest: SlotOut | None = Field(
        description="'now' only: the soonest slot within the clinic's limit (null: none; see advice)"
    )


class OutcomeOut(_Model):
    disposition: Literal["emergency", "now", "today", "within-days", "asynchronous", "self-care"]
    why: str = Field(description="What the patient reads: the reason for where they are sent")
    advice: str | None = Field(description="Self-care's advice, or what to do when no slot is free")
    offer: OfferOut | None


class StepOut(_Model):
    intake_id: str
    status: Literal["in-progress", "completed", "stopped"]
    answers: dict[str, Any] = Field(description="The answers in force, by linkId")
    question: QuestionOut | None = Field(description="The next question (null once it has ended)")
    emergency: EmergencyOut | None = Field(description="A red flag held: show this, nothing else")
    outcome: OutcomeOut | None


class SymptomCheckOut(_Model):
    available: bool = Field(description="False until the clinic's medical director signs the rules off")
    rule_set: str
    questionnaire: str = Field(description="The Questionnaire's canonical url|version")


class AnswersIn(_Model):
    answers: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")], Answer] = Field(
        max_length=100, description="Every answer so far, by linkId (null: left blank)"
    )


class FreeTextFindingOut(_Model):
    text: str
    category: str
    negated: bool
    code: str | None = Field(description="SNOMED CT, where one was inferred")
    display: str | None
    score: float


class AnsweredOut(_Model):
    link_id: str
    question: str
    answer: Any


class SymptomCheckRecordOut(_Model):
    intake_id: str
    status: Literal["completed", "stopped"]
    started_at: datetime
    finished_at: datetime | None
    disposition: str | None
    why: str
    emergency: EmergencyOut | None
    answers: list[AnsweredOut] = Field(description="In the questionnaire's order")
    rule_set: str
    questionnaire: str
    findings: list[FreeTextFindingOut] | None = Field(
        description="What NLP read in the free text, for the clinician (null: not read, or none to read); "
        "never used to rule anything out"
    )


class SymptomCheckRecordsOut(_Model):
    intakes: list[SymptomCheckRecordOut] = Field(description="Newest first")


class EmergencyShownOut(_Model):
    intake_id: str
    patient_id: str
    patient: PatientFound | None
    flag: str = Field(description="The red flag that held (the rule's code)")
    emergency: EmergencyOut


class EmergenciesOut(_Model):
    emergencies: list[EmergencyShownOut] = Field(description="Newest first (the last 50)")


class RuleOut(_Model):
    code: str
    call: Literal["911", "988"]
    instruction: str
    source: str


class SignOffOut(_Model):
    version: str
    signed_by: str = Field(description="The medical director's provider id")
    at: datetime


class RulesOut(_Model):
    version: str
    rules: list[RuleOut] = Field(description="The red flags, in the order they are held")
    sign_offs: list[SignOffOut]
    medical_director: str | None
    enabled: bool


def _emergency(intake: Intake) -> EmergencyOut | None:
    shown = intake.emergency
    return (
        EmergencyOut(call=shown.call.value, instruction=shown.instruction, shown_at=shown.at)
        if shown
        else None
    )


def _step_out(step: Step) -> StepOut:
    intake, question, offer = step.intake, step.question, step.offer
    outcome = None
    if intake.disposition is not None:
        outcome = OutcomeOut(
            disposition=intake.disposition.value,
            why=intake.why,
            advice=step.advice,
            offer=OfferOut.model_validate(
                {
                    "specialty": offer.specialty,
                    "from": offer.start,
                    "to": offer.end,
                    "state": offer.state,
                    "soonest": slot_out(offer.soonest, ZoneInfo("UTC")) if offer.soonest else None,
                }
            )
            if offer
            else None,
        )
    return StepOut(
        intake_id=intake.intake_id,
        status=intake.status.value,
        answers=intake.answers,
        question=question_out(question) if question else None,
        emergency=_emergency(intake),
        outcome=outcome,
    )


def question_out(item: Item) -> QuestionOut:
    """A questionnaire's question as the API shows it (the symptom check's, a case of photos')."""
    return QuestionOut(
        link_id=item.link_id,
        text=item.text,
        type=item.type.value,
        required=item.required,
        options=[OptionOut(code=o.code, display=o.display) for o in item.options],
        minimum=item.minimum,
        maximum=item.maximum,
        help=item.help,
    )


def answered_out(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> list[AnsweredOut]:
    """Each answer beside its question, in the questionnaire's order (for the care team)."""
    return [
        AnsweredOut(link_id=item.link_id, question=item.text, answer=answers[item.link_id])
        for item in questionnaire.items
        if item.link_id in answers
    ]


def _record_out(intake: Intake) -> SymptomCheckRecordOut:
    questionnaire = context.triage().questionnaire
    return SymptomCheckRecordOut(
        intake_id=intake.intake_id,
        status=intake.status.value,  # type: ignore[arg-type]  # ended intakes only
        started_at=intake.started_at,
        finished_at=intake.finished_at,
        disposition=intake.disposition.value if intake.disposition else None,
        why=intake.why,
        emergency=_emergency(intake),
        answers=answered_out(questionnaire, intake.answers),
        rule_set=intake.rule_set,
        questionnaire=intake.questionnaire,
        findings=[
            FreeTextFindingOut(
                text=f.text,
                category=f.category,
                negated=f.negated,
                code=f.code,
                display=f.display,
                score=f.score,
            )
            for f in intake.findings
        ]
        if intake.findings is not None
        else None,
    )


def _rules_out(view: RuleSetView) -> RulesOut:
    return RulesOut(
        version=view.rule_set.version,
        rules=[
            RuleOut(code=f.code, call=f.call.value, instruction=f.instruction, source=f.source)
            for f in view.rule_set.red_flags
        ],
        sign_offs=[SignOffOut(version=s.version, signed_by=s.signed_by, at=s.at) for s in view.sign_offs],
        medical_director=view.medical_director,
        enabled=view.enabled,
    )


def json_response(status: int, body: _Model) -> Response[str]:
    return Response(
        status_code=status, content_type="application/json", body=body.model_dump_json(by_alias=True)
    )


# --- the patient -----------------------------------------------------------------------------------


@router.get(
    "/v1/me/triage/availability",
    summary="Whether the symptom check is open (the rules signed off)",
    tags=[TRIAGE],
    **answers(feature=FEATURE),
)
def availability() -> SymptomCheckOut:
    from telehealth.domain.appointments import Actor

    context.caller(router).require(Actor.PATIENT)
    desk = context.triage()
    return SymptomCheckOut(
        available=desk.available(), rule_set=desk.rule_set.version, questionnaire=desk.questionnaire.canonical
    )


@router.post(
    "/v1/me/triage/intakes",
    summary="Start a symptom check: its first question",
    tags=[TRIAGE],
    middlewares=[idempotent.in_transaction()],
    **answers(409, ok=201, model=StepOut, idempotent=True, feature=FEATURE),
)
def start_intake() -> Response[str]:
    def answer(step: Step) -> Response[str]:
        return json_response(201, _step_out(step))

    return answer(context.triage().start(context.caller(router), context.idempotency(answer)))


@router.get(
    "/v1/me/triage/intakes/<intake_id>",
    summary="One of my symptom checks: where it stands",
    tags=[TRIAGE],
    **answers(404, model=StepOut, feature=FEATURE),
)
def read_intake(intake_id: Annotated[str, Path(pattern=_ID)]) -> Response[str]:
    return json_response(200, _step_out(context.triage().view(context.caller(router), intake_id)))


@router.put(
    "/v1/me/triage/intakes/<intake_id>/answers",
    summary="Answer: every answer so far; the next question, the emergency instruction, or where to go",
    description="The answers are held to the red flags first: one that holds ends the check with "
    "`emergency` (show it, nothing else). Otherwise the next question the answers call for, or, "
    "with none left, the `outcome`: how soon and where, and why. An answer to a question the "
    "others do not call for is dropped. The same answers sent again after the end answer the same; "
    "other answers then are a 409.",
    tags=[TRIAGE],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, model=StepOut, idempotent=True, feature=FEATURE),
)
def give_answers(intake_id: Annotated[str, Path(pattern=_ID)], request: AnswersIn) -> Response[str]:
    step = context.triage().answer(context.caller(router), intake_id, request.answers)
    return json_response(200, _step_out(step))


# --- the care team --------------------------------------------------------------------------------


@router.get(
    "/v1/triage/patients/<patient_id>/intakes",
    summary="A patient's symptom checks: the answers, how each ended, what NLP read in the free text",
    tags=[TRIAGE],
    **answers(feature=FEATURE),
)
def patient_intakes(
    patient_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")],
) -> SymptomCheckRecordsOut:
    found = context.triage().of_patient(context.caller(router), patient_id)
    return SymptomCheckRecordsOut(intakes=[_record_out(i) for i in found])


@router.get(
    "/v1/triage/emergencies",
    summary="Symptom checks a red flag ended, newest first: the on-call's view",
    tags=[TRIAGE],
    **answers(feature=FEATURE),
)
def emergencies() -> EmergenciesOut:
    found = context.triage().emergencies(context.caller(router))
    return EmergenciesOut(
        emergencies=[
            EmergencyShownOut(
                intake_id=intake.intake_id,
                patient_id=intake.patient_id,
                patient=patient_found(profile) if profile else None,
                flag=intake.emergency.flag if intake.emergency else "",
                emergency=_emergency(intake),  # type: ignore[arg-type]  # a red flag ended each
            )
            for intake, profile in found
        ]
    )


@router.get(
    "/v1/triage/rules",
    summary="The red-flag rules the platform runs, with their sources, and the clinic's sign-offs",
    tags=[TRIAGE],
    **answers(feature=FEATURE),
)
def read_rules() -> RulesOut:
    return _rules_out(context.triage().rules(context.caller(router)))


@router.post(
    "/v1/triage/rules/<version>/sign-off",
    summary="Sign the rule set's version off (the clinic's medical director): the symptom check opens",
    tags=[TRIAGE],
    middlewares=[idempotent.by_record()],
    **answers(404, 409, idempotent=True, feature=FEATURE),
)
def sign_off(
    version: Annotated[str, Path(pattern=r"^[0-9]{4}\.[0-9]{1,3}(\+[a-z0-9-]{1,30}\.[0-9]{1,4})?$")],
) -> RulesOut:
    return _rules_out(context.triage().sign_off(context.caller(router), version))
