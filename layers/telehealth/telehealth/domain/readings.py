"""Remote monitoring's readings (issue #20): one measurement from a device at home, whatever way it
arrived, as the platform keeps it: the patient, the device, a LOINC code, a value in the code's
canonical UCUM unit, when it was measured, the identifier the device gave it, and its provenance.

A reading is refused, alone and with a reason a device vendor can act on, for an unknown code, a
unit UCUM does not convert to the code's, or a value no living patient has; a unit UCUM converts is
converted. Units are UCUM codes (`mm[Hg]`, `/min`, `Cel`): a source that speaks another vocabulary
(Open mHealth's `mmHg`, `beats/min`) is mapped by its adapter. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# The Personal Health Device IG's code system, beside the LOINC code a gateway sends.
IEEE_11073 = "urn:iso:std:iso:11073:10101"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BLOOD_PRESSURE_PANEL = "85354-9"  # its components: systolic and diastolic


def _same(value: float) -> float:
    return value


@dataclass(frozen=True)
class Measure:
    """What a code measures: its canonical unit, the units UCUM converts to it, and the range a
    living patient's value lies in (outside it, a device is wrong, not a patient ill)."""

    code: str
    name: str
    unit: str
    lowest: float
    highest: float
    # Other UCUM units of the same dimension, and the conversion to `unit`.
    converts: Mapping[str, Callable[[float], float]] = field(default_factory=dict)

    def canonical(self, value: float, unit: str) -> float:
        if unit == self.unit:
            return value
        return self.converts[unit](value)


_MMHG_PER_KPA = 7.500615758  # 1 kPa in mm[Hg] (UCUM: mm[Hg] = 133.322 Pa)
_PER_MINUTE = {"{beats}/min": _same, "{breaths}/min": _same, "1/min": _same}

MEASURES: dict[str, Measure] = {
    m.code: m
    for m in (
        Measure("8480-6", "systolic blood pressure", "mm[Hg]", 40, 300, {"kPa": lambda v: v * _MMHG_PER_KPA}),
        Measure(
            "8462-4", "diastolic blood pressure", "mm[Hg]", 20, 200, {"kPa": lambda v: v * _MMHG_PER_KPA}
        ),
        Measure("8867-4", "heart rate", "/min", 20, 300, _PER_MINUTE),
        Measure("2708-6", "oxygen saturation", "%", 50, 100),
        Measure("59408-5", "oxygen saturation by pulse oximetry", "%", 50, 100),
        Measure(
            "29463-7",
            "body weight",
            "kg",
            2,
            400,
            {"g": lambda v: v / 1000, "[lb_av]": lambda v: v * 0.45359237},
        ),
        Measure("8310-5", "body temperature", "Cel", 30, 45, {"[degF]": lambda v: (v - 32) * 5 / 9}),
        Measure("9279-1", "respiratory rate", "/min", 2, 80, _PER_MINUTE),
        # mmol/L to mg/dL for glucose: its molar mass, 180.156 g/mol.
        Measure(
            "99504-3", "glucose by continuous monitor", "mg/dL", 20, 600, {"mmol/L": lambda v: v * 18.0156}
        ),
    )
}


class Provenance(StrEnum):
    DEVICE = "device"  # transmitted by the device (what RPM billing counts)
    MANUAL = "manual"  # typed in by the patient or the clinic


@dataclass(frozen=True)
class RegisteredDevice:
    """A device the clinic registered for one patient: whose its readings are. The maker's serial
    that finds it is an identifier (HIPAA counts device serials): kept like the rest of the PHI."""

    patient_id: str
    device_id: str  # the clinic's own id for the device


UNREGISTERED = "The device is not one the clinic registered for a patient."


class ReadingRefusedError(ValueError):
    """One reading not taken: the reason names the code, unit or bound, never the patient."""


@dataclass(frozen=True)
class Reading:
    patient_id: str
    device_id: str
    code: str
    value: float  # in MEASURES[code].unit
    effective: datetime
    identifier: str  # the device's own id for the reading: a resent reading is the same one
    provenance: Provenance

    @property
    def unit(self) -> str:
        return MEASURES[self.code].unit

    @property
    def key(self) -> str:
        """What makes a reading the same reading when a device sends it again."""
        return f"{self.device_id}#{self.identifier}"


def measured_at(text: object, field: str) -> datetime:
    """When a source says a reading was taken (an ISO 8601 date-time in `field`)."""
    if not isinstance(text, str):
        raise ReadingRefusedError(f"A reading says when it was taken: {field}.")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReadingRefusedError(f"{field} is an ISO 8601 date-time with its time zone.") from None


def reading(
    *,
    patient_id: str,
    device_id: str,
    code: str,
    value: float,
    unit: str,
    effective: datetime,
    identifier: str,
    provenance: Provenance = Provenance.DEVICE,
) -> Reading:
    """The reading as kept, in its code's unit; ReadingRefusedError when it cannot be."""
    measure = MEASURES.get(code)
    if measure is None:
        raise ReadingRefusedError(f"LOINC {code} is not a measurement the clinic monitors.")
    if unit != measure.unit and unit not in measure.converts:
        taken = ", ".join((measure.unit, *measure.converts))
        raise ReadingRefusedError(f"{measure.name} ({code}) is in UCUM {taken}, not {unit!r}.")
    if effective.tzinfo is None:
        raise ReadingRefusedError("A reading's time carries its time zone.")
    if not identifier:
        raise ReadingRefusedError("A reading carries the device's identifier for it.")
    kept = round(measure.canonical(value, unit), 2)
    if not measure.lowest <= kept <= measure.highest:
        # The value stays out of the reason: it is the patient's (and reasons are kept and logged).
        raise ReadingRefusedError(
            f"{measure.name} ({code}) is outside what a patient has: {measure.lowest:g} to "
            f"{measure.highest:g} {measure.unit}."
        )
    return Reading(patient_id, device_id, code, kept, effective, identifier, provenance)
