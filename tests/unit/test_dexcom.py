"""Dexcom API v3 EGVs, in the shape its documentation gives, read into CGM readings: a
receiver's time without an offset read as UTC, a phone's with its own, mmol/L converted, a record
with an unknown unit refused alone; and a long poll cut into Dexcom's 30-day windows. Every value
is synthetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from telehealth.devices.dexcom import query, readings, windows
from telehealth.domain.readings import ReadingRefusedError


def record(
    record_id: str, value: float, unit: str, system_time: str, device: str = "receiver"
) -> dict[str, object]:
    return {
        "recordId": record_id,
        "systemTime": system_time,
        "displayTime": system_time,
        "transmitterId": "8HX3LM",
        "transmitterTicks": 64309839,
        "value": value,
        "status": None,
        "trend": "flat",
        "trendRate": 0.1,
        "unit": unit,
        "rateUnit": "mg/dL/min",
        "displayDevice": device,
        "transmitterGeneration": "g7",
    }


def test_egvs_become_cgm_readings_and_a_bad_record_is_refused_alone() -> None:
    page = {
        "recordType": "egv",
        "recordVersion": "3.0",
        "userId": "079a528d-7cf7-d4b4-7704-1efbd08f921d",
        "records": [
            record("r1", 138, "mg/dL", "2026-11-30T15:00:00"),
            record("r2", 7.2, "mmol/L", "2026-11-30T10:05:00-05:00", device="iOS"),
            record("r3", 135, "unknown", "2026-11-30T15:10:00"),
        ],
    }
    taken, refused = readings(page, patient_id="p1")
    assert [(r.identifier, r.value, r.effective) for r in taken] == [
        ("r1", 138.0, datetime(2026, 11, 30, 15, 0, tzinfo=UTC)),
        ("r2", 129.71, datetime(2026, 11, 30, 15, 5, tzinfo=UTC)),
    ]
    assert {r.code for r in taken} == {"99504-3"} and taken[0].device_id == "dexcom:8HX3LM"
    assert [r for r, _ in refused] == ["r3"]
    with pytest.raises(ReadingRefusedError):
        readings({"recordType": "calibration", "records": []}, patient_id="p1")


def test_a_poll_is_cut_into_30_day_windows_in_utc_without_offsets() -> None:
    start = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    cut = list(windows(start, start + timedelta(days=65)))
    assert [(b - a).days for a, b in cut] == [30, 30, 5] and cut[-1][1] == start + timedelta(days=65)
    eastern = datetime(2026, 9, 1, 4, 0, tzinfo=timezone(timedelta(hours=-4)))  # 08:00 UTC
    assert query(eastern, eastern + timedelta(hours=1)) == {
        "startDate": "2026-09-01T08:00:00",
        "endDate": "2026-09-01T09:00:00",
    }
