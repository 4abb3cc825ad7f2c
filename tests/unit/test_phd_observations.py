"""A device gateway's FHIR Observations, shaped by the Personal Health Device IG, read into
readings: the LOINC coding picked beside IEEE 11073's, a blood pressure panel as its two
components, a Bundle's Device and Patient passed over, and each Observation that cannot be taken
refused alone, by its entry. Every value is synthetic."""

from __future__ import annotations

from typing import Any

from telehealth.devices.phd import batch
from telehealth.domain.readings import IEEE_11073, LOINC, UCUM


def quantity(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def coded(loinc: str, mdc: str) -> dict[str, Any]:
    return {"coding": [{"system": IEEE_11073, "code": mdc}, {"system": LOINC, "code": loinc}]}


def blood_pressure(identifier: str = "gw-1-0001") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "meta": {"profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCompoundNumericObservation"]},
        "identifier": [{"value": identifier}],
        "status": "final",
        "code": coded("85354-9", "150020"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-12-01T07:25:00Z",
        "device": {"reference": "Device/cuff-1"},
        "component": [
            {"code": coded("8480-6", "150021"), "valueQuantity": quantity(142, "mm[Hg]")},
            {"code": coded("8462-4", "150022"), "valueQuantity": quantity(91, "mm[Hg]")},
        ],
    }


def weight(value: float, unit: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [{"value": "gw-1-0002"}],
        "status": "final",
        "code": coded("29463-7", "188736"),
        "effectiveDateTime": "2026-12-01T07:30:00Z",
        "valueQuantity": quantity(value, unit),
        **fields,
    }


def test_a_bundle_of_observations_becomes_readings_and_the_rest_is_context() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Device", "id": "cuff-1"}},
            {"resource": blood_pressure()},
            {"resource": weight(176.4, "[lb_av]")},
        ],
    }
    found = batch(bundle, patient_id="p1", device_id="cuff-1")
    assert [(r.code, r.value, r.identifier) for r in found.taken] == [
        ("8480-6", 142.0, "gw-1-0001#8480-6"),
        ("8462-4", 91.0, "gw-1-0001#8462-4"),
        ("29463-7", 80.01, "gw-1-0002"),
    ]
    assert found.refused == ()


def test_each_observation_that_cannot_be_taken_is_refused_by_its_entry() -> None:
    no_loinc = {**weight(80, "kg"), "code": {"coding": [{"system": IEEE_11073, "code": "188736"}]}}
    not_ucum = weight(
        80, "kg", valueQuantity={"value": 80, "unit": "kg", "system": "http://example.org", "code": "kg"}
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": weight(80, "kg")},
            {"resource": no_loinc},
            {"resource": not_ucum},
            {"resource": {**weight(80, "kg"), "identifier": []}},
            {"resource": weight(900, "kg")},
            {"resource": {**blood_pressure(), "component": []}},
            {},
        ],
    }
    found = batch(bundle, patient_id="p1", device_id="scale-1")
    assert [r.value for r in found.taken] == [80.0]
    reasons = dict(found.refused)
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert "LOINC code" in reasons[1] and "UCUM" in reasons[2] and "identifier" in reasons[3]
    assert "outside what a patient has" in reasons[4] and "900" not in reasons[4]
    assert "systolic and diastolic" in reasons[5]
