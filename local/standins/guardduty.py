"""GuardDuty Malware Protection for S3, as far as the platform meets it (moto has none).

In AWS a protection plan on a bucket (and prefixes) scans each new object, tags it
`GuardDutyMalwareScanStatus` with the verdict, and puts a "GuardDuty Malware Protection Object Scan
Result" event on the account's default bus; the bucket's policy denies reads of an object until
that tag says `NO_THREATS_FOUND`. Here the same: objects written under a protected prefix are
scanned a moment later (the EICAR test file, and anything holding its signature, is a threat; what
is not, is clean), tagged, and announced with the event's shape; and, as the bucket policy does,
an object under a protected prefix is not read (GET or HEAD: 403 AccessDenied) until it is tagged
clean. The scanner reads the object inside the emulator, as GuardDuty's own role does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

TAG = "GuardDutyMalwareScanStatus"
CLEAN = "NO_THREATS_FOUND"
SOURCE, DETAIL_TYPE = "aws.guardduty", "GuardDuty Malware Protection Object Scan Result"
# The EICAR anti-virus test file's signature: every scanner reports it as a threat.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

Publish = Callable[[str, str, dict[str, Any]], None]

_current: MalwareProtection | None = None  # the running platform's: moto is patched once per process
_patched = False


class MalwareProtection:
    def __init__(self, publish: Publish, delay_s: float = 1.0) -> None:
        self.publish, self.delay_s = publish, delay_s
        self.plans: dict[str, tuple[str, ...]] = {}  # bucket -> protected prefixes
        self.unreadable: dict[str, str] = {}  # bucket -> the key suffix its policy keeps unread until clean
        self.scanned = 0

    def protect(self, bucket: str, prefixes: tuple[str, ...], unreadable_suffix: str = "") -> None:
        """A plan on `bucket`'s `prefixes`; the bucket's policy denies reading an object under them
        whose key ends with `unreadable_suffix` until it is tagged clean."""
        self.plans[bucket] = prefixes
        self.unreadable[bucket] = unreadable_suffix

    def protects(self, bucket: str, key: str) -> bool:
        return any(key.startswith(p) for p in self.plans.get(bucket, ()))

    def withholds(self, bucket: str, key: str) -> bool:
        return self.protects(bucket, key) and key.endswith(self.unreadable.get(bucket, ""))

    def install(self) -> None:
        """Scan what is written under a protected prefix; deny reading it until it is clean. moto
        is patched once per process; the patches ask the platform running now (`_current`)."""
        global _current, _patched
        _current = self
        if _patched:
            return
        _patched = True
        from moto.s3.models import S3Backend
        from moto.s3.responses import S3Response

        put_object = S3Backend.put_object

        def scanned_put(
            self: S3Backend, bucket_name: str, key_name: str, value: bytes, *a: Any, **kw: Any
        ) -> Any:
            stored = put_object(self, bucket_name, key_name, value, *a, **kw)
            protection = _current
            if protection is not None and protection.protects(bucket_name, key_name):
                threading.Thread(
                    target=protection._scan, args=(self, stored), name="guardduty-scan", daemon=True
                ).start()
            return stored

        S3Backend.put_object = scanned_put  # type: ignore[method-assign]

        def guard(read: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(self: S3Response, *a: Any, **kw: Any) -> Any:
                protection, key_name = _current, self.parse_key_name()
                if protection is not None and protection.withholds(self.bucket_name, key_name):
                    stored = self.backend.get_object(self.bucket_name, key_name)
                    if stored is not None and protection.verdict_of(self.backend, stored) != CLEAN:
                        return (
                            403,
                            {"Content-Type": "application/xml"},
                            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                            "<Message>Access Denied</Message></Error>",
                        )
                return read(self, *a, **kw)

            return guarded

        S3Response.get_object = guard(S3Response.get_object)  # type: ignore[method-assign]
        S3Response.head_object = guard(S3Response.head_object)  # type: ignore[method-assign]

    @staticmethod
    def verdict_of(backend: Any, stored: Any) -> str | None:
        tags = backend.get_object_tagging(stored).get("Tags", [])
        return next((t["Value"] for t in tags if t["Key"] == TAG), None)

    def _scan(self, backend: Any, stored: Any) -> None:
        time.sleep(self.delay_s)
        verdict = "THREATS_FOUND" if EICAR in bytes(stored.value) else CLEAN
        backend.put_object_tagging(stored, {TAG: verdict})
        self.scanned += 1
        self.publish(
            SOURCE,
            DETAIL_TYPE,
            {
                "schemaVersion": "1.0",
                "scanStatus": "COMPLETED",
                "resourceType": "S3_OBJECT",
                "s3ObjectDetails": {
                    "bucketName": stored.bucket_name,
                    "objectKey": stored.name,
                    "eTag": stored.etag.strip('"'),
                    "versionId": stored.version_id,
                    "s3Throttled": False,
                },
                "scanResultDetails": {
                    "scanResultStatus": verdict,
                    "threats": [{"name": "EICAR-Test-File (not a virus)"}] if verdict != CLEAN else None,
                },
            },
        )
