"""A device gateway's FHIR Observations, shaped by the Personal Health Device IG, read into
readings: the LOINC coding picked beside IEEE 11073's, a blood pressure panel as its two
components, a Bundle's Device and Patient passed over, and each Observation that cannot be taken
refused alone, by its entry. Every value is synthetic."""

from __future__ import annotations

from typing import Any

from telehealth.devices.phd import batch
from telehealth.domain.readings import IEEE_11073, LOINC, UCUM, RegisteredDevice

REGISTERED = {
    "SN-CUFF-0001": RegisteredDevice("p1", "dev-cuff"),
    "SN-SCALE-0001": RegisteredDevice("p1", "dev-scale"),
}


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
        "device": {"identifier": {"value": "SN-SCALE-0001"}},
        "valueQuantity": quantity(value, unit),
        **fields,
    }


def test_a_bundle_of_observations_becomes_readings_and_the_rest_is_context() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Device",
                    "id": "cuff-1",
                    "identifier": [{"value": "SN-CUFF-0001"}],
                }
            },
            {"resource": blood_pressure()},
            {"resource": weight(176.4, "[lb_av]")},
        ],
    }
    found = batch(bundle, REGISTERED.get)
    assert [(r.code, r.value, r.identifier, r.device_id) for r in found.taken] == [
        ("8480-6", 142.0, "gw-1-0001#8480-6", "dev-cuff"),
        ("8462-4", 91.0, "gw-1-0001#8462-4", "dev-cuff"),
        ("29463-7", 80.01, "gw-1-0002", "dev-scale"),
    ]
    assert {r.patient_id for r in found.taken} == {"p1"}
    assert found.refused == ()


def test_whose_a_reading_is_comes_from_its_registered_device_never_from_its_subject() -> None:
    """A gateway's own patient numbering in `subject` decides nothing; a device the clinic never
    registered, or an Observation naming none, is refused."""
    stranger = {**weight(80, "kg"), "device": {"identifier": {"value": "SN-UNKNOWN"}}}
    nameless = {k: v for k, v in weight(80, "kg").items() if k != "device"}
    dangling = {**weight(80, "kg"), "device": {"reference": "Device/not-in-the-bundle"}}
    subject_elsewhere = {**weight(80, "kg"), "subject": {"reference": "Patient/someone-else"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": r} for r in (stranger, nameless, dangling, subject_elsewhere)],
    }
    found = batch(bundle, REGISTERED.get)
    assert [(r.patient_id, r.device_id) for r in found.taken] == [("p1", "dev-scale")]
    reasons = dict(found.refused)
    assert (
        "registered" in reasons[0] and "names its device" in reasons[1] and "names its device" in reasons[2]
    )


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
            {
                "resource": {
                    **blood_pressure(),
                    "component": [],
                    "device": {"identifier": {"value": "SN-CUFF-0001"}},
                }
            },
            {},
        ],
    }
    found = batch(bundle, REGISTERED.get)
    assert [r.value for r in found.taken] == [80.0]
    reasons = dict(found.refused)
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert "LOINC code" in reasons[1] and "UCUM" in reasons[2] and "identifier" in reasons[3]
    assert "outside what a patient has" in reasons[4] and "900" not in reasons[4]
    assert "systolic and diastolic" in reasons[5]
