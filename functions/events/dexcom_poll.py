"""Remote monitoring's Dexcom poll (every 15 minutes): each linked patient's glucose values since
the last poll, read through the dexcom function and handed to the readings queue
(telehealth/application/dexcom.py). Counts only in its log."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import dexcom_poller
from telehealth.observability import logger_for, tracer_for

logger = logger_for("dexcom-poll")
tracer = tracer_for("dexcom-poll")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from dataclasses import asdict

    report = asdict(dexcom_poller().poll())
    logger.info("dexcom polled", extra=report)
    return report
