"""The subscription-delivery function: the one function that reaches health systems' rest-hook
endpoints, on the egress path (the DNS firewall lets it resolve the tenant's subscriber domains
only). The api asks it for a subscription's signing secret (made here, sealed under a key only this
function may use); the notices function asks it to POST one signed notification. It keeps nothing,
and logs the outcome's kind only (a notification names records by id, but ids are not for logs).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.adapters.subscriber_delivery import SecretRefusedError, SubscriberHttp
from telehealth.observability import logger_for, tracer_for

logger = logger_for("subscription-delivery")
tracer = tracer_for("subscription-delivery")


@cache
def subscribers() -> SubscriberHttp:
    return SubscriberHttp()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    operation = event.get("operation")
    subscription_id = str(event.get("subscription_id", ""))
    if operation == "issue":
        secret, sealed = subscribers().issue(subscription_id)
        return {"secret": secret, "sealed": sealed}
    if operation != "deliver":
        raise ValueError("unknown operation")
    try:
        outcome = subscribers().deliver(
            subscription_id, str(event["endpoint"]), str(event["sealed"]), event["body"]
        )
    except SecretRefusedError:
        logger.warning("subscription secret refused")
        return {"ok": False, "reason": "The subscription's signing secret could not be opened."}
    logger.info("subscription notification", extra={"delivered": outcome.ok})
    return {"ok": outcome.ok, "reason": outcome.reason}
