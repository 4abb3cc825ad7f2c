"""A booked visit always gets its lifecycle: the visit reconciler starts one whose start failed
after the booking committed, and starts again one that ended while its visit is open.

The session's platform fires the reconciler's schedule every minute (tests/conftest.py); the tests
ask for a pass when they need one, as the platform does after a restart.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import topology
from local.platform import LocalPlatform
from telehealth.domain.scheduling import parse_slot_id
from telehealth.fhir.projection import instant
from tests.conftest import eventually, user_tokens
from tests.e2e.test_local_platform import _token
from tests.e2e.test_scheduling import RIVERSIDE, book
from tests.e2e.test_visits import check_in, check_in_when_open, execution, soon_slot


@pytest.fixture(scope="module")
def patient(platform: LocalPlatform) -> str:
    return user_tokens(platform, RIVERSIDE, "patient.two@riverside.example")["access"]


def _status(platform: LocalPlatform, execution_arn: str) -> str | None:
    sfn = platform.client("stepfunctions")
    try:
        return str(sfn.describe_execution(executionArn=execution_arn)["status"])
    except sfn.exceptions.ExecutionDoesNotExist:
        return None


def _entered(platform: LocalPlatform, execution_arn: str) -> list[str]:
    history = platform.client("stepfunctions").get_execution_history(executionArn=execution_arn)
    return [
        e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e
    ]


def test_a_lifecycle_that_failed_to_start_after_the_booking_is_started_and_check_in_opens(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    slot = soon_slot(gateway, patient)
    starts = instant(parse_slot_id(slot)[1])
    faults = platform.emulator.faults

    def the_bookings_own_start(request: dict[str, Any]) -> bool:
        # The first attempt of this slot's visit (a reconciler's attempt would be the same name,
        # but it only starts what a booking left unstarted, so the booking's comes first).
        return bool(json.loads(request.get("input") or "{}").get("start") == starts)

    fault = faults.fail_next(
        "states",
        "StartExecution",
        "ExecutionLimitExceeded",
        "Maximum number of running executions reached.",
        when=the_bookings_own_start,
    )
    try:
        booked = book(gateway, patient, slot)
    finally:
        armed = fault.times
        faults.clear()
    assert armed == 0, "the booking's StartExecution was not refused"
    # The booking committed, so it answers that it did; the failed start is the platform's to fix.
    assert booked.status == 201, booked.body
    appointment = booked.json()

    # A reconciler pass finds the open visit with no execution and starts it: the lifecycle waits
    # for check-in, and the patient checks in.
    assert "errorType" not in platform.reconcile_visits(RIVERSIDE)
    checked = check_in_when_open(gateway, patient, appointment["appointment_id"], False)
    assert checked.status == 200
    assert execution(platform, appointment)["status"] == "RUNNING"
    arn = execution(platform, appointment)["executionArn"]
    assert eventually(lambda: "AwaitAdmission" in _entered(platform, arn), timeout_s=30)


def test_a_lifecycle_that_failed_while_its_visit_is_open_is_started_again_under_a_new_name(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    appointment = book(gateway, patient, soon_slot(gateway, patient)).json()
    visit_id = appointment["appointment_id"]
    first = eventually(lambda: _token(platform, RIVERSIDE, visit_id), timeout_s=30)
    sfn = platform.client("stepfunctions")
    # A step fails past its retries: the execution ends in its Failed state, the visit still open.
    sfn.send_task_failure(taskToken=first, error="VisitTaskFailed", cause="a step failed")
    assert eventually(lambda: execution(platform, appointment)["status"] == "FAILED", timeout_s=30)

    restarted = f"{execution(platform, appointment)['executionArn']}-r1"
    assert "errorType" not in platform.reconcile_visits(RIVERSIDE)
    assert eventually(lambda: _status(platform, restarted) == "RUNNING", timeout_s=30)
    # The new attempt carries on where the visit is: it waits for check-in again, with a token of
    # its own, and the check-in resumes it.
    eventually(lambda: _token(platform, RIVERSIDE, visit_id) not in (None, first), timeout_s=30)
    assert check_in(gateway, patient, visit_id).status == 200
    assert eventually(lambda: "AwaitAdmission" in _entered(platform, restarted), timeout_s=30)
    assert _status(platform, restarted) == "RUNNING"


def test_the_reconciler_runs_on_demand_and_says_what_it_found(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    """What the platform runs after a restart on a table that survived: one pass, its counts;
    and what an operator runs: Lambda's Invoke (here the emulator's, routed to the function host)."""
    from tests.e2e.test_scheduling import fresh_slot

    assert book(gateway, patient, fresh_slot(gateway, patient)).status == 201
    counts = platform.reconcile_visits(RIVERSIDE)
    assert "errorType" not in counts, counts
    assert counts["open"] >= 1
    assert counts["failed"] == 0
    # Its rule fires it on the schedule too (the scheduler's first tick is at start-up).
    reconciler = topology.VISIT_RECONCILER.name(RIVERSIDE)
    assert any(
        name == reconciler and kind == "Scheduled Event"
        for name, kind, _ in list(platform.dispatcher.deliveries)
    )
    invoked = platform.client("lambda").invoke(
        FunctionName=topology.VISIT_RECONCILER.name(RIVERSIDE), Payload=b"{}"
    )
    assert "FunctionError" not in invoked
    assert json.loads(invoked["Payload"].read())["open"] >= 1
