"""Bulk export through the FHIR facade (`$export`): a health system's machine client asks, the
exports' runner has HealthLake export into the tenant's bucket, and the client polls, then reads
the files through the facade with the same token.

HealthLake runs one export job at a time per AWS account, shared by every tenant there. So a
tenant's exports run one at a time, in the order asked (`queued`), and a job whose turn came while
HealthLake is busy with an account-mate's waits (`waiting`) until the runner, every minute, gets
it started. The runner (`ExportRunner.advance`) is the only one that starts, follows and finishes
jobs; the desk (`ExportDesk`) only records what a client asks and answers from the table.

Every step is audited: a kick-off, a cancellation and each file read (naming the export and every
patient whose records the file holds), as searches of the record.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller
from telehealth.application.fhir_facade import CareTeams, FacadeError
from telehealth.domain.appointments import Actor
from telehealth.domain.exports import (
    CARE_TEAM_GROUP,
    EXPORTS_PREFIX,
    HEALTHLAKE_STATES,
    MAX_FILES,
    ExportAsked,
    ExportDestination,
    ExportFile,
    ExportJob,
    ExportLevel,
    ExportRuleError,
    ExportState,
    asked,
)
from telehealth.domain.fhir_access import (
    COMPARTMENT_TYPES,
    FACADE_RESOURCE_TYPES,
    Interaction,
    InvalidScope,
    granted_scopes,
    machine_may,
    patients_of,
)
from telehealth.domain.ids import new_id
from telehealth.ports import FhirStoreError, OutboxEntry, StaleWriteError

logger = logging.getLogger(__name__)

# What each level exports: the whole record, or what belongs to patients (their compartments).
LEVEL_TYPES: dict[ExportLevel, tuple[str, ...]] = {
    ExportLevel.SYSTEM: FACADE_RESOURCE_TYPES,
    ExportLevel.PATIENT: tuple(t for t in FACADE_RESOURCE_TYPES if t in COMPARTMENT_TYPES),
    ExportLevel.GROUP: tuple(t for t in FACADE_RESOURCE_TYPES if t in COMPARTMENT_TYPES),
}


class ExportStore(Protocol):
    """The tenant's exports, in the clinic table (adapters/exports_store.py)."""

    def add_export(self, job: ExportJob, outbox: list[OutboxEntry]) -> None: ...

    def export(self, export_id: str) -> ExportJob | None: ...

    def save_export(self, job: ExportJob) -> None:
        """At `job.version`, on the version before it (StaleWriteError otherwise)."""
        ...

    def exports(self) -> list[ExportJob]:
        """The tenant's exports not yet expired, the oldest asked first."""
        ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


class ExportingStore(Protocol):
    """HealthLake's export job (adapters/healthlake.py), and the one resource an export writes:
    the care team's Group, which a Group-level export reads its members from."""

    def start_export(self, asked: ExportAsked, job_name: str, destination: ExportDestination) -> str: ...

    def export_status(self, job_id: str) -> str: ...

    def cancel_export(self, job_id: str) -> None: ...

    def put(self, resource: dict[str, Any], *, if_match: str | None = None) -> dict[str, Any]: ...


class ExportFiles(Protocol):
    """The tenant's export bucket (adapters/export_files.py)."""

    def index(self, prefix: str, job_id: str) -> list[ExportFile]: ...

    def read(self, file: ExportFile) -> bytes | None: ...


class Providers(Protocol):
    def provider(self, provider_id: str) -> object | None: ...


@dataclass(frozen=True)
class ExportSite:
    """Where the tenant's exports go: its bucket (`s3://<bucket>`), its key, and the role
    HealthLake assumes to write there."""

    bucket: str
    kms_key_id: str
    role_arn: str

    def destination(self, export_id: str) -> ExportDestination:
        return ExportDestination(f"s3://{self.bucket}/{prefix(export_id)}", self.kms_key_id, self.role_arn)


def prefix(export_id: str) -> str:
    return f"{EXPORTS_PREFIX}/{export_id}"


def _refused(status: int, code: str, text: str) -> FacadeError:
    return FacadeError(status, code, text)


class ExportDesk:
    """What a health system's client does with an export: ask, poll, cancel, read its files."""

    def __init__(
        self,
        store: ExportStore,
        files: ExportFiles,
        providers: Providers,
        trail: AuditTrail,
        clock: Callable[[], datetime],
        *,
        cancel: Callable[[str], None],
        wake: Callable[[], None],
    ) -> None:
        self.store, self.files, self.providers, self.trail, self.clock = store, files, providers, trail, clock
        self._cancel_job = cancel  # HealthLake's job, when one runs
        self._wake_runner = wake  # the runner, now rather than at its next minute

    def kick_off(
        self,
        caller: Caller,
        level: ExportLevel,
        params: Sequence[tuple[str, str]],
        requested_url: str,
        group_id: str | None = None,
    ) -> ExportJob:
        with self._audited(caller):
            exportable = self._exportable(caller, level)
            now = self.clock()
            try:
                request = asked(level, params, exportable, now, group_id)
            except ExportRuleError as error:
                raise _refused(400, "invalid", str(error)) from error
            if level is ExportLevel.GROUP:
                provider_id = str(group_id).removeprefix(CARE_TEAM_GROUP)
                if not provider_id or self.providers.provider(provider_id) is None:
                    raise _refused(404, "not-found", f"No such group: Group/{group_id}.")
            job = ExportJob(new_id(now).lower(), caller.subject, request, requested_url, now)
            audit = self.trail.entry(self.trail.agent(caller), Interaction.SEARCH, [_entity(job)], now)
            self.store.add_export(job, [audit])
        try:
            self._wake_runner()
        except Exception as error:  # the runner's next minute starts it anyway
            logger.warning("the exports' runner was not woken (%s)", type(error).__name__)
        return job

    def status(self, caller: Caller, export_id: str) -> tuple[ExportJob, int]:
        """The client's export and how many of the clinic's are ahead of it (while queued)."""
        job = self._own(caller, export_id)
        ahead = 0
        if job.state is ExportState.QUEUED:
            ahead = sum(
                1
                for other in self.store.exports()
                if not other.state.finished
                and (other.asked_at, other.export_id) < (job.asked_at, job.export_id)
            )
        return job, ahead

    def cancel(self, caller: Caller, export_id: str) -> None:
        """Stops the export (HealthLake's job too) and forgets its files: the status is a 404
        after, as the Bulk Data specification has it."""
        with self._audited(caller):
            job = self._own(caller, export_id)
            now = self.clock()
            for attempt in (1, 2):
                if job.state is ExportState.RUNNING and job.healthlake_job:
                    stop(self._cancel_job, job.healthlake_job)
                try:
                    self.store.save_export(job.cancelled(now))
                    break
                except StaleWriteError:
                    if attempt == 2:
                        raise
                    job = self._own(caller, export_id)  # the runner moved it on: stop what it is now
            audit = self.trail.entry(self.trail.agent(caller), Interaction.DELETE, [_entity(job)], now)
            self.store.record([audit])

    def file(self, caller: Caller, export_id: str, name: str) -> bytes:
        """One file of a completed export, whole; audited naming every patient it holds records of."""
        with self._audited(caller):
            job = self._own(caller, export_id)
            found = next((f for f in job.files if f.name == name), None)
            if job.state is not ExportState.COMPLETED or found is None:
                raise _refused(404, "not-found", "No such file in this export: read its manifest.")
            # The token that reads may be narrower than the one that asked.
            if found.resource_type not in self._exportable(caller, job.request.level):
                raise _refused(
                    403, "forbidden", f"The token's scopes do not allow reading {found.resource_type}."
                )
            body = self.files.read(found)
            if body is None:
                raise _refused(404, "not-found", "This export's files are no longer kept: export again.")
            patients: dict[str, None] = {}
            for line in body.splitlines():
                if line.strip():
                    patients.update(dict.fromkeys(patients_of(json.loads(line))))
            entities = [_entity(job), *(f"Patient/{p}" for p in patients)]
            now = self.clock()
            self.store.record(self.trail.entries(self.trail.agent(caller), Interaction.SEARCH, entities, now))
            return body

    # --- rules ----------------------------------------------------------------------------------

    def _exportable(self, caller: Caller, level: ExportLevel) -> tuple[str, ...]:
        """The level's types the client may read and search: a bulk export reads them all."""
        if caller.actor is not Actor.MACHINE:
            raise _refused(403, "forbidden", "Bulk export is for health systems' machine clients.")
        try:
            scopes = granted_scopes(" ".join(sorted(caller.scopes)))
        except InvalidScope as error:
            raise _refused(403, "forbidden", str(error)) from error
        types = tuple(
            t
            for t in LEVEL_TYPES[level]
            if machine_may(scopes, Interaction.READ, t) and machine_may(scopes, Interaction.SEARCH, t)
        )
        if not types:
            raise _refused(403, "forbidden", "The token's scopes allow no resource type to be exported.")
        return types

    def _own(self, caller: Caller, export_id: str) -> ExportJob:
        job = self.store.export(export_id) if _ID_SHAPE(export_id) else None
        if job is None or job.owner != caller.subject or caller.actor is not Actor.MACHINE:
            raise _refused(404, "not-found", "No such export.")
        if job.state is ExportState.CANCELLED:
            raise _refused(404, "not-found", "No such export: it was cancelled.")
        if job.expired(self.clock()):
            raise _refused(404, "not-found", "This export's files are no longer kept: export again.")
        return job

    def _audited(self, caller: Caller) -> Any:
        return _Audited(self.trail, caller)


class _Audited:
    """A failed request's AuditEvent (the facade's way): the attempt, its outcome, no entity."""

    def __init__(self, trail: AuditTrail, caller: Caller) -> None:
        self.trail, self.caller = trail, caller

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if isinstance(error, Exception):
            self.trail.failed(self.caller, Interaction.SEARCH, error)


def stop(cancel: Callable[[str], None], healthlake_job: str) -> None:
    """HealthLake's export job cancelled; one that has finished already (400) or is gone (404)
    has nothing left to stop."""
    try:
        cancel(healthlake_job)
    except FhirStoreError as error:
        if error.status not in (400, 404):
            raise
        logger.info("HealthLake's export job was not running (%s)", error.status)


def _ID_SHAPE(export_id: str) -> bool:  # noqa: N802 (a predicate named for the shape it checks)
    return len(export_id) == 26 and export_id.isalnum()


def _entity(job: ExportJob) -> str:
    return f"Export/{job.export_id}"


class ExportRunner:
    """Starts, follows and finishes the tenant's exports, one at a time: on each export asked
    for, and every minute."""

    def __init__(
        self,
        store: ExportStore,
        healthlake: ExportingStore,
        files: ExportFiles,
        care: CareTeams,
        site: ExportSite,
        clock: Callable[[], datetime],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store, self.healthlake, self.files, self.care, self.site, self.clock = (
            store,
            healthlake,
            files,
            care,
            site,
            clock,
        )
        self.sleep = sleep

    def advance(self, patience_s: float = 20.0, poll_s: float = 1.0) -> dict[str, str]:
        """Moves every unfinished export on as far as it goes now; what became of those it
        touched (id: state). A job it starts is followed for up to `patience_s`: a small export
        is done within the invocation that started it, a large one is picked up again at the
        next minute's tick."""
        unfinished = [j for j in self.store.exports() if not j.state.finished]
        running = [self._follow(j) for j in unfinished if j.state is ExportState.RUNNING]
        touched = {j.export_id: j.state.value for j in running}
        waiting = [j for j in unfinished if j.state in (ExportState.QUEUED, ExportState.WAITING)]
        if not waiting or any(j.state is ExportState.RUNNING for j in running):
            return touched
        job = self._start(waiting[0])
        deadline = time.monotonic() + patience_s
        while job.state is ExportState.RUNNING and time.monotonic() < deadline:
            self.sleep(poll_s)
            job = self._follow(job)
        return {**touched, job.export_id: job.state.value}

    def _start(self, listed: ExportJob) -> ExportJob:
        # The index may lag: start what the item says now, or nothing.
        job = self.store.export(listed.export_id)
        if job is None or job.state not in (ExportState.QUEUED, ExportState.WAITING):
            return job or listed
        if job.request.level is ExportLevel.GROUP:
            self._write_group(str(job.request.group_id))
        try:
            healthlake_job = self.healthlake.start_export(
                job.request, job.export_id, self.site.destination(job.export_id)
            )
        except FhirStoreError as error:
            if error.status != 429:
                return self._save(job.failed("The record store refused the export.", self.clock()))
            # Another export runs in the account (another tenant's): this one waits its turn.
            return job if job.state is ExportState.WAITING else self._save(job.waiting())
        started = job.started(healthlake_job, self.clock())
        try:
            self.store.save_export(started)
        except StaleWriteError:  # cancelled by its client meanwhile: HealthLake's job must not run on
            stop(self.healthlake.cancel_export, healthlake_job)
            return self.store.export(job.export_id) or job
        return started

    def _follow(self, job: ExportJob) -> ExportJob:
        assert job.healthlake_job is not None
        try:
            status = self.healthlake.export_status(job.healthlake_job)
        except FhirStoreError as error:
            if error.status != 404:
                raise
            return self._save(job.failed("The record store no longer knows the export job.", self.clock()))
        outcome = HEALTHLAKE_STATES.get(status)
        if outcome is None:
            return job
        now = self.clock()
        if outcome is ExportState.COMPLETED:
            try:
                files = self.files.index(prefix(job.export_id), job.healthlake_job)
            except Exception as error:  # an object that is not NDJSON: nothing to hand over
                logger.warning("an export's files could not be indexed (%s)", type(error).__name__)
                return self._save(job.failed("Its files could not be read.", now))
            if len(files) > MAX_FILES:
                return self._save(
                    job.failed(f"It is more than {MAX_FILES} files: narrow it by _type or _since.", now)
                )
            return self._save(job.completed(files, now))
        if outcome is ExportState.CANCELLED:
            return self._save(job.cancelled(now))
        logger.warning("an export job ended %s", status)
        return self._save(job.failed(f"The record store's export job ended {status}.", now))

    def _save(self, job: ExportJob) -> ExportJob:
        try:
            self.store.save_export(job)
        except StaleWriteError:  # cancelled by its client meanwhile
            found = self.store.export(job.export_id)
            return found if found is not None else job
        return job

    def _write_group(self, group_id: str) -> None:
        """The care team as a Group in HealthLake, written afresh: those who have or had an
        appointment with the provider now."""
        provider_id = group_id.removeprefix(CARE_TEAM_GROUP)
        members = [
            {"entity": {"reference": f"Patient/{p}"}}
            for p in sorted(self.care.patients_of_provider(provider_id))
        ]
        self.healthlake.put(
            {
                "resourceType": "Group",
                "id": group_id,
                "type": "person",
                "actual": True,
                "name": "Patients in a provider's care",
                "managingEntity": {"reference": f"Practitioner/{provider_id}"},
                "quantity": len(members),
                **({"member": members} if members else {}),
            }
        )
