"""Reading a payer's benefit lines for a visit: the visit's own service type before the plan's
general one, in network, the individual's level, what remains of a limit; co-insurance as the
fraction it is; and what the patient owes from it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

import pytest

from telehealth.application.coverage import InsuranceDesk
from telehealth.domain.coverage import (
    Benefit,
    Coverage,
    CoverageCheck,
    CoverageRuleError,
    Eligibility,
    EligibilityQuestion,
    EligibilityStatus,
    PatientCoverage,
    Payer,
    Person,
    Relationship,
    eligibility_from,
    service_type_codes,
    unavailable,
)
from telehealth.domain.payments import Money

GENERAL = ("98", "30")


def test_a_visit_asks_for_its_own_service_type_then_the_plans_general_benefits() -> None:
    assert service_type_codes("general") == ("98", "30")
    assert service_type_codes("behavioral-health") == ("MH", "A4", "30")
    assert service_type_codes("something-new") == ("30",)  # 5010 has no telemedicine code


def test_each_figure_comes_from_the_line_that_matches_not_the_first_of_its_kind() -> None:
    lines = [
        Benefit("B", "FAM", ("98",), period="27", amount="60", network="Y"),
        Benefit("B", "IND", ("98",), period="27", amount="50", network="N"),
        Benefit("B", "IND", ("30",), amount="35", network="Y"),
        Benefit("B", "IND", ("98",), period="27", amount="25", network="W"),
        Benefit("B", "IND", ("98",), period="27", amount="20", network="Y"),
        Benefit("1", "IND", ("30",), plan="Gold PPO"),
        Benefit("C", "IND", (), period="23", amount="1500", network="Y"),
        Benefit("C", "IND", (), period="29", amount="250.75", network="Y"),
        Benefit("A", "IND", ("98",), percent=".20", network="Y"),
    ]
    found = eligibility_from(lines, GENERAL)
    assert found.status is EligibilityStatus.ACTIVE
    assert (found.copay_minor, found.service_type, found.plan_name) == (2000, "98", "Gold PPO")
    assert found.deductible_remaining_minor == 25075  # what remains, not the year's size
    assert found.coinsurance_percent == Decimal(20)  # `.20` is 20 %, not 0.2 %
    # Only the general line and an out-of-network one: the general in-network one answers.
    assert eligibility_from([lines[1], lines[2], lines[5]], GENERAL).copay_minor == 3500
    # No active line for the plan: not covered.
    assert eligibility_from([lines[4]], GENERAL).status is EligibilityStatus.INACTIVE
    assert eligibility_from([Benefit("6", "IND", ("30",))], GENERAL).status is EligibilityStatus.INACTIVE


def test_rejections_are_in_words_and_only_the_payers_own_trouble_is_tried_again() -> None:
    invalid = eligibility_from([], GENERAL, rejections=["72"])
    assert invalid.status is EligibilityStatus.REJECTED and "member ID" in invalid.rejections[0].words
    assert eligibility_from([], GENERAL, rejections=["42"]).status is EligibilityStatus.UNAVAILABLE
    assert eligibility_from([], GENERAL, rejections=["42", "72"]).status is EligibilityStatus.REJECTED
    assert eligibility_from([], GENERAL, rejections=["99"]).rejections[0].words  # unknown: still words


def test_what_the_patient_owes_copay_else_deductible_then_coinsurance_capped_by_what_is_left() -> None:
    price = Money(10000, "USD")
    active = [Benefit("1", "IND", ("30",))]
    copay = eligibility_from([*active, Benefit("B", "IND", ("98",), amount="25", network="Y")], GENERAL)
    assert copay.patient_share(price) == Money(2500, "USD")
    split = eligibility_from(
        [
            *active,
            Benefit("C", "IND", (), period="29", amount="40", network="Y"),
            Benefit("A", "IND", ("98",), percent="0.2", network="Y"),
        ],
        GENERAL,
    )
    assert split.patient_share(price) == Money(4000 + 1200, "USD")  # $40 left, then 20 % of $60
    capped = eligibility_from(
        [
            *active,
            Benefit("A", "IND", ("98",), percent="0.5"),
            Benefit("G", "IND", (), period="29", amount="10"),
        ],
        GENERAL,
    )
    assert capped.patient_share(price) == Money(1000, "USD")  # out-of-pocket left: $10
    inactive = eligibility_from([Benefit("6", "IND", ("30",))], GENERAL)
    assert inactive.patient_share(price) == price  # not covered: the clinic's own price
    # Covered, but no cost share named for the visit: not free.
    assert eligibility_from(active, GENERAL).patient_share(price) == price
    # A co-payment is capped by what is left of the out-of-pocket limit too.
    met = eligibility_from(
        [
            *active,
            Benefit("B", "IND", ("98",), amount="25", network="Y"),
            Benefit("G", "IND", (), period="29", amount="0"),
        ],
        GENERAL,
    )
    assert met.patient_share(price) == Money(0, "USD")


def test_coverage_is_a_payer_from_the_directory_a_member_id_and_for_a_dependent_its_subscriber() -> None:
    Coverage("RHP01", "ACT-1001")
    parent = Person("Alex", "Testpatient", date(1985, 2, 3))
    Coverage("RHP01", "DEP8008", Relationship.CHILD, subscriber=parent)
    refused: list[tuple[str, str, Relationship, Person | None]] = [
        ("RHP 01", "A1", Relationship.SELF, None),
        ("RHP01", "no spaces allowed", Relationship.SELF, None),
        ("RHP01", "A1", Relationship.CHILD, None),  # a dependent names its subscriber
        ("RHP01", "A1", Relationship.SELF, parent),  # the subscriber is themselves
    ]
    for payer, member, relationship, subscriber in refused:
        with pytest.raises(CoverageRuleError):
            Coverage(payer, member, relationship, subscriber=subscriber)


class _Store:
    def __init__(self, visits: list[Any]) -> None:
        self.visits = visits

    def open_appointments(self, starting_before: datetime) -> list[Any]:
        return [v for v in self.visits if v.start < starting_before]

    def patient(self, patient_id: str) -> Any:
        return SimpleNamespace(given_name="Jordan", family_name="Testpatient", birth_date=date(1990, 4, 12))


class _Records:
    def __init__(self, found: PatientCoverage) -> None:
        self.found: PatientCoverage | None = found

    def coverage_of(self, patient_id: str) -> PatientCoverage | None:
        return self.found

    def save_coverage(
        self, coverage: PatientCoverage, outbox: list[Any], now: datetime, claim: Any = None
    ) -> None:
        self.found = coverage


class _Payer:
    def __init__(self) -> None:
        self.asked: list[EligibilityQuestion] = []

    def check(self, question: EligibilityQuestion) -> Eligibility:
        self.asked.append(question)
        return eligibility_from([Benefit("1", "IND", ("30",))], question.service_types)

    def payers(self) -> list[Payer]:
        return []


def test_the_day_before_a_visit_its_coverage_is_checked_again_for_the_visits_own_care() -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    answer = eligibility_from([Benefit("1", "IND", ("30",))], GENERAL)
    checked_long_ago = CoverageCheck(answer, now - timedelta(days=3), "general")
    visit = SimpleNamespace(
        patient_id="p1", service_type="behavioral-health", start=now + timedelta(hours=20)
    )
    later = SimpleNamespace(patient_id="p1", service_type="general", start=now + timedelta(days=3))
    records = _Records(
        PatientCoverage("p1", Coverage("RHP01", "ACT1"), "Riverside Health Plan", 4, checked_long_ago)
    )
    payer = _Payer()
    booking = SimpleNamespace(store=_Store([visit, later]), audit=lambda *a: None)
    desk = InsuranceDesk(cast(Any, booking), records, payer, cast(Any, None), lambda: now)
    assert desk.recheck_upcoming() == (1, 0)  # tomorrow's visit, not the one in three days
    assert [(q.service_types, q.date_of_service) for q in payer.asked] == [
        (("MH", "A4", "30"), visit.start.date())
    ]
    assert records.found is not None and records.found.check is not None
    assert (records.found.check.checked_at, records.found.version) == (now, 5)
    # Checked within the day before, for this kind of care: not again.
    assert desk.recheck_upcoming() == (0, 0)
    # A payer that did not answer keeps the last answer, and is asked again at the next sweep.
    payer.check = lambda question: unavailable()  # type: ignore[method-assign]
    records.found = replace(records.found, check=replace(records.found.check, service_type="general"))
    assert desk.recheck_upcoming() == (1, 0)
    assert (
        records.found.check is not None and records.found.check.eligibility.status is EligibilityStatus.ACTIVE
    )
