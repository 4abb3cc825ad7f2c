"""A patient's insurance and what the payer says of it, as pure rules: which service type to ask
about, which of the payer's benefit lines answers for the visit, and what the patient then owes.

An eligibility answer (X12 271, or a clearinghouse's JSON of it) is a flat list of benefit lines
(`EB` segments): active or inactive coverage, co-payments, co-insurance, deductibles, out-of-pocket
limits, each for some service types, a coverage level (the individual, the family), a network
(in, out, or either) and a period (per visit, the calendar year, what remains). The traps:
- 5010 has no telemedicine service type: ask for the visit's own (`98` a professional visit, `MH`
  mental health, `UC` urgent care) and fall back to `30` (the plan's general benefits);
- read the line that matches the service type, the coverage level, the network and the period,
  never the first line of its kind (payers list family and out-of-network lines too);
- co-insurance is a decimal fraction (`.20` is 20 %), amounts are dollars.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from telehealth.domain.payments import Money

# The plan's general benefits: what every payer answers, and what a visit falls back to.
GENERAL_BENEFITS = "30"
# The service type codes (X12 5010, code source 958) to ask about for each of the clinic's kinds
# of visit, most specific first; `30` is always asked too, last.
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "general": ("98",),  # professional (physician) visit, office
    "follow-up": ("98",),
    "urgent-care": ("UC",),
    "behavioral-health": ("MH", "A4"),  # mental health; psychiatric
    "evaluation": ("MH",),
    "pediatrics": ("98",),
    "dermatology": ("98",),
}

# AAA reject reasons (X12 5010, the AAA03 codes) a patient or the desk can act on, in words.
REJECTIONS: dict[str, str] = {
    "15": "The payer's records need the member's information in another form.",
    "41": "The clinic is not set up to check this payer's coverage yet.",
    "42": "The insurer's system did not answer. The clinic will check again.",
    "43": "The clinic's provider is not known to this insurer.",
    "45": "The insurer does not recognise the clinic's provider for this plan.",
    "56": "The date of the visit is outside what the insurer can check.",
    "57": "The insurer could not check coverage for the visit's date.",
    "58": "The date of birth does not match the insurer's records.",
    "62": "The insurer could not check coverage for the visit's date.",
    "71": "The date of birth does not match the insurer's records.",
    "72": "The member ID is not one the insurer knows. Check it against the insurance card.",
    "73": "The name does not match the insurer's records. Use it as it is on the insurance card.",
    "75": "The insurer found no member with these details.",
    "76": "The insurer found more than one member with these details.",
    "79": "The insurer could not check this member's coverage.",
}
# The reasons that say the payer, not the member's details, was the trouble: checked again later.
TRY_AGAIN = frozenset({"42", "79"})

_PAYER_ID = re.compile(r"[A-Za-z0-9]{2,20}")
_MEMBER_ID = re.compile(r"[A-Za-z0-9-]{2,40}")


class CoverageRuleError(ValueError):
    """Insurance details the clinic cannot check (a malformed member id, an unknown payer)."""


class Relationship(StrEnum):
    """The patient's relationship to the plan's subscriber (the policyholder)."""

    SELF = "self"
    SPOUSE = "spouse"
    CHILD = "child"
    OTHER = "other"


@dataclass(frozen=True)
class Person:
    given_name: str
    family_name: str
    birth_date: date


@dataclass(frozen=True)
class Coverage:
    """A patient's insurance as they (or the front desk, or a health system) recorded it."""

    payer_id: str  # the clearinghouse's id of the payer, from its directory
    member_id: str
    relationship: Relationship = Relationship.SELF
    group_number: str | None = None
    subscriber: Person | None = None  # the policyholder, when it is not the patient

    def __post_init__(self) -> None:
        if not _PAYER_ID.fullmatch(self.payer_id):
            raise CoverageRuleError("a payer is named by its id in the payer directory")
        if not _MEMBER_ID.fullmatch(self.member_id):
            raise CoverageRuleError("a member id is letters, digits and dashes, as on the card")
        if (self.relationship is Relationship.SELF) != (self.subscriber is None):
            raise CoverageRuleError("a dependent's coverage names its subscriber; the subscriber's does not")


@dataclass(frozen=True)
class Payer:
    payer_id: str  # what a check names the payer by (the clearinghouse's directory)
    name: str


@dataclass(frozen=True)
class EligibilityQuestion:
    """What a check asks: whose coverage, with which payer, for what kind of visit and when."""

    coverage: Coverage
    patient: Person
    service_types: tuple[str, ...]  # most specific first (`service_type_codes`)
    date_of_service: date


def service_type_codes(service_type: str) -> tuple[str, ...]:
    """What to ask the payer about for a kind of visit: its own codes, then the plan's general."""
    own = SERVICE_TYPES.get(service_type, ())
    return (*own, GENERAL_BENEFITS) if GENERAL_BENEFITS not in own else own


class BenefitCode(StrEnum):
    """EB01, the kinds of benefit line this platform reads."""

    ACTIVE = "1"
    INACTIVE = "6"
    COINSURANCE = "A"
    COPAY = "B"
    DEDUCTIBLE = "C"
    OUT_OF_POCKET = "G"
    OTHER_PAYER = "R"


@dataclass(frozen=True)
class Benefit:
    """One benefit line (an `EB` segment), as the payer sent it."""

    code: str  # EB01
    coverage_level: str | None = None  # EB02: IND (individual), FAM (family), ...
    service_types: tuple[str, ...] = ()  # EB03
    plan: str | None = None  # EB05
    period: str | None = None  # EB06: 27 visit, 23 calendar year, 29 remaining, ...
    amount: str | None = None  # EB07, dollars as the payer wrote them ("25", "25.00")
    percent: str | None = None  # EB08, a fraction ("0.2", ".20")
    network: str | None = None  # EB12: Y in network, N out of network, W either


@dataclass(frozen=True)
class Rejection:
    code: str  # AAA03
    words: str


class EligibilityStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    REJECTED = "rejected"  # the payer refused the details (AAA): the patient fixes them
    UNAVAILABLE = "unavailable"  # the payer or clearinghouse did not answer: checked again later


@dataclass(frozen=True)
class Eligibility:
    """One normalized answer: what a visit of the asked service type costs the patient, as far as
    the payer says. Amounts in minor units of USD (X12 amounts are dollars)."""

    status: EligibilityStatus
    service_type: str | None = None  # the code the benefits below were read for
    plan_name: str | None = None
    plan_begin: date | None = None
    plan_end: date | None = None
    copay_minor: int | None = None
    coinsurance_percent: Decimal | None = None  # 20 for 20 %
    deductible_remaining_minor: int | None = None
    out_of_pocket_remaining_minor: int | None = None
    other_payer: bool = False  # the payer says another plan pays too (coordination of benefits)
    rejections: tuple[Rejection, ...] = ()

    def patient_share(self, price: Money) -> Money:
        """What the patient owes for a visit the clinic prices at `price` (taken as the allowed
        amount): the co-payment where the plan has one; otherwise what is left of the deductible,
        then the co-insurance of the rest; never more than the out-of-pocket left or the price.
        Not covered (inactive, refused, unanswered): the whole price, self-pay."""
        if self.status is not EligibilityStatus.ACTIVE or price.currency != "USD":
            return price
        if self.copay_minor is not None:
            owed = min(self.copay_minor, price.amount_minor)
        elif self.coinsurance_percent is not None or self.deductible_remaining_minor is not None:
            deductible = min(self.deductible_remaining_minor or 0, price.amount_minor)
            rest = price.amount_minor - deductible
            share = Decimal(self.coinsurance_percent or 0) * rest / 100
            owed = deductible + int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        else:
            # Covered, but the payer named no cost share for the visit: not known to be free, so
            # the price stands (a person settles it with the payer's explanation of benefits).
            owed = price.amount_minor
        if self.out_of_pocket_remaining_minor is not None:
            owed = min(owed, self.out_of_pocket_remaining_minor)
        return Money(owed, price.currency)


def rejection(code: str) -> Rejection:
    return Rejection(code, REJECTIONS.get(code, "The insurer could not check this coverage."))


def unavailable() -> Eligibility:
    return Eligibility(EligibilityStatus.UNAVAILABLE, rejections=(rejection("42"),))


def eligibility_from(
    benefits: Sequence[Benefit],
    wanted: Sequence[str],
    *,
    rejections: Iterable[str] = (),
    plan_begin: date | None = None,
    plan_end: date | None = None,
    coverage_level: str = "IND",
) -> Eligibility:
    """The answer for a visit whose service types are `wanted` (most specific first), read from
    the payer's lines: each figure from the line that matches best, never the first of its kind."""
    codes = tuple(rejections)
    if codes:
        status = EligibilityStatus.UNAVAILABLE if set(codes) <= TRY_AGAIN else EligibilityStatus.REJECTED
        return Eligibility(status, rejections=tuple(rejection(c) for c in codes))
    standing = _best(benefits, (BenefitCode.ACTIVE, BenefitCode.INACTIVE), wanted, coverage_level)
    if standing is None or standing.code == BenefitCode.INACTIVE:
        return Eligibility(
            EligibilityStatus.INACTIVE, plan_name=standing.plan if standing else None, plan_end=plan_end
        )
    copay = _best(benefits, (BenefitCode.COPAY,), wanted, coverage_level, periods=("27", None))
    coinsurance = _best(benefits, (BenefitCode.COINSURANCE,), wanted, coverage_level, periods=("27", None))
    # What remains of a deductible or an out-of-pocket limit (period 29), not its yearly size.
    deductible = _best(benefits, (BenefitCode.DEDUCTIBLE,), wanted, coverage_level, periods=("29",))
    out_of_pocket = _best(benefits, (BenefitCode.OUT_OF_POCKET,), wanted, coverage_level, periods=("29",))
    return Eligibility(
        EligibilityStatus.ACTIVE,
        service_type=_matched_type(standing, copay, wanted),
        plan_name=standing.plan,
        plan_begin=plan_begin,
        plan_end=plan_end,
        copay_minor=_minor(copay.amount) if copay else None,
        coinsurance_percent=_percent(coinsurance.percent) if coinsurance else None,
        deductible_remaining_minor=_minor(deductible.amount) if deductible else None,
        out_of_pocket_remaining_minor=_minor(out_of_pocket.amount) if out_of_pocket else None,
        other_payer=any(b.code == BenefitCode.OTHER_PAYER for b in benefits),
    )


def _best(
    benefits: Sequence[Benefit],
    codes: tuple[BenefitCode, ...],
    wanted: Sequence[str],
    coverage_level: str,
    *,
    periods: tuple[str | None, ...] | None = None,
) -> Benefit | None:
    """The line of one of `codes` that answers best: a wanted service type (the more specific the
    better; a line naming none is the plan's general), in network (or either) rather than
    unknown, never out of network; the coverage level asked for, then none named, never another;
    a wanted period (in `periods`' order) where the kind has one."""
    ranked: list[tuple[tuple[int, ...], int, Benefit]] = []
    for position, line in enumerate(benefits):
        if line.code not in codes or line.network == "N":
            continue
        types = line.service_types or (GENERAL_BENEFITS,)
        service = min((wanted.index(t) for t in types if t in wanted), default=None)
        if service is None:
            continue
        if line.coverage_level not in (coverage_level, None):
            continue
        if periods is not None and line.period not in periods:
            continue
        network = 0 if line.network == "Y" else 1 if line.network == "W" else 2
        level = 0 if line.coverage_level == coverage_level else 1
        period = periods.index(line.period) if periods is not None else 0
        ranked.append(((service, network, level, period), position, line))
    return min(ranked, key=lambda r: (r[0], r[1]))[2] if ranked else None


def _matched_type(standing: Benefit, copay: Benefit | None, wanted: Sequence[str]) -> str:
    for line in (copay, standing):
        if line is not None:
            for code in wanted:
                if code in (line.service_types or (GENERAL_BENEFITS,)):
                    return code
    return GENERAL_BENEFITS


def _decimal(text: str | None) -> Decimal | None:
    """An X12 number as the payer wrote it ("25", ".20", "1500.00"); None if it is none."""
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _minor(dollars: str | None) -> int | None:
    """X12 monetary amounts are dollars."""
    value = _decimal(dollars)
    return None if value is None else int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _percent(fraction: str | None) -> Decimal | None:
    """X12 percentages are fractions: `.20` and `0.2` are 20 %."""
    value = _decimal(fraction)
    return (value * 100).normalize() if value is not None and 0 <= value <= 1 else None


# When a visit's coverage is checked again: the day before it (a plan may have ended, a deductible
# been met), unless a check already came within that day.
RECHECK_BEFORE = timedelta(hours=24)


@dataclass(frozen=True)
class CoverageCheck:
    """The payer's last answer about a patient's coverage, and what it was asked."""

    eligibility: Eligibility
    checked_at: datetime
    service_type: str  # the clinic's kind of visit it was asked for


@dataclass(frozen=True)
class PatientCoverage:
    """A patient's insurance on file, with the last check of it. `version` moves with every write;
    recording new details forgets the old check."""

    patient_id: str
    coverage: Coverage
    payer_name: str
    version: int
    check: CoverageCheck | None = None

    def due_for_check(self, visit_start: datetime, service_type: str) -> bool:
        """Whether a visit at `visit_start` of `service_type` needs its coverage checked again:
        never checked, last checked before the day before, for another kind of care, or the payer
        did not answer (asked again at every sweep until it does)."""
        check = self.check
        return (
            check is None
            or check.checked_at < visit_start - RECHECK_BEFORE
            or check.service_type != service_type
            or check.eligibility.status is EligibilityStatus.UNAVAILABLE
        )
