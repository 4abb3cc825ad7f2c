"""Subscription notices: the tenant's bus events about appointments and encounters told to the
health systems subscribed (telehealth/application/subscriptions.py), a subscription's handshake
once it is created, and, every minute, heartbeats due and retries due. Each notification leaves
through the subscription-delivery function (the only one on the egress path).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import now, subscription_notices
from telehealth.observability import logger_for, tracer_for

logger = logger_for("subscription-notices")
tracer = tracer_for("subscription-notices")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notices = subscription_notices()
    if event.get("detail-type") == "Scheduled Event" or "detail-type" not in event:
        beats, retried = notices.tick()
        logger.info("subscription tick", extra={"heartbeats": beats, "retries": retried})
        return {"heartbeats": beats, "retries": retried}
    at = datetime.fromisoformat(str(event.get("time") or now().isoformat()).replace("Z", "+00:00"))
    told = notices.on_event(str(event["detail-type"]), event.get("detail") or {}, at)
    logger.info("subscription event", extra={"detail_type": event["detail-type"], "told": told})
    return {"told": told}
