"""Notices to patients from the tenant bus: a note signed or amended means their after-visit
summary is ready (or changed). The notice says so and where to read it, nothing more."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import after_visit
from telehealth.observability import logger_for, tracer_for

logger = logger_for("patient-notices")
tracer = tracer_for("patient-notices")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event["detail"]
    appointment_id = str(detail["appointment_id"])
    told = after_visit().tell_patient(appointment_id, int(detail["revision"]))
    # Ids only: the event's kind and the appointment, never what the summary says.
    logger.info(
        "patient notice",
        extra={"detail_type": event.get("detail-type"), "appointment_id": appointment_id, "told": told},
    )
    return {"appointment_id": appointment_id, "told": told}
