"""Chime meeting and media-pipeline events, forwarded from the account's default bus: attendees
joining, leaving and dropping, and meetings ending, move the visit on."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import lifecycle, visits
from telehealth.observability import logger_for, tracer_for

logger = logger_for("chime-events")
tracer = tracer_for("chime-events")


class ForeignEventError(ValueError):
    """An event for another tenant's meeting reached this tenant: the routing is wrong."""


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail", {})
    external = str(detail.get("externalMeetingId", ""))
    if not external.startswith(f"{os.environ['TENANT_ID']}:"):
        raise ForeignEventError("externalMeetingId does not carry this tenant's prefix")
    # ExternalMeetingId is "<tenant>:<visit id>": ids only, safe to log.
    if event.get("detail-type") == "Chime Meeting State Change":
        outcome = visits().on_meeting_event(detail)
    else:
        outcome = lifecycle().on_pipeline_event(detail, os.environ.get("RECORDINGS_BUCKET"))
    logger.info(
        "chime event",
        extra={"event_type": detail.get("eventType"), "external_meeting_id": external, "outcome": outcome},
    )
    return {"handled": detail.get("eventType"), "outcome": outcome}
