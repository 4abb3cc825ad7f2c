"""The clinical record catches up with the clinic: outbox entries become FHIR resources.

Each entry carries its source version. A stored resource with the same or a newer source version
means the entry is already there (or overtaken), so a late retry never rolls the record back; a
write is conditional on the version it read (If-Match), so two deliverers cannot interleave.
Audit events are also archived, immutably, in the tenant's Object Lock bucket.

When the FHIR store stops answering, the projector stops asking for a while (a circuit breaker),
so a stream batch fails fast and the sweeper, which keeps every entry until it is delivered,
catches up once the store is back. An outage of any length delays the record; it loses nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from telehealth.adapters.healthlake import FhirStoreError
from telehealth.fhir.projection import source_version
from telehealth.ports import OutboxEntry

OPEN_FOR_SECONDS = 30.0


class FhirStore(Protocol):
    def read_if_present(self, resource_type: str, resource_id: str) -> dict[str, Any] | None: ...

    def put(self, resource: Any, *, if_match: str | None = None) -> dict[str, Any]: ...


class AuditArchive(Protocol):
    def keep(self, audit_event: dict[str, Any]) -> None: ...


class Bus(Protocol):
    def publish(self, source: str, detail_type: str, detail: dict[str, Any]) -> None: ...


class Resumer(Protocol):
    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        """Move a waiting step on; False when nothing waits on the token any more."""
        ...


class Delivered(Protocol):
    def mark_delivered(self, entry: OutboxEntry) -> None: ...

    def mark_rejected(self, entry: OutboxEntry, codes: tuple[str, ...]) -> None: ...


class RecordUnavailableError(Exception):
    """The FHIR store is down (or was a moment ago): the entry stays pending."""


class RecordRejectedError(Exception):
    """The FHIR store refused the resource itself (it is invalid): retrying cannot help, so the
    entry is set aside as rejected, where the alarm on rejected entries finds it."""


class RecordProjector:
    def __init__(
        self,
        fhir: FhirStore,
        archive: AuditArchive,
        outbox: Delivered,
        bus: Bus,
        workflows: Resumer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fhir, self.archive, self.outbox, self.bus, self.clock = fhir, archive, outbox, bus, clock
        self.workflows = workflows
        self._open_until = 0.0

    def deliver(self, entry: OutboxEntry) -> str:
        """Deliver one entry; returns what happened (`published`, `written`, `current`), or raises."""
        if entry.destination == "events":
            event = entry.resource
            self.bus.publish(str(event["source"]), str(event["detail-type"]), dict(event["detail"]))
            self.outbox.mark_delivered(entry)
            return "published"
        if entry.destination == "workflow":
            waiting = self.workflows.resume(str(entry.resource["task_token"]), dict(entry.resource["output"]))
            self.outbox.mark_delivered(entry)  # a step that stopped waiting has nothing to resume
            return "resumed" if waiting else "no-longer-waiting"
        if self.clock() < self._open_until:
            raise RecordUnavailableError("the FHIR store failed moments ago")
        try:
            outcome = self._deliver(entry)
        except FhirStoreError as error:
            if error.status >= 500 or error.status == 429:
                self._open_until = self.clock() + OPEN_FOR_SECONDS
                raise RecordUnavailableError("the FHIR store is failing") from error
            if error.status in (400, 422):
                self.outbox.mark_rejected(entry, error.codes)
                raise RecordRejectedError(f"{entry.reference}: {', '.join(error.codes)}") from error
            raise
        self.outbox.mark_delivered(entry)
        return outcome

    def _deliver(self, entry: OutboxEntry) -> str:
        resource = dict(entry.resource)
        kind, resource_id = str(resource["resourceType"]), str(resource["id"])
        if kind == "AuditEvent":
            self.archive.keep(resource)
            self.fhir.put(resource)
            return "written"
        for _ in range(3):
            current = self.fhir.read_if_present(kind, resource_id)
            if current is not None and source_version(current) >= entry.source_version:
                return "current"
            try:
                self.fhir.put(resource, if_match=current["meta"]["versionId"] if current else None)
                return "written"
            except FhirStoreError as error:
                if error.status not in (409, 412):  # someone else wrote in between: read again
                    raise
        raise RecordUnavailableError("the resource kept changing under us")


def from_environment() -> RecordProjector:
    """The projector wired as a function's environment says (one per function: its circuit
    breaker is that function's own)."""
    import os

    from telehealth.adapters.bus import EventBridgeBus
    from telehealth.adapters.clinic_store import DynamoClinicStore
    from telehealth.adapters.healthlake import HealthLakeFhirStore
    from telehealth.adapters.workflows import StepFunctionsVisits

    return RecordProjector(
        HealthLakeFhirStore(os.environ["FHIR_STORE_ENDPOINT"]),
        S3AuditArchive(os.environ["AUDIT_BUCKET"]),
        DynamoClinicStore(),
        EventBridgeBus(),
        StepFunctionsVisits(),
    )


class S3AuditArchive:
    """Audit events as JSON objects in the Object Lock bucket (compliance mode, six years)."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        import boto3

        self.bucket = bucket
        self._s3 = client or boto3.client("s3")

    def keep(self, audit_event: dict[str, Any]) -> None:
        recorded = str(audit_event["recorded"])  # 2026-12-01T12:00:00Z
        key = f"audit-events/{recorded[:4]}/{recorded[5:7]}/{recorded[8:10]}/{audit_event['id']}.json"
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(audit_event).encode(),
            ContentType="application/fhir+json",
        )
