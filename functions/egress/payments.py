"""The payments function: the one function that calls Stripe, on the egress path (deployed twice:
`payments` for the steps that move money, `payment-notices` for Stripe's webhooks alone).

The api asks it by Lambda Invoke (a request of `telehealth.adapters.payments`, ids and amounts
only) and gets a reply of the same module. Nothing that holds PHI runs here: no table, no FHIR
store, no key of the tenant's but the one decrypting its Stripe secret.
"""

from __future__ import annotations

from typing import Any

import stripe as sdk  # the one function that ships Stripe's SDK into its cold start
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import stripe
from telehealth.adapters.payments import (
    SIGNATURE_REFUSED,
    Capture,
    CardOfSetup,
    FindHold,
    Hold,
    NewCustomer,
    Notice,
    PaymentsError,
    PaymentsReply,
    Ping,
    Refund,
    Release,
    Retrieve,
    SetUpCard,
    parse_request,
)
from telehealth.observability import logger_for, tracer_for
from telehealth.ports import SignatureRefusedError

logger = logger_for("payments")
tracer = tracer_for("payments")


# Stripe's error codes that are a refusal of the step itself, not of the request: the caller settles
# the step as refused (and tells the patient), rather than retry it.
REFUSALS = frozenset(
    {
        "charge_expired_for_capture",
        "payment_intent_unexpected_state",
        "authentication_required",
        "resource_missing",  # no such setup or hold: nothing to do, for good
    }
)


def _failed(kind: str, *, retryable: bool, code: str | None = None) -> dict[str, Any]:
    reply = PaymentsReply(ok=False, error=PaymentsError(type=kind, retryable=retryable, code=code))  # type: ignore[arg-type]
    return reply.model_dump(mode="json")


def _perform(request: Any) -> dict[str, str | int]:
    payments = stripe()
    if isinstance(request, Ping):
        payments.ping()
        return {}
    if isinstance(request, Hold):
        return payments.hold(request)
    if isinstance(request, Capture):
        return payments.capture(request)
    if isinstance(request, Release):
        return payments.release(request)
    if isinstance(request, Refund):
        return payments.refund(request)
    if isinstance(request, FindHold):
        return payments.find_hold(request)
    if isinstance(request, NewCustomer):
        return {"customer_id": payments.new_customer(request.idempotency_key)}
    if isinstance(request, SetUpCard):
        return payments.set_up_card(request)
    if isinstance(request, CardOfSetup):
        return payments.card_of_setup(request.setup_id)
    if isinstance(request, Notice):
        return payments.notice(request)
    assert isinstance(request, Retrieve)
    return payments.retrieve(request.intent_id)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _answer(parse_request(event))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def notice_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The payment-notices function: Stripe's webhooks checked and their hold re-read, and
    nothing else (a hold, capture or refund asked of it is refused), so what floods it moves no
    money and takes no capacity from the function that does."""
    request = parse_request(event)
    if not isinstance(request, Notice | Ping):
        logger.error(
            "payment-notices asked for a step", extra={"operation": request.model_dump()["operation"]}
        )
        return _failed("invalid", retryable=False, code="not_a_notice")
    return _answer(request)


def _answer(request: Any) -> dict[str, Any]:
    operation = request.model_dump()["operation"]
    logger.info("payments operation", extra={"operation": operation})
    try:
        result = _perform(request)
    except sdk.SignatureVerificationError:
        # Not Stripe's (or too old to be taken as a fresh one): refused, and said so in the log,
        # which gets neither the body nor the header.
        logger.warning("webhook signature refused")
        return _failed("invalid", retryable=False, code=SIGNATURE_REFUSED)
    except SignatureRefusedError:
        # The tenant's secret holds no signing secret: every webhook is refused until it does.
        logger.error("webhook refused: no webhook signing secret in the tenant's Stripe secret")
        return _failed("invalid", retryable=False, code=SIGNATURE_REFUSED)
    except sdk.CardError as error:
        # The card said no (declined, or it needs the patient to authenticate): final for this
        # step; the code is Stripe's, never the card's details.
        logger.info("payments refused", extra={"operation": operation, "code": error.code})
        return _failed("declined", retryable=False, code=error.code or "card_declined")
    except sdk.InvalidRequestError as error:
        if error.code in REFUSALS:
            logger.info("payments refused", extra={"operation": operation, "code": error.code})
            return _failed("declined", retryable=False, code=error.code)
        # A request Stripe does not take (a key reused with other parameters, a step the hold's
        # state does not allow): the caller's mistake, said as such; never retried blindly.
        logger.warning("payments request refused", extra={"operation": operation, "code": error.code})
        return _failed("invalid", retryable=False, code=error.code)
    except sdk.IdempotencyError as error:
        if error.http_status == 409:  # the same key is being answered right now: try again
            logger.info("payments key in flight", extra={"operation": operation})
            return _failed("unavailable", retryable=True)
        logger.warning("payments idempotency conflict", extra={"operation": operation})
        return _failed("invalid", retryable=False, code="idempotency_error")
    except (sdk.APIConnectionError, sdk.RateLimitError, sdk.APIError):
        # Stripe did not answer, or answered 5xx: the caller may try again, under the same key.
        # Other Stripe errors (a bad key) raise, and the function's error alarm says so.
        logger.warning("stripe unavailable", extra={"operation": operation})
        return _failed("unavailable", retryable=True)
    return PaymentsReply(ok=True, result=result).model_dump(mode="json")
