"""A browser's presigned POST upload to S3, held to its signed policy in front of moto as S3 holds
it: the size range, the content type, the key, the expiry, the signature, fields the policy does
not cover, and the checksum; what is refused is not stored. Synthetic bytes."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
import pytest

from tests.integration.conftest import REGION, MotoServer

PHOTO = b"\xff\xd8\xff" + b"synthetic-photo-bytes" * 100 + b"\xff\xd9"


def s3(emulator: MotoServer) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=emulator.url,
        region_name=REGION,
        aws_access_key_id="testing",  # the platform's credentials: the policy's signature is checked
        aws_secret_access_key="testing",  # noqa: S106
    )


def slot(client: Any, bucket: str, key: str, expires: int = 600, checksum: bytes = PHOTO) -> dict[str, Any]:
    digest = base64.b64encode(hashlib.sha256(checksum).digest()).decode()
    fields = {
        "Content-Type": "image/jpeg",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-checksum-sha256": digest,
    }
    conditions = [
        {"Content-Type": "image/jpeg"},
        {"x-amz-server-side-encryption": "aws:kms"},
        {"x-amz-checksum-sha256": digest},
        ["content-length-range", 1, 4096],
    ]
    return dict(
        client.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)
    )


def post(url: str, fields: dict[str, str], body: bytes) -> tuple[int, str]:
    """A multipart form as a browser sends it: the fields, then the file last."""
    boundary = uuid.uuid4().hex
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    parts += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(  # noqa: S310 (the emulator, on loopback)
        url, data=parts, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def bucket(emulator: MotoServer) -> str:
    name = f"uploads-{uuid.uuid4().hex[:8]}"
    s3(emulator).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def stored(emulator: MotoServer, bucket: str) -> list[str]:
    return [o["Key"] for o in s3(emulator).list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_an_upload_within_its_policy_is_stored_with_its_type_and_encryption(
    emulator: MotoServer, bucket: str
) -> None:
    client = s3(emulator)
    given = slot(client, bucket, "cases/c1/p1")
    status, _ = post(given["url"], given["fields"], PHOTO)
    assert status == 204
    head = client.head_object(Bucket=bucket, Key="cases/c1/p1")
    assert head["ContentType"] == "image/jpeg" and head["ServerSideEncryption"] == "aws:kms"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (lambda f, b: (f, b * 100), 400, "EntityTooLarge"),  # past content-length-range
        (lambda f, b: ({**f, "Content-Type": "text/html"}, b), 403, "Policy Condition failed"),
        (lambda f, b: ({**f, "key": "cases/c1/elsewhere"}, b), 403, "Policy Condition failed"),
        (lambda f, b: ({**f, "x-amz-meta-note": "extra"}, b), 403, "Extra input fields: x-amz-meta-note"),
        (lambda f, b: (f, b[:-3] + b"xyz"), 400, "BadDigest"),  # not the bytes the checksum names
        (
            lambda f, b: (
                {
                    **f,
                    "policy": base64.b64encode(
                        json.dumps({"expiration": "2999-01-01T00:00:00Z", "conditions": []}).encode()
                    ).decode(),
                },
                b,
            ),
            403,
            "SignatureDoesNotMatch",
        ),
    ],
    ids=["too-large", "content-type", "another-key", "extra-field", "checksum", "tampered-policy"],
)
def test_an_upload_outside_its_policy_is_refused_and_not_stored(
    emulator: MotoServer, bucket: str, change: Any, status: int, code: str
) -> None:
    given = slot(s3(emulator), bucket, "cases/c1/p1")
    fields, body = change(dict(given["fields"]), PHOTO)
    answered, text = post(given["url"], fields, body)
    assert answered == status and code in text, text
    assert stored(emulator, bucket) == []


def test_an_expired_policy_is_refused(emulator: MotoServer, bucket: str) -> None:
    given = slot(s3(emulator), bucket, "cases/c1/p1", expires=1)
    time.sleep(1.5)
    status, text = post(given["url"], given["fields"], PHOTO)
    assert status == 403 and "Policy expired" in text
    assert stored(emulator, bucket) == []
