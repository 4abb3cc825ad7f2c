"""A completed visit's charge and the patient's invoice: the codes it is billed as, and the money
as it moves, in FHIR R4 that HealthLake (and FHIR's own models) accept; and before the visit, a
self-pay patient's Good Faith Estimate."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from telehealth.domain.charges import PlaceOfService, VisitCharge, place_of_service, taken_by
from telehealth.domain.clinic_settings import Service, SettingsError
from telehealth.domain.estimates import (
    DISPUTE_THRESHOLD,
    BillingProvider,
    EstimatedItem,
    GoodFaithEstimate,
    needs_estimate,
)
from telehealth.domain.payments import Money, PaymentStatus, VisitPayment
from telehealth.fhir import projection
from tests.unit.test_record_projection import valid

START = datetime(2026, 12, 1, 15, 2, tzinfo=UTC)


def charge(**change: object) -> VisitCharge:
    """A completed visit's charge (self-pay, at home), with `change`."""
    made = VisitCharge(
        appointment_id="01JAPPT",
        patient_id="patient-1",
        provider_id="dr-a",
        service_type="general",
        service_name="General visit",
        billing_code="99213",
        place=PlaceOfService.PATIENT_HOME,
        start=START,
        end=START + timedelta(minutes=24),
        price=Money(4000, "USD"),
        patient_share=Money(4000, "USD"),
        insured=False,
        visit_version=1,
        entered_at=START + timedelta(minutes=25),
    )
    return replace(made, **change)  # type: ignore[arg-type]


def _taken(captured: int, refunded: int = 0, currency: str = "USD") -> VisitPayment:
    return VisitPayment(
        "01JAPPT", currency, PaymentStatus.CAPTURED, captured_minor=captured, refunded_minor=refunded
    )


def test_the_place_of_service_is_the_home_only_when_the_patient_said_so() -> None:
    assert place_of_service(True) is PlaceOfService.PATIENT_HOME
    assert place_of_service(False) is PlaceOfService.ELSEWHERE
    # Not said (a check-in from before the question, or none at all): never the home's code.
    assert place_of_service(None) is PlaceOfService.ELSEWHERE


@pytest.mark.parametrize("code", ["99213", "90791", "0591T", "1036F", "G2012"])
def test_a_service_is_billed_as_a_cpt_or_hcpcs_code(code: str) -> None:
    assert Service("general", "General visit", 30, 4000, billing_code=code).billing_code == code


@pytest.mark.parametrize("code", ["9921", "992133", "99213-95", "abcde", " 99213", "W1234"])
def test_a_billing_code_that_is_no_cpt_or_hcpcs_code_is_refused(code: str) -> None:
    with pytest.raises(SettingsError, match="billing code"):
        Service("general", "General visit", 30, 4000, billing_code=code)


def test_the_charge_item_carries_the_cpt_code_the_place_of_service_and_modifier_95() -> None:
    item = valid(projection.charge_item(charge()))
    assert item["status"] == "billable"
    assert item["code"] == {
        "text": "General visit",
        "coding": [{"system": projection.CPT_SYSTEM, "code": "99213"}],
    }
    extensions = {e["url"]: e["valueCoding"]["code"] for e in item["extension"]}
    assert extensions == {projection.PLACE_OF_SERVICE_EXTENSION: "10", projection.MODIFIER_EXTENSION: "95"}
    assert item["subject"] == {"reference": "Patient/patient-1"}
    assert item["context"] == {"reference": "Encounter/01jappt-v1"}
    assert item["performer"] == [{"actor": {"reference": "Practitioner/dr-a"}}]
    assert item["occurrencePeriod"] == {"start": "2026-12-01T15:02:00Z", "end": "2026-12-01T15:26:00Z"}


def test_a_service_without_a_billing_code_is_charged_by_its_name_and_a_hcpcs_code_by_its_system() -> None:
    uncoded = valid(projection.charge_item(charge(billing_code=None, place=PlaceOfService.ELSEWHERE)))
    assert uncoded["code"] == {"text": "General visit"}
    assert {e["valueCoding"]["code"] for e in uncoded["extension"]} == {"02", "95"}
    hcpcs = valid(projection.charge_item(charge(billing_code="G2012")))
    assert hcpcs["code"]["coding"] == [{"system": projection.HCPCS_SYSTEM, "code": "G2012"}]
    # A visit the platform has no call of (entered from its completion alone) names no Encounter.
    assert "context" not in valid(projection.charge_item(charge(visit_version=None)))


def test_a_self_pay_invoice_is_the_price_and_balanced_once_the_card_paid_it() -> None:
    owed = valid(projection.invoice(charge()))
    assert (owed["status"], owed["totalGross"], owed["totalNet"]) == (
        "issued",
        {"value": 40.0, "currency": "USD"},
        {"value": 40.0, "currency": "USD"},
    )
    assert owed["lineItem"][0]["priceComponent"] == [
        {"type": "base", "amount": {"value": 40.0, "currency": "USD"}}
    ]
    assert owed["lineItem"][0]["chargeItemReference"] == {"reference": "ChargeItem/charge-01jappt"}
    paid = charge().paid_by(_taken(4000))
    invoice = valid(projection.invoice(paid))
    assert invoice["status"] == "balanced"
    assert invoice["extension"] == [
        {"url": projection.AMOUNT_PAID_EXTENSION, "valueMoney": {"value": 40.0, "currency": "USD"}}
    ]


def test_an_insured_invoice_deducts_what_the_insurer_is_expected_to_pay() -> None:
    insured = charge(patient_share=Money(2500, "USD"), insured=True)
    invoice = valid(projection.invoice(insured))
    assert invoice["lineItem"][0]["priceComponent"][1] == {
        "type": "deduction",
        "code": {"text": "Expected from the insurer"},
        "amount": {"value": 15.0, "currency": "USD"},
    }
    assert invoice["totalNet"] == {"value": 25.0, "currency": "USD"}
    assert insured.paid_by(_taken(2500)).invoice_status.value == "balanced"


def test_the_invoice_follows_the_money_and_a_refund_is_not_owed_again() -> None:
    entered = charge()
    paid = entered.paid_by(_taken(4000))
    assert (paid.paid_minor, paid.version) == (4000, 2)
    assert paid.paid_by(_taken(4000)) is paid  # nothing moved: no new version to write
    refunded = paid.paid_by(_taken(4000, refunded=1500))
    assert (refunded.paid_minor, refunded.owed_minor, refunded.version) == (2500, 2500, 3)
    invoice = valid(projection.invoice(refunded))
    assert invoice["status"] == "balanced"
    assert invoice["lineItem"][0]["priceComponent"][-1] == {
        "type": "discount",
        "code": {"text": "Refunded to the patient"},
        "amount": {"value": 15.0, "currency": "USD"},
    }
    assert invoice["totalNet"] == invoice["extension"][0]["valueMoney"] == {"value": 25.0, "currency": "USD"}
    # Money in another currency than the price is not this invoice's.
    assert taken_by(_taken(4000, currency="EUR"), "USD") == (0, 0)
    assert taken_by(None, "USD") == (0, 0)


def test_money_is_said_in_the_currencys_main_unit() -> None:
    assert Money(4000, "USD").major == Decimal("40.00")
    assert Money(4000, "JPY").major == Decimal(4000)
    assert Money(4000, "KWD").major == Decimal("4.000")  # three decimals
    assert Money(4000, "ISK").major == Decimal(4000)
    assert projection.invoice(charge(price=Money(500, "JPY"), patient_share=Money(500, "JPY")))[
        "totalGross"
    ] == {"value": 500.0, "currency": "JPY"}


# --- the Good Faith Estimate ---------------------------------------------------------------------


def test_only_a_priced_visit_the_patient_pays_themselves_gets_a_good_faith_estimate() -> None:
    assert needs_estimate(Money(4000, "USD"), insured=False)
    assert not needs_estimate(Money(4000, "USD"), insured=True)  # the insurer's part: no estimate
    assert not needs_estimate(Money(0, "USD"), insured=False)  # nothing to estimate


def test_an_estimate_totals_its_items_and_says_what_the_rule_requires() -> None:
    estimate = GoodFaithEstimate(
        appointment_id="01JAPPT",
        appointment_version=1,
        patient_name="Jordan Testpatient",
        patient_birth_date=date(1990, 4, 12),
        primary_service="General visit, by video (telehealth)",
        scheduled_start=START,
        clinician="Lucia Ramirez",
        billing_provider=BillingProvider("Riverside Health", "1234567893", "00-0000000"),
        location_state="NY",
        items=(
            EstimatedItem("General visit", "99213", Money(4000, "USD")),
            EstimatedItem("Interpreter", None, Money(1500, "USD")),
        ),
        issued_at=START - timedelta(days=3),
    )
    assert estimate.total == Money(5500, "USD")
    said = " ".join(estimate.disclaimers)
    # 45 CFR 149.610(c)(1)(vii)-(x): other care separately, only an estimate, the dispute right
    # above $400 (and where to learn of it), no contract.
    assert "scheduled or requested separately" in said
    assert "may differ" in said
    assert f"${DISPUTE_THRESHOLD.major:.0f}" in said and "www.cms.gov/nosurprises" in said
    assert "not a contract" in said
