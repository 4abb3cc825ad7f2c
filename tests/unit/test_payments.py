"""A visit's payment, as pure rules: each movement of money a step written as pending under a key
that names the visit, the step and its sequence; settled by what the processor reports; refused
where the money is not there to move; and no metadata but opaque ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth.application.payments import PaymentNoticeInbox, VisitPayments
from telehealth.domain.payments import (
    HoldState,
    Money,
    PaymentRuleError,
    PaymentStatus,
    Step,
    VisitPayment,
    charge_metadata,
    checked_metadata,
    hold_at,
    outlives_hold,
)
from telehealth.errors import StaleWriteError
from telehealth.ports import (
    PaymentRefusedError,
    PaymentsUnavailableError,
    ProcessorNotice,
    SignatureRefusedError,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
USD = "USD"


def _usd(minor: int) -> Money:
    return Money(minor, USD)


def _held(amount: int = 5000) -> VisitPayment:
    payment = VisitPayment("01VISIT", USD).card_saved("cus_1", "pm_1").begin_hold(_usd(amount))
    return payment.settled_by(
        HoldState("pi_1", "requires_capture", amount, 0, capture_before=NOW + timedelta(days=7))
    )


def test_money_is_whole_minor_units_of_a_named_currency() -> None:
    assert Money(2500, "USD").amount_minor == 2500
    for amount, currency in ((25.0, "USD"), (-1, "USD"), (True, "USD"), (100, "usd"), (100, "US")):
        with pytest.raises(ValueError):
            Money(amount, currency)  # type: ignore[arg-type]


def test_a_hold_is_pending_under_its_key_then_settled_by_the_processors_answer() -> None:
    saved = VisitPayment("01VISIT", USD).card_saved("cus_1", "pm_1")
    assert saved.status is PaymentStatus.CARD_SAVED
    pending = saved.begin_hold(_usd(5000))
    assert pending.pending is not None
    assert pending.pending.idempotency_key == "visit-01VISIT-hold-1"
    assert pending.status is PaymentStatus.CARD_SAVED  # nothing moved yet
    held = _held()
    assert (held.status, held.held_minor, held.intent_id, held.pending) == (
        PaymentStatus.HELD,
        5000,
        "pi_1",
        None,
    )
    # One step at a time: another step waits until the pending one is settled.
    with pytest.raises(PaymentRuleError) as busy:
        held.begin_capture(_usd(100)).begin_release()
    assert busy.value.kind == "step-pending"


def test_a_capture_takes_at_most_the_hold_and_refunds_at_most_what_was_taken() -> None:
    held = _held(5000)
    with pytest.raises(PaymentRuleError) as over:
        held.begin_capture(_usd(5001))
    assert over.value.kind == "over-held"
    with pytest.raises(PaymentRuleError) as other:
        held.begin_capture(Money(100, "EUR"))
    assert other.value.kind == "other-currency"
    capturing = held.begin_capture(_usd(3000))
    assert capturing.pending is not None and capturing.pending.idempotency_key == "visit-01VISIT-capture-1"
    captured = capturing.settled_by(HoldState("pi_1", "succeeded", 0, 3000))
    assert (captured.status, captured.captured_minor, captured.refundable_minor) == (
        PaymentStatus.CAPTURED,
        3000,
        3000,
    )

    first = captured.begin_refund(_usd(1000))
    assert first.pending is not None and first.pending.idempotency_key == "visit-01VISIT-refund-1"
    refunded = first.settled_by(HoldState("pi_1", "succeeded", 0, 3000, refunded_minor=1000))
    second = refunded.begin_refund(_usd(2000))
    assert second.pending is not None and second.pending.idempotency_key == "visit-01VISIT-refund-2"
    with pytest.raises(PaymentRuleError) as too_much:
        refunded.begin_refund(_usd(2001))
    assert too_much.value.kind == "over-refund"
    with pytest.raises(PaymentRuleError) as none:
        held.begin_refund(_usd(1))
    assert none.value.kind == "nothing-captured"


def test_a_hold_again_after_a_release_is_a_new_step_with_a_new_key() -> None:
    released = _held().begin_release().settled_by(HoldState("pi_1", "canceled", 0, 0))
    assert released.status is PaymentStatus.RELEASED and released.held_minor == 0
    again = released.begin_hold(_usd(5000))
    assert again.pending is not None and again.pending.idempotency_key == "visit-01VISIT-hold-2"
    held = again.settled_by(HoldState("pi_2", "requires_capture", 5000, 0))
    capturing = held.begin_capture(_usd(5000))
    assert capturing.pending is not None and capturing.pending.idempotency_key == "visit-01VISIT-capture-2"


def test_a_refusal_moves_nothing_and_a_refused_hold_waits_for_another_card() -> None:
    failed = (
        VisitPayment("01VISIT", USD)
        .card_saved("cus_1", "pm_1")
        .begin_hold(_usd(5000))
        .refused("card_declined")
    )
    assert (failed.status, failed.failure, failed.held_minor) == (PaymentStatus.FAILED, "card_declined", 0)
    fixed = failed.card_saved("cus_1", "pm_2")
    assert fixed.status is PaymentStatus.CARD_SAVED and fixed.failure is None
    assert fixed.begin_hold(_usd(5000)).pending is not None
    # An expired hold is gone: a capture finds it cancelled and settles as released, nothing taken.
    expired = _held().begin_capture(_usd(5000)).settled_by(HoldState("pi_1", "canceled", 0, 0))
    assert (expired.status, expired.captured_minor) == (PaymentStatus.RELEASED, 0)
    # A refused refund spends its sequence: the next refund is a new request, under a new key.
    captured = _held().begin_capture(_usd(5000)).settled_by(HoldState("pi_1", "succeeded", 0, 5000))
    retried = captured.begin_refund(_usd(100)).refused("amount_too_large").begin_refund(_usd(100))
    assert retried.pending is not None and retried.pending.idempotency_key == "visit-01VISIT-refund-2"
    # A card is not changed under a hold that is being sent.
    with pytest.raises(PaymentRuleError):
        VisitPayment("01V", USD).card_saved("c", "p").begin_hold(_usd(10)).card_saved("c", "p2")
    # A hold the card did not authorize is not held.
    with pytest.raises(PaymentRuleError):
        VisitPayment("01V", USD).card_saved("c", "p").begin_hold(_usd(10)).settled_by(
            HoldState("pi", "requires_action", 0, 0)
        )


def test_no_hold_without_a_card_and_nothing_to_release_without_a_hold() -> None:
    with pytest.raises(PaymentRuleError) as no_card:
        VisitPayment("01VISIT", USD).begin_hold(_usd(100))
    assert no_card.value.kind == "no-card"
    with pytest.raises(PaymentRuleError) as nothing:
        VisitPayment("01VISIT", USD).begin_release()
    assert nothing.value.kind == "nothing-held"
    with pytest.raises(PaymentRuleError) as twice:
        _held().begin_hold(_usd(100))
    assert twice.value.kind == "already-held"


def test_a_visit_inside_a_present_holds_life_is_held_at_booking_a_later_one_two_days_before() -> None:
    soon = NOW + timedelta(days=3)
    assert hold_at(soon, soon + timedelta(minutes=20), NOW) == NOW
    later = NOW + timedelta(days=10)
    assert hold_at(later, later + timedelta(minutes=20), NOW) == later - timedelta(hours=48)
    # A visit moved past the hold's deadline is held again nearer the time.
    held = _held()
    assert not outlives_hold(held, NOW + timedelta(days=3))
    assert outlives_hold(held, NOW + timedelta(days=6, hours=12))


def test_only_opaque_allow_listed_metadata_leaves_for_the_processor() -> None:
    assert charge_metadata("01VISIT", Step.HOLD, 1) == {
        "appointment_id": "01VISIT",
        "step": "hold",
        "sequence": "1",
    }
    for metadata in ({"patient_name": "x"}, {"reason": "chest pain"}, {"appointment_id": "has spaces in it"}):
        with pytest.raises(ValueError):
            checked_metadata(metadata)


# --- the use case: each step exactly once, over a processor that loses answers ---------------------


class _Stripe:
    """Holds by key, as a processor does while it remembers keys; `forget` is a day later, and
    `lose_next` makes the next step's answer never arrive (the step done all the same)."""

    def __init__(self) -> None:
        self.holds: dict[str, HoldState] = {}
        self.by_key: dict[str, HoldState] = {}
        self.metadata: dict[tuple[str, int], str] = {}
        self.sent = 0
        self.lose_next = False
        self.refuse_next: str | None = None

    def carry_out(self, payment: VisitPayment) -> HoldState:
        pending = payment.pending
        assert pending is not None
        if pending.idempotency_key in self.by_key:
            return self.by_key[pending.idempotency_key]
        if self.refuse_next:
            code, self.refuse_next = self.refuse_next, None
            raise PaymentRefusedError(code)
        self.sent += 1
        if pending.step is Step.HOLD:
            state = HoldState(f"pi_{len(self.holds) + 1}", "requires_capture", pending.amount_minor, 0)
            self.metadata[(payment.appointment_id, pending.sequence)] = state.intent_id
        else:
            assert payment.intent_id is not None
            now = self.holds[payment.intent_id]
            if pending.step is Step.CAPTURE:
                state = HoldState(now.intent_id, "succeeded", 0, pending.amount_minor)
            elif pending.step is Step.RELEASE:
                state = HoldState(now.intent_id, "canceled", 0, 0)
            else:
                state = HoldState(
                    now.intent_id,
                    now.status,
                    0,
                    now.amount_received,
                    refunded_minor=now.refunded_minor + pending.amount_minor,
                )
        self.holds[state.intent_id] = self.by_key[pending.idempotency_key] = state
        if self.lose_next:
            self.lose_next = False
            raise PaymentsUnavailableError("timed out")
        return state

    def retrieve(self, intent_id: str) -> HoldState:
        return self.holds[intent_id]

    def find_hold(self, payment: VisitPayment) -> HoldState | None:
        assert payment.pending is not None
        intent = self.metadata.get((payment.appointment_id, payment.pending.sequence))
        return self.holds[intent] if intent else None

    def forget(self) -> None:
        self.by_key.clear()


class _Records:
    def __init__(self) -> None:
        self.saved: dict[str, VisitPayment] = {}
        self.events: list[str] = []
        self.taken: set[str] = set()  # the notices taken

    def visit_payment(self, appointment_id: str) -> VisitPayment | None:
        return self.saved.get(appointment_id)

    def save_payment(self, payment: VisitPayment, outbox: list[Any], now: datetime) -> None:
        before = self.saved.get(payment.appointment_id)
        if (before.version if before else 0) != payment.version - 1:
            raise StaleWriteError("changed meanwhile")
        self.saved[payment.appointment_id] = payment
        self.events += [entry.resource["detail-type"] for entry in outbox]

    def notice_taken(self, event_id: str) -> bool:
        return event_id in self.taken

    def claim_notice(self, event_id: str, now: datetime) -> bool:
        if event_id in self.taken:
            return False
        self.taken.add(event_id)
        return True

    def forget_notice(self, event_id: str) -> None:
        self.taken.discard(event_id)


def _payments() -> tuple[VisitPayments, _Stripe, _Records]:
    stripe, records = _Stripe(), _Records()
    payments = VisitPayments(stripe, records, lambda: NOW)
    payments.card_saved("01VISIT", USD, "cus_1", "pm_1")
    return payments, stripe, records


def test_each_step_whose_answer_was_lost_is_finished_from_the_processor_not_done_twice() -> None:
    payments, stripe, records = _payments()
    steps: list[Callable[[], VisitPayment]] = [
        lambda: payments.hold("01VISIT", _usd(5000)),
        lambda: payments.capture("01VISIT", _usd(4000)),
        lambda: payments.refund("01VISIT", _usd(1000)),
    ]
    for step in steps:
        stripe.lose_next = True
        with pytest.raises(PaymentsUnavailableError):
            step()
        stripe.forget()  # a day later: the key would make it again
        payments.resume("01VISIT", USD)
    done = records.saved["01VISIT"]
    assert (done.status, done.captured_minor, done.refunded_minor, done.pending) == (
        PaymentStatus.CAPTURED,
        4000,
        1000,
        None,
    )
    assert stripe.sent == 3  # a hold, a capture, a refund: none twice
    assert records.events == ["Payment.Held", "Payment.Captured", "Payment.Refunded"]


def test_a_refused_hold_is_failed_with_its_reason_and_another_card_can_be_held() -> None:
    payments, stripe, records = _payments()
    stripe.refuse_next = "card_declined"
    failed = payments.hold("01VISIT", _usd(5000))
    assert (failed.status, failed.failure) == (PaymentStatus.FAILED, "card_declined")
    assert records.events == ["Payment.Failed"]
    payments.card_saved("01VISIT", USD, "cus_1", "pm_2")
    held = payments.hold("01VISIT", _usd(5000))
    assert held.status is PaymentStatus.HELD and held.holds == 2


def test_what_the_processor_did_unasked_is_recorded_once_and_a_report_of_nothing_new_changes_nothing() -> (
    None
):
    held = _held(5000)
    lapsed, step = held.observed(HoldState("pi_1", "canceled", 0, 0))
    assert (step, lapsed.status, lapsed.held_minor) == (Step.RELEASE, PaymentStatus.RELEASED, 0)
    assert lapsed.observed(HoldState("pi_1", "canceled", 0, 0)) == (lapsed, None)  # a repeat
    taken, step = held.observed(HoldState("pi_1", "succeeded", 0, 4000))
    assert (step, taken.status, taken.captured_minor) == (Step.CAPTURE, PaymentStatus.CAPTURED, 4000)
    # A stale report (the hold as it was before the capture) says nothing new.
    assert taken.observed(HoldState("pi_1", "requires_capture", 5000, 0)) == (taken, None)
    refunded, step = taken.observed(HoldState("pi_1", "succeeded", 0, 4000, refunded_minor=1500))
    assert (step, refunded.refunded_minor, refunded.refundable_minor) == (Step.REFUND, 1500, 2500)
    assert refunded.observed(HoldState("pi_1", "succeeded", 0, 4000, refunded_minor=1000)) == (refunded, None)
    # Another hold's report (one let go when the visit moved), or one while a step is pending, is
    # not this payment's to change.
    assert held.observed(HoldState("pi_old", "canceled", 0, 0)) == (held, None)
    capturing = held.begin_capture(_usd(5000))
    assert capturing.observed(HoldState("pi_1", "canceled", 0, 0)) == (capturing, None)


class _Notices:
    def __init__(self, notice: ProcessorNotice | None) -> None:
        self.notice = notice

    def verified_notice(self, payload: str, signature: str) -> ProcessorNotice:
        if self.notice is None:
            raise SignatureRefusedError("forged")
        return self.notice


class _Ledger(_Records):
    def __init__(self) -> None:
        super().__init__()
        self.race_next = False

    def save_payment(self, payment: VisitPayment, outbox: list[Any], now: datetime) -> None:
        if self.race_next:
            self.race_next = False
            raise StaleWriteError("changed meanwhile")
        super().save_payment(payment, outbox, now)


def test_a_notice_is_taken_once_by_its_id_and_one_whose_handling_failed_is_taken_when_it_comes_again() -> (
    None
):
    stripe, ledger = _Stripe(), _Ledger()
    payments = VisitPayments(stripe, ledger, lambda: NOW)
    payments.card_saved("01VISIT", USD, "cus_1", "pm_1")
    held = payments.hold("01VISIT", _usd(5000))
    lapsed = HoldState(str(held.intent_id), "canceled", 0, 0)
    inbox = PaymentNoticeInbox(
        _Notices(ProcessorNotice("evt_1", "payment_intent.canceled", "01VISIT", lapsed)), payments
    )

    ledger.race_next = True  # another handler of the same hold wrote first
    with pytest.raises(StaleWriteError):
        inbox.receive("{}", "t=1,v1=ab")
    assert "evt_1" not in ledger.taken  # so Stripe's redelivery is handled
    assert inbox.receive("{}", "t=1,v1=ab") == "taken"
    assert inbox.receive("{}", "t=1,v1=ab") == "repeat"
    assert ledger.saved["01VISIT"].status is PaymentStatus.RELEASED
    assert ledger.events == ["Payment.Held", "Payment.Released"]

    assert PaymentNoticeInbox(_Notices(ProcessorNotice("evt_2", "customer.created")), payments).receive(
        "{}", ""
    ) == ("ignored")
    with pytest.raises(SignatureRefusedError):
        PaymentNoticeInbox(_Notices(None), payments).receive("{}", "")


def test_the_local_stripes_signature_is_the_one_stripes_library_verifies_within_five_minutes() -> None:
    import stripe

    from local.standins.stripe_front import signature
    from telehealth.adapters.payments import NOTICE_TOLERANCE_S

    body = b'{"id": "evt_1", "object": "event", "type": "payment_intent.canceled", "data": {"object": {}}}'
    client, now = stripe.StripeClient("sk_test_x"), int(datetime.now(UTC).timestamp())
    event = client.construct_event(body, signature(body, "whsec_x", now), "whsec_x", NOTICE_TOLERANCE_S)
    assert (event.id, event.type) == ("evt_1", "payment_intent.canceled")
    for header in (
        signature(body, "whsec_y", now),
        signature(body + b" ", "whsec_x", now),
        signature(body, "whsec_x", now - NOTICE_TOLERANCE_S - 60),
    ):
        with pytest.raises(stripe.SignatureVerificationError):
            client.construct_event(body, header, "whsec_x", NOTICE_TOLERANCE_S)


def test_a_step_settled_meanwhile_by_stripes_webhook_stands_and_is_announced_once() -> None:
    payments, stripe, records = _payments()
    payments.hold("01VISIT", _usd(5000))
    # The capture's answer arrives after the webhook, re-reading the hold, settled it first.
    racing = _Racer(records, VisitPayments(stripe, records, lambda: NOW))
    captured = VisitPayments(stripe, racing, lambda: NOW).capture("01VISIT", _usd(4000))
    assert (captured.status, captured.captured_minor, captured.pending) == (
        PaymentStatus.CAPTURED,
        4000,
        None,
    )
    assert records.events == ["Payment.Held", "Payment.Captured"]  # not twice


class _Racer(_Records):
    """Records whose settling write finds the step already settled by a webhook's `resume`."""

    def __init__(self, records: _Records, webhook: VisitPayments) -> None:
        super().__init__()
        self.records, self.webhook, self.raced = records, webhook, False

    def visit_payment(self, appointment_id: str) -> VisitPayment | None:
        return self.records.visit_payment(appointment_id)

    def save_payment(self, payment: VisitPayment, outbox: list[Any], now: datetime) -> None:
        if payment.pending is None and not self.raced:
            self.raced = True
            self.webhook.resume(payment.appointment_id, USD)  # settles the same step first
        self.records.save_payment(payment, outbox, now)


def test_a_notice_about_a_step_still_on_its_way_sends_nothing_and_settles_nothing() -> None:
    stripe, ledger = _Stripe(), _Ledger()
    payments = VisitPayments(stripe, ledger, lambda: NOW)
    payments.card_saved("01VISIT", USD, "cus_1", "pm_1")
    held = payments.hold("01VISIT", _usd(5000))
    # A capture is written as pending; its request has not reached Stripe yet when a notice of
    # the hold (an older event) arrives: the notice must not send the capture itself.
    capturing = held.begin_capture(_usd(4000))
    ledger.save_payment(capturing, [], NOW)
    sent_before = stripe.sent
    assert payments.observe("01VISIT", stripe.retrieve(str(held.intent_id))) == capturing
    assert stripe.sent == sent_before and ledger.saved["01VISIT"].pending is not None
