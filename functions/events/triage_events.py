"""Virtual triage's free text, from the tenant bus: a check that ended with words of the patient's
own has them read by Comprehend Medical, for the clinician (never to decide anything)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import free_text_reader, triage
from telehealth.observability import logger_for, tracer_for

logger = logger_for("triage-events")
tracer = tracer_for("triage-events")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event["detail"]
    intake_id, patient_id = str(detail["intake_id"]), str(detail["patient_id"])
    if not detail.get("free_text"):
        return {"intake_id": intake_id, "findings": None}
    # An outage raises: Lambda tries the event again, then leaves it in the rule's dead-letter queue.
    found = triage().read_free_text(patient_id, intake_id, free_text_reader())
    logger.info("free text read", extra={"intake_id": intake_id, "findings": found})  # a count only
    return {"intake_id": intake_id, "findings": found}
