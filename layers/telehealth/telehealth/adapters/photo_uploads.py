"""Patients' photos go from their browser straight to the tenant's uploads bucket, by a presigned
POST whose signed policy S3 itself holds the upload to: this one key, this content type, this many
bytes at most, and this SHA-256 (S3 refuses other bytes with BadDigest). The slot lasts ten
minutes; the bucket's default encryption (the tenant's key) applies to what lands. The URL names
ids only (`cases/<case id>/<photo id>/original`), never the patient.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from telehealth.ports import UploadSlot

SLOT_LIFETIME = timedelta(minutes=10)


def original_key(case_id: str, photo_id: str) -> str:
    return f"cases/{case_id}/{photo_id}/original"


class S3PhotoUploads:
    def __init__(self, bucket: str | None = None, client: Any = None) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            # Signature Version 4: S3 takes no other for buckets made since 2020 (boto3 would sign a
            # us-east-1 POST with version 2).
            # The regional endpoint (not us-east-1's global one): the portal's CSP names it.
            client = boto3.client(
                "s3", config=Config(signature_version="s3v4", s3={"us_east_1_regional_endpoint": "regional"})
            )
        self._client = client
        self.bucket = bucket or os.environ["UPLOADS_BUCKET"]

    def slot(self, case_id: str, photo_id: str, *, content_type: str, size: int, sha256: str) -> UploadSlot:
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
        fields = {"Content-Type": content_type, "x-amz-checksum-sha256": checksum}
        conditions: list[Any] = [
            {"Content-Type": content_type},
            {"x-amz-checksum-sha256": checksum},
            ["content-length-range", size, size],
        ]
        posted = self._client.generate_presigned_post(
            self.bucket,
            original_key(case_id, photo_id),
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=int(SLOT_LIFETIME.total_seconds()),
        )
        return UploadSlot(
            str(posted["url"]),
            {str(k): str(v) for k, v in posted["fields"].items()},
            datetime.now(UTC) + SLOT_LIFETIME,
        )

    def uploaded(self, case_id: str) -> set[str]:
        """The photo ids of the case whose original is in the bucket (a listing: object reads wait
        for the malware scan's verdict, listings do not)."""
        found = self._client.list_objects_v2(Bucket=self.bucket, Prefix=f"cases/{case_id}/", MaxKeys=100)
        return {
            key.split("/")[2]
            for key in (o["Key"] for o in found.get("Contents", ()))
            if key.endswith("/original") and key.count("/") == 3
        }

    # --- after the upload: the original read once clean, the review copy kept beside it -----------

    def original(self, case_id: str, photo_id: str) -> bytes:
        found = self._client.get_object(Bucket=self.bucket, Key=original_key(case_id, photo_id))
        return bytes(found["Body"].read())

    def keep_review_copy(self, case_id: str, photo_id: str, jpeg: bytes) -> None:
        self._client.put_object(
            Bucket=self.bucket, Key=review_key(case_id, photo_id), Body=jpeg, ContentType="image/jpeg"
        )

    def review_copy(self, case_id: str, photo_id: str) -> bytes:
        found = self._client.get_object(Bucket=self.bucket, Key=review_key(case_id, photo_id))
        return bytes(found["Body"].read())


def review_key(case_id: str, photo_id: str) -> str:
    return f"cases/{case_id}/{photo_id}/review.jpg"


def photo_of_key(key: str) -> tuple[str, str] | None:
    """(case id, photo id) of an original's key; None for any other key."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "cases" and parts[3] == "original":
        return parts[1], parts[2]
    return None
