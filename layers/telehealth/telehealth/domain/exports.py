"""Bulk export (FHIR Bulk Data Access, `$export`): what a health system may ask for, and the life
of an export job as the facade reports it. Pure: no AWS, no I/O; now is passed in.

An export runs as a HealthLake export job, which HealthLake runs one at a time per AWS account,
shared by every tenant there: a job waits its turn in the tenant's queue, then, if HealthLake is
busy with another account-mate's, until HealthLake takes it; its status says which. Kick-off and
status follow the Bulk Data specification: 202 with `Content-Location` to poll, 202 with
`X-Progress` and `Retry-After` while it runs, then the manifest (`requiresAccessToken: true`: the
files are read through the facade with the same client's token, never by a signed link).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
# Groups the platform defines: a provider's care team, the patients who have or had a visit with
# them (`Group/care-team-<provider id>`). (An RPM program's patients join when RPM does.)
CARE_TEAM_GROUP = "care-team-"
# Where in the tenant's export bucket HealthLake writes (`<prefix>/<export id>/`).
EXPORTS_PREFIX = "exports"
POLL_AFTER = {"queued": 60, "waiting": 60, "running": 15}  # Retry-After, seconds
# What one file the facade streams holds at most: a Lambda's answer is at most 6 MB.
FILE_BYTES = 4 * 1024 * 1024
# The files an export's item can list (DynamoDB's 400 KB item): about 6 GB of NDJSON. A larger
# export fails, saying to narrow it by `_type` or `_since`.
MAX_FILES = 1500
KEPT_FOR = timedelta(days=7)  # a completed export's files, then gone (the bucket's lifecycle too)


class ExportLevel(StrEnum):
    SYSTEM = "system"
    PATIENT = "patient"
    GROUP = "group"


class ExportState(StrEnum):
    QUEUED = "queued"  # behind the tenant's earlier exports
    WAITING = "waiting"  # its turn, but HealthLake runs another export in the account
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (ExportState.COMPLETED, ExportState.FAILED, ExportState.CANCELLED)


class ExportRuleError(ValueError):
    """An export the facade does not take: the message says what, never a value sent (400)."""


@dataclass(frozen=True)
class ExportAsked:
    level: ExportLevel
    types: tuple[str, ...]  # every exportable type when `_type` is not given
    since: datetime | None
    group_id: str | None = None


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ExportRuleError("_since is a FHIR instant, with its time zone.") from None
    if moment.tzinfo is None:
        raise ExportRuleError("_since is a FHIR instant, with its time zone.")
    return moment


def asked(
    level: ExportLevel,
    params: Sequence[tuple[str, str]],
    exportable: Sequence[str],
    now: datetime,
    group_id: str | None = None,
) -> ExportAsked:
    """The kick-off's parameters read: `_outputFormat` (NDJSON only), `_type` (a comma list of the
    types `exportable` at this level), `_since`; any other is refused, as the specification lets a
    server do (an export that silently ignored a filter would hand over more than was asked)."""
    types: list[str] = []
    since: datetime | None = None
    for name, value in params:
        if name == "_outputFormat":
            if value not in OUTPUT_FORMATS:
                raise ExportRuleError("_outputFormat is application/fhir+ndjson: the only format exported.")
        elif name == "_type":
            for kind in (k.strip() for k in value.split(",")):
                if kind not in exportable:
                    raise ExportRuleError(
                        f"_type names the types exported at this level: {', '.join(exportable)}."
                    )
                if kind not in types:
                    types.append(kind)
        elif name == "_since":
            if since is not None:
                raise ExportRuleError("_since is given once.")
            since = _instant(value)
            if since > now:
                raise ExportRuleError("_since is not in the future.")
        else:
            raise ExportRuleError(
                f"{name} is not a parameter this server's export takes (_outputFormat, _type, _since)."
            )
    if level is ExportLevel.GROUP and not (group_id or "").startswith(CARE_TEAM_GROUP):
        raise ExportRuleError(
            f"The groups exported are providers' care teams: Group/{CARE_TEAM_GROUP}<provider id>."
        )
    return ExportAsked(level, tuple(types) or tuple(exportable), since, group_id)


@dataclass(frozen=True)
class ExportDestination:
    """Where HealthLake writes an export: under the tenant's export bucket, with the tenant's
    key, as the data-access role HealthLake assumes for it."""

    s3_uri: str
    kms_key_id: str
    role_arn: str


@dataclass(frozen=True)
class ExportFile:
    """One file of a completed export as the manifest lists it: a run of whole lines of one of
    HealthLake's objects, small enough for one response through the facade."""

    resource_type: str
    name: str  # the file's name under the export (its URL's last part)
    count: int
    source: str  # the object's key in the tenant's export bucket
    first_byte: int
    last_byte: int  # inclusive, as an HTTP range says it


@dataclass(frozen=True)
class ExportJob:
    export_id: str
    owner: str  # the machine client that asked: the only one that polls it and reads its files
    request: ExportAsked
    requested_url: str  # the kick-off's URL, as the manifest repeats it
    asked_at: datetime
    state: ExportState = ExportState.QUEUED
    healthlake_job: str | None = None
    files: tuple[ExportFile, ...] = ()
    finished_at: datetime | None = None
    reason: str = ""  # why it failed, in the platform's words
    version: int = 1
    started_at: datetime | None = None  # when HealthLake took it: what the export is as of

    def started(self, healthlake_job: str, at: datetime) -> ExportJob:
        return replace(
            self,
            state=ExportState.RUNNING,
            healthlake_job=healthlake_job,
            started_at=at,
            version=self.version + 1,
        )

    def waiting(self) -> ExportJob:
        """Its turn came, but HealthLake is busy with another export in the account."""
        return replace(self, state=ExportState.WAITING, version=self.version + 1)

    def completed(self, files: Iterable[ExportFile], at: datetime) -> ExportJob:
        return replace(
            self, state=ExportState.COMPLETED, files=tuple(files), finished_at=at, version=self.version + 1
        )

    def failed(self, reason: str, at: datetime) -> ExportJob:
        return replace(
            self, state=ExportState.FAILED, reason=reason, finished_at=at, version=self.version + 1
        )

    def cancelled(self, at: datetime) -> ExportJob:
        return replace(self, state=ExportState.CANCELLED, finished_at=at, version=self.version + 1)

    def expired(self, now: datetime) -> bool:
        return self.finished_at is not None and now - self.finished_at > KEPT_FOR

    def progress(self, ahead: int) -> str:
        """What `X-Progress` says while it is not done: where it stands, and why it waits."""
        if self.state is ExportState.QUEUED:
            return f"queued: {ahead} export{'s' if ahead != 1 else ''} of this clinic ahead"
        if self.state is ExportState.WAITING:
            return (
                "waiting: the record store runs one export at a time for this and other clinics, "
                "and another is running"
            )
        return "in progress"

    @property
    def retry_after(self) -> int:
        return POLL_AFTER.get(self.state.value, 30)


# HealthLake's export job statuses, in the platform's terms (None: still going).
HEALTHLAKE_STATES: dict[str, ExportState | None] = {
    "SUBMITTED": None,
    "QUEUED": None,
    "IN_PROGRESS": None,
    "COMPLETED": ExportState.COMPLETED,
    "COMPLETED_WITH_ERRORS": ExportState.FAILED,
    "FAILED": ExportState.FAILED,
    "CANCEL_SUBMITTED": None,
    "CANCEL_IN_PROGRESS": None,
    "CANCEL_COMPLETED": ExportState.CANCELLED,
    "CANCEL_FAILED": ExportState.FAILED,
}


def manifest(job: ExportJob, base_url: str) -> dict[str, object]:
    """The completed export's manifest: each file by the facade's URL, read with a token."""
    assert job.state is ExportState.COMPLETED and job.finished_at is not None
    return {
        # The export holds the record as of when HealthLake started it, not when it was asked for.
        "transactionTime": (job.started_at or job.asked_at).isoformat().replace("+00:00", "Z"),
        "request": job.requested_url,
        "requiresAccessToken": True,
        "output": [
            {"type": f.resource_type, "url": f"{base_url}/_export/{job.export_id}/{f.name}", "count": f.count}
            for f in job.files
        ],
        "error": [],
    }
