"""A Good Faith Estimate: what a visit is expected to cost a patient who pays for it themselves
(uninsured, or not using their insurance), in writing, as the No Surprises Act requires of
providers (45 CFR 149.610). Pure: no I/O.

The rule asks for, in clear words: the patient's name and date of birth; the primary service and
when it is scheduled; each item expected, with its service code and expected charge; the
provider's (here the clinic's, which bills) name, NPI and TIN, and where the care is furnished (a
video visit: the state the patient is in); and the disclaimers below (other care may be
recommended separately; it is only an estimate; the right to dispute a bill at least $400 above
it; it is no contract). It is given within a business day of scheduling; the platform issues it
at booking (and anew when the visit moves), keeps each one with the booking, and shows the
expected charge before the patient books.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from telehealth.domain.payments import Money

# A bill this much above the estimate (in USD) opens the patient-provider dispute resolution.
DISPUTE_THRESHOLD = Money(40_000, "USD")
DISPUTE_HELP = "www.cms.gov/nosurprises, or call 1-800-985-3059"

DISCLAIMERS: tuple[str, ...] = (
    "This Good Faith Estimate shows the costs of items and services that are reasonably expected "
    "for your visit. It is based on information known when it was made, and does not include "
    "unknown or unexpected costs: the actual items, services or charges may differ.",
    "Your clinician may recommend other items or services as part of your care that must be "
    "scheduled or requested separately. They are not part of this estimate.",
    "If you are billed at least $400 more than this Good Faith Estimate, you have the right to "
    "dispute the bill through the patient-provider dispute resolution process, within 120 days of "
    "the date on the bill. Contact the clinic first to tell them the bill is higher than the "
    f"estimate. For your rights and how to start a dispute, visit {DISPUTE_HELP}. Starting a "
    "dispute does not affect the quality of care you receive.",
    "This Good Faith Estimate is not a contract and does not require you to get the items or "
    "services listed.",
    "Keep a copy of this Good Faith Estimate (print it, or save a picture of it): you may need it "
    "if you are billed more.",
)


@dataclass(frozen=True)
class BillingProvider:
    """Who bills for the visit and so gives the estimate: the clinic, by its billing NPI and TIN."""

    name: str
    npi: str
    tin: str


@dataclass(frozen=True)
class EstimatedItem:
    description: str
    billing_code: str | None  # the CPT or HCPCS code the clinic bills it as (None: none given)
    expected: Money


@dataclass(frozen=True)
class GoodFaithEstimate:
    """One estimate, issued for one version of the booking (a moved visit gets another); before
    booking, a preview of it without the booking (its id, time and clinician: None)."""

    appointment_id: str | None
    appointment_version: int
    patient_name: str
    patient_birth_date: date
    primary_service: str
    scheduled_start: datetime | None
    clinician: str | None
    billing_provider: BillingProvider
    location_state: str  # where the care is furnished: the patient's state for the visit
    items: tuple[EstimatedItem, ...]
    issued_at: datetime

    @property
    def total(self) -> Money:
        currency = self.items[0].expected.currency
        return Money(sum(i.expected.amount_minor for i in self.items), currency)

    @property
    def disclaimers(self) -> tuple[str, ...]:
        return DISCLAIMERS


def needs_estimate(price: Money, insured: bool) -> bool:
    """Whether the patient gets an estimate: a visit with a price, which they pay themselves."""
    return price.amount_minor > 0 and not insured
