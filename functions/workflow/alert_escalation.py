"""The alert-escalation state machine's step: Step Functions passes the alert's ids, and gets back
whether to look again and when (an instant; the machine's Wait state waits for it)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import alert_escalation
from functions.workflow import timer_step
from telehealth.observability import logger_for, tracer_for

logger = logger_for("alert-escalation")
tracer = tracer_for("alert-escalation")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = alert_escalation().step(str(event["patient_id"]), str(event["alert_id"]))
    # Ids and a level only: whom it went to is the alert's (the table's), not the history's.
    logger.info("escalation step", extra={"alert_id": event["alert_id"], "handed_on": step.to is not None})
    return timer_step(step.next_at)
