"""The Stripe adapter against the local Stripe (localstripe behind the layer that supplies what it
lacks, local/standins/stripe_front.py): a visit's hold, captured in part and refunded in parts, in
Stripe's own figures; a step retried under its key moves money once; an expired hold and a later
hold that needs the patient are refused as Stripe refuses them; and nothing but opaque ids and
amounts ever reaches Stripe."""

from __future__ import annotations

import json
import secrets
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import stripe

from local.platform import STRIPE_KEY, LocalPlatform
from telehealth.adapters.payments import Capture, Hold, Refund, Release, StripePayments, hold_state
from telehealth.domain.payments import CHARGE_DESCRIPTION, METADATA_KEYS, Step, idempotency_key


@pytest.fixture
def payments(platform: LocalPlatform) -> StripePayments:
    return StripePayments(api_key=STRIPE_KEY, api_base=platform.urls["stripe"])


def _visit() -> str:
    return f"01TEST{secrets.token_hex(8).upper()}"


def _hold(
    payments: StripePayments,
    appointment_id: str,
    *,
    amount: int = 2500,
    card: str = "pm_card_visa",
    off_session: bool = False,
) -> Hold:
    return Hold(
        appointment_id=appointment_id,
        sequence=1,
        idempotency_key=idempotency_key(appointment_id, Step.HOLD, 1),
        amount_minor=amount,
        currency="USD",
        customer_id=payments.new_customer(f"customer-{appointment_id}"),
        payment_method_id=card,
        off_session=off_session,
    )


def _sim(platform: LocalPlatform, path: str, form: dict[str, str] | None = None) -> bytes:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(f"{platform.urls['stripe']}/_sim/{path}", data=data, timeout=10) as answer:  # noqa: S310
        return bytes(answer.read())


def test_a_hold_is_captured_in_part_and_refunded_in_two_parts_in_stripes_own_figures(
    payments: StripePayments,
) -> None:
    visit = _visit()
    held = hold_state(payments.hold(_hold(payments, visit)))
    assert (held.status, held.amount_capturable, held.amount_received) == ("requires_capture", 2500, 0)
    # A hold the patient made lasts about seven days.
    assert held.capture_before is not None
    assert timedelta(days=6) < held.capture_before - datetime.now(UTC) <= timedelta(days=7)

    key = idempotency_key(visit, Step.CAPTURE, 1)
    captured = hold_state(
        payments.capture(
            Capture(
                appointment_id=visit,
                sequence=1,
                idempotency_key=key,
                intent_id=held.intent_id,
                amount_minor=2000,
            )
        )
    )
    # The amount owed taken, the rest released: nothing capturable is left.
    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", 2000, 0)
    for sequence, amount in ((1, 500), (2, 300)):
        refund = Refund(
            appointment_id=visit,
            sequence=sequence,
            idempotency_key=idempotency_key(visit, Step.REFUND, sequence),
            intent_id=held.intent_id,
            amount_minor=amount,
        )
        after = hold_state(payments.refund(refund))
    assert after.refunded_minor == 800 and after.amount_received == 2000


def test_a_step_retried_under_its_key_moves_money_once_and_another_step_under_it_is_refused(
    platform: LocalPlatform, payments: StripePayments
) -> None:
    visit = _visit()
    hold = _hold(payments, visit)
    first = payments.hold(hold)
    again = payments.hold(hold)  # the answer was lost: sent again, the same key
    assert again == first  # the same PaymentIntent, not a second hold
    capture = Capture(
        appointment_id=visit,
        sequence=1,
        idempotency_key=idempotency_key(visit, Step.CAPTURE, 1),
        intent_id=str(first["intent_id"]),
        amount_minor=2500,
    )
    taken = payments.capture(capture)
    assert payments.capture(capture) == taken  # a capture retried after a timeout: charged once
    holds = [
        r
        for r in platform.stripe.requests  # type: ignore[union-attr]
        if r["path"] == "/v1/payment_intents"
        and ("metadata[appointment_id]", visit) in [tuple(p) for p in r["params"]]
    ]
    assert len(holds) == 2  # both asked; Stripe answered the second from its record
    # Replayed, as Stripe says it.
    request = urllib.request.Request(  # noqa: S310 (the local Stripe, over http)
        f"{platform.urls['stripe']}/v1/payment_intents/{first['intent_id']}/capture",
        data=urllib.parse.urlencode({"amount_to_capture": 2500, "expand[0]": "latest_charge"}).encode(),
        headers={"Authorization": f"Bearer {STRIPE_KEY}", "Idempotency-Key": capture.idempotency_key},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.headers["Idempotent-Replayed"] == "true"
        assert json.loads(answer.read())["amount_received"] == 2500
    # The same key for another amount is another request: Stripe refuses it, and nothing moves.
    with pytest.raises(stripe.IdempotencyError):
        payments.capture(capture.model_copy(update={"amount_minor": 100}))
    assert hold_state(payments.retrieve(str(first["intent_id"]))).amount_received == 2500


def test_a_hold_past_its_capture_deadline_is_cancelled_and_cannot_be_captured(
    platform: LocalPlatform, payments: StripePayments
) -> None:
    visit = _visit()
    held = hold_state(payments.hold(_hold(payments, visit)))
    _sim(platform, "expire-hold", {"intent_id": held.intent_id})
    capture = Capture(
        appointment_id=visit,
        sequence=1,
        idempotency_key=idempotency_key(visit, Step.CAPTURE, 1),
        intent_id=held.intent_id,
        amount_minor=2500,
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        payments.capture(capture)
    assert refused.value.code == "charge_expired_for_capture"
    assert hold_state(payments.retrieve(held.intent_id)).status == "canceled"


def test_a_later_hold_is_shorter_lived_and_refused_when_the_card_needs_the_patient(
    payments: StripePayments,
) -> None:
    later = hold_state(payments.hold(_hold(payments, _visit(), off_session=True)))
    assert later.capture_before is not None
    assert timedelta(days=4) < later.capture_before - datetime.now(UTC) <= timedelta(days=5)
    with pytest.raises(stripe.CardError) as refused:
        payments.hold(_hold(payments, _visit(), card="pm_card_authenticationRequired", off_session=True))
    assert refused.value.code == "authentication_required"
    # A released hold lets the money go.
    visit = _visit()
    held = hold_state(payments.hold(_hold(payments, visit)))
    release = Release(
        appointment_id=visit,
        sequence=1,
        idempotency_key=idempotency_key(visit, Step.RELEASE, 1),
        intent_id=held.intent_id,
    )
    assert hold_state(payments.release(release)).status == "canceled"


def test_nothing_but_opaque_ids_amounts_and_a_generic_description_reaches_stripe(
    platform: LocalPlatform, payments: StripePayments
) -> None:
    """Stripe signs no BAA: every parameter of every request the adapter made is on this list, and
    every value that is not an amount or Stripe's own id is an opaque id or the fixed words."""
    visit = _visit()
    held = hold_state(payments.hold(_hold(payments, visit)))
    payments.capture(
        Capture(
            appointment_id=visit,
            sequence=1,
            idempotency_key=idempotency_key(visit, Step.CAPTURE, 1),
            intent_id=held.intent_id,
            amount_minor=1000,
        )
    )
    payments.refund(
        Refund(
            appointment_id=visit,
            sequence=1,
            idempotency_key=idempotency_key(visit, Step.REFUND, 1),
            intent_id=held.intent_id,
            amount_minor=400,
        )
    )
    allowed = {
        "amount", "currency", "capture_method", "customer", "payment_method", "confirm", "off_session",
        "description", "amount_to_capture", "payment_intent", "expand[0]",
        # Saving a card: the SetupIntent, and Stripe.js's confirmation of it with Stripe's own ids.
        "usage", "client_secret", "key",
    }  # fmt: skip
    sent = [r for r in platform.stripe.requests if r["method"] == "POST"]  # type: ignore[union-attr]
    assert sent
    for request in sent:
        for name, value in request["params"]:
            if name.startswith("metadata["):
                assert name[len("metadata[") : -1] in METADATA_KEYS, name
                assert value.replace("-", "").replace("_", "").isalnum(), value
            elif name.startswith("card["):
                assert request["path"] == "/v1/payment_methods"  # the front's own test cards
            elif name == "description":
                assert value == CHARGE_DESCRIPTION
            else:
                assert name in allowed | {"type"}, (request["path"], name)
