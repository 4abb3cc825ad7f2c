"""Open mHealth data points, in the shapes the schema library's samples have, read into readings:
units mapped to UCUM and converted, a blood pressure as two readings with keys of their own, a
self-reported point kept as typed in, and a malformed or foreign point refused with a reason.
Every value is synthetic."""

from __future__ import annotations

from typing import Any

import pytest

from telehealth.devices.open_mhealth import readings
from telehealth.domain.readings import Provenance, ReadingRefusedError


def point(schema: str, body: dict[str, Any], **header: Any) -> dict[str, Any]:
    return {
        "header": {
            "id": "3e5b5fbc-2e8b-4d93-a7e2-0e2f5b2a1c11",
            "creation_date_time": "2026-12-01T07:30:00Z",
            "schema_id": {"namespace": "omh", "name": schema, "version": "1.0"},
            **header,
        },
        "body": {"effective_time_frame": {"date_time": "2026-12-01T07:25:00-05:00"}, **body},
    }


def read(p: dict[str, Any]) -> list[tuple[str, float, str]]:
    return [(r.code, r.value, r.identifier) for r in readings(p, patient_id="p1", device_id="cuff-1")]


def test_each_schema_becomes_its_loinc_readings_in_ucum() -> None:
    bp = point(
        "blood-pressure",
        {
            "systolic_blood_pressure": {"unit": "mmHg", "value": 142},
            "diastolic_blood_pressure": {"unit": "mmHg", "value": 91},
        },
        acquisition_provenance={"source_name": "cuff", "modality": "sensed"},
    )
    ident = "3e5b5fbc-2e8b-4d93-a7e2-0e2f5b2a1c11"
    assert read(bp) == [("8480-6", 142.0, f"{ident}#8480-6"), ("8462-4", 91.0, f"{ident}#8462-4")]
    assert read(point("body-weight", {"body_weight": {"unit": "lb", "value": 176.4}})) == [
        ("29463-7", 80.01, ident)
    ]
    assert read(point("blood-glucose", {"blood_glucose": {"unit": "mmol/L", "value": 5.5}}))[0][1] == 99.09
    assert read(point("body-temperature", {"body_temperature": {"unit": "F", "value": 98.6}}))[0][1] == 37.0
    assert read(point("heart-rate", {"heart_rate": {"unit": "beats/min", "value": 64}}))[0][:2] == (
        "8867-4",
        64.0,
    )
    assert (
        read(point("oxygen-saturation", {"oxygen_saturation": {"unit": "%", "value": 96}}))[0][0] == "59408-5"
    )
    [taken] = readings(
        point("respiratory-rate", {"respiratory_rate": {"unit": "breaths/min", "value": 16}}),
        patient_id="p1",
        device_id="d",
    )
    assert (
        taken.effective.isoformat() == "2026-12-01T07:25:00-05:00" and taken.provenance is Provenance.DEVICE
    )


def test_a_self_reported_point_is_kept_as_typed_in() -> None:
    typed = point(
        "heart-rate", {"heart_rate": {"unit": "beats/min", "value": 70}, "modality": "self-reported"}
    )
    assert readings(typed, patient_id="p1", device_id="app")[0].provenance is Provenance.MANUAL


@pytest.mark.parametrize(
    ("p", "said"),
    [
        ({"header": {}}, "header and a body"),
        (point("step-count", {"step_count": {"value": 4000}}), "schemas taken"),
        (point("heart-rate", {"heart_rate": {"unit": "beats/min"}}), "heart_rate with a value"),
        (point("heart-rate", {"heart_rate": {"unit": "Hz", "value": 1.1}}), "not 'Hz'"),
        (point("heart-rate", {"heart_rate": {"unit": "beats/min", "value": 64}}, id=""), "its id"),
        (
            {
                **point("heart-rate", {"heart_rate": {"unit": "beats/min", "value": 64}}),
                "body": {"heart_rate": {"unit": "beats/min", "value": 64}},
            },
            "says when it was taken",
        ),
    ],
)
def test_a_point_not_taken_is_refused_with_a_reason(p: dict[str, Any], said: str) -> None:
    with pytest.raises(ReadingRefusedError, match=said):
        readings(p, patient_id="p1", device_id="d")
