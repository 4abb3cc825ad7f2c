"""Eligibility through the clearinghouse's API (the local stand-in of Stedi's real-time check): one
normalized answer per scenario a payer gives, read from the line that matches the visit, and
nothing but refusals for what the API refuses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from local.standins.clearinghouse import Clearinghouse
from telehealth.adapters.eligibility import (
    ClearinghouseRefusedError,
    ClearinghouseUnavailableError,
    StediEligibility,
)
from telehealth.domain.coverage import (
    Coverage,
    EligibilityQuestion,
    EligibilityStatus,
    Person,
    Relationship,
    service_type_codes,
)
from telehealth.domain.payments import Money

KEY = "test-clearinghouse-key"  # a stand-in's key, not a secret
PATIENT = Person("Jordan", "Testpatient", date(1990, 4, 12))
VISIT_DAY = date(2026, 12, 2)
PRICE = Money(4000, "USD")


@pytest.fixture(scope="module")
def clearinghouse() -> Iterator[Clearinghouse]:
    running = Clearinghouse(KEY, slow_s=3.0)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stedi(clearinghouse: Clearinghouse) -> StediEligibility:
    return StediEligibility(
        KEY,
        provider_npi="1234567893",
        provider_name="Riverside Clinic",
        api_base=clearinghouse.url,
        timeout_s=1.0,
    )


def _ask(member_id: str, service: str = "general", **coverage: object) -> EligibilityQuestion:
    return EligibilityQuestion(
        Coverage("RHP01", member_id, **coverage),  # type: ignore[arg-type]
        PATIENT,
        service_type_codes(service),
        VISIT_DAY,
    )


def test_the_visits_own_copay_is_read_past_the_family_out_of_network_and_general_lines(
    stedi: StediEligibility,
) -> None:
    found = stedi.check(_ask("ACT1001"))
    assert found.status is EligibilityStatus.ACTIVE
    assert (found.service_type, found.copay_minor, found.plan_name) == ("98", 2500, "Gold PPO")
    assert (found.plan_begin, found.plan_end) == (date(2026, 1, 1), date(2026, 12, 31))
    # What remains of the deductible and the out-of-pocket limit, not the year's size or the family's.
    assert (found.deductible_remaining_minor, found.out_of_pocket_remaining_minor) == (25000, 320050)
    assert found.patient_share(PRICE) == Money(2500, "USD")
    # Each kind of visit asks for its own service type, and gets its own co-payment.
    assert stedi.check(_ask("ACT1001", "behavioral-health")).copay_minor == 4000
    urgent = stedi.check(_ask("ACT1001", "urgent-care"))
    assert (urgent.service_type, urgent.copay_minor) == ("UC", 7500)
    assert urgent.patient_share(PRICE) == PRICE  # a co-payment above the price is the price


def test_a_deductible_not_met_then_coinsurance_and_an_inactive_plan(stedi: StediEligibility) -> None:
    deductible = stedi.check(_ask("DED2002"))
    assert (deductible.status, deductible.copay_minor) == (EligibilityStatus.ACTIVE, None)
    assert (deductible.coinsurance_percent, deductible.deductible_remaining_minor) == (Decimal(20), 1000)
    assert deductible.patient_share(PRICE) == Money(1000 + 600, "USD")  # $10 left, then 20 % of $30
    inactive = stedi.check(_ask("INA3003"))
    assert inactive.status is EligibilityStatus.INACTIVE
    assert inactive.patient_share(PRICE) == PRICE  # self-pay


def test_the_payers_rejections_are_said_in_words_and_a_payer_that_does_not_answer_is_unavailable(
    stedi: StediEligibility,
) -> None:
    invalid = stedi.check(_ask("BAD4004"))
    assert invalid.status is EligibilityStatus.REJECTED
    assert [r.code for r in invalid.rejections] == ["72"]
    assert "member ID" in invalid.rejections[0].words
    down = stedi.check(_ask("DWN5005"))
    assert down.status is EligibilityStatus.UNAVAILABLE  # the payer's trouble: checked again later
    assert stedi.check(_ask("NOBODY")).rejections[0].code == "75"
    started = time.monotonic()
    with pytest.raises(ClearinghouseUnavailableError):
        stedi.check(_ask("SLO6006"))
    assert time.monotonic() - started < 2.5  # the check's own timeout, not the payer's minute


def test_two_plans_and_a_dependent_found_only_as_a_dependent(stedi: StediEligibility) -> None:
    two = stedi.check(_ask("TWO7007"))
    assert (two.status, two.other_payer, two.copay_minor) == (EligibilityStatus.ACTIVE, True, 2500)
    parent = Person("Alex", "Testpatient", date(1985, 2, 3))
    child = stedi.check(_ask("DEP8008", relationship=Relationship.CHILD, subscriber=parent))
    assert (child.status, child.copay_minor, child.plan_name) == (
        EligibilityStatus.ACTIVE,
        2500,
        "Family PPO",
    )
    # Asked as the subscriber, the child is not found.
    assert stedi.check(_ask("DEP8008")).status is EligibilityStatus.REJECTED


def test_the_directory_lists_the_payers_that_take_checks_and_the_api_refuses_what_it_refuses(
    clearinghouse: Clearinghouse, stedi: StediEligibility
) -> None:
    assert {p.payer_id for p in stedi.payers()} == {"RHP01", "LKM02"}  # not the paper-claims payer
    with pytest.raises(ClearinghouseRefusedError):  # a payer that takes no checks
        stedi.check(EligibilityQuestion(Coverage("PCC03", "ACT1"), PATIENT, ("98", "30"), VISIT_DAY))
    wrong_key = StediEligibility(
        "other", provider_npi="1234567893", provider_name="R", api_base=clearinghouse.url
    )
    with pytest.raises(ClearinghouseRefusedError):
        wrong_key.payers()
    bad_npi = StediEligibility(KEY, provider_npi="123", provider_name="R", api_base=clearinghouse.url)
    with pytest.raises(ClearinghouseRefusedError):
        bad_npi.check(_ask("ACT1001"))
