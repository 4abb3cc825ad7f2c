"""Chime meeting and media-pipeline events, forwarded from the account's default bus."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, tracer_for

logger = logger_for("chime-events")
tracer = tracer_for("chime-events")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail", {})
    # ExternalMeetingId is "<tenant>:<visit id>": ids only, safe to log.
    logger.info(
        "chime event",
        extra={"event_type": detail.get("eventType"), "external_meeting_id": detail.get("externalMeetingId")},
    )
    return {"handled": detail.get("eventType")}
