"""The recordings bucket, as far as the platform reads it: which files a pipeline left."""

from __future__ import annotations

from typing import Any


class S3RecordingFiles:
    def __init__(self, client: Any = None) -> None:
        import boto3

        self._s3 = client or boto3.client("s3")

    def keys(self, bucket: str, prefix: str) -> list[str]:
        found: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [str(item["Key"]) for item in page.get("Contents", [])]
        return found
