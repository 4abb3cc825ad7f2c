"""Bulk exports' runner: on an export asked for, and every minute, moves the tenant's exports on
(telehealth/application/exports.py): the running one followed to its end and its files indexed,
then the next started when HealthLake runs none in the account.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import export_runner
from telehealth.observability import logger_for, tracer_for

logger = logger_for("bulk-exports")
tracer = tracer_for("bulk-exports")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    states = export_runner().advance()
    logger.info("exports advanced", extra={"states": states})
    return {"states": states}
