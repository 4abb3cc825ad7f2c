"""Open mHealth data points (https://www.openmhealth.org/documentation/#/schema-docs/schema-library):
blood pressure, heart rate, body weight, oxygen saturation, blood glucose, body temperature and
respiratory rate, each read into readings (telehealth/domain/readings.py).

A data point is a header (its `id`, the schema's name, how it was acquired) and a body (the
measures with their units, and when). Open mHealth's units (`mmHg`, `beats/min`, `lb`) are mapped
to UCUM here; the reading's rules (the unit converted, or refused; the plausible range) are the
domain's. A data point `self-reported` is a typed-in reading; `sensed`, a device's. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from telehealth.domain.readings import Provenance, Reading, ReadingRefusedError, measured_at, reading

# Each schema's measures: (the body's field, the LOINC code), in the order a reading is made.
SCHEMAS: dict[str, tuple[tuple[str, str], ...]] = {
    "blood-pressure": (("systolic_blood_pressure", "8480-6"), ("diastolic_blood_pressure", "8462-4")),
    "heart-rate": (("heart_rate", "8867-4"),),
    "body-weight": (("body_weight", "29463-7"),),
    "oxygen-saturation": (("oxygen_saturation", "59408-5"),),
    "blood-glucose": (("blood_glucose", "99504-3"),),
    "body-temperature": (("body_temperature", "8310-5"),),
    "respiratory-rate": (("respiratory_rate", "9279-1"),),
}
# Open mHealth's unit values, in UCUM.
UNITS = {
    "mmHg": "mm[Hg]",
    "kPa": "kPa",
    "beats/min": "/min",
    "breaths/min": "/min",
    "kg": "kg",
    "g": "g",
    "lb": "[lb_av]",
    "%": "%",
    "mg/dL": "mg/dL",
    "mmol/L": "mmol/L",
    "C": "Cel",
    "F": "[degF]",
}


def readings(point: Mapping[str, Any], *, patient_id: str, device_id: str) -> list[Reading]:
    """The data point's readings (two for a blood pressure); ReadingRefusedError when it is not
    one this clinic takes, or not well formed."""
    header, body = point.get("header"), point.get("body")
    if not isinstance(header, Mapping) or not isinstance(body, Mapping):
        raise ReadingRefusedError("An Open mHealth data point has a header and a body.")
    schema = header.get("schema_id", {}).get("name") if isinstance(header.get("schema_id"), Mapping) else None
    measures = SCHEMAS.get(str(schema))
    if measures is None:
        raise ReadingRefusedError(f"The Open mHealth schemas taken are {', '.join(SCHEMAS)}.")
    identifier = header.get("id")
    if not isinstance(identifier, str) or not identifier:
        raise ReadingRefusedError("An Open mHealth data point's header has its id.")
    effective = _effective(body)
    provenance = Provenance.MANUAL if _modality(header, body) == "self-reported" else Provenance.DEVICE
    found = []
    for field, code in measures:
        measured = body.get(field)
        if not isinstance(measured, Mapping) or not isinstance(measured.get("value"), int | float):
            raise ReadingRefusedError(f"The {schema} data point has {field} with a value and a unit.")
        unit = UNITS.get(str(measured.get("unit")), str(measured.get("unit")))
        found.append(
            reading(
                patient_id=patient_id,
                device_id=device_id,
                code=code,
                value=float(measured["value"]),
                unit=unit,
                effective=effective,
                # One data point, several readings: each its own key.
                identifier=identifier if len(measures) == 1 else f"{identifier}#{code}",
                provenance=provenance,
            )
        )
    return found


def _effective(body: Mapping[str, Any]) -> datetime:
    frame = body.get("effective_time_frame")
    when = None
    if isinstance(frame, Mapping):
        interval = frame.get("time_interval")
        when = frame.get("date_time") or (
            interval.get("end_date_time") if isinstance(interval, Mapping) else None
        )
    return measured_at(when, "effective_time_frame.date_time")


def _modality(header: Mapping[str, Any], body: Mapping[str, Any]) -> str | None:
    """Where the schema version keeps it: the header's acquisition provenance (1.x), or the header
    or the body (later)."""
    provenance = header.get("acquisition_provenance")
    for place in (provenance if isinstance(provenance, Mapping) else {}, header, body):
        if isinstance(place.get("modality"), str):
            return str(place["modality"])
    return None
