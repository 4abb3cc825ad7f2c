"""Remote monitoring's hourly sweep: each enrolled patient's days without a reading, an alert of
their own (telehealth/application/monitoring.py, `sweep_silence`). Counts only in its log."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import monitoring
from telehealth.observability import logger_for, tracer_for

logger = logger_for("monitoring-sweep")
tracer = tracer_for("monitoring-sweep")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raised = monitoring().sweep_silence()
    logger.info("silence swept", extra={"raised": raised})
    return {"raised": raised}
