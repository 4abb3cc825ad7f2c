"""FHIR Observations from a device gateway, as the HL7 Personal Health Device IG shapes them
(http://hl7.org/fhir/uv/phd/): the measurement's LOINC code beside its IEEE 11073-10101 code, a
UCUM `valueQuantity` (or, for a blood pressure, the 85354-9 panel's systolic and diastolic
components), when, and the gateway's identifier for the measurement; alone, or as the entries of a
Bundle (with the Device and Patient resources a gateway sends beside them, which are not readings).

Each Observation is taken or refused alone: `batch` answers which entries were taken and why the
others were not. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telehealth.domain.readings import (
    BLOOD_PRESSURE_PANEL,
    LOINC,
    UCUM,
    Provenance,
    Reading,
    ReadingRefusedError,
    measured_at,
    reading,
)


@dataclass(frozen=True)
class Batch:
    taken: tuple[Reading, ...]
    refused: tuple[tuple[int, str], ...]  # (the entry's index, why)


def batch(resource: Mapping[str, Any], *, patient_id: str, device_id: str) -> Batch:
    """An Observation, or a Bundle's Observations, as readings; every other resource passed over."""
    if resource.get("resourceType") == "Bundle":
        entries = [e.get("resource") if isinstance(e, Mapping) else None for e in resource.get("entry") or []]
    else:
        entries = [resource]
    taken: list[Reading] = []
    refused: list[tuple[int, str]] = []
    for index, found in enumerate(entries):
        if not isinstance(found, Mapping):
            refused.append((index, "An entry holds a resource."))
            continue
        if found.get("resourceType") != "Observation":
            continue  # the gateway's Device, the Patient: context, not readings
        try:
            taken += observation(found, patient_id=patient_id, device_id=device_id)
        except ReadingRefusedError as error:
            refused.append((index, str(error)))
    return Batch(tuple(taken), tuple(refused))


def observation(found: Mapping[str, Any], *, patient_id: str, device_id: str) -> list[Reading]:
    identifier = next(
        (i.get("value") for i in found.get("identifier") or [] if isinstance(i, Mapping) and i.get("value")),
        None,
    )
    if not isinstance(identifier, str):
        raise ReadingRefusedError("An Observation carries the gateway's identifier for the measurement.")
    effective = _effective(found)
    code = _loinc(found.get("code"))
    if code == BLOOD_PRESSURE_PANEL:
        parts = [
            (c.get("code"), c.get("valueQuantity"))
            for c in found.get("component") or []
            if isinstance(c, Mapping)
        ]
    else:
        parts = [(found.get("code"), found.get("valueQuantity"))]
    readings = []
    for part_code, quantity in parts:
        loinc = _loinc(part_code)
        value, unit = _quantity(quantity, loinc)
        readings.append(
            reading(
                patient_id=patient_id,
                device_id=device_id,
                code=loinc,
                value=value,
                unit=unit,
                effective=effective,
                identifier=identifier if len(parts) == 1 else f"{identifier}#{loinc}",
                provenance=Provenance.DEVICE,
            )
        )
    if not readings:
        raise ReadingRefusedError("A blood pressure panel carries its systolic and diastolic components.")
    return readings


def _loinc(concept: Any) -> str:
    codings: Sequence[Any] = concept.get("coding") or [] if isinstance(concept, Mapping) else []
    found = next(
        (c.get("code") for c in codings if isinstance(c, Mapping) and c.get("system") == LOINC), None
    )
    if not isinstance(found, str):
        raise ReadingRefusedError("An Observation's code carries its LOINC code (beside IEEE 11073's).")
    return found


def _quantity(quantity: Any, code: str) -> tuple[float, str]:
    if not isinstance(quantity, Mapping) or not isinstance(quantity.get("value"), int | float):
        raise ReadingRefusedError(f"LOINC {code} carries a valueQuantity with its value.")
    if quantity.get("system") != UCUM or not isinstance(quantity.get("code"), str):
        raise ReadingRefusedError(f"LOINC {code}'s valueQuantity is coded in UCUM ({UCUM}).")
    return float(quantity["value"]), str(quantity["code"])


def _effective(found: Mapping[str, Any]) -> datetime:
    return measured_at(
        found.get("effectiveDateTime") or (found.get("effectivePeriod") or {}).get("end"), "effectiveDateTime"
    )
