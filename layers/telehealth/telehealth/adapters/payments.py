"""Copays through Stripe, from the one function that may reach it.

Stripe signs no BAA, so it is called from the `payments` function alone, on the egress path, and
what crosses to it is opaque ids and amounts (integer minor units with an ISO currency), never a
name, a reason or anything else of the visit. The api asks that function by Lambda Invoke
(`PaymentsFunction`); the request and the reply are the models below, strict (`extra="forbid"`)
so that nothing else can ride along. #17 adds its operations (authorize, capture, void a copay) as
more request models and a case each in the function, with the same reply.

`STRIPE_API_BASE` points the SDK at a stand-in (localstripe locally), as `AWS_ENDPOINT_URL` points
the AWS SDK at the emulator; the key is read by the caller from Secrets Manager.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ping(_Wire):
    """Is Stripe reachable with the tenant's key? Reads no customer."""

    operation: Literal["ping"] = "ping"


# Every request the payments function takes, by its `operation`.
REQUESTS: dict[str, type[_Wire]] = {"ping": Ping}


class PaymentsError(_Wire):
    type: Literal["unavailable", "declined", "invalid"]
    retryable: bool


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


class PaymentsUnavailableError(Exception):
    """The payments function, or Stripe behind it, did not answer as it should."""


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
            raise PaymentsUnavailableError(f"{self.function_name} failed")
        reply = PaymentsReply.model_validate_json(body)
        if not reply.ok:
            raise PaymentsUnavailableError(reply.error.type if reply.error else "not ok")
        return reply

    def ping(self) -> None:
        self._ask(Ping())


class StripePayments:
    """The payments function's side: Stripe's SDK, with the tenant's key."""

    def __init__(self, api_key: str, api_base: str | None = None) -> None:
        import stripe

        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base or os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")},
            max_network_retries=2,
        )

    def authorize(
        self,
        *,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Any:
        """A hold on the patient's saved card (manual capture). Metadata carries ids only."""
        return self._client.v1.payment_intents.create(
            params={
                "amount": amount_minor,
                "currency": currency.lower(),
                "capture_method": "manual",
                "payment_method": payment_method,
                "confirm": True,
                "metadata": metadata,
            },
            options={"idempotency_key": idempotency_key},
        )

    def capture(self, payment_intent_id: str, *, idempotency_key: str) -> Any:
        return self._client.v1.payment_intents.capture(
            payment_intent_id, options={"idempotency_key": idempotency_key}
        )

    def void(self, payment_intent_id: str, *, idempotency_key: str) -> Any:
        return self._client.v1.payment_intents.cancel(
            payment_intent_id, options={"idempotency_key": idempotency_key}
        )

    def ping(self) -> None:
        """The account's balance: proves the key and the route, reads no customer."""
        self._client.v1.balance.retrieve()


def stripe_key(secret_arn: str, *, client: Any = None) -> str:
    """The tenant's Stripe key from its secret (the secret's whole string)."""
    import boto3

    secrets = client or boto3.client("secretsmanager")
    value: str = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
    return value
