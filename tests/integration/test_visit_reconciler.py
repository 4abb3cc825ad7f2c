"""The visit reconciler against the emulator, through the production adapters: the open-visits
index as DynamoDB keeps it, and lifecycles as Step Functions runs them.

On the integration tests' moto server (tests/integration/conftest.py). The state machine stands
in for the lifecycle: it waits (running) or, for an appointment whose id says FAIL, fails at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import topology
from local.emulator import ACCOUNT
from telehealth.adapters.scheduling_store import DynamoSchedulingStore, open_shard
from telehealth.adapters.workflows import StepFunctionsVisits, execution_name
from telehealth.application.reconciler import VisitReconciler
from telehealth.domain.appointments import Appointment
from telehealth.domain.reconciliation import RunStatus
from tests.integration.conftest import MotoServer

LIFECYCLE = {
    "StartAt": "Decide",
    "States": {
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.appointment_id", "StringMatches": "FAIL*", "Next": "Failed"}],
            "Default": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": 600, "End": True},
        "Failed": {"Type": "Fail", "Error": "VisitTaskFailed", "Cause": "a step failed"},
    },
}


@dataclass
class Emulated:
    store: DynamoSchedulingStore
    workflows: StepFunctionsVisits
    sfn: Any

    def status(self, appointment: Appointment, attempt: int = 0) -> str | None:
        arn = self.workflows.state_machine_arn.replace(":stateMachine:", ":execution:")
        try:
            described = self.sfn.describe_execution(
                executionArn=f"{arn}:{execution_name(appointment, attempt)}"
            )
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return None
        return str(described["status"])


@pytest.fixture(scope="module")
def emulated(emulator: MotoServer) -> Emulated:
    table = f"reconciler-{uuid.uuid4().hex[:8]}"
    emulator.client("dynamodb").create_table(**topology.CLINIC_TABLE.create_request(table))
    sfn = emulator.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"lifecycle-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(LIFECYCLE),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/lifecycle",
    )["stateMachineArn"]
    return Emulated(
        DynamoSchedulingStore(table, client=emulator.client("dynamodb")),
        StepFunctionsVisits(machine, client=sfn),
        sfn,
    )


def _appointment(prefix: str = "") -> Appointment:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    return Appointment(
        f"{prefix}{uuid.uuid4().hex.upper()}",
        f"dr-{uuid.uuid4().hex[:8]}",  # a provider of its own: no two bookings share a cell
        "p-1",
        "general",
        start,
        start + timedelta(minutes=20),
        "NY",
    )


def _until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def test_the_open_index_holds_booked_appointments_and_loses_closed_ones(emulated: Emulated) -> None:
    store = emulated.store
    booked, cancelled = _appointment(), _appointment()
    store.book(booked, [], None)
    store.book(cancelled, [], None)
    store.change(cancelled, cancelled.cancelled(), [], None)
    moved = _appointment()
    store.book(moved, [], None)
    an_hour = timedelta(hours=1)
    store.change(moved, moved.moved(moved.start + an_hour, moved.end + an_hour), [], None)

    found = {(a.appointment_id, a.version): a for a in store.open_appointments()}
    assert (booked.appointment_id, 1) in found
    assert cancelled.appointment_id not in {i for i, _ in found}
    assert (moved.appointment_id, 2) in found and (moved.appointment_id, 1) not in found
    assert found[(moved.appointment_id, 2)].start == moved.start + an_hour
    # The shard is a stable function of the id, spread over the index's partitions.
    assert open_shard(booked.appointment_id) == open_shard(booked.appointment_id)
    assert len({open_shard(uuid.uuid4().hex) for _ in range(200)}) > 1


def test_each_open_visit_gets_its_lifecycle_running(emulated: Emulated) -> None:
    store, workflows = emulated.store, emulated.workflows
    never_started, running, failed, closed = (
        _appointment(),
        _appointment(),
        _appointment("FAIL"),
        _appointment(),
    )
    for appointment in (never_started, running, failed, closed):
        store.book(appointment, [], None)
    workflows.start(running)
    workflows.start(failed)
    store.change(closed, closed.cancelled(), [], None)
    _until(lambda: emulated.status(failed) == "FAILED")

    now = datetime.now(UTC)
    reconciler = VisitReconciler(store, workflows, lambda: now)
    done = reconciler.reconcile()

    ours = {a.appointment_id for a in (never_started, running, failed, closed)}
    assert [s for s in done.started if s.split()[0] in ours] == [f"{never_started.appointment_id} v1"]
    assert emulated.status(never_started) == "RUNNING"
    # Running: left alone (no second attempt).
    assert emulated.status(running) == "RUNNING" and emulated.status(running, 1) is None
    # Failed with its visit open: started again under the next attempt's name.
    assert [s for s in done.restarted if s.split()[0] in ours] == [f"{failed.appointment_id} v1 attempt 1"]
    assert emulated.status(failed, 1) is not None
    # Closed: not in the index, so never looked at, and never started.
    assert emulated.status(closed) is None and emulated.status(closed.cancelled()) is None
    assert done.failed == []

    # The restart failed again (this stand-in always fails it): the next one waits its back-off...
    _until(lambda: emulated.status(failed, 1) == "FAILED")
    run = workflows.latest_run(failed)
    assert run is not None and (run.attempt, run.status) == (1, RunStatus.FAILED)
    again = reconciler.reconcile()
    assert again.waiting >= 1 and emulated.status(failed, 2) is None
    assert not [s for s in again.started + again.restarted if s.split()[0] in ours]
    # ...and goes once it has passed.
    later = VisitReconciler(store, workflows, lambda: now + timedelta(minutes=6)).reconcile()
    assert [s for s in later.restarted if s.split()[0] in ours] == [f"{failed.appointment_id} v1 attempt 2"]


def test_a_visit_closed_after_the_index_was_read_is_left_alone(emulated: Emulated) -> None:
    """The index lags the table: before starting anything, the appointment is read again."""
    store, workflows = emulated.store, emulated.workflows
    appointment = _appointment()
    store.book(appointment, [], None)

    class StaleIndex:
        def open_appointments(self, starting_before: datetime | None = None) -> Iterator[Appointment]:
            yield appointment  # as the index had it

        def appointment(self, appointment_id: str) -> Appointment | None:
            return store.appointment(appointment_id)

    store.change(appointment, appointment.cancelled(), [], None)
    done = VisitReconciler(StaleIndex(), workflows, lambda: datetime.now(UTC)).reconcile()
    assert (done.open, done.left, done.started) == (1, 1, [])
    assert emulated.status(appointment) is None
