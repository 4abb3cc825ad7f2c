"""Dexcom's API v3 estimated glucose values (`GET /v3/users/self/egvs`,
https://developer.dexcom.com/docs/dexcomv3/operation/getEstimatedGlucoseValuesV3), read into CGM
readings, and the windows a poll asks for.

Dexcom's public API is retrospective (its data reach the cloud hours after they were measured,
for most users), so no urgent low-glucose alert can come from this path: the portal and the
docs say so. `systemTime` is the device's UTC time; records from a receiver carry no offset and
are read as UTC, records from a phone carry theirs. A record's `recordId` is its identifier, so a
poll that overlaps the last one takes nothing twice. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from telehealth.domain.readings import Provenance, Reading, ReadingRefusedError, measured_at, reading

CGM_GLUCOSE = "99504-3"
MAX_WINDOW = timedelta(days=30)  # what one request may span
UNITS = {"mg/dL": "mg/dL", "mmol/L": "mmol/L"}  # and "unknown", which is refused


def windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut into the windows one request may ask for, oldest first."""
    while start < end:
        upto = min(start + MAX_WINDOW, end)
        yield start, upto
        start = upto


def query(start: datetime, end: datetime) -> dict[str, str]:
    """A window as Dexcom's query takes it: UTC, to the second, without an offset."""
    return {"startDate": _utc(start), "endDate": _utc(end)}


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def readings(page: Mapping[str, Any], *, patient_id: str) -> tuple[list[Reading], list[tuple[str, str]]]:
    """The page's EGVs as readings, and the records refused (record id, why)."""
    if page.get("recordType") != "egv" or not isinstance(page.get("records"), list):
        raise ReadingRefusedError("A Dexcom egvs answer has recordType egv and its records.")
    taken: list[Reading] = []
    refused: list[tuple[str, str]] = []
    for record in page["records"]:
        record_id = str(record.get("recordId", "")) if isinstance(record, Mapping) else ""
        try:
            if not record_id:
                raise ReadingRefusedError("A Dexcom record carries its recordId.")
            unit = UNITS.get(str(record.get("unit")))
            if unit is None or not isinstance(record.get("value"), int | float):
                raise ReadingRefusedError("A Dexcom record carries its value in mg/dL or mmol/L.")
            at = measured_at(record.get("systemTime"), "systemTime")
            taken.append(
                reading(
                    patient_id=patient_id,
                    device_id=f"dexcom:{record.get('transmitterId') or 'unknown'}",
                    code=CGM_GLUCOSE,
                    value=float(record["value"]),
                    unit=unit,
                    effective=at if at.tzinfo else at.replace(tzinfo=UTC),
                    identifier=record_id,
                    provenance=Provenance.DEVICE,
                )
            )
        except ReadingRefusedError as error:
            refused.append((record_id, str(error)))
    return taken, refused
