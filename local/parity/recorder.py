"""Every AWS call a local process makes, recorded as the IAM actions it needs (botocore hooks).

moto checks no IAM policy, so a call the deployed role would be refused passes locally. Each
function's execution environment, and each media worker run, records what it asked of AWS: the
principal (`function:<key>`, `task:<key>`), the call, and each action with its resource and the
condition keys IAM would see (a request's tags; the tags of the meeting or media pipeline it acts
on, which the recorder asks the service for, as IAM looks them up), one JSON line per distinct
need, in `$PARITY_RECORD_DIR`. The parity tests hold that record against the synthesized
template's policies. Nothing else of a call is kept: its parameters can carry PHI.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.parity.actions import (
    TAGGED_RESOURCES,
    ContextValue,
    Need,
    UnmappedCallError,
    Where,
    healthlake_needs,
    needs,
)

RECORD_DIR = "PARITY_RECORD_DIR"

_lock = threading.Lock()
_seen: set[tuple[str, str, str, str]] = set()
_state: dict[str, Any] = {}


def _where() -> Where:
    return Where(
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), _account()
    )


def _account() -> str:
    from local.emulator import ACCOUNT

    return ACCOUNT


def record(
    principal: str, service: str, operation: str, found: list[Need], tenant: str | None = None
) -> None:
    """Append each need not yet recorded by this process (the platform records service
    principals through this too, naming the tenant they act for)."""
    directory = os.environ.get(RECORD_DIR)
    tenant = tenant or os.environ.get("TENANT_ID")
    if not directory or not tenant:
        return
    lines = []
    with _lock:
        for need in found:
            line = json.dumps(
                {
                    "tenant": tenant,
                    "principal": principal,
                    "service": service,
                    "operation": operation,
                    "action": need.action,
                    "resource": need.resource,
                    "context": dict(need.context),
                },
                sort_keys=True,
            )
            # One of each shape is enough to decide: the first object of a folder, the first
            # meeting (with the tags it carries), rather than one line per audit event or visit.
            shape = (principal, need.action, _shape(need.resource), json.dumps(need.context, sort_keys=True))
            if shape not in _seen:
                _seen.add(shape)
                lines.append(line)
        if lines:
            path = Path(directory) / f"{tenant}.{principal.replace(':', '-')}.{os.getpid()}.jsonl"
            with path.open("a") as out:
                out.write("".join(f"{line}\n" for line in lines))


def _shape(resource: str) -> str:
    """An ARN with its one-of-many part (an object's name, a meeting's id) left out."""
    if resource.startswith("arn:aws:s3:::") and "/" in resource:
        return resource.rsplit("/", 1)[0] + "/"
    for kind in (":meeting/", ":media-pipeline/"):
        if kind in resource:
            return resource.split(kind, 1)[0] + kind
    return resource


def _with_resource_tags(client: Any, call: Any, need: Need) -> Need:
    """A need on a meeting or media pipeline, with the tags IAM reads from it
    (`aws:ResourceTag/<key>`), asked of the service with the same client, unrecorded (`call` is
    botocore's own method). A meeting that is gone has none, as in AWS."""
    if not need.resource.startswith("arn:aws:chime:") or not any(
        kind in need.resource for kind in TAGGED_RESOURCES
    ):
        return need
    from botocore.exceptions import ClientError

    try:
        tags = call(client, "ListTagsForResource", {"ResourceARN": need.resource}).get("Tags", [])
    except ClientError:
        tags = []
    context: dict[str, ContextValue] = {
        **need.context,
        **{f"aws:ResourceTag/{t['Key']}": t["Value"] for t in tags},
    }
    return Need(need.action, need.resource, context)


def _with_object_tags(client: Any, call: Any, need: Need, params: Mapping[str, Any]) -> Need:
    """A read of an S3 object, with the object's tags IAM reads from it
    (`s3:ExistingObjectTag/<key>`: the uploads bucket's policy holds photos unread until GuardDuty
    tags them clean), asked with the same client, unrecorded. An object not there has none."""
    if need.action != "s3:GetObject" or "Key" not in params:
        return need
    from botocore.exceptions import ClientError

    try:
        found = call(client, "GetObjectTagging", {"Bucket": params["Bucket"], "Key": params["Key"]})
    except ClientError:
        return need
    context: dict[str, ContextValue] = {
        **need.context,
        **{f"s3:ExistingObjectTag/{t['Key']}": t["Value"] for t in found.get("TagSet", [])},
    }
    return Need(need.action, need.resource, context)


def start(principal: str) -> None:
    """Record this process's calls as `principal`'s, from now on (once per process)."""
    if not os.environ.get(RECORD_DIR) or _state.get("principal"):
        return
    _state["principal"] = principal
    from botocore.auth import SigV4Auth
    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call

    def recorded(self: BaseClient, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        try:
            found = needs(service, operation_name, api_params, _where())
        except (UnmappedCallError, LookupError, TypeError, ValueError):
            # Still recorded, so the parity test names the call whose entry is missing or wrong;
            # the call itself goes ahead.
            found = [Need(f"unmapped:{service}:{operation_name}", "*")]
        found = [_with_resource_tags(self, make_api_call, need) for need in found]
        if service == "s3":
            found = [_with_object_tags(self, make_api_call, need, api_params) for need in found]
        record(principal, service, operation_name, found)
        return make_api_call(self, operation_name, api_params)

    BaseClient._make_api_call = recorded

    add_auth = SigV4Auth.add_auth

    def signed(self: SigV4Auth, request: Any) -> None:
        # The FHIR store is called with signed requests, not an SDK client: its interactions are
        # named from the method and path.
        if self._service_name == "healthlake" and "/datastore/" in request.url:
            record(
                principal,
                "healthlake",
                request.method,
                healthlake_needs(request.method, request.url, _where(), request.body),
            )
        add_auth(self, request)

    SigV4Auth.add_auth = signed
