"""The audit archive: every audit event kept as written, in the tenant's Object Lock bucket
(compliance mode, six years), beside its copy in the FHIR store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

AUDIT_PREFIX = "audit-events/"


class S3AuditArchive:
    """Audit events as JSON objects in the Object Lock bucket (compliance mode, six years)."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        import boto3

        self.bucket = bucket
        self._s3 = client or boto3.client("s3")

    def keep(self, audit_event: dict[str, Any]) -> None:
        recorded = str(audit_event["recorded"])  # 2026-12-01T12:00:00Z
        key = f"{AUDIT_PREFIX}{recorded[:4]}/{recorded[5:7]}/{recorded[8:10]}/{audit_event['id']}.json"
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(audit_event).encode(),
            ContentType="application/fhir+json",
        )

    def kept(self, workers: int = 16) -> Iterator[dict[str, Any]]:
        """Every audit event archived, page by page of the listing, each page's objects read side
        by side (an object written twice, by a retried delivery, is read once: its newest)."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=AUDIT_PREFIX)
        with ThreadPoolExecutor(workers, thread_name_prefix="archive") as pool:
            for page in pages:
                yield from pool.map(self._read, [o["Key"] for o in page.get("Contents", [])])

    def _read(self, key: str) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        return event
