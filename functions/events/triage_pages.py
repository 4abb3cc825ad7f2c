"""Virtual triage: a patient shown an emergency instruction by the symptom check pages the clinic's
on-call providers (an e-mail that says where to look, never whose or why). A retried event pages
again: a page twice is better than none."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import pager, triage
from telehealth.observability import logger_for, tracer_for

logger = logger_for("triage-pages")
tracer = tracer_for("triage-pages")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event["detail"]
    intake_id, patient_id = str(detail["intake_id"]), str(detail["patient_id"])
    paged = triage().page_on_call(patient_id, intake_id, pager())
    # Ids only: the intake and whom it paged, never the answers or the flag.
    logger.info("on-call paged", extra={"intake_id": intake_id, "paged": paged})
    return {"intake_id": intake_id, "paged": paged}
