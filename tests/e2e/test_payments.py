"""Payments as the api asks for them: through the tenant's payments function (Lambda Invoke), the
only one that calls Stripe, whose replies carry ids and amounts and whose refusals say Stripe's
reason, never a card's details."""

from __future__ import annotations

import secrets
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest

from infra import topology
from local.platform import STRIPE_KEY, LocalPlatform
from telehealth.adapters.payments import Capture, Hold, PaymentsFunction, Refund, StripePayments
from telehealth.adapters.payments_store import DynamoPaymentRecords
from telehealth.application.payments import VisitPayments
from telehealth.domain.payments import (
    HoldState,
    Money,
    PaymentRuleError,
    PaymentStatus,
    Step,
    VisitPayment,
    idempotency_key,
)
from telehealth.ports import PaymentRefusedError, PaymentsUnavailableError

RIVERSIDE = "riverside"


@pytest.fixture(scope="module")
def function(platform: LocalPlatform) -> PaymentsFunction:
    return PaymentsFunction(topology.PAYMENTS.name(RIVERSIDE), client=platform.client("lambda"))


def _hold(platform: LocalPlatform, card: str = "pm_card_visa") -> Hold:
    visit = f"01E2E{secrets.token_hex(8).upper()}"
    customer = StripePayments(api_key=STRIPE_KEY, api_base=platform.urls["stripe"]).new_customer(f"c-{visit}")
    return Hold(
        appointment_id=visit,
        sequence=1,
        idempotency_key=idempotency_key(visit, Step.HOLD, 1),
        amount_minor=4000,
        currency="USD",
        customer_id=customer,
        payment_method_id=card,
    )


def _sim(platform: LocalPlatform, what: str, form: dict[str, str] | None = None) -> None:
    urllib.request.urlopen(  # noqa: S310 (the local Stripe, over http)
        f"{platform.urls['stripe']}/_sim/{what}", data=urllib.parse.urlencode(form or {}).encode(), timeout=10
    ).close()


def test_the_payments_function_holds_captures_and_refunds_and_says_why_a_card_is_refused(
    platform: LocalPlatform, function: PaymentsFunction
) -> None:
    hold = _hold(platform)
    held = function.send(hold)
    assert (held.status, held.amount_capturable) == ("requires_capture", 4000)
    assert function.retrieve(held.intent_id) == held
    visit = hold.appointment_id
    captured = function.send(
        Capture(
            appointment_id=visit,
            sequence=1,
            idempotency_key=idempotency_key(visit, Step.CAPTURE, 1),
            intent_id=held.intent_id,
            amount_minor=3000,
        )
    )
    assert (captured.status, captured.amount_received) == ("succeeded", 3000)
    refunded = function.send(
        Refund(
            appointment_id=visit,
            sequence=1,
            idempotency_key=idempotency_key(visit, Step.REFUND, 1),
            intent_id=held.intent_id,
            amount_minor=1000,
        )
    )
    assert refunded.refunded_minor == 1000

    # Refusals are final for the step, with Stripe's reason: a declined card; a hold past its
    # deadline, which cannot be captured.
    with pytest.raises(PaymentRefusedError) as declined:
        function.send(_hold(platform, card="pm_card_visa_chargeDeclined"))
    assert declined.value.code == "card_declined"
    late = _hold(platform)
    expired = function.send(late)
    _sim(platform, "expire-hold", {"intent_id": expired.intent_id})
    with pytest.raises(PaymentRefusedError) as too_late:
        function.send(
            Capture(
                appointment_id=late.appointment_id,
                sequence=1,
                idempotency_key=idempotency_key(late.appointment_id, Step.CAPTURE, 1),
                intent_id=expired.intent_id,
                amount_minor=4000,
            )
        )
    assert too_late.value.code == "charge_expired_for_capture"


class _AnswerLost:
    """The payments function as a caller meets a timeout: the step is done at Stripe, and the
    answer never arrives."""

    def __init__(self, processor: PaymentsFunction) -> None:
        self.processor = processor

    def carry_out(self, payment: VisitPayment) -> HoldState:
        self.processor.carry_out(payment)
        raise PaymentsUnavailableError("timed out")

    def retrieve(self, intent_id: str) -> HoldState:
        return self.processor.retrieve(intent_id)

    def find_hold(self, payment: VisitPayment) -> HoldState | None:
        return self.processor.find_hold(payment)


def test_each_step_whose_answer_was_lost_a_day_ago_moves_money_once_when_resumed(
    platform: LocalPlatform, function: PaymentsFunction
) -> None:
    """Hold, capture and refund each time out after Stripe did them; a day later (Stripe has
    forgotten the keys) the next call for the visit finishes the step from what Stripe holds,
    rather than doing it again."""
    records = DynamoPaymentRecords(topology.CLINIC_TABLE.name(RIVERSIDE), platform.client("dynamodb"))
    clock = lambda: datetime.now(UTC)  # noqa: E731
    lossy, payments = (
        VisitPayments(_AnswerLost(function), records, clock),
        VisitPayments(function, records, clock),
    )
    visit = f"01E2E{secrets.token_hex(8).upper()}"
    customer = StripePayments(api_key=STRIPE_KEY, api_base=platform.urls["stripe"]).new_customer(f"c-{visit}")
    payments.card_saved(visit, "USD", customer, "pm_card_visa")

    def a_day_later() -> None:
        _sim(platform, "forget-keys")

    with pytest.raises(PaymentsUnavailableError):
        lossy.hold(visit, Money(6000, "USD"))
    assert records.visit_payment(visit).pending is not None  # type: ignore[union-attr]
    a_day_later()
    held = payments.resume(visit, "USD")
    assert (held.status, held.held_minor, held.pending) == (PaymentStatus.HELD, 6000, None)
    intents = [i for i in platform.stripe.state.intents.values() if i.customer == customer]  # type: ignore[union-attr]
    assert len(intents) == 1  # one hold, not two

    with pytest.raises(PaymentsUnavailableError):
        lossy.capture(visit, Money(5000, "USD"))
    a_day_later()
    captured = payments.resume(visit, "USD")
    assert (captured.status, captured.captured_minor) == (PaymentStatus.CAPTURED, 5000)

    with pytest.raises(PaymentsUnavailableError):
        lossy.refund(visit, Money(1500, "USD"))
    a_day_later()
    # The next step for the visit finishes the lost one first: one refund of 1,500, then 500 more.
    refunded = payments.refund(visit, Money(500, "USD"))
    assert (refunded.refunded_minor, refunded.refunds, refunded.pending) == (2000, 2, None)
    assert function.retrieve(str(refunded.intent_id)).refunded_minor == 2000
    # More than is left is refused before anything is sent.
    with pytest.raises(PaymentRuleError):
        payments.refund(visit, Money(3001, "USD"))
