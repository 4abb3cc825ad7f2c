"""What a clinician reads in the record: the check-in's reason and emergency contact, coded
services, statuses that follow FHIR's state machines, licences as their dates say. Every resource
is held to FHIR's own R4B models (wire-compatible with R4 for these resources)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from telehealth.domain.appointments import Appointment, AppointmentStatus
from telehealth.domain.licensure import License, LicenseStatus
from telehealth.domain.service_types import SNOMED_CT, ServiceType
from telehealth.domain.visits import CheckIn, Role, Visit, VisitState
from telehealth.fhir import projection

START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
CHECKED_IN = START - timedelta(minutes=5)


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, once FHIR's model for its type accepts it (unknown elements, wrong types and
    missing required ones are refused)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def booked(**change: Any) -> Appointment:
    made = Appointment("01JAPPT", "dr-a", "patient-1", "general", START, START + timedelta(minutes=30), "NY")
    return replace(made, **change)


def checked_in(reason: str = "sore throat for three days") -> Visit:
    check_in = CheckIn("01JAPPT", CHECKED_IN, "NY", "+1 555 0100", True, False, reason)
    return Visit.checked_in(booked(), check_in)


# --- the check-in ---------------------------------------------------------------------------------


def test_the_reason_given_at_check_in_is_the_encounters_reason_in_the_patients_words() -> None:
    encounter = valid(projection.encounter(checked_in(), 1))
    assert encounter["reasonCode"] == [{"text": "sore throat for three days"}]  # no code: none was given
    assert "reasonCode" not in projection.encounter(checked_in(reason=""), 1)


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("+1 555 0100", {"telecom": [{"system": "phone", "value": "+1 555 0100"}]}),
        ("(555) 555-0100", {"telecom": [{"system": "phone", "value": "(555) 555-0100"}]}),
        ("sam.relative@example.org", {"telecom": [{"system": "email", "value": "sam.relative@example.org"}]}),
        ("12 Example Street, Springfield", {"address": [{"text": "12 Example Street, Springfield"}]}),
        ("room 5", {"address": [{"text": "room 5"}]}),  # too few digits for a number
    ],
)
def test_the_emergency_contact_is_a_related_person_holding_what_was_given_and_nothing_more(
    given: str, recorded: dict[str, Any]
) -> None:
    contact = valid(projection.emergency_contact("01JAPPT", 1, "patient-1", given))
    assert contact == {
        "resourceType": "RelatedPerson",
        "id": "01jappt-v1-emergency-contact",
        "meta": contact["meta"],
        "patient": {"reference": "Patient/patient-1"},
        "relationship": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                        "code": "C",
                        "display": "Emergency Contact",
                    }
                ]
            }
        ],
        **recorded,
    }


def test_the_encounter_names_the_emergency_contact_as_its_emergency_participant() -> None:
    encounter = valid(projection.encounter(checked_in(), 1))
    emergency = [p for p in encounter["participant"] if p["type"][0]["coding"][0]["code"] == "emergency"]
    assert emergency == [
        {
            "type": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/participant-type",
                            "code": "emergency",
                            "display": "Emergency",
                        }
                    ]
                }
            ],
            "individual": {"reference": "RelatedPerson/01jappt-v1-emergency-contact"},
        }
    ]


def test_guests_are_typed_with_codes_of_the_encounter_participant_value_set() -> None:
    guests = {"user-i": Role.INTERPRETER, "user-c": Role.CAREGIVER}
    attendees = {"a-1": Role.PATIENT, "a-2": Role.PROVIDER, "a-3": Role.INTERPRETER, "a-4": Role.CAREGIVER}
    visit = checked_in().admitted("meeting-1", attendees, START, guests)
    for attendee in attendees:
        visit = visit.attendee_joined(attendee, START)
    encounter = valid(projection.encounter(visit, 4))
    types = {(c["system"], c["code"]) for p in encounter["participant"] for c in p["type"][0]["coding"]}
    v3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
    participant_type = "http://terminology.hl7.org/CodeSystem/participant-type"
    assert types == {
        (v3, "PPRF"),
        (participant_type, "translator"),  # not a v3 ParticipationType code
        (v3, "ESC"),
        (participant_type, "emergency"),
    }


# --- statuses -------------------------------------------------------------------------------------


def _statuses(encounter: dict[str, Any]) -> list[str]:
    return [h["status"] for h in encounter.get("statusHistory", [])] + [encounter["status"]]


def test_a_visit_that_ends_without_its_call_is_finished_having_arrived_never_cancelled() -> None:
    ended = START + timedelta(minutes=12)
    admitted = checked_in().admitted("meeting-1", {"a-1": Role.PATIENT, "a-2": Role.PROVIDER}, START)
    for state, outcome in (
        (VisitState.NO_SHOW, "patient"),
        (VisitState.NO_SHOW, "provider"),
        (VisitState.CANCELLED, "provider-not-licensed"),
    ):
        encounter = valid(projection.encounter(admitted.ended(state, outcome, ended), 3))
        # FHIR: `cancelled` "ended before it has begun"; this one began when the patient arrived.
        assert _statuses(encounter) == ["arrived", "finished"], (state, outcome)
        assert encounter["statusHistory"][0]["period"] == {
            "start": projection.instant(CHECKED_IN),
            "end": projection.instant(ended),
        }


def test_a_visit_with_its_call_went_arrived_in_progress_finished() -> None:
    admitted = checked_in().admitted("meeting-1", {"a-1": Role.PATIENT, "a-2": Role.PROVIDER}, START)
    in_call = admitted.attendee_joined("a-1", START).attendee_joined("a-2", START + timedelta(minutes=1))
    done = in_call.ended(VisitState.COMPLETED, "provider-ended", START + timedelta(minutes=20))
    assert _statuses(valid(projection.encounter(done, 5))) == ["arrived", "in-progress", "finished"]


@pytest.mark.parametrize(
    ("status", "participants"),
    [
        (AppointmentStatus.BOOKED, "accepted"),
        (AppointmentStatus.FULFILLED, "accepted"),
        (AppointmentStatus.NO_SHOW, "accepted"),
        (AppointmentStatus.CANCELLED, "declined"),
    ],
)
def test_a_cancelled_appointments_participants_have_declined_it(
    status: AppointmentStatus, participants: str
) -> None:
    resource = valid(projection.appointment(booked(status=status), "slot-1"))
    assert resource["status"] == status.value
    assert [p["status"] for p in resource["participant"]] == [participants, participants]


# --- services -------------------------------------------------------------------------------------


def test_a_service_is_coded_as_the_clinic_codes_it_and_named_as_the_clinic_names_it() -> None:
    consultation = ServiceType("11429006", SNOMED_CT, "Consultation")
    general = valid(projection.appointment(booked(), "slot-1", consultation))
    assert general["serviceType"] == [
        {"coding": [{"system": SNOMED_CT, "code": "11429006", "display": "Consultation"}], "text": "general"}
    ]
    # A clinic's own code system, and no display: FHIR's Coding needs neither a display nor SNOMED.
    own = ServiceType("eval-4h", "urn:example:clinic-services")
    supplied = valid(projection.appointment(booked(service_type="evaluation"), "slot-1", own))
    assert supplied["serviceType"] == [
        {"coding": [{"system": "urn:example:clinic-services", "code": "eval-4h"}], "text": "evaluation"}
    ]
    # A service the clinic gave no code: the name alone, rather than a guess (none is built in).
    uncoded = valid(projection.appointment(booked(service_type="general"), "slot-1"))
    assert uncoded["serviceType"] == [{"text": "general"}]


# --- licences -------------------------------------------------------------------------------------


def test_a_licence_says_by_its_dates_when_it_is_in_force_and_never_that_a_lapsed_one_is_active() -> None:
    profile = projection.PractitionerProfile("dr-a", "Ada", "Provider", "family-medicine", ("en",), "UTC")
    licences = [
        License("NY", "NY-1", date(2026, 1, 1), date(2027, 12, 31)),
        License("NJ", "NJ-1", date(2020, 1, 1), date(2025, 12, 31)),  # lapsed, status as recorded
        License("CT", "CT-1", date(2026, 1, 1), date(2027, 12, 31), LicenseStatus.SUSPENDED),
    ]
    resource = valid(projection.practitioner(profile, licences))
    by_state = {q["identifier"][0]["value"]: q for q in resource["qualification"]}
    assert by_state["NJ-1"]["period"] == {"start": "2020-01-01", "end": "2025-12-31"}

    def status(q: dict[str, Any]) -> list[str]:
        return [e["valueCode"] for e in q["extension"] if e["url"] == "urn:telehealth:license-status"]

    assert status(by_state["NJ-1"]) == []  # its end date says it; nothing claims it is active
    assert status(by_state["NY-1"]) == []
    assert status(by_state["CT-1"]) == ["suspended"]  # what the dates cannot say
