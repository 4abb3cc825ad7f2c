"""The vitals context's items in the clinic table: a visit's vital signs estimated from its
recording, with their review, in the appointment's partition.

Key design (access patterns, and which module owns each, in docs/architecture.md):

| item | pk | sk |
|---|---|---|
| vital signs of a visit (readings, refusals, review) | APPT#<id> | VITALS#v<version> |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.table_store import TableStore
from telehealth.domain.vitals import Reading, ReadingStatus, VisitVitals, VitalSign
from telehealth.ports import IdempotencyClaim, OutboxEntry, VisitChangedError


def vitals_from(p: Mapping[str, Any]) -> VisitVitals:
    return VisitVitals(
        appointment_id=str(p["pk"]).removeprefix("APPT#"),
        version=int(str(p["sk"]).removeprefix("VITALS#v")),
        patient_id=p["patient_id"],
        encounter_id=p["encounter_id"],
        effective=from_stamp(p["effective"]),
        readings=tuple(
            Reading(
                VitalSign(r["sign"]),
                float(r["per_minute"]),
                float(r["quality"]),
                ReadingStatus(r["status"]),
                from_stamp(r["reviewed_at"]) if r.get("reviewed_at") else None,
            )
            for r in json.loads(p["readings"])
        ),
        refusals=tuple((VitalSign(sign), reason) for sign, reason in json.loads(p["refusals"])),
        method=p["method"],
    )


class DynamoVitalsStore(TableStore):
    def vitals(self, appointment_id: str, version: int) -> tuple[VisitVitals, int] | None:
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"APPT#{appointment_id}"}, "sk": {"S": f"VITALS#v{version}"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        p = self._plain(item)
        return vitals_from(p), int(p["revision"])

    def save_vitals(
        self,
        vitals: VisitVitals,
        revision: int,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None = None,
    ) -> int:
        """The estimates at their next revision (0: the first, once), with their record."""
        put = self._versioned_put(
            {
                "pk": f"APPT#{vitals.appointment_id}",
                "sk": f"VITALS#v{vitals.version}",
                "patient_id": vitals.patient_id,
                "encounter_id": vitals.encounter_id,
                "effective": stamp(vitals.effective),
                "readings": json.dumps(
                    [
                        {
                            "sign": r.sign.value,
                            "per_minute": r.per_minute,
                            "quality": r.quality,
                            "status": r.status.value,
                            **({"reviewed_at": stamp(r.reviewed_at)} if r.reviewed_at else {}),
                        }
                        for r in vitals.readings
                    ]
                ),
                "refusals": json.dumps([[sign.value, reason] for sign, reason in vitals.refusals]),
                "method": vitals.method,
            },
            counter="revision",
            value=revision + 1,
        )
        self._commit([put], outbox, claim, VisitChangedError("the estimates changed meanwhile"))
        return revision + 1
