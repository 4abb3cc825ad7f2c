"""A prescription in the record: a `MedicationRequest` (its status following the network's news),
a `MedicationDispense` per fill, and the pharmacy as an `Organization` the request names."""

from __future__ import annotations

import re
from typing import Any

from telehealth.domain.prescriptions import Fill, Pharmacy, Prescription, PrescriptionStatus
from telehealth.fhir.photo_cases import case_reference
from telehealth.fhir.projection import _meta, encounter_id, instant
from telehealth.terminology.drugs import RXNORM

NCPDP = "http://terminology.hl7.org/NamingSystem/NCPDPProviderIdentificationNumber"
SUBSTANCE_ADMIN = "http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution"
_NOT_ID = re.compile(r"[^A-Za-z0-9.-]")

_STATUS = {
    PrescriptionStatus.SENDING: "active",
    PrescriptionStatus.SUBMITTED: "active",
    PrescriptionStatus.TRANSMITTED: "active",
    PrescriptionStatus.CANCEL_REQUESTED: "active",  # until the pharmacy confirms it
    PrescriptionStatus.FAILED: "stopped",  # it never reached a pharmacy; the reason is kept
    PrescriptionStatus.CANCELLED: "cancelled",
}


def pharmacy_id(pharmacy: Pharmacy) -> str:
    return f"pharmacy-{_NOT_ID.sub('-', pharmacy.pharmacy_id)}"[:64]


def dispense_id(rx: Prescription, fill_number: int) -> str:
    return f"{rx.prescription_id}-fill-{fill_number}".lower()


def organization(pharmacy: Pharmacy) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": pharmacy_id(pharmacy),
        "meta": _meta(1),
        "active": True,
        "type": [{"text": "Pharmacy"}],
        "name": pharmacy.name,
        "address": [
            {
                "line": [pharmacy.address],
                "city": pharmacy.city,
                "state": pharmacy.state,
                "postalCode": pharmacy.postal_code,
                "country": "US",
            }
        ],
    }
    if pharmacy.ncpdp_id:
        resource["identifier"] = [{"system": NCPDP, "value": pharmacy.ncpdp_id}]
    if pharmacy.phone:
        resource["telecom"] = [{"system": "phone", "value": pharmacy.phone}]
    return resource


def _medication(rx: Prescription) -> dict[str, Any]:
    return {
        "coding": [{"system": RXNORM, "code": rx.directions.rxcui, "display": rx.drug_name}],
        "text": rx.drug_name,
    }


def medication_request(rx: Prescription) -> dict[str, Any]:
    d = rx.directions
    if rx.status is PrescriptionStatus.DISPENSED:
        status = "completed" if rx.fills_left == 0 else "active"
    else:
        status = _STATUS[rx.status]
    dosage: dict[str, Any] = {
        "text": d.sig,
        "patientInstruction": d.sig,
        "timing": {"code": {"text": d.frequency}},
        "route": {"text": d.route},
    }
    if (dose := _dose(d.dose)) is not None:
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rx.prescription_id.lower(),
        "meta": _meta(rx.version),
        "identifier": [{"system": "urn:telehealth:prescription", "value": rx.prescription_id}],
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": _medication(rx),
        "subject": {"reference": f"Patient/{rx.patient_id}"},
        "authoredOn": instant(rx.written_at),
        "requester": {"reference": f"Practitioner/{rx.provider_id}"},
        "dosageInstruction": [dosage],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": d.refills,
            "quantity": {"value": d.quantity, "unit": d.quantity_unit},
            "expectedSupplyDuration": _days(d.days_supply),
            "performer": {"reference": f"Organization/{pharmacy_id(rx.pharmacy)}"},
        },
        "substitution": {"allowedBoolean": d.substitution_allowed},
    }
    if rx.appointment_id is not None and rx.visit_version is not None:
        resource["encounter"] = {
            "reference": f"Encounter/{encounter_id(rx.appointment_id, rx.visit_version)}"
        }
    if rx.case_id is not None:
        # A case of photos has no Encounter: what the prescriber read is the case's own record.
        resource["supportingInformation"] = [{"reference": case_reference(rx.case_id)}]
    if rx.status is PrescriptionStatus.FAILED:
        resource["statusReason"] = {"text": f"Not delivered to the pharmacy: {rx.failure_reason}"}
    if rx.renews:
        resource["priorPrescription"] = {"reference": f"MedicationRequest/{rx.renews.lower()}"}
    return resource


def _dose(text: str) -> dict[str, Any] | None:
    """ "1 tablet" as a quantity; None where the dose is not a number and a unit."""
    parts = text.strip().split(maxsplit=1)
    try:
        value = float(parts[0])
    except (ValueError, IndexError):
        return None
    return {"value": int(value) if value.is_integer() else value, "unit": parts[1] if len(parts) > 1 else ""}


def _days(n: int) -> dict[str, Any]:
    return {"value": n, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}


def medication_dispense(rx: Prescription, number: int, fill: Fill) -> dict[str, Any]:
    return {
        "resourceType": "MedicationDispense",
        "id": dispense_id(rx, number),
        "meta": _meta(1),
        "status": "completed",
        "medicationCodeableConcept": _medication(rx),
        "subject": {"reference": f"Patient/{rx.patient_id}"},
        "performer": [{"actor": {"reference": f"Organization/{pharmacy_id(rx.pharmacy)}"}}],
        "authorizingPrescription": [{"reference": f"MedicationRequest/{rx.prescription_id.lower()}"}],
        "quantity": {"value": fill.quantity or rx.directions.quantity, "unit": rx.directions.quantity_unit},
        "daysSupply": _days(rx.directions.days_supply),
        "whenHandedOver": instant(fill.at),
        "substitution": {"wasSubstituted": False},
    }


def record(rx: Prescription) -> dict[str, dict[str, Any]]:
    """Every resource of the prescription as it stands, by reference."""
    resources = [organization(rx.pharmacy), medication_request(rx)]
    resources += [medication_dispense(rx, n, f) for n, f in enumerate(rx.fills, start=1)]
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}
