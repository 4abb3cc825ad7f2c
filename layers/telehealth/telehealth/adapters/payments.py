"""Copays through Stripe, from the one function that may reach it.

Stripe signs no BAA, so it is called from the `payments` function alone, on the egress path, and
what crosses to it is opaque ids and amounts (integer minor units with an ISO currency), never a
name, a reason or anything else of the visit. The api asks that function by Lambda Invoke
(`PaymentsFunction`); the request and the reply are the models below, strict (`extra="forbid"`)
so that nothing else can ride along: a step on a visit's payment (hold, capture, release, refund)
and a re-read of a hold, each a request model here and a case in the function, with one reply.

`STRIPE_API_BASE` points the SDK at a stand-in (localstripe locally), as `AWS_ENDPOINT_URL` points
the AWS SDK at the emulator; the key is read by the caller from Secrets Manager.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from telehealth.domain.payments import CHARGE_DESCRIPTION, HoldState, Step, VisitPayment, charge_metadata
from telehealth.ports import (
    CardSetup,
    PaymentRefusedError,
    PaymentsUnavailableError,
    ProcessorNotice,
    SignatureRefusedError,
)

# Stripe's events are a few kilobytes; a body far past that is not one.
NOTICE_MAX_BYTES = 256 * 1024
# What a notice's signature may be older than (Stripe's libraries' default tolerance): a replay of
# a captured request after that is refused.
NOTICE_TOLERANCE_S = 300
SIGNATURE_REFUSED = "signature_refused"

# Ids that cross to Stripe and back: Stripe's (`pi_...`, `cus_...`) and the booking's (a ULID).
_OPAQUE = r"^[A-Za-z0-9_-]{1,255}$"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ping(_Wire):
    """Is Stripe reachable with the tenant's key? Reads no customer."""

    operation: Literal["ping"] = "ping"


class _Step(_Wire):
    """A step on a visit's payment: sent under its key (telehealth/domain/payments.py), with the
    booking's id and the step's sequence as the charge's only metadata."""

    appointment_id: str = Field(pattern=_OPAQUE)
    sequence: int = Field(ge=1)
    idempotency_key: str = Field(max_length=255)


class Hold(_Step):
    """Authorize the visit's amount on the saved card (manual capture)."""

    operation: Literal["hold"] = "hold"
    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    customer_id: str = Field(pattern=_OPAQUE)
    payment_method_id: str = Field(pattern=_OPAQUE)
    # True when the clinic holds it later (the patient is not there to authenticate).
    off_session: bool = False


class Capture(_Step):
    operation: Literal["capture"] = "capture"
    intent_id: str = Field(pattern=_OPAQUE)
    amount_minor: int = Field(gt=0)


class Release(_Step):
    operation: Literal["release"] = "release"
    intent_id: str = Field(pattern=_OPAQUE)


class Refund(_Step):
    operation: Literal["refund"] = "refund"
    intent_id: str = Field(pattern=_OPAQUE)
    amount_minor: int = Field(gt=0)


class Retrieve(_Wire):
    """Re-read a hold: what a retry checks before sending a step again."""

    operation: Literal["retrieve"] = "retrieve"
    intent_id: str = Field(pattern=_OPAQUE)


class FindHold(_Wire):
    """The hold a visit's hold step made, by its metadata among the customer's: what a retry of
    that step looks for once its key may be past Stripe's day."""

    operation: Literal["find-hold"] = "find-hold"
    customer_id: str = Field(pattern=_OPAQUE)
    appointment_id: str = Field(pattern=_OPAQUE)
    sequence: int = Field(ge=1)


class NewCustomer(_Wire):
    """A Stripe customer for a patient's saved cards: Stripe is told nothing of them."""

    operation: Literal["new-customer"] = "new-customer"
    idempotency_key: str = Field(max_length=255)


class SetUpCard(_Wire):
    """A SetupIntent for the portal's card form (Stripe.js confirms it, so card numbers never
    touch the platform): the patient's consent to be charged later (`usage=off_session`)."""

    operation: Literal["set-up-card"] = "set-up-card"
    customer_id: str = Field(pattern=_OPAQUE)
    idempotency_key: str = Field(max_length=255)


class CardOfSetup(_Wire):
    """What a SetupIntent came to: its status, customer and the card it saved."""

    operation: Literal["card-of-setup"] = "card-of-setup"
    setup_id: str = Field(pattern=_OPAQUE)


class Notice(_Wire):
    """A webhook as it reached the api: the raw body and its `Stripe-Signature`, to be verified
    with the tenant's signing secret (which only this function reads) and answered with the hold
    it concerns, re-read."""

    operation: Literal["notice"] = "notice"
    payload: str = Field(max_length=NOTICE_MAX_BYTES)
    signature: str = Field(max_length=2048)


# Every request the payments function takes, by its `operation`.
REQUESTS: dict[str, type[_Wire]] = {
    model.model_fields["operation"].default: model
    for model in (
        Ping,
        Hold,
        Capture,
        Release,
        Refund,
        Retrieve,
        FindHold,
        NewCustomer,
        SetUpCard,
        CardOfSetup,
        Notice,
    )
}


class PaymentsError(_Wire):
    type: Literal["unavailable", "declined", "invalid"]
    retryable: bool
    code: str | None = Field(
        default=None, pattern=_OPAQUE
    )  # Stripe's: card_declined, charge_expired_for_capture


class PaymentsReply(_Wire):
    ok: bool
    # What an operation returns: Stripe's ids and amounts, nothing else (empty for a ping).
    result: dict[str, str | int] = {}
    error: PaymentsError | None = None


class UnknownOperationError(ValueError):
    """The caller asked for an operation this function does not have: a deployment mismatch."""


def parse_request(event: Any) -> _Wire:
    operation = event.get("operation") if isinstance(event, dict) else None
    model = REQUESTS.get(operation) if isinstance(operation, str) else None
    if model is None:
        raise UnknownOperationError(f"no such payments operation: {operation!r}")
    return model.model_validate(event)


def hold_result(intent: Any) -> dict[str, str | int]:
    """A PaymentIntent as the reply carries it: ids, amounts, status and the hold's deadline."""
    found: dict[str, Any] = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
    charge = found.get("latest_charge")
    charge = charge if isinstance(charge, dict) else {}
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    return {
        "intent_id": str(found["id"]),
        "status": str(found["status"]),
        "amount_capturable": int(found.get("amount_capturable") or 0),
        "amount_received": int(found.get("amount_received") or 0),
        "capture_before": int(card.get("capture_before") or 0),
        "refunded_minor": int(charge.get("amount_refunded") or 0),
    }


def hold_state(result: dict[str, str | int]) -> HoldState:
    before = int(result.get("capture_before", 0))
    return HoldState(
        intent_id=str(result["intent_id"]),
        status=str(result["status"]),
        amount_capturable=int(result["amount_capturable"]),
        amount_received=int(result["amount_received"]),
        capture_before=datetime.fromtimestamp(before, UTC) if before else None,
        refunded_minor=int(result.get("refunded_minor", 0)),
    )


class PaymentsFunction:
    """The api's side: asks the tenant's payments function (Lambda Invoke through the VPC's Lambda
    endpoint) rather than calling Stripe from a function that holds PHI."""

    def __init__(self, function_name: str | None = None, *, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.function_name = function_name or os.environ["PAYMENTS_FUNCTION"]
        self._lambda = client or boto3.client(
            "lambda",
            config=Config(
                connect_timeout=2, read_timeout=15, retries={"mode": "standard", "max_attempts": 2}
            ),
        )

    def _ask(self, request: _Wire) -> PaymentsReply:
        response = self._lambda.invoke(
            FunctionName=self.function_name, Payload=json.dumps(request.model_dump(mode="json")).encode()
        )
        body = response["Payload"].read()
        if response.get("FunctionError"):
            # Lambda's error document: its type says what failed (the function holds no PHI).
            kind = json.loads(body).get("errorType", "unknown") if body.startswith(b"{") else "unknown"
            raise PaymentsUnavailableError(f"{self.function_name} failed: {kind}")
        reply = PaymentsReply.model_validate_json(body)
        if not reply.ok:
            # Declined, or a request Stripe will never take (an amount too large, a key reused
            # with other parameters): final for the step, which is settled as refused rather
            # than sent again for ever. Only "unavailable" is worth another try.
            if reply.error is not None and reply.error.type in ("declined", "invalid"):
                raise PaymentRefusedError(reply.error.code or reply.error.type)
            raise PaymentsUnavailableError(reply.error.type if reply.error else "not ok")
        return reply

    def ping(self) -> None:
        self._ask(Ping())

    def send(self, step: Hold | Capture | Release | Refund) -> HoldState:
        """A step on a visit's payment; the hold's state after it."""
        return hold_state(self._ask(step).result)

    def carry_out(self, payment: VisitPayment) -> HoldState:
        """The payment's pending step, as its request (ids, amounts and the step's key)."""
        return self.send(step_request(payment))

    def retrieve(self, intent_id: str) -> HoldState:
        return hold_state(self._ask(Retrieve(intent_id=intent_id)).result)

    def new_customer(self, idempotency_key: str) -> str:
        return str(self._ask(NewCustomer(idempotency_key=idempotency_key)).result["customer_id"])

    def set_up_card(self, customer_id: str, idempotency_key: str) -> CardSetup:
        return _card_setup(
            self._ask(SetUpCard(customer_id=customer_id, idempotency_key=idempotency_key)).result
        )

    def card_of_setup(self, setup_id: str) -> CardSetup:
        return _card_setup(self._ask(CardOfSetup(setup_id=setup_id)).result)

    def verified_notice(self, payload: str, signature: str) -> ProcessorNotice:
        try:
            result = self._ask(Notice(payload=payload, signature=signature)).result
        except PaymentRefusedError as refused:
            if refused.code == SIGNATURE_REFUSED:
                raise SignatureRefusedError(SIGNATURE_REFUSED) from refused
            raise
        return ProcessorNotice(
            event_id=str(result["event_id"]),
            kind=str(result["kind"]),
            appointment_id=str(result["appointment_id"]) if result.get("appointment_id") else None,
            hold=hold_state(result) if "intent_id" in result else None,
        )

    def find_hold(self, payment: VisitPayment) -> HoldState | None:
        pending = payment.pending
        if pending is None or payment.customer_id is None:
            return None
        found = self._ask(
            FindHold(
                customer_id=payment.customer_id,
                appointment_id=payment.appointment_id,
                sequence=pending.sequence,
            )
        ).result
        return hold_state(found) if found else None


def _card_setup(result: Mapping[str, str | int]) -> CardSetup:
    return CardSetup(
        setup_id=str(result["setup_id"]),
        status=str(result["status"]),
        customer_id=str(result["customer_id"]),
        payment_method_id=str(result.get("payment_method_id") or "") or None,
        client_secret=str(result.get("client_secret") or "") or None,
    )


def step_request(payment: VisitPayment) -> Hold | Capture | Release | Refund:
    """The wire request for the payment's pending step."""
    pending = payment.pending
    if pending is None:
        raise ValueError("no step is pending")
    visit, sequence, key = payment.appointment_id, pending.sequence, pending.idempotency_key
    if pending.step is Step.HOLD:
        if payment.customer_id is None or payment.payment_method_id is None:
            raise ValueError("a hold needs the saved card")
        return Hold(
            appointment_id=visit,
            sequence=sequence,
            idempotency_key=key,
            amount_minor=pending.amount_minor,
            currency=payment.currency,
            customer_id=payment.customer_id,
            payment_method_id=payment.payment_method_id,
            off_session=pending.off_session,
        )
    if payment.intent_id is None:
        raise ValueError("no hold to act on")
    intent, amount = payment.intent_id, pending.amount_minor
    if pending.step is Step.CAPTURE:
        return Capture(
            appointment_id=visit,
            sequence=sequence,
            idempotency_key=key,
            intent_id=intent,
            amount_minor=amount,
        )
    if pending.step is Step.RELEASE:
        return Release(appointment_id=visit, sequence=sequence, idempotency_key=key, intent_id=intent)
    return Refund(
        appointment_id=visit, sequence=sequence, idempotency_key=key, intent_id=intent, amount_minor=amount
    )


class StripePayments:
    """The payments function's side: Stripe's SDK, with the tenant's key. Every charge says only
    `CHARGE_DESCRIPTION` and carries allow-listed, opaque metadata."""

    def __init__(
        self, api_key: str, api_base: str | None = None, *, webhook_secret: str | None = None
    ) -> None:
        import stripe

        self.webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base or os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")},
            max_network_retries=2,
        )

    def new_customer(self, idempotency_key: str) -> str:
        """A customer to save a patient's card under: Stripe is told nothing of them (no name, no
        e-mail, no metadata); the clinic's table links the two."""
        return str(self._client.v1.customers.create(options={"idempotency_key": idempotency_key}).id)

    def set_up_card(self, request: SetUpCard) -> dict[str, str | int]:
        setup = self._client.v1.setup_intents.create(
            params={"customer": request.customer_id, "usage": "off_session"},
            options={"idempotency_key": request.idempotency_key},
        )
        return _setup_result(setup)

    def card_of_setup(self, setup_id: str) -> dict[str, str | int]:
        return _setup_result(self._client.v1.setup_intents.retrieve(setup_id))

    def hold(self, request: Hold) -> dict[str, str | int]:
        intent = self._client.v1.payment_intents.create(
            params={
                "amount": request.amount_minor,
                "currency": request.currency.lower(),
                "capture_method": "manual",
                "customer": request.customer_id,
                "payment_method": request.payment_method_id,
                "confirm": True,
                "description": CHARGE_DESCRIPTION,
                "metadata": charge_metadata(request.appointment_id, Step.HOLD, request.sequence),
                "off_session": request.off_session,
                "expand": ["latest_charge"],
            },
            options={"idempotency_key": request.idempotency_key},
        )
        return hold_result(intent)

    def capture(self, request: Capture) -> dict[str, str | int]:
        intent = self._client.v1.payment_intents.capture(
            request.intent_id,
            params={"amount_to_capture": request.amount_minor, "expand": ["latest_charge"]},
            options={"idempotency_key": request.idempotency_key},
        )
        return hold_result(intent)

    def release(self, request: Release) -> dict[str, str | int]:
        intent = self._client.v1.payment_intents.cancel(
            request.intent_id,
            params={"expand": ["latest_charge"]},
            options={"idempotency_key": request.idempotency_key},
        )
        return hold_result(intent)

    def refund(self, request: Refund) -> dict[str, str | int]:
        self._client.v1.refunds.create(
            params={
                "payment_intent": request.intent_id,
                "amount": request.amount_minor,
                "metadata": charge_metadata(request.appointment_id, Step.REFUND, request.sequence),
            },
            options={"idempotency_key": request.idempotency_key},
        )
        return self.retrieve(request.intent_id)

    def retrieve(self, intent_id: str) -> dict[str, str | int]:
        intent = self._client.v1.payment_intents.retrieve(intent_id, params={"expand": ["latest_charge"]})
        return hold_result(intent)

    def find_hold(self, request: FindHold) -> dict[str, str | int]:
        """The customer's PaymentIntent whose metadata names this visit's hold step; {} if none.
        A customer is one patient's, so the list is short (a page of 100 is their history)."""
        wanted = charge_metadata(request.appointment_id, Step.HOLD, request.sequence)
        intents = self._client.v1.payment_intents.list(params={"customer": request.customer_id, "limit": 100})
        for intent in intents.data:
            if intent.to_dict().get("metadata") == wanted:
                return self.retrieve(str(intent.id))
        return {}

    def notice(self, request: Notice) -> dict[str, str | int]:
        """A webhook verified (`SignatureVerificationError` when it is not Stripe's, or older than
        the tolerance) and the PaymentIntent it concerns re-read, with the visit its metadata
        names; only the event's id and type otherwise (nothing the clinic acts on)."""
        import stripe

        if not self.webhook_secret:
            raise SignatureRefusedError("no webhook signing secret is set")
        event = self._client.construct_event(
            request.payload, request.signature, self.webhook_secret, tolerance=NOTICE_TOLERANCE_S
        )
        found: dict[str, Any] = {"event_id": str(event.id), "kind": str(event.type)}
        intent_id = notice_intent(event.type, event.data.object.to_dict())
        if intent_id is None:
            return found
        try:
            intent = self._client.v1.payment_intents.retrieve(intent_id, params={"expand": ["latest_charge"]})
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":  # gone since (a test-mode reset): nothing to act on
                return found
            raise
        metadata = intent.to_dict().get("metadata") or {}
        visit = metadata.get("appointment_id")
        if isinstance(visit, str) and re.fullmatch(_OPAQUE, visit):
            found["appointment_id"] = visit
        return found | hold_result(intent)

    def ping(self) -> None:
        """The account's balance: proves the key and the route, reads no customer."""
        self._client.v1.balance.retrieve()


def notice_intent(kind: str, subject: Mapping[str, Any]) -> str | None:
    """The PaymentIntent an event is about: its own object's, or the one its charge or refund
    belongs to; None for the rest (a saved card's setup, the account's own events)."""
    if kind.startswith("payment_intent."):
        found = subject.get("id")
    elif kind.startswith(("charge.", "refund.")):
        found = subject.get("payment_intent")
    else:
        return None
    return found if isinstance(found, str) and re.fullmatch(_OPAQUE, found) else None


def stripe_credentials(secret_arn: str, *, client: Any = None) -> tuple[str, str | None]:
    """The tenant's Stripe key and webhook signing secret, from its secret: JSON with `api_key`
    and `webhook_secret` (a secret holding only the key, as the first releases kept it, still
    pays; its webhooks are refused until the signing secret is added)."""
    import boto3

    secrets = client or boto3.client("secretsmanager")
    value: str = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
    if not value.lstrip().startswith("{"):
        return value.strip(), None
    found = json.loads(value)
    return str(found["api_key"]), found.get("webhook_secret") or None


def _setup_result(setup: Any) -> dict[str, str | int]:
    found: dict[str, Any] = setup.to_dict()
    method = found.get("payment_method")
    method_id = method.get("id") if isinstance(method, dict) else method
    return {
        "setup_id": str(found["id"]),
        "status": str(found["status"]),
        "customer_id": str(found.get("customer") or ""),
        "payment_method_id": str(method_id or ""),
        "client_secret": str(found.get("client_secret") or ""),
    }
