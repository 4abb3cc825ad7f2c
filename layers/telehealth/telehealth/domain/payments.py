"""What a visit costs the patient and how the money moves: held before the visit, captured after,
released or turned into the clinic's fee on a cancellation, refunded by policy. Pure: no I/O.

Money is integer minor units with its ISO 4217 currency, everywhere. A visit's payment is one
record with the booking (`VisitPayment`); each movement of money is a *step* (hold, capture,
release, refund) that is first written as pending, with the idempotency key it is sent under, and
then settled with what the card processor answered. A retry finds the pending step and sends it
again under the same key, so a step that timed out is never made twice; and because the processor
keeps keys for a day only, a step on an existing hold is sent after re-reading the hold's state,
which tells whether it was already done (`settled_by`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

_CURRENCY = re.compile(r"[A-Z]{3}")
# ISO 4217's exponents other than two: the currencies whose minor unit is the unit itself, and
# those with three decimals (the portal's Intl formatting uses the same table).
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV"}
    | {"XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
# What may go to the card processor as metadata: opaque ids, nothing of the visit (Stripe signs no
# BAA). Each key's values are ids or counters, never free text.
METADATA_KEYS = frozenset({"appointment_id", "step", "sequence"})
_METADATA_VALUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# What the patient's statement and the processor's dashboard say the charge is: nothing that names
# a service, a provider, a reason or even the clinic (its name can disclose the kind of care).
CHARGE_DESCRIPTION = "Telehealth visit"

# How long a hold lasts is the processor's `capture_before`: about 7 days for a card the patient
# presents, about 5 for a charge the clinic makes later (merchant-initiated). A visit that ends
# within the first, with a day to spare, is held at booking; a later one saves the card at booking
# and is held this long before it starts.
PRESENT_HOLD_LIFE = timedelta(days=7)
LATER_HOLD_LEAD = timedelta(hours=48)
HOLD_MARGIN = timedelta(days=1)


class PaymentRuleError(Exception):
    """A step the payment's state does not allow: `kind` names the rule (a problem type)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise ValueError("an amount is a whole number of minor units")
        if self.amount_minor < 0:
            raise ValueError("an amount is never negative")
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError("a currency is its ISO 4217 code, e.g. USD")

    @property
    def major(self) -> Decimal:
        """The amount in the currency's main unit (4000 USD cents: 40.00), as FHIR's Money says it."""
        exponent = 0 if self.currency in ZERO_DECIMAL else 3 if self.currency in THREE_DECIMAL else 2
        return Decimal(self.amount_minor).scaleb(-exponent)


class PaymentStatus(StrEnum):
    NONE = "none"  # nothing asked of the card yet
    CARD_SAVED = "card-saved"  # a card to charge later, with the patient's consent
    HELD = "held"  # an amount authorized on the card, not yet taken
    CAPTURED = "captured"  # taken (all or part of the hold; the rest released)
    RELEASED = "released"  # the hold let go, nothing taken
    FAILED = "failed"  # the card refused the hold (the patient is told, to fix it)


class Step(StrEnum):
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"


@dataclass(frozen=True)
class PendingStep:
    """A step sent (or about to be) and not yet settled: a retry sends it again, the same key."""

    step: Step
    sequence: int  # the step's count on this visit: a second hold, a second refund, are new steps
    amount_minor: int
    idempotency_key: str
    off_session: bool = False  # a hold the clinic makes later, without the patient there


@dataclass(frozen=True)
class HoldState:
    """What the processor says of a hold (a PaymentIntent), normalized."""

    intent_id: str
    status: str  # the processor's: requires_capture, succeeded, canceled, requires_action, ...
    amount_capturable: int
    amount_received: int
    capture_before: datetime | None = None
    refunded_minor: int = 0


def idempotency_key(appointment_id: str, step: Step, sequence: int) -> str:
    """The key a step is sent under: from the booking, the step and its sequence, so the same
    step retried is the same request and a new step (a second refund) is a new one."""
    return f"visit-{appointment_id}-{step.value}-{sequence}"


def charge_metadata(appointment_id: str, step: Step, sequence: int) -> dict[str, str]:
    return checked_metadata({"appointment_id": appointment_id, "step": step.value, "sequence": str(sequence)})


def checked_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Metadata as it may leave for the processor: the allow-listed keys, each an opaque id."""
    for key, value in metadata.items():
        if key not in METADATA_KEYS:
            raise ValueError(f"metadata key {key!r} is not on the allow-list")
        if not isinstance(value, str) or not _METADATA_VALUE.fullmatch(value):
            raise ValueError(f"metadata {key!r} must be an opaque id")
    return metadata


@dataclass(frozen=True)
class VisitPayment:
    appointment_id: str
    currency: str
    status: PaymentStatus = PaymentStatus.NONE
    customer_id: str | None = None  # the processor's customer (it knows no name, no e-mail)
    payment_method_id: str | None = None  # the saved card
    intent_id: str | None = None  # the current hold
    capture_before: datetime | None = None
    held_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    holds: int = 0  # holds tried, for the next one's sequence
    attempts: int = 0  # captures and releases tried, for the next one's sequence
    refunds: int = 0  # refunds tried, for the next one's sequence
    pending: PendingStep | None = None
    failure: str | None = None  # the processor's code for the last refusal (`card_declined`)
    version: int = 0

    # --- begin a step: the pending step, written before anything is sent -------------------------

    def begin_hold(self, amount: Money, *, off_session: bool = False) -> VisitPayment:
        self._no_pending()
        self._same_currency(amount)
        if self.status not in (
            PaymentStatus.NONE,
            PaymentStatus.CARD_SAVED,
            PaymentStatus.RELEASED,
            PaymentStatus.FAILED,
        ):
            raise PaymentRuleError("already-held", "This visit's payment is already held or taken.")
        if self.payment_method_id is None:
            raise PaymentRuleError("no-card", "There is no card to hold the visit's amount on.")
        if amount.amount_minor == 0:
            raise PaymentRuleError("nothing-to-hold", "The visit costs nothing to hold.")
        return self._pending(Step.HOLD, self.holds + 1, amount.amount_minor, off_session=off_session)

    def begin_capture(self, amount: Money) -> VisitPayment:
        """Take `amount` of the hold (the visit's amount owed, or the clinic's fee); the rest is
        released by the capture itself."""
        self._no_pending()
        self._same_currency(amount)
        self._held()
        if not 0 < amount.amount_minor <= self.held_minor:
            raise PaymentRuleError("over-held", "A capture takes more than nothing and at most what is held.")
        return self._pending(Step.CAPTURE, self.attempts + 1, amount.amount_minor)

    def begin_release(self) -> VisitPayment:
        self._no_pending()
        self._held()
        return self._pending(Step.RELEASE, self.attempts + 1, 0)

    def begin_refund(self, amount: Money) -> VisitPayment:
        self._no_pending()
        self._same_currency(amount)
        if self.status is not PaymentStatus.CAPTURED:
            raise PaymentRuleError("nothing-captured", "Nothing was taken for this visit to refund.")
        if not 0 < amount.amount_minor <= self.refundable_minor:
            raise PaymentRuleError(
                "over-refund", "A refund gives back at most what was taken and not refunded."
            )
        return self._pending(Step.REFUND, self.refunds + 1, amount.amount_minor)

    # --- settle it with what the processor said ---------------------------------------------------

    def card_saved(self, customer_id: str, payment_method_id: str) -> VisitPayment:
        self._no_pending()  # a pending hold is sent again with the card it named
        status = (
            PaymentStatus.CARD_SAVED
            if self.status in (PaymentStatus.NONE, PaymentStatus.FAILED)
            else self.status
        )
        return replace(
            self,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            status=status,
            failure=None,
            version=self.version + 1,
        )

    def settled_by(self, hold: HoldState) -> VisitPayment:
        """The pending step settled by the hold's state as the processor reports it (after the
        step's answer, or after re-reading the hold on a retry)."""
        pending = self._pending_step()
        done = replace(self, pending=None, version=self.version + 1, intent_id=hold.intent_id)
        if pending.step is Step.HOLD:
            if hold.status != "requires_capture":
                raise PaymentRuleError("hold-not-authorized", "The card did not authorize the hold.")
            return replace(
                done,
                status=PaymentStatus.HELD,
                held_minor=hold.amount_capturable,
                holds=pending.sequence,
                capture_before=hold.capture_before,
                captured_minor=0,
                refunded_minor=0,
                failure=None,
            )
        if pending.step in (Step.CAPTURE, Step.RELEASE) and hold.status == "canceled":
            # Let go, by this release or by the processor (a hold past its deadline is cancelled):
            # either way nothing is held any more, and nothing was taken.
            return replace(done, status=PaymentStatus.RELEASED, held_minor=0, attempts=pending.sequence)
        if pending.step is Step.CAPTURE:
            if hold.status != "succeeded":
                raise PaymentRuleError("not-captured", "The hold was not captured.")
            return replace(
                done,
                status=PaymentStatus.CAPTURED,
                captured_minor=hold.amount_received,
                held_minor=0,
                attempts=pending.sequence,
            )
        if pending.step is Step.RELEASE:
            raise PaymentRuleError("not-released", "The hold was not released.")
        return replace(done, refunded_minor=hold.refunded_minor, refunds=pending.sequence)

    def refused(self, code: str) -> VisitPayment:
        """The processor refused the pending step for good (a declined card, an expired hold):
        nothing moved; a refused hold leaves the visit unpaid until the patient fixes the card."""
        pending = self._pending_step()
        failed = replace(self, pending=None, failure=code, version=self.version + 1)
        # The step's sequence is spent: the next one is a new request, under a new key.
        if pending.step is Step.HOLD:
            return replace(failed, status=PaymentStatus.FAILED, holds=pending.sequence)
        if pending.step is Step.REFUND:
            return replace(failed, refunds=pending.sequence)
        return replace(failed, attempts=pending.sequence)

    def observed(self, hold: HoldState) -> tuple[VisitPayment, Step | None]:
        """The payment brought up to what the processor reports of its current hold, for what was
        done there and not asked from here (a hold cancelled at its deadline, a capture or a
        refund made in the processor's dashboard), and which step that amounts to; the payment
        unchanged, and None, when it says nothing new. A report of another hold (an older one,
        let go when the visit moved), or one that arrives while a step is pending (that step is
        settled first), changes nothing. Reports may come late and out of order: each is the
        hold's state now, re-read, so the last one read wins and a repeat is a no-op."""
        if self.pending is not None or hold.intent_id != self.intent_id:
            return self, None
        if self.status is PaymentStatus.HELD and hold.status == "canceled":
            let_go = replace(self, status=PaymentStatus.RELEASED, held_minor=0, attempts=self.attempts + 1)
            return replace(let_go, version=self.version + 1), Step.RELEASE
        if self.status is PaymentStatus.HELD and hold.status == "succeeded":
            taken = replace(
                self,
                status=PaymentStatus.CAPTURED,
                captured_minor=hold.amount_received,
                held_minor=0,
                attempts=self.attempts + 1,
            )
            return replace(taken, version=self.version + 1), Step.CAPTURE
        if self.status is PaymentStatus.CAPTURED and hold.refunded_minor > self.refunded_minor:
            given = replace(self, refunded_minor=hold.refunded_minor, refunds=self.refunds + 1)
            return replace(given, version=self.version + 1), Step.REFUND
        return self, None

    @property
    def refundable_minor(self) -> int:
        return self.captured_minor - self.refunded_minor if self.status is PaymentStatus.CAPTURED else 0

    # --- helpers -------------------------------------------------------------------------------------

    def _pending(
        self, step: Step, sequence: int, amount_minor: int, *, off_session: bool = False
    ) -> VisitPayment:
        key = idempotency_key(self.appointment_id, step, sequence)
        pending = PendingStep(step, sequence, amount_minor, key, off_session)
        return replace(self, pending=pending, version=self.version + 1)

    def already_done(self, hold: HoldState) -> bool:
        """Whether the hold's state shows the pending step done already (its answer was lost, and
        its key may be past the processor's day): settled from it, not sent again."""
        pending = self._pending_step()
        if pending.step is Step.CAPTURE:
            return hold.status in ("succeeded", "canceled")  # taken; or gone, nothing to take
        if pending.step is Step.RELEASE:
            return hold.status == "canceled"
        if pending.step is Step.REFUND:
            return hold.refunded_minor >= self.refunded_minor + pending.amount_minor
        return hold.status == "requires_capture"  # a hold found by its metadata

    def _pending_step(self) -> PendingStep:
        if self.pending is None:
            raise PaymentRuleError("nothing-pending", "No payment step is waiting to be settled.")
        return self.pending

    def _no_pending(self) -> None:
        if self.pending is not None:
            raise PaymentRuleError(
                "step-pending", f"A {self.pending.step.value} is still being settled; it is retried first."
            )

    def _held(self) -> None:
        if self.status is not PaymentStatus.HELD or self.intent_id is None:
            raise PaymentRuleError("nothing-held", "Nothing is held for this visit.")

    def _same_currency(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise PaymentRuleError("other-currency", f"This visit is paid in {self.currency}.")


def hold_at(visit_start: datetime, visit_end: datetime, now: datetime) -> datetime:
    """When the visit's amount is held: now, while the patient is there to present the card and
    the visit ends inside that hold's life; otherwise `LATER_HOLD_LEAD` before it starts (a
    charge the clinic makes, whose shorter life still covers the visit)."""
    if visit_end <= now + PRESENT_HOLD_LIFE - HOLD_MARGIN:
        return now
    return visit_start - LATER_HOLD_LEAD


def outlives_hold(payment: VisitPayment, visit_end: datetime) -> bool:
    """Whether a rescheduled visit ends after its hold can be captured: the hold is let go and
    made again (a new step) nearer the visit."""
    return (
        payment.status is PaymentStatus.HELD
        and payment.capture_before is not None
        and visit_end + HOLD_MARGIN > payment.capture_before
    )
