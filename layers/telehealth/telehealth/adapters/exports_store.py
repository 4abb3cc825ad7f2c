"""Bulk exports, in the clinic table.

| item | pk | sk | gsi1 (pk / sk) |
|---|---|---|---|
| export | EXPORT#<id> | EXPORT | EXPORTS / <asked at>#<id> |

A tenant has a handful of exports a week: the runner and a queued export's status read them all,
one query of one partition, oldest first. A finished export's item expires (TTL) when its files
do; what it asked for holds no PHI (types, an instant, a provider's id).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.table_store import TableStore
from telehealth.domain.exports import KEPT_FOR, ExportAsked, ExportFile, ExportJob, ExportLevel, ExportState
from telehealth.ports import OutboxEntry, StaleWriteError

EXPORTS = "EXPORTS"


def _job(p: Mapping[str, Any]) -> ExportJob:
    request = ExportAsked(
        level=ExportLevel(p["level"]),
        types=tuple(json.loads(str(p["types"]))),
        since=from_stamp(str(p["since"])) if "since" in p else None,
        group_id=str(p["group_id"]) if "group_id" in p else None,
    )
    return ExportJob(
        export_id=str(p["pk"]).removeprefix("EXPORT#"),
        owner=str(p["owner"]),
        request=request,
        requested_url=str(p["requested_url"]),
        asked_at=from_stamp(str(p["asked_at"])),
        state=ExportState(p["state"]),
        healthlake_job=str(p["healthlake_job"]) if "healthlake_job" in p else None,
        files=tuple(ExportFile(*f) for f in json.loads(str(p.get("files", "[]")))),
        finished_at=from_stamp(str(p["finished_at"])) if "finished_at" in p else None,
        reason=str(p.get("reason", "")),
        version=int(p["version"]),
        started_at=from_stamp(str(p["started_at"])) if "started_at" in p else None,
    )


class DynamoExportStore(TableStore):
    def _item_of(self, job: ExportJob) -> dict[str, Any]:
        r = job.request
        item = {
            "pk": f"EXPORT#{job.export_id}",
            "sk": "EXPORT",
            "owner": job.owner,
            "level": r.level.value,
            "types": json.dumps(r.types),
            "since": stamp(r.since) if r.since else None,
            "group_id": r.group_id,
            "requested_url": job.requested_url,
            "asked_at": stamp(job.asked_at),
            "state": job.state.value,
            "healthlake_job": job.healthlake_job,
            "files": json.dumps(
                [[f.resource_type, f.name, f.count, f.source, f.first_byte, f.last_byte] for f in job.files]
            )
            if job.files
            else None,
            "started_at": stamp(job.started_at) if job.started_at else None,
            "finished_at": stamp(job.finished_at) if job.finished_at else None,
            "reason": job.reason or None,
            "gsi1pk": EXPORTS,
            "gsi1sk": f"{stamp(job.asked_at)}#{job.export_id}",
            # Gone with its files (a day later, as DynamoDB deletes expired items within a day or two).
            "expires_at": int((job.finished_at + KEPT_FOR + timedelta(days=1)).timestamp())
            if job.finished_at
            else None,
        }
        return {k: v for k, v in item.items() if v is not None}

    def add_export(self, job: ExportJob, outbox: list[OutboxEntry]) -> None:
        put = self._versioned_put(self._item_of(job), counter="version", value=job.version)
        self._commit([put], outbox, None, StaleWriteError("the export exists already"))

    def export(self, export_id: str) -> ExportJob | None:
        found = self._get(f"EXPORT#{export_id}", "EXPORT")
        return _job(found) if found else None

    def save_export(self, job: ExportJob) -> None:
        put = self._versioned_put(self._item_of(job), counter="version", value=job.version)
        self._commit([put], [], None, StaleWriteError("the export changed meanwhile"))

    def exports(self) -> list[ExportJob]:
        now = datetime.now(UTC)
        found = [
            _job(p)
            for p in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": EXPORTS}},
            )
        ]
        return [j for j in found if not j.expired(now)]
