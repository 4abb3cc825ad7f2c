"""What a completed visit is billed as: the charge (a CPT code, the place of service, the
telehealth modifier) and the patient's invoice (the price, the patient's share, what was paid).
Pure: no I/O.

The clinic gives each service the CPT code it bills (clinic settings; an E/M code such as 99213,
or 90791 for a psychiatric evaluation): choosing the level of an E/M visit is a coding decision by
the clinic, not something the platform guesses from the call's length. A telehealth professional
claim then says where the patient was (place of service 10: in their home; 02: anywhere else, the
conservative answer when the patient did not say) and that it was real-time audio and video
(modifier 95). The claim itself is the clinic's biller's (or clearinghouse's): the platform
records the charge, it does not submit claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from telehealth.domain.payments import Money, VisitPayment

# A CPT code: five characters, Category I five digits, Category II four digits and F, Category
# III four digits and T (HCPCS Level II codes are a letter and four digits).
BILLING_CODE = re.compile(r"^(\d{4}[0-9FT]|[A-V]\d{4})$")
# Synchronous telemedicine rendered via a real-time interactive audio and video system.
TELEHEALTH_MODIFIER = "95"


class PlaceOfService(StrEnum):
    """The CMS place-of-service code for a telehealth visit: where the patient was."""

    PATIENT_HOME = "10"  # telehealth provided in the patient's home
    ELSEWHERE = "02"  # telehealth provided other than in the patient's home


def place_of_service(at_home: bool | None) -> PlaceOfService:
    """Home only when the patient said so at check-in; unknown is billed as elsewhere (02, the
    lower-paid code: never claim what the patient did not say)."""
    return PlaceOfService.PATIENT_HOME if at_home else PlaceOfService.ELSEWHERE


def billing_code_problem(code: str) -> str | None:
    return (
        None
        if BILLING_CODE.fullmatch(code)
        else "a billing code is a CPT code (five digits, or four and F or T) or a HCPCS code"
    )


class InvoiceStatus(StrEnum):
    """FHIR's Invoice status, as far as a visit's invoice goes."""

    ISSUED = "issued"  # owed, not (all) paid yet
    BALANCED = "balanced"  # paid, or nothing owed


@dataclass(frozen=True)
class VisitCharge:
    """A completed visit's charge and its invoice to the patient. `version` moves with every write
    (the invoice again when money moves: a capture settled late, a refund)."""

    appointment_id: str
    patient_id: str
    provider_id: str
    service_type: str
    service_name: str
    billing_code: str | None  # None: the clinic gave the service none (the biller adds it)
    place: PlaceOfService
    start: datetime
    end: datetime
    price: Money  # the clinic's price for the service (the amount billed)
    patient_share: Money  # what the patient owes of it: all of it when self-pay
    insured: bool  # whether the share came from an active insurance answer
    visit_version: int | None = None  # the appointment version whose visit (Encounter) it was
    captured_minor: int = 0  # taken from the patient's card
    refunded_minor: int = 0  # given back by the clinic (an adjustment: it is not owed again)
    entered_at: datetime | None = None
    version: int = 1

    @property
    def owed_minor(self) -> int:
        """The patient's share less what the clinic gave back."""
        return max(self.patient_share.amount_minor - self.refunded_minor, 0)

    @property
    def paid_minor(self) -> int:
        return max(self.captured_minor - self.refunded_minor, 0)

    @property
    def invoice_status(self) -> InvoiceStatus:
        return InvoiceStatus.BALANCED if self.paid_minor >= self.owed_minor else InvoiceStatus.ISSUED

    def paid_by(self, payment: VisitPayment | None) -> VisitCharge:
        """The charge with what `payment` took and gave back; itself if nothing moved."""
        captured, refunded = taken_by(payment, self.price.currency)
        if (captured, refunded) == (self.captured_minor, self.refunded_minor):
            return self
        return replace(self, captured_minor=captured, refunded_minor=refunded, version=self.version + 1)


def taken_by(payment: VisitPayment | None, currency: str) -> tuple[int, int]:
    """What the visit's card payment took and what was refunded of it, in `currency` (nothing in
    another)."""
    if payment is None or payment.currency != currency:
        return 0, 0
    return payment.captured_minor, payment.refunded_minor
