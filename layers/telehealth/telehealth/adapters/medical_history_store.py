"""A patient's allergies and medicines in the clinic table, on one item beside their profile.

| item | pk | sk |
|---|---|---|
| allergies and medicines (versioned) | PATIENT#<id> | MEDICAL_HISTORY |

Each entry keeps its status, who recorded it and whether a clinician verified it; the item keeps
the last reconciliation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.table_store import TableStore
from telehealth.domain.medical_history import (
    Allergy,
    Author,
    Coding,
    EntryStatus,
    MedicalHistory,
    MedicationUse,
    Reconciliation,
    Severity,
)
from telehealth.errors import StaleWriteError
from telehealth.ports import IdempotencyClaim, OutboxEntry


def _coding(raw: Any) -> Coding | None:
    return Coding(raw[0], raw[1], raw[2]) if raw else None


def _common(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": EntryStatus(raw["status"]),
        "verified": bool(raw["verified"]),
        "recorded_by": Author(raw["recorded_by"]),
        "recorder_id": raw["recorder_id"],
        "recorded_at": from_stamp(raw["recorded_at"]) if raw.get("recorded_at") else None,
    }


def history_from(p: Mapping[str, Any]) -> MedicalHistory:
    body = json.loads(p["history"])
    reconciled = body.get("reconciled")
    return MedicalHistory(
        patient_id=str(p["pk"]).removeprefix("PATIENT#"),
        allergies=tuple(
            Allergy(
                a["entry_id"],
                _coding(a["substance"]),
                a["text"],
                a["reaction"],
                Severity(a["severity"]) if a.get("severity") else None,
                **_common(a),
            )
            for a in body["allergies"]
        ),
        medications=tuple(
            MedicationUse(m["entry_id"], _coding(m["drug"]), m["text"], m["dose"], **_common(m))
            for m in body["medications"]
        ),
        version=int(p["version"]),
        reconciled=Reconciliation(
            reconciled["provider_id"],
            reconciled["appointment_id"],
            int(reconciled["visit_version"]) if reconciled["visit_version"] is not None else None,
            from_stamp(reconciled["at"]),
        )
        if reconciled
        else None,
    )


def _entry(e: Allergy | MedicationUse) -> dict[str, Any]:
    return {
        "entry_id": e.entry_id,
        "text": e.text,
        "status": e.status.value,
        "verified": e.verified,
        "recorded_by": e.recorded_by.value,
        "recorder_id": e.recorder_id,
        "recorded_at": stamp(e.recorded_at) if e.recorded_at else None,
    }


def _coded(c: Coding | None) -> list[str] | None:
    return [c.system, c.code, c.display] if c else None


class DynamoMedicalHistory(TableStore):
    def history(self, patient_id: str) -> MedicalHistory:
        """The patient's lists (empty, version 0, before anything was told)."""
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"PATIENT#{patient_id}"}, "sk": {"S": "MEDICAL_HISTORY"}},
            ConsistentRead=True,
        ).get("Item")
        return history_from(self._plain(item)) if item else MedicalHistory(patient_id)

    def save_history(
        self, history: MedicalHistory, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        reconciled = history.reconciled
        body = {
            "allergies": [
                {
                    **_entry(a),
                    "substance": _coded(a.substance),
                    "reaction": a.reaction,
                    "severity": a.severity.value if a.severity else None,
                }
                for a in history.allergies
            ],
            "medications": [
                {**_entry(m), "drug": _coded(m.drug), "dose": m.dose} for m in history.medications
            ],
            "reconciled": {
                "provider_id": reconciled.provider_id,
                "appointment_id": reconciled.appointment_id,
                "visit_version": reconciled.visit_version,
                "at": stamp(reconciled.at),
            }
            if reconciled
            else None,
        }
        put = self._versioned_put(
            {
                "pk": f"PATIENT#{history.patient_id}",
                "sk": "MEDICAL_HISTORY",
                "history": json.dumps(body, separators=(",", ":")),
            },
            counter="version",
            value=history.version,
        )
        self._commit([put], outbox, claim, StaleWriteError("the allergies and medicines changed meanwhile"))
