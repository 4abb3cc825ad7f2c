"""A patient's insurance, kept with the patient in the clinic table.

| item | pk | sk |
|---|---|---|
| the patient's coverage and its last check | PATIENT#<patient id> | COVERAGE |

One item: the payer, member id, group, the relationship (and the subscriber's name and date of
birth for a dependent: PHI, encrypted at rest with the tenant's key like the rest of the table),
the last eligibility answer normalized (never the payer's raw response), and the version each
write is conditional on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.eligibility import eligibility_from_record, eligibility_record
from telehealth.adapters.table_store import TableStore
from telehealth.domain.coverage import Coverage, CoverageCheck, PatientCoverage, Person, Relationship
from telehealth.ports import IdempotencyClaim, OutboxEntry


def _key(patient_id: str) -> tuple[str, str]:
    return f"PATIENT#{patient_id}", "COVERAGE"


class DynamoCoverageRecords(TableStore):
    def coverage_of(self, patient_id: str) -> PatientCoverage | None:
        found = self._get(*_key(patient_id))
        return coverage_from(found) if found is not None else None

    def save_coverage(
        self,
        coverage: PatientCoverage,
        outbox: list[OutboxEntry],
        now: datetime,
        claim: IdempotencyClaim | None = None,
    ) -> None:
        pk, sk = _key(coverage.patient_id)
        c, check, holder = coverage.coverage, coverage.check, coverage.coverage.subscriber
        put: dict[str, Any] = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": pk,
                        "sk": sk,
                        "payer_id": c.payer_id,
                        "payer_name": coverage.payer_name,
                        "member_id": c.member_id,
                        "group_number": c.group_number,
                        "relationship": c.relationship.value,
                        "subscriber": {
                            "given_name": holder.given_name,
                            "family_name": holder.family_name,
                            "birth_date": holder.birth_date.isoformat(),
                        }
                        if holder
                        else None,
                        "check": {
                            **eligibility_record(check.eligibility),
                            "checked_at": stamp(check.checked_at),
                            "for_service": check.service_type,
                        }
                        if check
                        else None,
                        "version": coverage.version,
                        "updated_at": stamp(now),
                    }
                ),
            }
        }
        items = [self._versioned(put, coverage.version), *self._outbox_items(outbox, now)]
        # The Idempotency-Key record last: a failure on it is a twin's answer (TableStore._claimed).
        self._transact([*items, *([self._claim_item(claim, now)] if claim else [])], claim, set())


def _without_nulls(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v is not None}


def coverage_from(item: Mapping[str, Any]) -> PatientCoverage:
    holder = item.get("subscriber")
    check = item.get("check")
    return PatientCoverage(
        patient_id=str(item["pk"]).removeprefix("PATIENT#"),
        coverage=Coverage(
            payer_id=str(item["payer_id"]),
            member_id=str(item["member_id"]),
            relationship=Relationship(item["relationship"]),
            group_number=item.get("group_number"),
            subscriber=Person(
                holder["given_name"], holder["family_name"], date.fromisoformat(holder["birth_date"])
            )
            if holder
            else None,
        ),
        payer_name=str(item.get("payer_name") or item["payer_id"]),
        version=int(item["version"]),
        check=CoverageCheck(
            eligibility_from_record(_without_nulls(check)),
            from_stamp(check["checked_at"]),
            str(check["for_service"]),
        )
        if check
        else None,
    )
