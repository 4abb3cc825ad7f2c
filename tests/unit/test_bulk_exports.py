"""Bulk export's desk and runner over fakes: a tenant's exports run one at a time in the order
asked; one whose turn comes while HealthLake runs another account-mate's export waits, and says
so; a care team's export writes its Group first; a cancelled export stops HealthLake's job and is
gone; a file is read by its owner alone, audited naming every patient it holds. Every id is
synthetic."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth.adapters.export_files import S3ExportFiles
from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller
from telehealth.application.exports import ExportDesk, ExportRunner, ExportSite
from telehealth.application.fhir_facade import FacadeError
from telehealth.domain.appointments import Actor
from telehealth.domain.exports import (
    ExportAsked,
    ExportDestination,
    ExportFile,
    ExportJob,
    ExportLevel,
    ExportState,
)
from telehealth.ports import FhirStoreError, OutboxEntry, StaleWriteError

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CLIENT = Caller(Actor.MACHINE, "ehr", frozenset({"system/*.rs"}), frozenset())
OTHER = Caller(Actor.MACHINE, "ehr-2", frozenset({"system/*.rs"}), frozenset())
SITE = ExportSite("telehealth-t-exports-1", "arn:aws:kms:us-east-1:1:alias/t", "arn:aws:iam::1:role/x")
URL = "https://api.example/fhir/r4/$export"


class Store:
    """The table (exports and the outbox) and the audit store."""

    def __init__(self) -> None:
        self.jobs: dict[str, ExportJob] = {}
        self.outbox: list[OutboxEntry] = []

    def add_export(self, job: ExportJob, outbox: list[OutboxEntry]) -> None:
        self.jobs[job.export_id] = job
        self.outbox += outbox

    def export(self, export_id: str) -> ExportJob | None:
        return self.jobs.get(export_id)

    def save_export(self, job: ExportJob) -> None:
        if self.jobs[job.export_id].version != job.version - 1:
            raise StaleWriteError("changed")
        self.jobs[job.export_id] = job

    def exports(self) -> list[ExportJob]:
        return sorted(self.jobs.values(), key=lambda j: (j.asked_at, j.export_id))

    def record(self, outbox: list[OutboxEntry]) -> None:
        self.outbox += outbox

    def provider_for_user(self, user_sub: str) -> str | None:
        return None

    def appointment(self, appointment_id: str) -> None:
        return None

    def audited(self) -> list[dict[str, Any]]:
        return [dict(e.resource) for e in self.outbox if e.resource.get("resourceType") == "AuditEvent"]


class HealthLake:
    """The account's one export at a time: a second is refused (429) while one runs."""

    def __init__(self) -> None:
        self.jobs: dict[str, str] = {}  # job id -> status
        self.started: list[tuple[ExportAsked, str, ExportDestination]] = []
        self.written: list[dict[str, Any]] = []
        self.busy_elsewhere = False
        self.meanwhile: Callable[[], None] = lambda: None  # what happens while HealthLake starts it

    def start_export(self, asked: ExportAsked, job_name: str, destination: ExportDestination) -> str:
        self.meanwhile()
        if self.busy_elsewhere or "IN_PROGRESS" in self.jobs.values():
            raise FhirStoreError(429, ("throttled",))
        job_id = f"hl{len(self.jobs)}"
        self.jobs[job_id] = "IN_PROGRESS"
        self.started.append((asked, job_name, destination))
        return job_id

    def export_status(self, job_id: str) -> str:
        if job_id not in self.jobs:
            raise FhirStoreError(404, ("not-found",))
        return self.jobs[job_id]

    def cancel_export(self, job_id: str) -> None:
        self.jobs[job_id] = "CANCEL_COMPLETED"

    def put(self, resource: dict[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        self.written.append(resource)
        return resource


class Files:
    def __init__(self) -> None:
        self.content = (
            b'{"resourceType":"Appointment","id":"a1","participant":[{"actor":{"reference":"Patient/p1"}}]}\n'
        )

    def index(self, prefix: str, job_id: str) -> list[ExportFile]:
        return [ExportFile("Appointment", "Appointment-1.ndjson", 1, f"{prefix}/{job_id}/x.ndjson", 0, 99)]

    def read(self, file: ExportFile) -> bytes | None:
        return self.content


class Care:
    def patients_of_provider(self, provider_id: str) -> frozenset[str]:
        return frozenset({"p2", "p1"}) if provider_id == "dr-a" else frozenset()

    def provider(self, provider_id: str) -> object | None:
        return object() if provider_id == "dr-a" else None

    def provider_for_user(self, user_sub: str) -> str | None:
        return None


class Clinic:
    def __init__(self) -> None:
        self.now = NOW
        self.store, self.healthlake, self.files, self.care = Store(), HealthLake(), Files(), Care()
        trail = AuditTrail(self.store, lambda: self.now)
        clock = lambda: self.now  # noqa: E731
        self.desk = ExportDesk(
            self.store,
            self.files,
            self.care,
            trail,
            clock,
            cancel=self.healthlake.cancel_export,
            wake=lambda: self.woken.append(self.now),
        )
        self.woken: list[datetime] = []
        self.runner = ExportRunner(
            self.store, self.healthlake, self.files, self.care, SITE, clock, sleep=lambda s: None
        )

    def ask(self, caller: Caller = CLIENT, level: ExportLevel = ExportLevel.SYSTEM, **kw: Any) -> ExportJob:
        self.now += timedelta(seconds=1)
        return self.desk.kick_off(caller, level, [("_type", "Appointment")], URL, **kw)


def test_exports_run_one_at_a_time_in_the_order_asked() -> None:
    clinic = Clinic()
    first, second = clinic.ask(), clinic.ask()
    assert clinic.desk.status(CLIENT, second.export_id)[1] == 1  # one of this clinic's ahead
    assert len(clinic.woken) == 2  # the runner, each time
    clinic.runner.advance(patience_s=0)
    assert clinic.store.jobs[first.export_id].state is ExportState.RUNNING
    assert clinic.store.jobs[second.export_id].state is ExportState.QUEUED
    asked, name, destination = clinic.healthlake.started[0]
    assert (asked.types, name) == (("Appointment",), first.export_id)
    assert destination.s3_uri == f"s3://{SITE.bucket}/exports/{first.export_id}"

    clinic.healthlake.jobs["hl0"] = "COMPLETED"
    clinic.runner.advance(patience_s=0)  # the first finished and indexed; the second started
    done = clinic.store.jobs[first.export_id]
    assert done.state is ExportState.COMPLETED and done.files[0].source.startswith(
        f"exports/{first.export_id}/"
    )
    assert clinic.store.jobs[second.export_id].state is ExportState.RUNNING


def test_an_export_waits_while_healthlake_runs_another_tenants_and_says_so() -> None:
    clinic = Clinic()
    clinic.healthlake.busy_elsewhere = True
    job = clinic.ask()
    clinic.runner.advance(patience_s=0)
    waiting, _ = clinic.desk.status(CLIENT, job.export_id)
    assert waiting.state is ExportState.WAITING
    assert "one export at a time for this and other clinics" in waiting.progress(0)
    clinic.runner.advance(patience_s=0)  # still busy: no new version written
    assert clinic.store.jobs[job.export_id].version == waiting.version
    clinic.healthlake.busy_elsewhere = False
    clinic.runner.advance(patience_s=0)
    assert clinic.store.jobs[job.export_id].state is ExportState.RUNNING


def test_a_job_healthlake_failed_or_forgot_fails_with_a_reason_and_the_next_starts() -> None:
    clinic = Clinic()
    first, second = clinic.ask(), clinic.ask()
    clinic.runner.advance(patience_s=0)
    clinic.healthlake.jobs["hl0"] = "COMPLETED_WITH_ERRORS"
    clinic.runner.advance(patience_s=0)
    failed = clinic.store.jobs[first.export_id]
    assert failed.state is ExportState.FAILED and "COMPLETED_WITH_ERRORS" in failed.reason
    del clinic.healthlake.jobs["hl1"]
    clinic.runner.advance(patience_s=0)
    assert "no longer knows" in clinic.store.jobs[second.export_id].reason


def test_a_care_teams_export_writes_its_group_first() -> None:
    clinic = Clinic()
    clinic.ask(level=ExportLevel.GROUP, group_id="care-team-dr-a")
    clinic.runner.advance(patience_s=0)
    (group,) = clinic.healthlake.written
    assert group["id"] == "care-team-dr-a" and group["quantity"] == 2
    assert [m["entity"]["reference"] for m in group["member"]] == ["Patient/p1", "Patient/p2"]
    assert clinic.healthlake.started[0][0].group_id == "care-team-dr-a"
    with pytest.raises(FacadeError, match="No such group") as refused:
        clinic.ask(level=ExportLevel.GROUP, group_id="care-team-dr-nobody")
    assert refused.value.status == 404
    assert clinic.store.audited()[-1]["outcome"] == "4"  # the refusal audited


def test_a_cancelled_export_stops_healthlakes_job_and_is_gone_for_good() -> None:
    clinic = Clinic()
    job = clinic.ask()
    clinic.runner.advance(patience_s=0)
    running = clinic.store.jobs[job.export_id]
    with pytest.raises(FacadeError):
        clinic.desk.cancel(OTHER, job.export_id)
    clinic.desk.cancel(CLIENT, job.export_id)
    assert clinic.healthlake.jobs["hl0"] == "CANCEL_COMPLETED"
    with pytest.raises(FacadeError, match="cancelled"):
        clinic.desk.status(CLIENT, job.export_id)
    # A runner that read it running before the cancel cannot bring it back.
    clinic.runner._save(replace(running, state=ExportState.COMPLETED, version=running.version + 1))
    assert clinic.store.jobs[job.export_id].state is ExportState.CANCELLED


def test_an_export_cancelled_while_its_job_starts_leaves_no_healthlake_job_running() -> None:
    clinic = Clinic()
    job = clinic.ask()
    clinic.healthlake.meanwhile = lambda: clinic.desk.cancel(CLIENT, job.export_id)
    clinic.runner.advance(patience_s=0)
    assert clinic.store.jobs[job.export_id].state is ExportState.CANCELLED
    assert clinic.healthlake.jobs == {"hl0": "CANCEL_COMPLETED"}
    # Cancelled before the runner took it: nothing starts at all.
    clinic.healthlake.meanwhile = lambda: None
    other = clinic.ask()
    clinic.desk.cancel(CLIENT, other.export_id)
    clinic.runner.advance(patience_s=0)
    assert len(clinic.healthlake.started) == 1


def test_a_file_is_its_owners_and_its_read_audited_naming_each_patient() -> None:
    clinic = Clinic()
    job = clinic.ask()
    clinic.runner.advance(patience_s=0)
    clinic.healthlake.jobs["hl0"] = "COMPLETED"
    clinic.runner.advance(patience_s=0)
    with pytest.raises(FacadeError) as other:
        clinic.desk.file(OTHER, job.export_id, "Appointment-1.ndjson")
    assert other.value.status == 404
    with pytest.raises(FacadeError):
        clinic.desk.file(CLIENT, job.export_id, "Patient-1.ndjson")
    assert clinic.desk.file(CLIENT, job.export_id, "Appointment-1.ndjson") == clinic.files.content
    read = clinic.store.audited()[-1]
    assert [e["what"].get("reference") for e in read["entity"]] == [None, "Patient/p1"]
    assert read["entity"][0]["what"]["identifier"]["value"] == job.export_id
    # A later token of the client's, narrower, reads no file of a type it no longer reads.
    narrower = Caller(Actor.MACHINE, "ehr", frozenset({"system/Patient.rs"}), frozenset())
    with pytest.raises(FacadeError, match="do not allow reading Appointment"):
        clinic.desk.file(narrower, job.export_id, "Appointment-1.ndjson")
    clinic.now += timedelta(days=8)
    with pytest.raises(FacadeError, match="no longer kept"):
        clinic.desk.file(CLIENT, job.export_id, "Appointment-1.ndjson")


def test_only_machine_clients_export_and_only_the_types_they_read() -> None:
    clinic = Clinic()
    staff = Caller(Actor.STAFF, "u1", frozenset(), frozenset({"staff"}))
    with pytest.raises(FacadeError, match="machine clients"):
        clinic.ask(staff)
    narrow = Caller(Actor.MACHINE, "ehr", frozenset({"system/Patient.rs"}), frozenset())
    with pytest.raises(FacadeError, match="_type names") as refused:
        clinic.ask(narrow)  # asks for Appointment
    assert refused.value.status == 400
    job = clinic.desk.kick_off(narrow, ExportLevel.PATIENT, [], URL)
    assert job.request.types == ("Patient",)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)


class _Bucket:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_paginator(self, name: str) -> Any:
        objects = self.objects

        class Pages:
            def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:  # noqa: N803 (boto3's)
                return [{"Contents": [{"Key": k} for k in objects if k.startswith(Prefix)]}]

        return Pages()

    def get_object(self, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:  # noqa: N803
        data = self.objects[Key]
        if Range:
            first, last = Range.removeprefix("bytes=").split("-")
            data = data[int(first) : int(last) + 1]
        return {"Body": _Body(data)}


def test_healthlakes_objects_are_cut_into_files_of_whole_lines_that_add_up_to_them() -> None:
    patients = b"".join(
        json.dumps({"resourceType": "Patient", "id": f"p{i}"}).encode() + b"\n" for i in range(10)
    )
    last_without_newline = b'{"resourceType": "Observation", "id": "o1"}'
    bucket = _Bucket(
        {"exports/x/P/Patient-0.ndjson": patients, "exports/x/O/Observation-0.ndjson": last_without_newline}
    )
    bucket.objects["exports/x/ds-FHIR_EXPORT-other/P/Patient-0.ndjson"] = b"not this job's\n"
    bucket.objects = {
        k.replace("exports/x/", "exports/x/ds-FHIR_EXPORT-job1/", 1) if "other" not in k else k: v
        for k, v in bucket.objects.items()
    }
    files = S3ExportFiles("b", bucket, file_bytes=100)
    found = files.index("exports/x/", "job1")
    by_type: dict[str, list[ExportFile]] = {}
    for file in found:
        by_type.setdefault(file.resource_type, []).append(file)
    assert [f.name for f in by_type["Patient"]] == [f"Patient-{n}.ndjson" for n in range(1, 6)]
    assert all(f.last_byte - f.first_byte < 100 for f in by_type["Patient"])
    assert b"".join(files.read(f) or b"" for f in by_type["Patient"]) == patients
    assert sum(f.count for f in by_type["Patient"]) == 10
    (observations,) = by_type["Observation"]
    assert (observations.count, files.read(observations)) == (1, last_without_newline)
