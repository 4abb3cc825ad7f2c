"""FHIR Observations from a device gateway, as the HL7 Personal Health Device IG shapes them
(http://hl7.org/fhir/uv/phd/): the measurement's LOINC code beside its IEEE 11073-10101 code, a
UCUM `valueQuantity` (or, for a blood pressure, the 85354-9 panel's systolic and diastolic
components), when, and the gateway's identifier for the measurement; alone, or as the entries of a
Bundle (with the Device and Patient resources a gateway sends beside them, which are not readings).

Whose an Observation is comes from its device, never from its `subject` (a gateway numbers
patients its own way): the device's identifier, on the Observation's `device` or on the Bundle's
Device it references, must be one the clinic registered for a patient.

Each Observation is taken or refused alone: `batch` answers which entries were taken and why the
others were not. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telehealth.domain.readings import (
    BLOOD_PRESSURE_PANEL,
    LOINC,
    UCUM,
    UNREGISTERED,
    Provenance,
    Reading,
    ReadingRefusedError,
    RegisteredDevice,
    measured_at,
    reading,
)

Registry = Callable[[str], RegisteredDevice | None]  # a device's identifier to its registration


@dataclass(frozen=True)
class Batch:
    taken: tuple[Reading, ...]
    refused: tuple[tuple[int, str], ...]  # (the entry's index, why)


def batch(resource: Mapping[str, Any], registry: Registry) -> Batch:
    """An Observation, or a Bundle's Observations, as readings; every other resource passed over."""
    if resource.get("resourceType") == "Bundle":
        listed = [e if isinstance(e, Mapping) else {} for e in resource.get("entry") or []]
        entries = [e.get("resource") for e in listed]
        devices = _devices(listed)
    else:
        entries, devices = [resource], {}
    taken: list[Reading] = []
    refused: list[tuple[int, str]] = []
    for index, found in enumerate(entries):
        if not isinstance(found, Mapping):
            refused.append((index, "An entry holds a resource."))
            continue
        if found.get("resourceType") != "Observation":
            continue  # the gateway's Device, the Patient: context, not readings
        try:
            registered = _registered(found, devices, registry)
            taken += observation(found, patient_id=registered.patient_id, device_id=registered.device_id)
        except ReadingRefusedError as error:
            refused.append((index, str(error)))
    return Batch(tuple(taken), tuple(refused))


def _devices(entries: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The Bundle's Devices' identifiers, by each way an Observation may reference them."""
    found: dict[str, str] = {}
    for entry in entries:
        device = entry.get("resource")
        if not isinstance(device, Mapping) or device.get("resourceType") != "Device":
            continue
        identifier = _identifier(device)
        if identifier is None:
            continue
        if isinstance(entry.get("fullUrl"), str):
            found[entry["fullUrl"]] = identifier
        if isinstance(device.get("id"), str):
            found[f"Device/{device['id']}"] = identifier
    return found


def _registered(found: Mapping[str, Any], devices: Mapping[str, str], registry: Registry) -> RegisteredDevice:
    device = found.get("device")
    identifier = None
    if isinstance(device, Mapping):
        named = device.get("identifier")
        if isinstance(named, Mapping) and isinstance(named.get("value"), str):
            identifier = named["value"]
        elif isinstance(device.get("reference"), str):
            identifier = devices.get(device["reference"])
    if identifier is None:
        raise ReadingRefusedError(
            "An Observation names its device: `device.identifier`, or a reference to the Bundle's Device."
        )
    registered = registry(identifier)
    if registered is None:
        raise ReadingRefusedError(UNREGISTERED)
    return registered


def _identifier(resource: Mapping[str, Any]) -> str | None:
    return next(
        (
            i["value"]
            for i in resource.get("identifier") or []
            if isinstance(i, Mapping) and isinstance(i.get("value"), str) and i["value"]
        ),
        None,
    )


def observation(found: Mapping[str, Any], *, patient_id: str, device_id: str) -> list[Reading]:
    identifier = _identifier(found)
    if identifier is None:
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
