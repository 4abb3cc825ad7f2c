"""A visit's money, moved exactly once: hold, capture, release, refund.

Each step is written as pending (with the key it is sent under) before anything is sent, then sent
through the payments function, then settled with what the card processor reported, with its
`Payment.*` event, in one write. Whatever fails in between leaves the step pending; the next call
for the visit (or a retry of this one) finishes it first: a step on an existing hold re-reads the
hold and settles from it where it was done already, and otherwise sends it again under the same
key; a pending hold looks for the hold its metadata names before it makes one. So a capture whose
answer timed out, retried a day later when the processor has forgotten its key, charges once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from telehealth.application.booking import announce
from telehealth.domain.payments import HoldState, Money, PaymentRuleError, Step, VisitPayment
from telehealth.errors import StaleWriteError
from telehealth.events import (
    PaymentCaptured,
    PaymentEvent,
    PaymentFailed,
    PaymentHeld,
    PaymentRefunded,
    PaymentReleased,
)
from telehealth.ports import CardProcessor, PaymentNotices, PaymentRecords, PaymentRefusedError

_SETTLED: dict[Step, type[PaymentEvent]] = {
    Step.HOLD: PaymentHeld,
    Step.CAPTURE: PaymentCaptured,
    Step.RELEASE: PaymentReleased,
    Step.REFUND: PaymentRefunded,
}


class VisitPayments:
    def __init__(
        self, processor: CardProcessor, records: PaymentRecords, clock: Callable[[], datetime]
    ) -> None:
        self.processor, self.records, self.clock = processor, records, clock

    def payment(self, appointment_id: str, currency: str) -> VisitPayment:
        """The visit's payment as it stands (a new one when nothing was asked of a card yet)."""
        return self.records.visit_payment(appointment_id) or VisitPayment(appointment_id, currency)

    def card_saved(
        self, appointment_id: str, currency: str, customer_id: str, payment_method_id: str
    ) -> VisitPayment:
        payment = self.resume(appointment_id, currency).card_saved(customer_id, payment_method_id)
        self.records.save_payment(payment, [], self.clock())
        return payment

    def hold(self, appointment_id: str, amount: Money, *, off_session: bool = False) -> VisitPayment:
        payment = self.resume(appointment_id, amount.currency)
        return self._run(payment.begin_hold(amount, off_session=off_session))

    def capture(self, appointment_id: str, amount: Money) -> VisitPayment:
        payment = self.resume(appointment_id, amount.currency)
        return self._run(payment.begin_capture(amount))

    def release(self, appointment_id: str, currency: str) -> VisitPayment:
        return self._run(self.resume(appointment_id, currency).begin_release())

    def refund(self, appointment_id: str, amount: Money) -> VisitPayment:
        payment = self.resume(appointment_id, amount.currency)
        return self._run(payment.begin_refund(amount))

    def resume(self, appointment_id: str, currency: str) -> VisitPayment:
        """The visit's payment with any pending step finished first (settled from the hold's
        state where it was done, else sent again under its key)."""
        payment = self.payment(appointment_id, currency)
        pending = payment.pending
        if pending is None:
            return payment
        try:
            now = self._hold_now(payment)
        except PaymentRefusedError as refusal:  # the hold (or the customer) is gone for good
            return self._refuse(payment, refusal.code)
        # A hold found by its metadata is settled whatever its state (refused where the card did
        # not authorize it); a step on an existing hold only where the hold shows it done.
        if now is not None and (pending.step is Step.HOLD or payment.already_done(now)):
            return self._settle(payment, now)
        return self._send(payment)

    def observe(self, appointment_id: str, hold: HoldState) -> VisitPayment | None:
        """The visit's payment brought up to what the processor reports of its hold, unasked (a
        webhook's, re-read): a pending step is settled where the hold shows it done (the report
        may be its outcome), never sent from here; otherwise what was done at the processor alone
        (a hold lapsed, a refund from its dashboard) is recorded, with its event. None: the visit
        has no payment here."""
        found = self.records.visit_payment(appointment_id)
        if found is None:
            return None
        if found.pending is not None:
            # Settled from the processor only where it shows the step done; never sent from here,
            # as the call that began it may be sending it this moment (same key: a 409).
            return self._settled_if_done(found) or found
        observed, step = found.observed(hold)
        if step is None:
            return found
        sequence = observed.refunds if step is Step.REFUND else observed.attempts
        event = _SETTLED[step](appointment_id=appointment_id, sequence=sequence, intent_id=hold.intent_id)
        self.records.save_payment(observed, [announce(event, self.clock())], self.clock())
        return observed

    def _settled_if_done(self, payment: VisitPayment) -> VisitPayment | None:
        """The pending step settled where the processor shows it done (the hold made, the capture
        taken); None otherwise, or where the processor cannot say."""
        try:
            now = self._hold_now(payment)
        except PaymentRefusedError:
            return None
        return self._settle(payment, now) if now is not None and payment.already_done(now) else None

    def _hold_now(self, payment: VisitPayment) -> HoldState | None:
        """What the processor holds for the pending step: the hold a pending hold made (found by
        its metadata), or the visit's current hold; None when there is none to read."""
        if payment.pending is not None and payment.pending.step is Step.HOLD:
            return self.processor.find_hold(payment)
        return self.processor.retrieve(payment.intent_id) if payment.intent_id is not None else None

    # --- a step ----------------------------------------------------------------------------------

    def _run(self, payment: VisitPayment) -> VisitPayment:
        self.records.save_payment(payment, [], self.clock())  # pending, before anything is sent
        return self._send(payment)

    def _send(self, payment: VisitPayment) -> VisitPayment:
        """Send the pending step. `PaymentsUnavailableError` leaves it pending, for a retry."""
        try:
            state = self.processor.carry_out(payment)
        except PaymentRefusedError as refusal:
            return self._after_refusal(payment, refusal.code)
        return self._settle(payment, state)

    def _after_refusal(self, payment: VisitPayment, code: str) -> VisitPayment:
        """A step refused on a hold that may have changed under it (captured by a twin call,
        cancelled at its deadline) is settled by the hold's state where that says it is done;
        otherwise it is refused."""
        pending = payment.pending
        if payment.intent_id is not None and pending is not None and pending.step is not Step.HOLD:
            try:
                now = self.processor.retrieve(payment.intent_id)
            except PaymentRefusedError:
                return self._refuse(payment, code)
            if payment.already_done(now):
                return self._settle(payment, now)
        return self._refuse(payment, code)

    def _settle(self, payment: VisitPayment, state: HoldState) -> VisitPayment:
        pending = payment.pending
        assert pending is not None
        try:
            settled = payment.settled_by(state)
        except PaymentRuleError:
            # The processor did not do what was asked, without refusing it outright (a hold
            # waiting for the patient to authenticate): refused all the same.
            return self._refuse(
                payment, "authentication_required" if state.status == "requires_action" else state.status
            )
        event = _SETTLED[pending.step](
            appointment_id=payment.appointment_id, sequence=pending.sequence, intent_id=state.intent_id
        )
        return self._save_settled(payment, settled, event)

    def _refuse(self, payment: VisitPayment, code: str) -> VisitPayment:
        pending = payment.pending
        assert pending is not None
        refused = payment.refused(code)
        event = PaymentFailed(
            appointment_id=payment.appointment_id,
            step=pending.step.value,
            sequence=pending.sequence,
            code=code,
        )
        return self._save_settled(payment, refused, event)

    def _save_settled(
        self, before: VisitPayment, settled: VisitPayment, event: PaymentEvent | PaymentFailed
    ) -> VisitPayment:
        """The step's outcome, with its event; unless someone settled it meanwhile (Stripe's
        webhook finishing the same step from the hold it re-read, or a twin call): then what
        they wrote stands, and nothing is announced twice."""
        try:
            self.records.save_payment(settled, [announce(event, self.clock())], self.clock())
        except StaleWriteError:
            now = self.records.visit_payment(before.appointment_id)
            if now is not None and now.pending is None and now.version > before.version:
                return now
            raise
        return settled


class PaymentNoticeInbox:
    """What the card processor tells the clinic unasked (Stripe's webhooks): each notice verified
    as the processor's, taken once by its id, and acted on by re-reading the hold it names, never by
    what the notice says. So notices may come twice, late or out of order: a repeat is known by its
    id, and a stale one re-reads the same hold as the newest."""

    def __init__(self, notices: PaymentNotices, payments: VisitPayments) -> None:
        self.notices, self.payments = notices, payments

    def receive(self, payload: str, signature: str) -> str:
        """`taken`, `repeat` (taken before) or `ignored` (nothing of a visit's payment).
        `SignatureRefusedError` when the notice is not the processor's. A failure leaves the
        notice untaken, so the processor's redelivery is handled."""
        notice = self.notices.verified_notice(payload, signature)
        if notice.hold is None or notice.appointment_id is None:
            return "ignored"
        records = self.payments.records
        if records.notice_taken(notice.event_id):
            return "repeat"
        # Acted on, then remembered: acting twice is harmless (the hold is re-read), and a notice
        # remembered before it was acted on would be lost with a function that timed out between.
        self.payments.observe(notice.appointment_id, notice.hold)
        records.claim_notice(notice.event_id, self.payments.clock())
        return "taken"
