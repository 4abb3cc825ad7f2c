"""The outbox delivered: FHIR resources into the record, events onto the bus, waiting steps resumed.

Each destination is a lane of its own, with its own circuit breaker and its own retries, so a
HealthLake outage or backlog never delays a workflow resumption or an event (the stream relays
run one function per group of lanes; the sweeper runs each lane on its own thread).

Each FHIR entry carries its source version. A stored resource with the same or a newer source
version means the entry is already there (or overtaken), so a late retry never rolls the record
back. The read-compare-write runs under a short lease per resource (a create carries no
`If-Match`, so without it two deliverers could both find the resource absent and the older could
land last); an update is also conditional on the version it read. Audit events are also archived,
immutably, in the tenant's Object Lock bucket.

A destination that stops answering is left alone for a while (its circuit opens) and its entries
stay pending: an outage of any length delays that lane and loses nothing. An entry that fails on
its own account is tried again after a back-off, behind the others, and parked after a few tries,
so a poison entry never stalls its lane.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, Protocol

from telehealth.fhir.projection import source_version
from telehealth.ports import DESTINATIONS, FhirStoreError, OutboxEntry, ResourceBusyError

OPEN_FOR_SECONDS = 30.0
MAX_BUNDLE = 160  # resources in one HealthLake bundle (its quota, not adjustable)
SHARD_WORKERS = 4
RELAY_WORKERS = 8


class FhirStore(Protocol):
    def read_if_present(self, resource_type: str, resource_id: str) -> dict[str, Any] | None: ...

    def put(self, resource: Any, *, if_match: str | None = None) -> dict[str, Any]: ...

    def batch(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class AuditArchive(Protocol):
    def keep(self, audit_event: dict[str, Any]) -> None: ...


class Bus(Protocol):
    def publish(self, source: str, detail_type: str, detail: dict[str, Any]) -> None: ...


class Resumer(Protocol):
    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        """Move a waiting step on; False when nothing waits on the token any more."""
        ...

    def start_workflow(self, state_machine: str, name: str, input: dict[str, Any]) -> bool:
        """Start an execution; False when one of that name was started before."""
        ...


class Outbox(Protocol):
    shards: int

    def pending(self, destination: str, shard: int, limit: int) -> Iterator[OutboxEntry]: ...

    def mark_delivered(self, entry: OutboxEntry) -> None: ...

    def mark_rejected(self, entry: OutboxEntry, codes: tuple[str, ...]) -> None: ...

    def retry_later(self, entry: OutboxEntry, reason: str) -> bool: ...

    def lease(self, reference: str) -> AbstractContextManager[None]: ...


class BundlePacer:
    """This deliverer's share of HealthLake's bundle quota (bundles a second per account and per
    data store, shared by every tenant and every deliverer there): a token bucket, waited on."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second, self.clock, self.sleep = per_second, clock, sleep
        self._tokens, self._at = 1.0, clock()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            self._tokens = min(1.0, self._tokens + (now - self._at) * self.per_second)
            self._at = now
            if self._tokens < 1.0:
                self.sleep((1.0 - self._tokens) / self.per_second)
                self._tokens, self._at = 1.0, self.clock()
            self._tokens -= 1.0


class DestinationUnavailableError(Exception):
    """The destination is down (or was a moment ago): its lane stops, the entry stays pending."""


class RecordRejectedError(Exception):
    """The FHIR store refused the resource itself (it is invalid): retrying cannot help, so the
    entry is parked as rejected, where the alarm on parked entries finds it."""


class RecordProjector:
    def __init__(
        self,
        fhir: FhirStore,
        archive: AuditArchive,
        outbox: Outbox,
        bus: Bus,
        workflows: Resumer,
        clock: Callable[[], float] = time.monotonic,
        *,
        is_outage: Callable[[Exception], bool],
        open_for_s: float = OPEN_FOR_SECONDS,
        pacer: BundlePacer | None = None,
    ) -> None:
        self.fhir, self.archive, self.outbox, self.bus, self.clock = fhir, archive, outbox, bus, clock
        # How long a destination that stopped answering is left alone before it is tried again.
        self.open_for_s = open_for_s
        self.workflows = workflows
        # Which errors say the destination is down (its lane waits) rather than that the entry
        # failed: the adapters know their SDK's errors (adapters/outages.py), this layer does not.
        self.is_outage = is_outage
        self._open_until: dict[str, float] = {}
        self.pacer = pacer or BundlePacer(1.0)

    def available(self, destination: str) -> bool:
        return self.clock() >= self._open_until.get(destination, 0.0)

    def deliver(self, entry: OutboxEntry) -> str:
        """Deliver one entry; returns what happened (`published`, `resumed`, `written`,
        `current`...), or raises: DestinationUnavailableError (the lane waits), ResourceBusyError
        (another deliverer is writing it), RecordRejectedError (parked), or the entry's own error."""
        if not self.available(entry.destination):
            raise DestinationUnavailableError(f"{entry.destination} failed moments ago")
        try:
            outcome = self._deliver(entry)
        except FhirStoreError as error:
            failure = _failure(error.status)
            if failure == "outage":
                raise self._opened(entry.destination) from error
            if failure == "rejected":
                self.outbox.mark_rejected(entry, error.codes)
                raise RecordRejectedError(f"{entry.reference}: {', '.join(error.codes)}") from error
            if failure == "busy":  # written meanwhile by someone without the lease
                raise ResourceBusyError(entry.reference) from error
            raise
        except (DestinationUnavailableError, ResourceBusyError):
            raise
        except Exception as error:
            if self.is_outage(error):
                raise self._opened(entry.destination) from error
            raise
        self.outbox.mark_delivered(entry)
        return outcome

    def handle(self, entry: OutboxEntry) -> str:
        """Deliver, and settle an entry that failed on its own account: tried again later, or
        parked. Raises DestinationUnavailableError only: the caller stops the lane."""
        try:
            return self.deliver(entry)
        except DestinationUnavailableError:
            raise
        except ResourceBusyError:
            return "busy"
        except RecordRejectedError:
            return "parked"
        except Exception as error:
            # The error's class names what went wrong; its message could carry what was sent.
            return "parked" if self.outbox.retry_later(entry, type(error).__name__) else "retrying"

    def relay(self, entries: Sequence[OutboxEntry]) -> list[str]:
        """The stream's batch: each resource's entries in order, different resources side by side
        (a batch is mostly distinct resources, each a few round trips). Returns each entry's
        outcome; `left-pending` where its destination is down (the sweeper's lane takes it),
        `unsettled` where settling it in the table failed (the stream should try it again)."""
        outcomes = ["unsettled"] * len(entries)
        by_resource: dict[tuple[str, str], list[int]] = {}
        bundled: list[int] = []
        for index, entry in enumerate(entries):
            if entry.bundled and entry.destination == "fhir":
                bundled.append(index)
            else:
                by_resource.setdefault((entry.destination, entry.reference), []).append(index)
        for start in range(0, len(bundled), MAX_BUNDLE):
            chunk = bundled[start : start + MAX_BUNDLE]
            for index, outcome in zip(chunk, self.relay_bundled([entries[i] for i in chunk]), strict=True):
                outcomes[index] = outcome

        def deliver(indexes: list[int]) -> None:
            for index in indexes:
                try:
                    outcomes[index] = self.handle(entries[index])
                except DestinationUnavailableError:
                    outcomes[index] = "left-pending"

        with ThreadPoolExecutor(RELAY_WORKERS, thread_name_prefix="relay") as pool:
            for done in [pool.submit(deliver, indexes) for indexes in by_resource.values()]:
                with contextlib.suppress(Exception):  # its entries stay `unsettled`
                    done.result()
        return outcomes

    def relay_bundled(self, entries: Sequence[OutboxEntry]) -> list[str]:
        """Up to `MAX_BUNDLE` FHIR entries in two paced bundles: one batch reads what the store
        holds, one writes what is newer, each write conditional (`ifMatch` on the version read,
        `ifNoneMatch: *` where there was none), so no lease is needed: a write that lost a race
        answers 412 and its entry stays pending for the next pass. A resource's older entries in
        the same call are overtaken (delivered). Outcomes as `relay`'s."""
        if not self.available("fhir"):
            return ["left-pending"] * len(entries)
        newest = _newest(entries)
        try:
            settled = self._bundled(newest)
        except Exception as error:
            store_down = isinstance(error, FhirStoreError) and _failure(error.status) == "outage"
            if store_down or self.is_outage(error):
                self._opened("fhir")
                return ["left-pending"] * len(entries)
            settled = {entry.reference: ("retry", type(error).__name__) for entry in entries}
        outcomes = []
        for entry in entries:
            if newest[entry.reference] is not entry:
                self.outbox.mark_delivered(entry)
                outcomes.append("current")
                continue
            outcome, detail = settled[entry.reference]
            if outcome in ("written", "current"):
                self.outbox.mark_delivered(entry)
            elif outcome == "rejected":
                self.outbox.mark_rejected(entry, tuple(detail.split(",")))
                outcome = "parked"
            elif outcome == "retry":
                outcome = "parked" if self.outbox.retry_later(entry, detail) else "retrying"
            outcomes.append(outcome)  # busy, left-pending: the entry stays as it is
        return outcomes

    def _bundled(self, newest: dict[str, OutboxEntry]) -> dict[str, tuple[str, str]]:
        references = list(newest)
        self.pacer.wait()
        found = self.fhir.batch([{"request": {"method": "GET", "url": ref}} for ref in references])
        settled: dict[str, tuple[str, str]] = {}
        writes: list[tuple[str, dict[str, Any]]] = []
        for ref, answer in zip(references, found, strict=True):
            status, entry = _status(answer), newest[ref]
            condition: dict[str, str]
            if status == 200:
                current = answer["resource"]
                if source_version(current) >= entry.source_version:
                    settled[ref] = ("current", "")
                    continue
                condition = {"ifMatch": f'W/"{current["meta"]["versionId"]}"'}
            elif status in (404, 410):
                condition = {"ifNoneMatch": "*"}
            else:
                settled[ref] = _settled(status, answer)
                continue
            writes.append(
                (ref, {"request": {"method": "PUT", "url": ref, **condition}, "resource": entry.resource})
            )
        if writes:
            self.pacer.wait()
            answers = self.fhir.batch([write for _, write in writes])
            for (ref, _), answer in zip(writes, answers, strict=True):
                settled[ref] = _settled(_status(answer), answer)
        return settled

    def sweep(self, keep_going: Callable[[], bool], limit: int = 10_000) -> dict[str, Counter[str]]:
        """Every lane at once, each on its own threads over its shards, until the lane is empty,
        its destination is down, or `keep_going` says stop. Entries that fail are due later, so a
        run never meets the same failure twice."""
        outcomes = {destination: Counter[str]() for destination in DESTINATIONS}
        lock = threading.Lock()

        def shard(destination: str, number: int) -> None:
            for entry in self.outbox.pending(destination, number, limit):
                if not keep_going() or not self.available(destination):
                    return
                try:
                    outcome = self.handle(entry)
                except DestinationUnavailableError:
                    return
                with lock:
                    outcomes[destination][outcome] += 1

        with ThreadPoolExecutor(len(DESTINATIONS) * SHARD_WORKERS, thread_name_prefix="lane") as pool:
            futures = [
                pool.submit(shard, destination, number)
                for number in range(self.outbox.shards)
                for destination in DESTINATIONS
            ]
            for future in futures:
                future.result()
        return outcomes

    def _opened(self, destination: str) -> DestinationUnavailableError:
        self._open_until[destination] = self.clock() + self.open_for_s
        return DestinationUnavailableError(f"{destination} is failing")

    def _deliver(self, entry: OutboxEntry) -> str:
        if entry.destination == "events":
            event = entry.resource
            detail = {**dict(event["detail"]), "outbox_id": entry.outbox_id}
            self.bus.publish(str(event["source"]), str(event["detail-type"]), detail)
            return "published"
        if entry.destination == "workflow" and "state_machine" in entry.resource:
            machine, name = str(entry.resource["state_machine"]), str(entry.resource["id"])
            started = self.workflows.start_workflow(machine, name, dict(entry.resource["input"]))
            return "started" if started else "started-before"
        if entry.destination == "workflow":
            waiting = self.workflows.resume(str(entry.resource["task_token"]), dict(entry.resource["output"]))
            return "resumed" if waiting else "no-longer-waiting"  # nothing waits: nothing to resume
        resource = dict(entry.resource)
        kind, resource_id = str(resource["resourceType"]), str(resource["id"])
        if kind == "AuditEvent":  # written once, never changed: no version to compare
            self.archive.keep(resource)
            self.fhir.put(resource)
            return "written"
        with self.outbox.lease(entry.reference):
            current = self.fhir.read_if_present(kind, resource_id)
            if current is not None and source_version(current) >= entry.source_version:
                return "current"
            self.fhir.put(resource, if_match=current["meta"]["versionId"] if current else None)
            return "written"


def _newest(entries: Sequence[OutboxEntry]) -> dict[str, OutboxEntry]:
    """Each resource's entry at its highest source version."""
    newest: dict[str, OutboxEntry] = {}
    for entry in entries:
        if entry.reference not in newest or entry.source_version > newest[entry.reference].source_version:
            newest[entry.reference] = entry
    return newest


def _status(answer: dict[str, Any]) -> int:
    return int(str(answer.get("response", {}).get("status", "500")).split()[0])


def _failure(status: int) -> str | None:
    """What a FHIR store's status says of a write, one way for a request and a bundle's entry:
    the store is down or throttling (`outage`), it refused the resource (`rejected`), another
    wrote it meanwhile (`busy`); None for anything else."""
    if status >= 500 or status == 429:
        return "outage"
    if status in (400, 422):
        return "rejected"
    if status in (409, 412):
        return "busy"
    return None


def _settled(status: int, answer: dict[str, Any]) -> tuple[str, str]:
    """A bundle entry's answer as the relay settles it: written, busy (a race lost: later),
    rejected (with the outcome's codes), left-pending (the store throttled or failed it)."""
    if 200 <= status < 300:
        return ("written", "")
    failure = _failure(status)
    if failure == "busy":
        return ("busy", "")
    if failure == "rejected":
        issues = (answer.get("response", {}).get("outcome") or {}).get("issue", [])
        return ("rejected", ",".join(str(i.get("code", "invalid")) for i in issues) or "invalid")
    if failure == "outage":
        return ("left-pending", "")
    return ("retry", f"BundleEntry{status}")
