"""FHIR in: what the clinic takes from a health system's Patient, ServiceRequest and Coverage, each
refusal named by its FHIRPath and never its value; a referral booked once, for its own patient."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.coverage import Coverage, PatientCoverage, Person, Relationship
from telehealth.domain.referrals import Priority, Referral, ReferralStatus
from telehealth.fhir import projection
from telehealth.fhir.intake import (
    UnprocessableResource,
    received_coverage,
    referral_request,
    registered_patient,
)

SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.7.1"
TODAY = date(2026, 11, 30)


def _patient(**changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:other", "value": "X9"}, {"system": SYSTEM, "value": "MRN-77"}],
        "name": [
            {"use": "nickname", "given": ["Q"]},
            {"use": "official", "family": "Doe", "given": ["Jamie", "Lee"]},
        ],
        "birthDate": "1990-05-06",
        "address": [{"use": "work", "state": "PA"}, {"use": "home", "state": "tx"}],
        "telecom": [{"system": "email", "value": "jamie@example.test"}],
        **changes,
    }


def test_a_patient_is_read_by_its_mrn_official_name_home_state_and_that_states_zone() -> None:
    found = registered_patient(_patient(), SYSTEM, TODAY)
    assert (found.mrn, found.given_name, found.family_name) == ("MRN-77", "Jamie Lee", "Doe")
    assert (found.home_state, found.zone, found.email, found.phone) == (
        "TX",
        "America/Chicago",
        "jamie@example.test",
        None,
    )


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"identifier": [{"system": "urn:other", "value": "Secret-123"}]}, "Patient.identifier"),
        ({"name": []}, "Patient.name"),
        ({"birthDate": "2999-01-01"}, "Patient.birthDate"),
        ({"birthDate": "05/06/1990"}, "Patient.birthDate"),
        ({"address": [{"state": "ZZ"}]}, "Patient.address.state"),
        ({"gender": "Secret-gender"}, "Patient.gender"),
        ({"telecom": [{"system": "phone", "value": "Secret-555"}]}, "Patient.telecom"),
    ],
)
def test_a_patient_the_clinic_cannot_take_is_refused_by_path_without_its_value(
    changes: dict[str, Any], path: str
) -> None:
    with pytest.raises(UnprocessableResource) as refused:
        registered_patient(_patient(**changes), SYSTEM, TODAY)
    assert [p for p, _ in refused.value.problems] == [path]
    assert "Secret" not in str(refused.value)


def test_a_referral_takes_its_reason_from_text_or_coding_and_defaults_to_routine() -> None:
    sent = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "reasonCode": [{"coding": [{"display": "Palpitations"}]}, {"text": "since June"}],
    }
    wanted = referral_request(sent)
    assert (wanted.patient_id, wanted.reason, wanted.priority) == (
        "p1",
        "Palpitations; since June",
        Priority.ROUTINE,
    )
    assert wanted.requester == "the referring health system" and wanted.service is None
    with pytest.raises(UnprocessableResource) as refused:
        referral_request(
            {**sent, "status": "draft", "subject": {"reference": "Group/g"}, "priority": "whenever"}
        )
    assert [p for p, _ in refused.value.problems] == [
        "ServiceRequest.status",
        "ServiceRequest.subject",
        "ServiceRequest.priority",
    ]


def test_a_referral_is_booked_once_and_only_for_its_own_patient() -> None:
    waiting = Referral("r1", "p1", "Palpitations", "Dr. Example", datetime(2026, 11, 30, tzinfo=UTC))
    booked = waiting.booked("A1", "p1")
    assert (booked.status, booked.appointment_id, booked.version) == (ReferralStatus.BOOKED, "A1", 2)
    with pytest.raises(AppointmentRuleError) as again:
        booked.booked("A2", "p1")
    assert again.value.kind == "referral-not-open"
    with pytest.raises(AppointmentRuleError) as other:
        waiting.booked("A3", "p2")
    assert other.value.kind == "referral-other-patient"


# --- Coverage ------------------------------------------------------------------------------------

RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"


def _class(code: str, value: str) -> dict[str, Any]:
    system = "http://terminology.hl7.org/CodeSystem/coverage-class"
    return {"type": {"coding": [{"system": system, "code": code}]}, "value": value}


def _holder(**changes: Any) -> list[dict[str, Any]]:
    person = {
        "resourceType": "RelatedPerson",
        "id": "holder",
        "patient": {"reference": "Patient/p1"},
        "name": [{"use": "official", "family": "Rivera", "given": ["Ana", "Maria"]}],
        "birthDate": "1980-02-03",
    }
    return [{k: v for k, v in {**person, **changes}.items() if v is not None}]


def _coverage(**changes: Any) -> dict[str, Any]:
    """A health system's Coverage for a child on a parent's plan (the golden input)."""
    return {
        "resourceType": "Coverage",
        "status": "active",
        "contained": _holder(),
        "beneficiary": {"reference": "Patient/p1"},
        "subscriber": {"reference": "#holder"},
        "subscriberId": "Secret-MEM-42",
        "relationship": {"coding": [{"system": RELATIONSHIP, "code": "child"}]},
        "payor": [
            {"reference": "Organization/elsewhere", "display": "Their own record of the payer"},
            {"identifier": {"system": projection.PAYER_ID_SYSTEM, "value": "RHP01"}, "display": "Riverside"},
        ],
        "class": [_class("plan", "Gold"), _class("group", "GRP-7")],
        **changes,
    }


def test_a_dependents_coverage_is_read_with_its_contained_subscriber_payer_and_group() -> None:
    patient_id, coverage = received_coverage(_coverage(), TODAY)
    assert patient_id == "p1"
    assert coverage == Coverage(
        "RHP01",
        "Secret-MEM-42",
        Relationship.CHILD,
        "GRP-7",
        Person("Ana Maria", "Rivera", date(1980, 2, 3)),
    )


def test_a_policyholders_own_coverage_needs_no_subscriber_and_takes_the_member_identifier() -> None:
    own = _coverage(relationship=None, subscriber={"reference": "Patient/p1"}, contained=[], **{"class": []})
    del own["relationship"], own["subscriberId"]
    own["identifier"] = [
        {"system": "urn:their-ids", "value": "X-1"},
        {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]},
            "system": "urn:their-members",
            "value": "MEM-9",
        },
    ]
    assert received_coverage(own, TODAY) == ("p1", Coverage("RHP01", "MEM-9"))


def test_what_the_clinic_projects_it_reads_back_the_same() -> None:
    """A client that reads a Coverage, changes it and writes it back loses nothing: the projection
    (a policyholder's own coverage) reads back into the same coverage."""
    kept = Coverage("RHP01", "MEM-42", group_number="G1")
    projected = projection.coverage(PatientCoverage("p1", kept, "Riverside Health Plan", 3))
    assert received_coverage(projected, TODAY) == ("p1", kept)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"status": "cancelled"}, "Coverage.status"),
        ({"beneficiary": {"reference": "Group/g1"}}, "Coverage.beneficiary"),
        ({"payor": [{"identifier": {"system": "urn:other", "value": "Secret-PAYER"}}]}, "Coverage.payor"),
        ({"subscriberId": None}, "Coverage.subscriberId"),
        ({"relationship": {"coding": [{"system": RELATIONSHIP, "code": "parent"}]}}, "Coverage.relationship"),
        ({"relationship": {"coding": [{"system": "urn:other", "code": "child"}]}}, "Coverage.relationship"),
        ({"subscriber": None}, "Coverage.subscriber"),
        ({"subscriber": {"reference": "RelatedPerson/Secret-elsewhere"}}, "Coverage.subscriber"),
        ({"contained": _holder(name=None)}, "Coverage.contained.name"),
        (
            {"contained": _holder(name=[{"family": "Secret", "given": ["S"]}], birthDate="2999-01-01")},
            "Coverage.contained.birthDate",
        ),
        ({"class": [_class("group", "Secret group!")]}, "Coverage.class"),
        ({"subscriberId": "Secret member id"}, "Coverage"),  # the domain's own rule on a member id
    ],
)
def test_a_coverage_the_clinic_cannot_take_is_refused_by_path_without_its_value(
    changes: dict[str, Any], path: str
) -> None:
    with pytest.raises(UnprocessableResource) as refused:
        received_coverage(_coverage(**changes), TODAY)
    assert [p for p, _ in refused.value.problems] == [path]
    assert "Secret" not in str(refused.value)


def test_a_policyholder_naming_someone_else_as_subscriber_and_other_bodies_are_refused() -> None:
    own = _coverage(relationship={"coding": [{"system": RELATIONSHIP, "code": "self"}]})
    with pytest.raises(UnprocessableResource) as refused:
        received_coverage(own, TODAY)
    assert [p for p, _ in refused.value.problems] == ["Coverage.subscriber"]
    with pytest.raises(UnprocessableResource) as other:
        received_coverage({"resourceType": "Patient"}, TODAY)
    assert [p for p, _ in other.value.problems] == ["resourceType"]
