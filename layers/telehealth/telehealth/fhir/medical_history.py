"""A patient's allergies and medicines in the record: an `AllergyIntolerance` and a
`MedicationStatement` per entry, unconfirmed as the patient told them, confirmed once a clinician
reconciled them in a visit (and then on that visit's Encounter)."""

from __future__ import annotations

from typing import Any

from telehealth.domain.medical_history import Allergy, Author, EntryStatus, MedicalHistory, MedicationUse
from telehealth.fhir.projection import _meta, encounter_id, instant

CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def allergy_id(patient_id: str, entry_id: str) -> str:
    return f"{patient_id}-allergy-{entry_id}".lower()


def medication_id(patient_id: str, entry_id: str) -> str:
    return f"{patient_id}-med-{entry_id}".lower()


def _who(history: MedicalHistory, entry: Allergy | MedicationUse) -> dict[str, str]:
    if entry.recorded_by is Author.CLINICIAN:
        return {"reference": f"Practitioner/{entry.recorder_id}"}
    return {"reference": f"Patient/{history.patient_id}"}


def _concept(coding: Any, text: str) -> dict[str, Any]:
    if coding is None:
        return {"text": text}
    return {
        "coding": [{"system": coding.system, "code": coding.code, "display": coding.display}],
        "text": text,
    }


def allergy_intolerance(history: MedicalHistory, allergy: Allergy) -> dict[str, Any]:
    if allergy.status is EntryStatus.ENTERED_IN_ERROR:
        verification, clinical = "entered-in-error", None  # ait-2: no clinical status then
    else:
        verification = "confirmed" if allergy.verified else "unconfirmed"
        clinical = "active" if allergy.status is EntryStatus.ACTIVE else "inactive"
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "id": allergy_id(history.patient_id, allergy.entry_id),
        "meta": _meta(history.version),
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": verification}]},
        "type": "allergy",
        "category": ["medication"] if allergy.substance is not None else [],
        "code": _concept(allergy.substance, allergy.text),
        "patient": {"reference": f"Patient/{history.patient_id}"},
        "recorder": _who(history, allergy),
        "asserter": _who(history, allergy),
    }
    if not resource["category"]:
        del resource["category"]
    if clinical is not None:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if allergy.recorded_at is not None:
        resource["recordedDate"] = instant(allergy.recorded_at)
    if allergy.reaction or allergy.severity:
        reaction: dict[str, Any] = {"manifestation": [{"text": allergy.reaction or "Not described"}]}
        if allergy.severity is not None:
            reaction["severity"] = allergy.severity.value
        resource["reaction"] = [reaction]
    return resource


_MEDICATION_STATUS = {
    EntryStatus.ACTIVE: "active",
    EntryStatus.STOPPED: "stopped",
    EntryStatus.ENTERED_IN_ERROR: "entered-in-error",
}


def medication_statement(history: MedicalHistory, medication: MedicationUse) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": medication_id(history.patient_id, medication.entry_id),
        "meta": _meta(history.version),
        "status": _MEDICATION_STATUS[medication.status],
        "medicationCodeableConcept": _concept(medication.drug, medication.text),
        "subject": {"reference": f"Patient/{history.patient_id}"},
        "informationSource": _who(history, medication),
    }
    if medication.recorded_at is not None:
        resource["dateAsserted"] = instant(medication.recorded_at)
    if medication.dose:
        resource["dosage"] = [{"text": medication.dose}]
    reconciled = history.reconciled
    if medication.verified and reconciled is not None and reconciled.visit_version is not None:
        resource["context"] = {
            "reference": f"Encounter/{encounter_id(reconciled.appointment_id, reconciled.visit_version)}"
        }
    return resource


def record(history: MedicalHistory) -> dict[str, dict[str, Any]]:
    """Every resource the lists stand as, by reference."""
    resources = [
        *(allergy_intolerance(history, a) for a in history.allergies),
        *(medication_statement(history, m) for m in history.medications),
    ]
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}
