"""FHIR in: what the clinic takes from a health system's Patient and ServiceRequest, each refusal
named by its FHIRPath and never its value; a referral booked once, for its own patient."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.referrals import Priority, Referral, ReferralStatus
from telehealth.fhir.intake import UnprocessableResource, referral_request, registered_patient

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
