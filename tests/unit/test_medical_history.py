"""Allergies and medicines: the patient's word kept until a clinician reconciles it; nothing
deleted; a patient never strikes an entry as entered in error; the record's resources say which
is which (and a struck allergy carries no clinical status)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.medical_history import (
    Allergy,
    Author,
    Coding,
    EntryStatus,
    MedicalHistory,
    MedicationUse,
    Reconciliation,
    Severity,
)
from telehealth.fhir import medical_history as record
from telehealth.terminology import drugs

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PENICILLINS = Coding(drugs.MEDRT, "N0000011281", "Penicillins")
VISIT = Reconciliation("dr-a", "01JAPPT", 1, AT)


def told() -> MedicalHistory:
    return MedicalHistory("p1").changed(
        [
            Allergy("a1", PENICILLINS, "Penicillins", "hives", Severity.MODERATE),
            Allergy("a2", None, "Peanuts"),
        ],
        [MedicationUse("m1", None, "Vitamin D", "daily")],
        by=Author.PATIENT,
        by_id="p1",
        at=AT,
        on_version=0,
    )


def test_the_patient_tells_them_unverified_and_each_change_is_a_version_on_the_one_read() -> None:
    history = told()
    assert history.version == 1 and not any(a.verified for a in history.allergies)
    assert {a.recorded_by for a in history.allergies} == {Author.PATIENT}
    with pytest.raises(AppointmentRuleError) as stale:
        history.changed([], [], by=Author.PATIENT, by_id="p1", at=AT, on_version=0)
    assert stale.value.kind == "history-changed"


def test_a_patient_may_stop_an_entry_but_only_a_clinician_strikes_one() -> None:
    history = told()
    stopped = history.changed(
        [],
        [MedicationUse("m1", None, "Vitamin D", "daily", EntryStatus.STOPPED)],
        by=Author.PATIENT,
        by_id="p1",
        at=AT,
        on_version=1,
    )
    assert stopped.active_medications == () and len(stopped.medications) == 1  # kept, not deleted
    with pytest.raises(AppointmentRuleError) as refused:
        history.changed(
            [Allergy("a2", None, "Peanuts", status=EntryStatus.ENTERED_IN_ERROR)],
            [],
            by=Author.PATIENT,
            by_id="p1",
            at=AT,
            on_version=1,
        )
    assert refused.value.kind == "history-entered-in-error"


def test_reconciling_verifies_what_the_clinician_went_through_and_keeps_the_rest_as_it_was() -> None:
    history = told()
    reconciled = history.changed(
        [history.allergies[0], Allergy("a2", None, "Peanuts", status=EntryStatus.ENTERED_IN_ERROR)],
        [],
        by=Author.CLINICIAN,
        by_id="dr-a",
        at=AT,
        on_version=1,
        reconciliation=VISIT,
    )
    penicillins, peanuts = reconciled.allergies
    assert penicillins.verified and penicillins.recorded_by is Author.PATIENT  # the patient's word, confirmed
    assert not peanuts.verified and peanuts.recorded_by is Author.CLINICIAN
    assert not reconciled.medications[0].verified  # not gone through: as it was
    assert reconciled.reconciled == VISIT
    resources = record.record(reconciled)
    confirmed = resources["AllergyIntolerance/p1-allergy-a1"]
    assert confirmed["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert confirmed["clinicalStatus"]["coding"][0]["code"] == "active"
    struck = resources["AllergyIntolerance/p1-allergy-a2"]
    assert (
        struck["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
        and "clinicalStatus" not in struck
    )
    assert struck["recorder"] == {"reference": "Practitioner/dr-a"}
    statement = resources["MedicationStatement/p1-med-m1"]
    assert statement["status"] == "active" and statement["informationSource"] == {"reference": "Patient/p1"}


def test_entries_are_named_once_and_in_words() -> None:
    with pytest.raises(AppointmentRuleError) as twice:
        MedicalHistory("p1").changed(
            [Allergy("a1", None, "x"), Allergy("a1", None, "y")],
            [],
            by=Author.PATIENT,
            by_id="p1",
            at=AT,
            on_version=0,
        )
    assert twice.value.kind == "history-duplicate-entry"
    with pytest.raises(AppointmentRuleError) as blank:
        MedicalHistory("p1").changed(
            [Allergy("a1", None, " ")], [], by=Author.PATIENT, by_id="p1", at=AT, on_version=0
        )
    assert blank.value.kind == "history-entry"


def test_the_drug_list_finds_classes_before_ingredients_and_knows_each_drugs_schedule() -> None:
    found = drugs.search_substances("penicillin")
    assert found[0].system == drugs.MEDRT
    amoxicillin = next(d for d in drugs.drugs().values() if d.name == "amoxicillin 500 MG Oral Capsule")
    assert "N0000175497" in amoxicillin.class_ids  # a penicillin-class antibacterial
    assert {d.schedule for d in drugs.drugs().values()} == {None, "II", "III", "IV", "V"}
    assert all(d.schedule == "III" for d in drugs.drugs().values() if d.opioid_use_disorder)


def test_lists_gone_through_before_check_in_name_no_encounter_there_is_none_yet() -> None:
    history = told()
    early = history.changed(
        [],
        [history.medications[0]],
        by=Author.CLINICIAN,
        by_id="dr-a",
        at=AT,
        on_version=1,
        reconciliation=Reconciliation("dr-a", "01JAPPT", None, AT),
    )
    statement = record.record(early)["MedicationStatement/p1-med-m1"]
    assert statement["informationSource"] == {"reference": "Patient/p1"} and "context" not in statement
    seen = early.changed(
        [],
        [early.medications[0]],
        by=Author.CLINICIAN,
        by_id="dr-a",
        at=AT,
        on_version=2,
        reconciliation=VISIT,
    )
    assert record.record(seen)["MedicationStatement/p1-med-m1"]["context"] == {
        "reference": "Encounter/01jappt-v1"
    }
