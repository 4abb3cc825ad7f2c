"""The outbox's lanes against the emulator's DynamoDB: a poison entry cannot stall its lane, one
destination's outage never holds up another's, and two writers of one FHIR resource cannot roll
it back. The destinations are fakes with the FHIR store's semantics (a PUT without `If-Match`
creates or overwrites; with it, 412 unless the version is current)."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import topology
from telehealth.adapters.outages import is_outage
from telehealth.adapters.outbox_store import (
    MAX_ATTEMPTS,
    STREAM_GRACE,
    DynamoOutbox,
    back_off,
    lanes,
    shard_of,
)
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.application.record import RecordProjector
from telehealth.fhir.projection import SOURCE_VERSION_SYSTEM, source_version
from telehealth.ports import FhirStoreError, OutboxEntry
from tests.integration.conftest import MotoServer


@pytest.fixture
def table(emulator: MotoServer) -> str:
    """A fresh table with the clinic table's keys and indexes (each test its own lanes)."""
    name = f"outbox-{uuid.uuid4().hex[:8]}"
    emulator.client("dynamodb").create_table(**topology.CLINIC_TABLE.create_request(name))
    return name


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


class FhirStore:
    """HealthLake's PUT semantics, in memory; `down` answers 503 as an outage would."""

    def batch(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise AssertionError("these tests' entries are written one by one")

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.down = False
        self.lock = threading.Lock()

    def read_if_present(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        if self.down:
            raise FhirStoreError(503, ("exception",))
        with self.lock:
            return self.resources.get((resource_type, resource_id))

    def put(self, resource: Any, *, if_match: str | None = None) -> dict[str, Any]:
        if self.down:
            raise FhirStoreError(503, ("exception",))
        key = (str(resource["resourceType"]), str(resource["id"]))
        with self.lock:
            current = self.resources.get(key)
            if if_match is not None and (current is None or current["meta"]["versionId"] != if_match):
                raise FhirStoreError(412, ("conflict",))
            version = int(current["meta"]["versionId"]) + 1 if current else 1
            stored = {**resource, "meta": {**resource.get("meta", {}), "versionId": str(version)}}
            self.resources[key] = stored
            return stored


class Bus:
    def __init__(self, refuse: Callable[[dict[str, Any]], bool] = lambda detail: False) -> None:
        self.published: list[dict[str, Any]] = []
        self.refuse = refuse

    def publish(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        if self.refuse(detail):
            raise ValueError("the bus cannot take this event")
        self.published.append(detail)


class Workflows:
    def __init__(self) -> None:
        self.resumed: list[str] = []

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        self.resumed.append(task_token)
        return True

    def start_workflow(self, state_machine: str, name: str, input: dict[str, Any]) -> bool:
        self.resumed.append(name)
        return True


class Archive:
    def keep(self, audit_event: dict[str, Any]) -> None:
        pass


def projector(
    outbox: DynamoOutbox, fhir: Any = None, bus: Any = None, workflows: Any = None
) -> RecordProjector:
    return RecordProjector(
        fhir or FhirStore(), Archive(), outbox, bus or Bus(), workflows or Workflows(), is_outage=is_outage
    )


def event(n: int, poison: bool = False, event_id: str | None = None) -> OutboxEntry:
    detail = {"n": n, "poison": poison}
    resource = {
        "id": event_id or f"evt-{n:04d}",
        "source": "telehealth.test",
        "detail-type": "Test.Fact",
        "detail": detail,
    }
    return OutboxEntry(resource, 1, destination="events")


def patient(version: int, patient_id: str = "p-1") -> OutboxEntry:
    resource = {
        "resourceType": "Patient",
        "id": patient_id,
        "meta": {"tag": [{"system": SOURCE_VERSION_SYSTEM, "code": str(version)}]},
        "active": True,
    }
    return OutboxEntry(resource, version)


def write(emulator: MotoServer, table: str, entries: list[OutboxEntry], now: datetime) -> DynamoOutbox:
    client = emulator.client("dynamodb")
    store = DynamoSchedulingStore(table, client=client)
    items = DynamoOutbox(table, client).put_actions(entries, now)
    store.write(items)
    return DynamoOutbox(table, client)


def pending(outbox: DynamoOutbox) -> int:
    return sum(1 for destination, shard in lanes() for _ in outbox.pending(destination, shard, 10_000))


def test_a_new_entry_is_the_streams_first_then_the_sweepers(emulator: MotoServer, table: str) -> None:
    clock = Clock()
    outbox = write(emulator, table, [event(1)], clock.now)
    outbox.clock = clock
    assert pending(outbox) == 0
    clock.advance(STREAM_GRACE)
    assert pending(outbox) == 1


def test_250_poison_entries_ahead_of_a_good_one_do_not_stall_the_sweep_and_are_parked(
    emulator: MotoServer, table: str
) -> None:
    clock = Clock()
    good = event(250)
    # All of them in the good one's shard of the lane, written first: the worst order for it.
    ids = (f"evt-{n:05d}" for n in itertools.count())
    same_shard = (i for i in ids if shard_of(event(0, event_id=i)) == shard_of(good))
    entries = [event(n, poison=True, event_id=next(same_shard)) for n in range(250)] + [good]
    outbox = write(emulator, table, entries, clock.now)
    outbox.clock = clock
    bus = Bus(refuse=lambda detail: bool(detail["poison"]))
    sweeper = projector(outbox, bus=bus)

    clock.advance(STREAM_GRACE)
    first = sweeper.sweep(lambda: True)
    assert [d["n"] for d in bus.published] == [250]
    assert first["events"] == Counter({"retrying": 250, "published": 1})

    sweeps = 1
    parked = 0
    for attempt in range(1, MAX_ATTEMPTS):
        clock.advance(back_off(attempt))
        parked += sweeper.sweep(lambda: True)["events"]["parked"]
        sweeps += 1
    assert parked == 250 and sweeps == MAX_ATTEMPTS
    assert pending(outbox) == 0
    set_aside = list(outbox.rejected())
    assert len(set_aside) == 250
    assert {codes for _, codes in set_aside} == {("attempts-exhausted:ValueError",)}
    # Nothing was published twice, and the good entry went in the first sweep.
    assert len(bus.published) == 1


def test_a_parked_entry_redriven_after_a_fix_is_delivered(emulator: MotoServer, table: str) -> None:
    clock = Clock()
    outbox = write(emulator, table, [event(1, poison=True)], clock.now)
    outbox.clock = clock
    broken = Bus(refuse=lambda detail: True)
    for attempt in range(MAX_ATTEMPTS):
        clock.advance(back_off(attempt) + STREAM_GRACE)
        projector(outbox, bus=broken).sweep(lambda: True)
    ((entry, _),) = list(outbox.rejected())
    assert outbox.redrive(entry)
    assert not outbox.redrive(entry)  # once: it is pending now, not parked
    clock.advance(STREAM_GRACE)
    fixed = Bus()
    projector(outbox, bus=fixed).sweep(lambda: True)
    assert [d["n"] for d in fixed.published] == [1]
    assert fixed.published[0]["outbox_id"] == entry.outbox_id
    assert list(outbox.rejected()) == []


def test_with_the_fhir_store_down_the_other_lanes_go_on_and_its_entries_wait(
    emulator: MotoServer, table: str
) -> None:
    clock = Clock()
    resumption = OutboxEntry({"id": "r-1", "task_token": "token-1", "output": {}}, 1, destination="workflow")
    entries = [patient(1, f"p-{n}") for n in range(20)] + [event(1), resumption]
    outbox = write(emulator, table, entries, clock.now)
    outbox.clock = clock
    fhir, bus, workflows = FhirStore(), Bus(), Workflows()
    fhir.down = True
    relay = projector(outbox, fhir, bus, workflows)

    # The stream's batch: FHIR first, as the writes came. One failure stops the FHIR lane at once.
    outcomes = Counter(relay.relay(entries))
    assert outcomes["left-pending"] == 20
    assert workflows.resumed == ["token-1"] and len(bus.published) == 1
    # Nothing was counted against the FHIR entries: an outage is not their fault.
    clock.advance(STREAM_GRACE)
    assert all(e.attempts == 0 for e in outbox.pending("fhir", 0, 100))

    fhir.down = False
    clock.advance(timedelta(minutes=1))
    swept = projector(outbox, fhir, bus, workflows).sweep(lambda: True)
    assert swept["fhir"]["written"] == 20
    assert pending(outbox) == 0


class Interleaved(FhirStore):
    """Both writers read before either writes (a barrier), and the older version's write is the
    slower one: without serialisation the record ends at the older version."""

    def __init__(self, older: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2)
        self.older = older

    def read_if_present(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        found = super().read_if_present(resource_type, resource_id)
        # Broken when the other writer is not reading now: it waits for the lease.
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait(timeout=1.0)
        return found

    def put(self, resource: Any, *, if_match: str | None = None) -> dict[str, Any]:
        if source_version(resource) == self.older:
            time.sleep(0.3)
        return super().put(resource, if_match=if_match)


def test_two_writers_of_one_resource_at_a_barrier_leave_the_newer_version(
    emulator: MotoServer, table: str
) -> None:
    clock = Clock()
    older, newer = patient(1), patient(2)
    outbox = write(emulator, table, [older, newer], clock.now)
    fhir = Interleaved(older=1)
    writers = [projector(outbox, fhir), projector(DynamoOutbox(table, emulator.client("dynamodb")), fhir)]
    results: dict[int, str] = {}

    def deliver(index: int, entry: OutboxEntry) -> None:
        results[entry.source_version] = writers[index].deliver(entry)

    threads = [threading.Thread(target=deliver, args=(i, e)) for i, e in enumerate((older, newer))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    stored = fhir.resources[("Patient", "p-1")]
    assert source_version(stored) == 2
    assert results[2] == "written" and results[1] in ("written", "current")


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    yield
    assert not [t for t in threading.enumerate() if t.name.startswith("lane")]
