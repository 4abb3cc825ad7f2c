"""Patients' own records: enrolment from a confirmed sign-up, the details they give before booking,
and the booking refusing until they have."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotAuthorizedError, NotFoundError
from telehealth.application.patients import MrnChangedError, PatientRecords
from telehealth.domain.appointments import Actor, AppointmentRuleError
from telehealth.domain.patients import (
    PatientDetails,
    RegisteredPatient,
    birth_date_problem,
    home_state_problem,
    phone_problem,
    zone_problem,
)
from telehealth.domain.scheduling import slot_id
from telehealth.fhir import projection
from telehealth.fhir.projection import PatientProfile
from telehealth.ports import StaleWriteError
from tests.unit.fakes import NOW, PROVIDER, PROVIDER_ID, STAFF, Clinic, clinic

NEW_ID = "patient-new"
NEW = Caller(Actor.PATIENT, NEW_ID, frozenset(), frozenset())
DETAILS = PatientDetails("Robin", "Synthetic", date(1991, 4, 2), "NJ", "America/New_York", "+15550100042")
AT = NOW.replace(hour=10) + timedelta(days=2)


def _records(c: Clinic) -> PatientRecords:
    return PatientRecords(c.scheduling, AuditTrail(c.scheduling, c.clock), c.clock)


def _audits(c: Clinic) -> list[dict[str, object]]:
    return [dict(e.resource) for e in c.table.entries(kind="AuditEvent")]


def test_a_confirmed_sign_up_enrols_the_patient_once_with_their_e_mail_and_an_audit_naming_them() -> None:
    c = clinic()
    records = _records(c)
    enrolled = records.enrol(NEW_ID, "robin@example.test")
    assert (enrolled.version, enrolled.email, enrolled.complete) == (1, "robin@example.test", False)
    patient = c.table.entries(kind="Patient")[-1].resource
    assert patient["id"] == NEW_ID and patient["telecom"][0]["value"] == "robin@example.test"
    assert "name" not in patient and "birthDate" not in patient  # nothing said that was not given
    (audit,) = _audits(c)
    assert audit["agent"][0]["who"]["reference"] == f"Patient/{NEW_ID}"  # type: ignore[index]
    assert audit["entity"][0]["what"]["reference"] == f"Patient/{NEW_ID}"  # type: ignore[index]
    # Cognito calls again after a timeout, and after every confirmed password reset: nothing changes.
    writes = c.table.writes
    assert records.enrol(NEW_ID, "someone-else@example.test") == enrolled
    assert c.table.writes == writes and len(_audits(c)) == 1


def test_a_twin_enrolment_that_lost_the_race_answers_the_record_the_winner_wrote() -> None:
    c = clinic()
    winner = PatientProfile(NEW_ID, email="robin@example.test")
    c.table.meanwhile(lambda: c.table.patients.__setitem__(NEW_ID, winner))
    assert _records(c).enrol(NEW_ID, "robin@example.test") == winner


def test_a_patient_gives_their_details_then_changes_them_each_version_in_the_record() -> None:
    c = clinic()
    records = _records(c)
    records.enrol(NEW_ID, "robin@example.test")
    saved = records.update_details(NEW, DETAILS, 1)
    assert saved.complete and saved.version == 2 and saved.email == "robin@example.test"
    assert records.details(NEW) == saved
    moved = records.update_details(NEW, replace(DETAILS, home_state="NY", phone=None), 2)
    assert (moved.version, moved.home_state, moved.phone) == (3, "NY", None)
    resource = c.table.entries(kind="Patient")[-1].resource
    assert resource["address"] == [{"use": "home", "state": "NY"}]
    assert resource["name"] == [{"use": "official", "family": "Synthetic", "given": ["Robin"]}]
    assert resource["birthDate"] == "1991-04-02"
    kinds = [a["action"] for a in _audits(c)]
    assert kinds == ["C", "U", "R", "U"]  # enrolled, saved, read, changed


def test_details_saved_from_a_stale_version_are_refused_and_change_nothing() -> None:
    c = clinic()
    records = _records(c)
    records.enrol(NEW_ID, None)
    records.update_details(NEW, DETAILS, 1)
    before = c.table.patients[NEW_ID]
    with pytest.raises(StaleWriteError):
        records.update_details(NEW, replace(DETAILS, family_name="Other"), 1)
    assert c.table.patients[NEW_ID] == before
    assert c.table.refusals()[-1]["outcome"] == "4"


def test_a_patient_whose_enrolment_failed_is_enrolled_by_their_first_save() -> None:
    c = clinic()
    records = _records(c)
    with pytest.raises(NotFoundError):
        records.details(NEW)
    saved = records.update_details(NEW, DETAILS, 0)
    assert (saved.version, saved.email, saved.complete) == (1, None, True)


def test_only_a_patient_has_details_of_their_own() -> None:
    c = clinic()
    for caller in (PROVIDER, STAFF):
        with pytest.raises(NotAuthorizedError):
            _records(c).update_details(caller, DETAILS, 0)
        with pytest.raises(NotAuthorizedError):
            _records(c).details(caller)
    assert not c.table.patients.keys() - {"patient-1"}


def test_a_patient_without_details_cannot_book_and_staff_cannot_book_for_them() -> None:
    c = clinic()
    _records(c).enrol(NEW_ID, "robin@example.test")
    book = dict(slot=slot_id(PROVIDER_ID, AT), service_type="general", state="NY", idempotency=None)
    with pytest.raises(AppointmentRuleError) as own:
        c.booking.book(NEW, patient_id=None, **book)  # type: ignore[arg-type]
    assert own.value.kind == "details-incomplete" and "Your details" in str(own.value)
    with pytest.raises(AppointmentRuleError) as staff:
        c.booking.book(STAFF, patient_id=NEW_ID, **book)  # type: ignore[arg-type]
    assert staff.value.kind == "details-incomplete" and "Your details" not in str(staff.value)
    assert not c.table.appointments
    _records(c).update_details(NEW, DETAILS, 1)
    booked = c.booking.book(NEW, patient_id=None, **book)  # type: ignore[arg-type]
    assert booked.patient_id == NEW_ID


@pytest.mark.parametrize(
    ("born", "problem"),
    [
        (NOW.date(), None),
        (NOW.date() + timedelta(days=1), "future"),
        (date(NOW.year - 130, NOW.month, 1) - timedelta(days=1), "130 years"),
        (date(1920, 1, 1), None),
    ],
)
def test_a_date_of_birth_is_neither_ahead_nor_past_the_oldest_age(born: date, problem: str | None) -> None:
    found = birth_date_problem(born, NOW.date())
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_states_zones_and_phones_are_checked_and_the_problem_never_repeats_the_input() -> None:
    assert home_state_problem("NJ") is None and home_state_problem("ZZ") is not None
    assert zone_problem("America/Chicago") is None
    for zone in ("Mars/Olympus", "../etc/passwd", ""):
        found = zone_problem(zone)
        assert found is not None and (not zone or zone not in found)
    assert phone_problem("+15550100042") is None
    for phone in ("5550100042", "+0123456789", "+1 555 010 0042", "+1555"):
        found = phone_problem(phone)
        assert found is not None and phone not in found


def test_an_enrolled_patient_projects_a_valid_patient_with_nothing_but_their_telecom() -> None:
    from fhir.resources.R4B.patient import Patient

    resource = projection.patient(PatientProfile(NEW_ID, email="robin@example.test"))
    assert set(resource) == {"resourceType", "id", "meta", "active", "telecom"}
    Patient.model_validate(resource)
    d = DETAILS
    complete = PatientProfile(
        NEW_ID, d.given_name, d.family_name, d.birth_date, d.home_state, d.zone, phone=d.phone
    )
    Patient.model_validate(projection.patient(complete))


def test_staff_find_a_patient_by_last_name_and_birth_date_whatever_the_case_and_it_is_audited() -> None:
    c = clinic()
    records = _records(c)
    records.update_details(NEW, DETAILS, 0)
    twin = Caller(Actor.PATIENT, "patient-twin", frozenset(), frozenset())
    records.update_details(twin, replace(DETAILS, given_name="Alex"), 0)
    found = records.find(STAFF, "  synthetic ", DETAILS.birth_date)
    assert [p.patient_id for p in found] == ["patient-twin", NEW_ID]  # by first name
    assert [p.patient_id for p in records.find(STAFF, "SYNTHETIC", DETAILS.birth_date, "rob")] == [NEW_ID]
    assert records.find(STAFF, "Synthetic", DETAILS.birth_date - timedelta(days=1)) == []
    searches = [a for a in _audits(c) if a["subtype"][0]["code"] == "search-type"]  # type: ignore[index]
    assert [len(a.get("entity", [])) for a in searches] == [2, 1, 0]  # type: ignore[arg-type]
    with pytest.raises(NotAuthorizedError):
        records.find(NEW, "Synthetic", DETAILS.birth_date)
    with pytest.raises(NotAuthorizedError):
        records.find(PROVIDER, "Synthetic", DETAILS.birth_date)


# --- a health system's registrations (the FHIR facade's Patient writes) --------------------------

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.7.1"
EHR = Caller(Actor.MACHINE, "ehr-sync", frozenset({"system/Patient.cruds"}), frozenset())


def _registered(mrn: str = "MRN-1", state: str = "NJ") -> RegisteredPatient:
    return RegisteredPatient(mrn, "Quinn", "Registered", date(1984, 7, 2), state, "America/New_York")


def test_one_mrn_names_one_patient_even_when_two_registrations_race() -> None:
    c = clinic()
    records = _records(c)
    first, created = records.register(EHR, _registered(), MRN_SYSTEM)
    again, created_again = records.register(EHR, _registered(), MRN_SYSTEM)
    assert created and not created_again and again.patient_id == first.patient_id
    # A race: the second registration looked before the first's write, then lost the MRN to it.
    store, lookups = c.scheduling, []
    on_file = store.patient_by_mrn

    def too_early(system: str, mrn: str) -> PatientProfile | None:
        lookups.append(mrn)
        return None if len(lookups) == 1 else on_file(system, mrn)

    store.patient_by_mrn = too_early  # type: ignore[method-assign]
    winner, created = _records(c).register(EHR, _registered(), MRN_SYSTEM)
    assert not created and winner.patient_id == first.patient_id
    assert len([p for p in c.table.patients.values() if p.mrn == "MRN-1"]) == 1


def test_an_update_keeps_the_mrn_and_the_patients_own_zone_and_refuses_a_stale_version() -> None:
    c = clinic()
    records = _records(c)
    profile, _ = records.register(EHR, _registered(), MRN_SYSTEM)
    c.table.patients[profile.patient_id] = replace(profile, zone="America/Chicago")  # changed in the portal
    moved = records.update_registered(
        EHR, profile.patient_id, _registered(state="CT"), MRN_SYSTEM, if_match=1
    )
    assert (moved.version, moved.home_state, moved.zone) == (2, "CT", "America/Chicago")
    with pytest.raises(StaleWriteError):
        records.update_registered(EHR, profile.patient_id, _registered(state="PA"), MRN_SYSTEM, if_match=1)
    with pytest.raises(MrnChangedError):
        records.update_registered(EHR, profile.patient_id, _registered("MRN-2"), MRN_SYSTEM, if_match=None)
    with pytest.raises(NotAuthorizedError):  # only the health system's software registers
        records.register(NEW, _registered("MRN-3"), MRN_SYSTEM)
