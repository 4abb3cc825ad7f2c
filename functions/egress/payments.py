"""The payments function: the one function that calls Stripe, on the egress path.

The api asks it by Lambda Invoke (a request of `telehealth.adapters.payments`, ids and amounts
only) and gets a reply of the same module. Nothing that holds PHI runs here: no table, no FHIR
store, no key of the tenant's but the one decrypting its Stripe secret.
"""

from __future__ import annotations

from typing import Any

import stripe as sdk  # the one function that ships Stripe's SDK into its cold start
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import stripe
from telehealth.adapters.payments import PaymentsError, PaymentsReply, Ping, parse_request
from telehealth.observability import logger_for, tracer_for

logger = logger_for("payments")
tracer = tracer_for("payments")


def _unavailable() -> dict[str, Any]:
    reply = PaymentsReply(ok=False, error=PaymentsError(type="unavailable", retryable=True))
    return reply.model_dump(mode="json")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event)
    logger.info("payments operation", extra={"operation": type(request).__name__.lower()})
    try:
        if isinstance(request, Ping):
            stripe().ping()
    except (sdk.APIConnectionError, sdk.RateLimitError, sdk.APIError):
        # Stripe did not answer, or answered 5xx: the caller may try again. Other Stripe errors
        # (a bad key) raise, and the function's error alarm says so.
        logger.warning("stripe unavailable")
        return _unavailable()
    return PaymentsReply(ok=True).model_dump(mode="json")
