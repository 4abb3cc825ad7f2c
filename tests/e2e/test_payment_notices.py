"""Stripe's webhooks, at the API's one door without a token: the local Stripe (its front) sends an
event for each change to a hold, signed as Stripe signs them, and the platform verifies it, takes
it once by its id and acts on the hold re-read from Stripe. So a step whose answer was lost is
settled by the event, what was done in Stripe's dashboard (a refund) or by Stripe itself (a hold
that lapsed) is recorded, and no redelivery, reordering or forgery moves money or the record."""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from infra import topology
from local.platform import STRIPE_KEY, STRIPE_WEBHOOK_SECRET, LocalPlatform
from local.standins.stripe_front import signature
from telehealth.adapters.payments import PaymentsFunction, StripePayments
from telehealth.adapters.payments_store import DynamoPaymentRecords
from telehealth.application.payments import VisitPayments
from telehealth.domain.payments import Money, PaymentStatus, VisitPayment
from telehealth.ports import PaymentsUnavailableError
from tests.conftest import Reply, eventually, http
from tests.e2e.test_payments import RIVERSIDE, _AnswerLost, _sim

WEBHOOK = f"/tenants/{RIVERSIDE}{topology.STRIPE_WEBHOOK}"
FORGED = "whsec_someone_else"  # a signing secret that is not the tenant's


@pytest.fixture(scope="module")
def function(platform: LocalPlatform) -> PaymentsFunction:
    return PaymentsFunction(topology.PAYMENTS.name(RIVERSIDE), client=platform.client("lambda"))


@pytest.fixture(scope="module")
def records(platform: LocalPlatform) -> DynamoPaymentRecords:
    return DynamoPaymentRecords(topology.CLINIC_TABLE.name(RIVERSIDE), platform.client("dynamodb"))


def _clock() -> datetime:
    return datetime.now(UTC)


def _visit_with_card(platform: LocalPlatform, payments: VisitPayments) -> str:
    visit = f"01E2E{secrets.token_hex(8).upper()}"
    customer = StripePayments(api_key=STRIPE_KEY, api_base=platform.urls["stripe"]).new_customer(f"c-{visit}")
    payments.card_saved(visit, "USD", customer, "pm_card_visa")
    return visit


def _send(
    gateway: str, body: bytes, *, header: str | None = None, secret: str = STRIPE_WEBHOOK_SECRET, at: int = 0
) -> Reply:
    signed = header if header is not None else signature(body, secret, at or int(time.time()))
    headers = {"Content-Type": "application/json", **({"Stripe-Signature": signed} if signed else {})}
    return http("POST", f"{gateway}{WEBHOOK}", headers=headers, body=body)


def _events_of(platform: LocalPlatform, intent_id: str) -> list[dict[str, Any]]:
    """What the local Stripe sent about a hold, oldest first, each with its deliveries' statuses."""
    reply = http("GET", f"{platform.urls['stripe']}/_sim/events")
    subject = [(kept, kept["event"]["data"]["object"]) for kept in reply.json()]
    return [kept for kept, o in subject if intent_id in (o.get("id"), o.get("payment_intent"))]


def _all_taken(platform: LocalPlatform, intent_id: str, kinds: set[str]) -> list[dict[str, Any]]:
    """Once every event of these kinds about the hold was delivered and taken (a 2xx last)."""

    def taken() -> list[dict[str, Any]]:
        sent = _events_of(platform, intent_id)
        assert kinds <= {kept["event"]["type"] for kept in sent}
        assert all(kept["deliveries"] and kept["deliveries"][-1] == 200 for kept in sent), sent
        return sent

    return list(eventually(taken, timeout_s=20))


def _payment_events(platform: LocalPlatform, visit: str) -> list[str]:
    """The `Payment.*` events the table's outbox holds for a visit, in the order they were made."""
    found: list[tuple[str, str]] = []
    for page in (
        platform.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=topology.CLINIC_TABLE.name(RIVERSIDE),
            FilterExpression="begins_with(pk, :outbox)",
            ExpressionAttributeValues={":outbox": {"S": "OUTBOX#"}},
        )
    ):
        for item in page["Items"]:
            resource = json.loads(item["resource"]["S"])
            detail = resource.get("detail") or {}
            if (
                str(resource.get("detail-type", "")).startswith("Payment.")
                and detail.get("appointment_id") == visit
            ):
                found.append((resource["id"], resource["detail-type"]))
    return [kind for _, kind in sorted(found)]


def _settled(records: DynamoPaymentRecords, visit: str, status: PaymentStatus) -> Callable[[], VisitPayment]:
    def check() -> VisitPayment:
        found = records.visit_payment(visit)
        assert found is not None and found.status is status and found.pending is None, found
        return found

    return check


def test_steps_whose_answers_were_lost_are_settled_by_stripes_events_and_redelivery_moves_nothing(
    platform: LocalPlatform, gateway: str, function: PaymentsFunction, records: DynamoPaymentRecords
) -> None:
    payments = VisitPayments(function, records, _clock)
    lossy = VisitPayments(_AnswerLost(function), records, _clock)
    visit = _visit_with_card(platform, payments)

    # The hold is made at Stripe and its answer lost: Stripe's event settles it, not a retry.
    with pytest.raises(PaymentsUnavailableError):
        lossy.hold(visit, Money(6000, "USD"))
    held = eventually(_settled(records, visit, PaymentStatus.HELD), timeout_s=20)
    assert held.held_minor == 6000
    # And so is the capture.
    with pytest.raises(PaymentsUnavailableError):
        lossy.capture(visit, Money(5000, "USD"))
    captured = eventually(_settled(records, visit, PaymentStatus.CAPTURED), timeout_s=20)
    assert captured.captured_minor == 5000
    intent = str(captured.intent_id)
    sent = _all_taken(
        platform,
        intent,
        {"payment_intent.amount_capturable_updated", "payment_intent.succeeded", "charge.captured"},
    )

    # Stripe delivers them again, newest first, each twice: each is known by its id.
    for kept in reversed(sent):
        for _ in range(2):
            reply = _send(gateway, json.dumps(kept["event"]).encode())
            assert (reply.status, reply.json()["received"]) == (200, "repeat"), reply.body
    # An event not seen before whose copy of the hold is stale (as it was before the capture): the
    # hold is re-read, and the record stands.
    stale = next(k["event"] for k in sent if k["event"]["type"] == "payment_intent.amount_capturable_updated")
    late = json.dumps(stale | {"id": f"evt_{secrets.token_hex(12)}"}).encode()
    reply = _send(gateway, late)
    assert (reply.status, reply.json()["received"]) == (200, "taken"), reply.body

    assert records.visit_payment(visit) == captured
    at_stripe = function.retrieve(intent)
    assert (at_stripe.status, at_stripe.amount_received) == ("succeeded", 5000)  # taken once
    assert _payment_events(platform, visit) == ["Payment.Held", "Payment.Captured"]


def test_a_hold_stripe_let_lapse_and_a_refund_made_in_its_dashboard_are_recorded_from_its_events(
    platform: LocalPlatform, function: PaymentsFunction, records: DynamoPaymentRecords
) -> None:
    payments = VisitPayments(function, records, _clock)
    lapsing = _visit_with_card(platform, payments)
    held = payments.hold(lapsing, Money(4000, "USD"))
    _sim(platform, "expire-hold", {"intent_id": str(held.intent_id)})
    let_go = eventually(_settled(records, lapsing, PaymentStatus.RELEASED), timeout_s=20)
    assert let_go.held_minor == 0
    _all_taken(platform, str(held.intent_id), {"payment_intent.canceled"})
    assert _payment_events(platform, lapsing) == ["Payment.Held", "Payment.Released"]

    refunded = _visit_with_card(platform, payments)
    payments.hold(refunded, Money(4000, "USD"))
    intent = str(payments.capture(refunded, Money(3000, "USD")).intent_id)
    # The clinic's staff refund part of it in Stripe's dashboard, not through the platform.
    reply = http(
        "POST",
        f"{platform.urls['stripe']}/v1/refunds",
        headers={
            "Authorization": f"Bearer {STRIPE_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=urllib.parse.urlencode({"payment_intent": intent, "amount": 1000}).encode(),
    )
    assert reply.status == 200, reply.body
    found = eventually(lambda: _refunded(records, refunded, 1000), timeout_s=20)
    assert (found.status, found.captured_minor, found.refundable_minor) == (
        PaymentStatus.CAPTURED,
        3000,
        2000,
    )
    _all_taken(platform, intent, {"charge.refunded", "refund.created"})  # two events, one refund
    assert _payment_events(platform, refunded) == ["Payment.Held", "Payment.Captured", "Payment.Refunded"]


def _refunded(records: DynamoPaymentRecords, visit: str, amount_minor: int) -> VisitPayment:
    found = records.visit_payment(visit)
    assert found is not None and found.refunded_minor == amount_minor, found
    return found


def test_a_notice_stripe_did_not_sign_now_is_refused_and_what_one_says_is_never_taken_on_trust(
    platform: LocalPlatform, gateway: str, function: PaymentsFunction, records: DynamoPaymentRecords
) -> None:
    payments = VisitPayments(function, records, _clock)
    visit = _visit_with_card(platform, payments)
    held = payments.hold(visit, Money(4000, "USD"))
    # Stripe's own notice of the hold is taken first: taking it re-reads the hold through the
    # payments function, which must not be counted below as if a forged notice had asked.
    _all_taken(platform, str(held.intent_id), {"payment_intent.amount_capturable_updated"})
    # A notice that the hold was cancelled, which it was not.
    body = json.dumps(
        {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "type": "payment_intent.canceled",
            "created": int(time.time()),
            "data": {"object": {"id": held.intent_id, "object": "payment_intent", "status": "canceled"}},
        }
    ).encode()
    now = int(time.time())
    before = len(platform.dispatcher.invocations)
    refusals = {
        "no signature": _send(gateway, body, header=""),
        "not Stripe's shape": _send(gateway, body, header="sha256=abc"),
        "another secret": _send(gateway, body, secret=FORGED),
        "another body": _send(gateway, body, header=signature(body + b" ", STRIPE_WEBHOOK_SECRET, now)),
        "six minutes old": _send(gateway, body, at=now - 360),
    }
    for why, reply in refusals.items():
        assert reply.status == 400, (why, reply.body)
        assert reply.headers["Content-Type"] == "application/problem+json", why
        assert reply.json()["type"].endswith("/signature-refused"), (why, reply.body)
        assert "4000" not in reply.body.decode() and str(held.intent_id) not in reply.body.decode()
    # The forged ones of the right shape were checked by the payment-notices function, never by
    # the payments function: a flood of them queues there and leaves holds and captures their
    # capacity (each function has its own reserved concurrency).
    asked = [name for name, _ in list(platform.dispatcher.invocations)[before:]]
    assert asked.count(topology.PAYMENT_NOTICES.name("riverside")) >= 3, asked  # and Stripe's own
    assert topology.PAYMENTS.name("riverside") not in asked, asked
    # Signed by Stripe, it is taken; but the hold, re-read, is still held, and so is the record.
    reply = _send(gateway, body)
    assert (reply.status, reply.json()["received"]) == (200, "taken"), reply.body
    assert records.visit_payment(visit) == held
    # An event about nothing of a visit's payment is acknowledged and left alone.
    other = {"id": f"evt_{secrets.token_hex(12)}", "object": "event", "type": "customer.created"}
    reply = _send(
        gateway, json.dumps(other | {"data": {"object": {"id": "cus_1", "object": "customer"}}}).encode()
    )
    assert (reply.status, reply.json()["received"]) == (200, "ignored"), reply.body
    # A tenant without payments has no such door.
    desert = http("POST", f"{gateway}/tenants/desert-clinic{topology.STRIPE_WEBHOOK}", body=body)
    assert desert.status == 404 and desert.headers["Content-Type"] == "application/problem+json"
