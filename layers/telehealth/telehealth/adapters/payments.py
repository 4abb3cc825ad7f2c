"""Copays through Stripe: authorise before the visit, capture after, void or refund on cancel.

Amounts are integer minor units with an ISO currency. `STRIPE_API_BASE` points the SDK at a
stand-in (localstripe locally); the key comes from configuration.
"""

from __future__ import annotations

import os
from typing import Any


class StripePayments:
    def __init__(self, api_key: str | None = None, api_base: str | None = None) -> None:
        import stripe

        self._client = stripe.StripeClient(
            api_key or os.environ["STRIPE_API_KEY"],
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
