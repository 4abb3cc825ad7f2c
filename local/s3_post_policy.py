"""S3's browser-upload POST policy, enforced in front of moto (which stores whatever is posted).

A presigned POST carries a base64 policy document, signed with Signature Version 4, naming the
conditions every field of the form must meet: the bucket, the key, the content type, the size
(`content-length-range`), the encryption, the checksum. S3 refuses an upload that breaks any of
them, one whose policy has expired, whose signature does not verify, or whose form has a field the
policy does not cover, with the XML errors below ("Amazon S3 User Guide: Browser-based uploads
using POST", and the POST Object API's errors). The platform's upload slots rest on these refusals
to cap a photo's size and type where the bytes arrive; locally they would not hold without this.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Fields a policy need not name (S3's list), and the prefix of those it ignores.
UNCOVERED = frozenset({"x-amz-signature", "file", "policy"})
IGNORED_PREFIX = "x-ignore-"


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str

    def xml(self) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
        )


def _denied(reason: str) -> Refusal:
    return Refusal(403, "AccessDenied", f"Invalid according to Policy: {reason}")


def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check(
    form: Mapping[str, str],
    bucket: str,
    size: int,
    body: bytes,
    secrets: Mapping[str, str],
    now: datetime | None = None,
) -> Refusal | None:
    """Why S3 would refuse this form's upload of `body` (`size` bytes) to `bucket`; None: it takes it.

    `secrets` maps access key ids to their secret keys (the emulator's credentials)."""
    fields = {k.lower(): v for k, v in form.items() if k.lower() != "file"}
    policy_b64 = fields.get("policy")
    if policy_b64 is None:
        return None  # an unsigned POST (anonymous): the bucket's own access decides, as in S3
    if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        return Refusal(400, "InvalidArgument", "POST requires x-amz-algorithm AWS4-HMAC-SHA256.")
    credential = fields.get("x-amz-credential", "").split("/")
    if len(credential) != 5 or credential[4] != "aws4_request":
        return Refusal(400, "InvalidArgument", "x-amz-credential is malformed.")
    access_key, day, region, service, _ = credential
    secret = secrets.get(access_key)
    if secret is None:
        return Refusal(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    expected = hmac.new(
        _signing_key(secret, day, region, service), policy_b64.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
        return Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    try:
        policy = json.loads(base64.b64decode(policy_b64))
        expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        conditions = list(policy["conditions"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if expiration <= (now or datetime.now(UTC)):
        return _denied("Policy expired.")
    covered: set[str] = set()
    values = {**fields, "bucket": bucket}
    for condition in conditions:
        refused = _held(condition, values, size, covered)
        if refused is not None:
            return refused
    extra = sorted(
        f for f in fields if f not in UNCOVERED and f not in covered and not f.startswith(IGNORED_PREFIX)
    )
    if extra:
        return _denied(f"Extra input fields: {', '.join(extra)}")
    declared = fields.get("x-amz-checksum-sha256")
    if declared is not None and base64.b64encode(hashlib.sha256(body).digest()).decode() != declared:
        return Refusal(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
    return None


def _held(condition: Any, values: Mapping[str, str], size: int, covered: set[str]) -> Refusal | None:
    if isinstance(condition, dict):
        ((name, wanted),) = condition.items()
        name = name.lower()
        covered.add(name)
        if values.get(name) != wanted:
            return _denied(f'Policy Condition failed: ["eq", "${name}", "{wanted}"]')
        return None
    kind = str(condition[0]).lower()
    if kind == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        if size > high:
            return Refusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        if size < low:
            return Refusal(
                400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
            )
        return None
    name, wanted = str(condition[1]).lstrip("$").lower(), str(condition[2])
    covered.add(name)
    given = values.get(name, "")
    if (kind == "eq" and given != wanted) or (kind == "starts-with" and not given.startswith(wanted)):
        return _denied(f'Policy Condition failed: ["{kind}", "${name}", "{wanted}"]')
    return None
