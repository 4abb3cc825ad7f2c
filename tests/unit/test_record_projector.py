"""The outbox's deliverer over in-memory destinations: its circuit breaker per lane, entries that
fail on their own account (retried, then parked), records the FHIR store refuses, a late retry
that must not roll a resource back, and a resource another deliverer is writing."""

from __future__ import annotations

from typing import Any

from telehealth.adapters.outages import is_outage
from telehealth.adapters.outbox_store import MAX_ATTEMPTS
from telehealth.application.record import OPEN_FOR_SECONDS, BundlePacer, RecordProjector
from telehealth.fhir.projection import SOURCE_VERSION_SYSTEM, source_version
from telehealth.ports import FhirStoreError, OutboxEntry
from tests.unit.fakes import FakeArchive, FakeBus, FakeFhirStore, FakeOutbox, FakeResumer


class Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _patient(n: int, version: int = 1) -> OutboxEntry:
    resource = {
        "resourceType": "Patient",
        "id": f"p-{n}",
        "meta": {"tag": [{"system": SOURCE_VERSION_SYSTEM, "code": str(version)}]},
        "active": True,
    }
    return OutboxEntry(resource, version)


def _event(n: int) -> OutboxEntry:
    return OutboxEntry(
        {"id": f"e-{n}", "source": "telehealth.visits", "detail-type": "Visit.CheckedIn", "detail": {"n": n}},
        1,
        destination="events",
    )


def _projector(*entries: OutboxEntry) -> tuple[RecordProjector, FakeOutbox, FakeFhirStore, FakeBus, Seconds]:
    outbox, fhir, bus, clock = FakeOutbox(entries), FakeFhirStore(), FakeBus(), Seconds()
    projector = RecordProjector(
        fhir, FakeArchive(), outbox, bus, FakeResumer(), clock, is_outage=is_outage, pacer=BundlePacer(1e6)
    )
    return projector, outbox, fhir, bus, clock


def test_a_fhir_store_outage_stops_its_lane_for_a_while_and_the_events_lane_goes_on() -> None:
    entries = [_patient(1), _patient(2), _event(1)]
    projector, outbox, fhir, bus, clock = _projector(*entries)
    fhir.failing.append(FhirStoreError(503, ("exception",)))
    swept = projector.sweep(lambda: True)
    assert swept["events"]["published"] == 1
    assert fhir.calls == 1  # the second Patient was not tried against a store that just failed
    assert [outbox.status[e.outbox_id] for e in entries[:2]] == ["pending", "pending"]
    clock.now += OPEN_FOR_SECONDS / 2
    assert projector.sweep(lambda: True)["fhir"] == {}  # still open
    clock.now += OPEN_FOR_SECONDS
    assert projector.sweep(lambda: True)["fhir"]["written"] == 2
    assert {outbox.status[e.outbox_id] for e in entries} == {"delivered"}
    assert len(bus.published) == 1


def test_a_resource_the_store_refuses_is_parked_with_its_codes_and_the_lane_goes_on() -> None:
    bad, good = _patient(1), _patient(2)
    projector, outbox, fhir, _, _ = _projector(bad, good)
    fhir.failing.append(FhirStoreError(400, ("invalid", "required")))
    swept = projector.sweep(lambda: True)
    assert swept["fhir"] == {"parked": 1, "written": 1}
    assert outbox.status[bad.outbox_id] == "rejected"
    assert outbox.codes[bad.outbox_id] == ("invalid", "required")


def test_an_entry_failing_on_its_own_account_is_retried_then_parked_after_the_last_attempt() -> None:
    entry = _event(1)
    projector, outbox, _, bus, _ = _projector(entry)
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        bus.failing.append(ValueError("detail too large"))
        outcomes.append(projector.handle(outbox.entries[entry.outbox_id]))
    assert outcomes == ["retrying"] * (MAX_ATTEMPTS - 1) + ["parked"]
    assert outbox.status[entry.outbox_id] == "rejected"
    assert outbox.codes[entry.outbox_id] == ("attempts-exhausted:ValueError",)  # the class, never the message
    assert bus.published == []


def test_a_late_retry_of_an_older_version_never_rolls_the_resource_back() -> None:
    newer, older = _patient(1, version=3), _patient(1, version=2)
    projector, outbox, fhir, _, _ = _projector(newer, older)
    assert projector.deliver(newer) == "written"
    assert projector.deliver(older) == "current"
    stored = fhir.resources[("Patient", "p-1")]
    assert stored["meta"]["tag"][0]["code"] == "3"
    assert stored["meta"]["versionId"] == "1"  # written once
    assert outbox.status[older.outbox_id] == "delivered"


def test_a_resource_written_meanwhile_by_another_deliverer_stays_pending_for_later() -> None:
    entry = _patient(1)
    projector, outbox, fhir, _, _ = _projector(entry)
    fhir.failing += [None, FhirStoreError(412, ("conflict",))]  # read, then a conditional write refused
    assert projector.handle(entry) == "busy"
    assert outbox.status[entry.outbox_id] == "pending"
    assert projector.available("fhir")  # one resource's contention is no outage
    with outbox.lease(entry.reference):
        assert projector.handle(entry) == "busy"  # another deliverer holds its lease
    assert projector.handle(entry) == "written"


def test_a_workflow_an_entry_starts_is_started_once_whoever_delivers_it() -> None:
    from telehealth.ports import workflow_start

    entry = workflow_start("alert-escalation", "alert-1", {"alert_id": "alert-1", "patient_id": "p-1"})
    assert entry.reference == "Start/alert-1" and entry.destination == "workflow"
    resumer = FakeResumer()
    projector = RecordProjector(
        FakeFhirStore(),
        FakeArchive(),
        FakeOutbox([entry]),
        FakeBus(),
        resumer,
        Seconds(),
        is_outage=is_outage,
    )
    assert projector.deliver(entry) == "started"
    assert projector.deliver(entry) == "started-before"  # the relay and the sweeper both had it
    assert resumer.started[0] == ("alert-escalation", "alert-1", {"alert_id": "alert-1", "patient_id": "p-1"})


def _summary(n: int, version: int) -> OutboxEntry:
    resource = {
        "resourceType": "Observation",
        "id": f"rpm-day-{n}",
        "meta": {"tag": [{"system": SOURCE_VERSION_SYSTEM, "code": str(version)}]},
        "status": "final",
    }
    return OutboxEntry(resource, version, bundled=True)


def test_summaries_go_two_bundles_at_a_time_conditional_and_newest_first() -> None:
    entries = [_summary(n, 1) for n in range(200)] + [_summary(0, 3), _summary(1, 2)]
    projector, outbox, fhir, _, _ = _projector(*entries)
    fhir.resources[("Observation", "rpm-day-1")] = {
        **_summary(1, 5).resource,
        "meta": {**_summary(1, 5).resource["meta"], "versionId": "4"},
    }
    outcomes = projector.relay(entries)
    # 202 entries of 200 resources, 160 a call: a bundle of reads and one of writes each; rpm-day-0
    # is written twice (its newer version came in the second call), rpm-day-1 never (the store has
    # a newer one).
    assert fhir.bundles == 4 and fhir.calls == 4
    assert outcomes.count("written") == 200 and outcomes.count("current") == 2
    assert source_version(fhir.resources[("Observation", "rpm-day-0")]) == 3  # the newer entry won
    assert source_version(fhir.resources[("Observation", "rpm-day-1")]) == 5  # never rolled back
    assert list(outbox.status.values()).count("delivered") == 202


def test_a_summary_that_lost_a_race_stays_pending_and_a_throttled_store_waits() -> None:
    entry = _summary(7, 2)
    projector, outbox, fhir, _, _ = _projector(entry)
    real_batch = fhir.batch

    def raced(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if entries[0]["request"]["method"] == "PUT":  # someone else created it meanwhile
            fhir.resources[("Observation", "rpm-day-7")] = {**entry.resource, "meta": {"versionId": "1"}}
        return real_batch(entries)

    fhir.batch = raced  # type: ignore[method-assign]
    assert projector.relay_bundled([entry]) == ["busy"] and outbox.status[entry.outbox_id] == "pending"
    fhir.batch = real_batch  # type: ignore[method-assign]
    fhir.failing = [FhirStoreError(429, ("throttled",))]
    assert projector.relay_bundled([entry]) == ["left-pending"]
    assert not projector.available("fhir")  # the lane waits out the throttle

    slept: list[float] = []
    clock = Seconds()
    pacer = BundlePacer(2.0, clock, slept.append)
    pacer.wait()
    pacer.wait()  # at once: half a second to wait
    assert slept == [0.5]
