"""Virtual triage's notices, each saying where to look and never whose or why (e-mail leaves the
platform's encryption):

- a patient shown an emergency instruction by the symptom check (`Triage.EmergencyShown`, an
  EventBridge event): each on-call provider is paged. A retried event pages again: a page twice is
  better than none.
- a case of photos' deadline timer (the photo-case-deadline state machine's step, given the case's
  id): it escalates a case nearing or past its deadline, paging the on-call, and answers whether
  to look again and when (an instant; the machine's Wait state waits for it).
- a case answered (`PhotoCase.Answered`): the patient is told the answer is there, once.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import answer_notice, case_deadlines, pager, triage
from functions.workflow import timer_step
from telehealth.observability import logger_for, tracer_for

logger = logger_for("triage-notices")
tracer = tracer_for("triage-notices")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "detail" not in event:
        step = case_deadlines().step(str(event["case_id"]))
        # The case's id and how far it was escalated: whom it paged is the settings', not the history's.
        level = step.level.value if step.level else None
        logger.info("deadline step", extra={"case_id": event["case_id"], "escalated": level})
        return timer_step(step.next_at)
    detail = event["detail"]
    if event.get("detail-type") == "PhotoCase.Answered":
        case_id = str(detail["case_id"])
        told = answer_notice().tell_patient(case_id)
        logger.info("patient told of the answer", extra={"case_id": case_id, "told": told})
        return {"case_id": case_id, "told": told}
    intake_id, patient_id = str(detail["intake_id"]), str(detail["patient_id"])
    paged = triage().page_on_call(patient_id, intake_id, pager())
    # Ids only: the intake and whom it paged, never the answers or the flag.
    logger.info("on-call paged", extra={"intake_id": intake_id, "paged": paged})
    return {"intake_id": intake_id, "paged": paged}
