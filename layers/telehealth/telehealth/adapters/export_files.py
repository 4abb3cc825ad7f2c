"""The tenant's export bucket, as bulk export reads it: the NDJSON objects a HealthLake export job
wrote under its prefix, cut into files the facade can answer whole, and one such file read.

HealthLake writes one resource type per object, but its objects may be larger than a Lambda can
answer (6 MB): a file here is a run of whole lines of one object (`FILE_BYTES` at most, unless a
single line is larger), found by reading each object once when the export completes. A file is
then read with an HTTP range: the bucket is never reached by a link the client holds.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from telehealth.domain.exports import FILE_BYTES, ExportFile

_CHUNK = 1024 * 1024


class S3ExportFiles:
    def __init__(self, bucket: str, client: Any = None, *, file_bytes: int = FILE_BYTES) -> None:
        import boto3

        self.bucket, self.file_bytes = bucket, file_bytes
        self._s3 = client or boto3.client("s3")

    def index(self, prefix: str, job_id: str) -> list[ExportFile]:
        """Every object HealthLake's job `job_id` wrote under `prefix` (its folder is named after
        the job), as files of whole lines, named `<type>-<n>.ndjson` in key order (n counts from
        1 for each type)."""
        files: list[ExportFile] = []
        numbered: dict[str, int] = {}
        for key in sorted(k for k in self._keys(prefix) if job_id in k):
            for first, last, count, resource_type in self._runs(key):
                numbered[resource_type] = numbered.get(resource_type, 0) + 1
                name = f"{resource_type}-{numbered[resource_type]}.ndjson"
                files.append(ExportFile(resource_type, name, count, key, first, last))
        return files

    def read(self, file: ExportFile) -> bytes | None:
        """The file's bytes; None once the bucket's lifecycle has deleted its object."""
        try:
            found = self._s3.get_object(
                Bucket=self.bucket, Key=file.source, Range=f"bytes={file.first_byte}-{file.last_byte}"
            )
        except self._s3.exceptions.NoSuchKey:
            return None
        body: bytes = found["Body"].read()
        return body

    def _keys(self, prefix: str) -> Iterator[str]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if str(item["Key"]).endswith(".ndjson"):
                    yield str(item["Key"])

    def _runs(self, key: str) -> Iterator[tuple[int, int, int, str]]:
        """(first byte, last byte, lines, resource type) of each run of whole lines of the object,
        read once as a stream."""
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        start = offset = count = 0  # the run's first byte; the next line's; the run's lines
        resource_type = ""
        pending = b""
        size_of_object = 0
        # A newline after the object: its last line may lack one.
        for chunk in itertools.chain(iter(lambda: body.read(_CHUNK), b""), [b"\n"]):
            size_of_object += len(chunk)
            pending += chunk
            at = 0
            while (end := pending.find(b"\n", at)) != -1:
                line, size, at = pending[at:end], end + 1 - at, end + 1
                if line.strip():
                    resource_type = resource_type or str(json.loads(line)["resourceType"])
                    if count and offset + size - start > self.file_bytes:
                        yield start, offset - 1, count, resource_type
                        start, count = offset, 0
                    count += 1
                offset += size
            pending = pending[at:]
        if count:
            # The added newline is not in the object: the run ends at its last byte.
            yield start, min(offset, size_of_object - 1) - 1, count, resource_type
