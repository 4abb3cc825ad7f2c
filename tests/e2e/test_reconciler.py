"""A booked visit always gets its lifecycle: the visit reconciler starts one whose start failed
after the booking committed, and starts again one that ended while its visit is open; after a
restart that lost every execution (#13), it resumes each open visit where the table says it is.

The session's platform fires the reconciler's schedule every minute (tests/conftest.py); the tests
ask for a pass when they need one, as the platform does after a restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import topology
from local.emulator import ACCOUNT
from local.platform import LocalPlatform
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.adapters.visits_store import DynamoVisitStore
from telehealth.domain.appointments import Appointment
from telehealth.domain.ids import new_id
from telehealth.domain.scheduling import parse_slot_id, slot_id
from telehealth.domain.visits import notice_when
from telehealth.fhir import projection
from telehealth.fhir.projection import instant
from telehealth.ports import OutboxEntry
from tests.conftest import VISIT_TIMINGS, eventually, user_tokens
from tests.e2e.test_local_platform import _token
from tests.e2e.test_scheduling import RIVERSIDE, book, call, patient_id, stamp
from tests.e2e.test_video_visit import admit_when_waiting, provider_email, simulate, waiting
from tests.e2e.test_visits import check_in, check_in_when_open, execution, soon_slot

PATIENT = "patient.two@riverside.example"


@pytest.fixture(scope="module")
def patient(platform: LocalPlatform) -> str:
    return user_tokens(platform, RIVERSIDE, PATIENT)["access"]


def _status(platform: LocalPlatform, execution_arn: str) -> str | None:
    sfn = platform.client("stepfunctions")
    try:
        return str(sfn.describe_execution(executionArn=execution_arn)["status"])
    except sfn.exceptions.ExecutionDoesNotExist:
        return None


def _entered(platform: LocalPlatform, execution_arn: str) -> list[str]:
    history = platform.client("stepfunctions").get_execution_history(executionArn=execution_arn)
    return _states_entered(history["events"])


def _states_entered(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def _wait_to_enter(
    platform: LocalPlatform,
    execution_arn: str,
    state: str,
    *,
    timeout_s: float,
    also: Callable[[], object] = lambda: None,
) -> None:
    """Wait for the execution to enter `state`; if it does not, fail with what it did instead: the
    states it entered, its status, its failures, and what `also` reads then (a restart's rare
    failure here said nothing)."""
    try:
        eventually(lambda: state in _entered(platform, execution_arn), timeout_s=timeout_s)
    except AssertionError as failure:
        events = platform.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
        entered = _states_entered(events)
        failures = [
            {"type": event["type"]} | {key: value for key, value in event.items() if key.endswith("Details")}
            for event in events
            if event["type"].endswith(("Failed", "TimedOut", "Aborted"))
        ]
        raise AssertionError(
            f"never entered {state} within {timeout_s} s; entered {entered}, "
            f"status {_status(platform, execution_arn)}, failures {failures}; {_read(also)}"
        ) from failure


def _read(also: Callable[[], object]) -> object:
    """What `also` reads, or why it could not: a failing read must not hide the failure it explains."""
    try:
        return also()
    except Exception as error:
        return f"(unread: {error!r})"


def _tasks(platform: LocalPlatform, visit_id: str) -> list[str]:
    """The sort keys of the visit's partition: its task tokens and what else the lifecycle keeps."""
    items = (
        platform.client("dynamodb")
        .query(
            TableName=topology.CLINIC_TABLE.name(RIVERSIDE),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"APPT#{visit_id}"}},
        )
        .get("Items", [])
    )
    return [item["sk"]["S"] for item in items]


def _left(platform: LocalPlatform, execution_arn: str, state: str) -> list[dict[str, Any]]:
    """The execution's state (its input with the step's result) each time it left `state`."""
    history = platform.client("stepfunctions").get_execution_history(executionArn=execution_arn)
    return [
        json.loads(e["stateExitedEventDetails"]["output"])
        for e in history["events"]
        if e.get("stateExitedEventDetails", {}).get("name") == state
    ]


# A restart here resumes every open visit of the session at once, as a real one does: on a loaded
# machine each lifecycle waits its turn for the visit-tasks environments.
RESUMED_WITHIN_S = 90


def forget_every_execution(platform: LocalPlatform, tenant_id: str) -> None:
    """What a restart of the local platform does to Step Functions: moto's process goes, and every
    execution with it, while the table survives (#13). moto runs in this process: each of the
    tenant's lifecycle executions is stopped (a waiting one's worker would wait on its token) and
    dropped from the backend that executes them, so Step Functions knows none of them any more."""
    from moto.stepfunctions.responses import get_backend  # the interpreter's backend, as served

    provisioned = platform.provisioned[tenant_id]
    backend = get_backend(ACCOUNT, provisioned.region)
    machine = backend.describe_state_machine(provisioned.state_machine_arns[topology.VISIT_LIFECYCLE.key])
    for gone in list(machine.executions):
        if gone.status == "RUNNING":
            gone.stop(stop_date=datetime.now(UTC), error=None, cause=None)
    machine.executions.clear()


def restart(platform: LocalPlatform, appointment: dict[str, Any], down_for_s: float = 0.0) -> str:
    """The platform down for `down_for_s`, then the pass it runs when it is back: the visit's
    lifecycle runs again, under its first name (Step Functions knows no earlier one). Its ARN.

    Down, the platform runs no schedule either: a pass of the reconciler's (every minute in the
    suite) inside the downtime would start the lifecycle early, and it would live the downtime
    through (a join window run out, the patient back in the waiting room) before the restart
    this is to test. So the rule is disabled first, a pass already under way is let finish, and
    the rule is enabled again once the restart's own pass is done."""
    reconciler = topology.VISIT_RECONCILER.name(RIVERSIDE)
    (rule,) = [r.name(RIVERSIDE) for r in topology.RULES if r.target is topology.VISIT_RECONCILER]
    events, dispatcher = platform.client("events"), platform.dispatcher
    events.disable_rule(Name=rule)
    try:
        eventually(
            lambda: (
                dispatcher.completions[reconciler]
                >= sum(1 for function, _, _ in list(dispatcher.deliveries) if function == reconciler)
            ),
            timeout_s=60,
        )
        down = datetime.now(UTC).replace(microsecond=0)
        forget_every_execution(platform, RIVERSIDE)
        time.sleep(down_for_s)
        counts = platform.reconcile_visits(RIVERSIDE)
    finally:
        events.enable_rule(Name=rule)
    assert "errorType" not in counts and counts["failed"] == 0, counts
    # Started again; it may be over already by the time it is read (a visit whose start passed
    # without a check-in is a no-show at once), so any status will do.
    fresh: dict[str, Any] = eventually(lambda: execution(platform, appointment), timeout_s=RESUMED_WITHIN_S)
    assert fresh["startDate"] >= down  # a new execution, not the one forgotten
    return str(fresh["executionArn"])


def _checked_in(gateway: str, patient: str) -> tuple[str, dict[str, Any]]:
    """A visit about to start, booked and checked in: its slot and appointment."""
    slot = soon_slot(gateway, patient)
    appointment: dict[str, Any] = book(gateway, patient, slot).json()
    check_in_when_open(gateway, patient, appointment["appointment_id"], False)
    return slot, appointment


def _store(platform: LocalPlatform) -> DynamoSchedulingStore:
    return DynamoSchedulingStore(topology.CLINIC_TABLE.name(RIVERSIDE), platform.client("dynamodb"))


def _visit_store(platform: LocalPlatform) -> DynamoVisitStore:
    return DynamoVisitStore(topology.CLINIC_TABLE.name(RIVERSIDE), platform.client("dynamodb"))


def _reminders(platform: LocalPlatform, start: datetime, zone: str) -> int:
    """Reminder e-mails the patient has had about a visit at `start`."""
    from moto.ses.models import ses_backends

    when = notice_when(start, zone)
    return sum(
        1
        for m in ses_backends[ACCOUNT][platform.provisioned[RIVERSIDE].region].sent_messages
        if PATIENT in m.destinations.get("ToAddresses", []) and when in m.body
    )


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
    _wait_to_enter(platform, arn, "AwaitAdmission", timeout_s=RESUMED_WITHIN_S)


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
    _wait_to_enter(platform, restarted, "AwaitAdmission", timeout_s=30)
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


# --- after a restart: every open visit resumed where the table says it is (#13) -------------------


def test_after_a_restart_a_checked_in_visit_waits_for_admission_with_the_time_left(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    slot, appointment = _checked_in(gateway, patient)
    visit_id = appointment["appointment_id"]
    first = execution(platform, appointment)["executionArn"]
    _wait_to_enter(platform, first, "AwaitAdmission", timeout_s=30)
    gone = _token(platform, RIVERSIDE, visit_id, "admit")

    arn = restart(platform, appointment)
    # The check-in is in the table: the new lifecycle passes it at once and waits for admission,
    # with the admission deadline (the end plus an hour) from the clock, not a wait restarted.
    _wait_to_enter(platform, arn, "AwaitAdmission", timeout_s=RESUMED_WITHIN_S)
    (deadlines,) = [s["deadlines"] for s in _left(platform, arn, "UntilAdmission")]
    end = datetime.fromisoformat(appointment["end"].replace("Z", "+00:00"))
    assert abs(deadlines["admit_in_s"] - (end + timedelta(hours=1) - datetime.now(UTC)).total_seconds()) < 30
    assert "Remind" not in _entered(platform, arn)
    # It waits on a token of its own, and the provider's admission moves it on.
    eventually(lambda: _token(platform, RIVERSIDE, visit_id, "admit") not in (None, gone), timeout_s=30)
    provider = user_tokens(platform, RIVERSIDE, provider_email(slot))["access"]
    assert admit_when_waiting(gateway, provider, visit_id).status == 200
    _wait_to_enter(platform, arn, "AwaitJoined", timeout_s=RESUMED_WITHIN_S)
    call(gateway, "POST", f"/v1/appointments/{visit_id}/end", provider)
    assert eventually(lambda: execution(platform, appointment)["status"] == "SUCCEEDED", timeout_s=30)


def test_after_a_restart_an_admitted_visit_gets_only_what_is_left_of_its_join_window(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    slot, appointment = _checked_in(gateway, patient)
    visit_id = appointment["appointment_id"]
    provider = user_tokens(platform, RIVERSIDE, provider_email(slot))["access"]
    assert admit_when_waiting(gateway, provider, visit_id).status == 200
    # Down through the whole join window: nobody joined, and Chime ended the empty meeting.
    arn = restart(platform, appointment, down_for_s=VISIT_TIMINGS["join_window"] + 1)
    # The window counts from the admission, so it is over: the attendance check runs at once
    # (a restarted window would wait it out again) and, nobody having come, the patient is back
    # in the waiting room for a new meeting, as the lifecycle would have done.
    _wait_to_enter(
        platform,
        arn,
        "CheckAttendance",
        timeout_s=RESUMED_WITHIN_S,
        also=lambda: (waiting(gateway, patient, visit_id)["state"], _tasks(platform, visit_id)),
    )
    (deadlines,) = [s["deadlines"] for s in _left(platform, arn, "UntilJoined")]
    assert deadlines["join_window_s"] == 1
    assert eventually(lambda: waiting(gateway, patient, visit_id)["state"] == "checked-in", timeout_s=30)
    eventually(lambda: _entered(platform, arn).count("AwaitAdmission") == 2, timeout_s=RESUMED_WITHIN_S)
    call(gateway, "POST", f"/v1/appointments/{visit_id}/cancel", provider)


def test_after_a_restart_a_visit_in_call_waits_for_its_end_with_the_time_left(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    slot, appointment = _checked_in(gateway, patient)
    visit_id = appointment["appointment_id"]
    provider = user_tokens(platform, RIVERSIDE, provider_email(slot))["access"]
    admitted = admit_when_waiting(gateway, provider, visit_id).json()
    provider_join = call(gateway, "POST", "/v1/join", provider, {"link": admitted["link"]["link"]}).json()
    issued = call(gateway, "POST", f"/v1/appointments/{visit_id}/join-link", patient).json()
    patient_join = call(gateway, "POST", "/v1/join", patient, {"link": issued["link"]}).json()
    for joined in (provider_join, patient_join):
        simulate(platform, "join", joined["Attendee"]["JoinToken"])
    assert eventually(lambda: waiting(gateway, patient, visit_id)["state"] == "in-call", timeout_s=20)
    first = execution(platform, appointment)["executionArn"]
    _wait_to_enter(platform, first, "AwaitEnd", timeout_s=30)
    gone = _token(platform, RIVERSIDE, visit_id, "end")

    arn = restart(platform, appointment)
    # Every wait the call has passed resumes itself, Chime confirms the call, and the lifecycle
    # waits for its end with the overrun deadline (the end plus an hour) from the clock.
    _wait_to_enter(platform, arn, "AwaitEnd", timeout_s=RESUMED_WITHIN_S)
    (deadlines,) = [s["deadlines"] for s in _left(platform, arn, "UntilEnd")]
    end = datetime.fromisoformat(appointment["end"].replace("Z", "+00:00"))
    assert abs(deadlines["end_in_s"] - (end + timedelta(hours=1) - datetime.now(UTC)).total_seconds()) < 30
    (attendance,) = [s["attendance"] for s in _left(platform, arn, "CheckAttendance")]
    assert attendance["result"]["outcome"] == "in-call"
    assert waiting(gateway, patient, visit_id)["state"] == "in-call"
    # The provider's end resumes the new lifecycle, which finishes the visit.
    eventually(lambda: _token(platform, RIVERSIDE, visit_id, "end") not in (None, gone), timeout_s=30)
    assert call(gateway, "POST", f"/v1/appointments/{visit_id}/end", provider).status == 200
    assert eventually(lambda: execution(platform, appointment)["status"] == "SUCCEEDED", timeout_s=30)
    assert call(gateway, "GET", f"/v1/appointments/{visit_id}", patient).json()["status"] == "fulfilled"


def test_after_a_restart_a_visit_whose_start_passed_without_a_check_in_is_a_no_show(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    # In the table that survived: a visit booked two days ago that started two hours ago, while
    # the platform was down, and nobody checked in.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(hours=2, minutes=now.minute % 5)
    provider_id = parse_slot_id(soon_slot(gateway, patient))[0]
    missed = Appointment(
        new_id(start - timedelta(days=2)),
        provider_id,
        patient_id(platform, PATIENT),
        "general",
        start,
        start + timedelta(minutes=5),
        "NY",
        booked_at=start - timedelta(days=2),
    )
    store = _store(platform)
    # Written as a booking writes it: with its Appointment and Slot for the record, which the
    # no-show's Appointment then refers to (the walk at the session's end holds every reference).
    slot = slot_id(provider_id, start)
    booked_version = int(missed.booked_at.timestamp() * 1000) if missed.booked_at else 1
    store.book(
        missed,
        [
            OutboxEntry(projection.appointment(missed, slot), missed.version),
            OutboxEntry(projection.slot(slot, missed, booked_version), booked_version),
        ],
        None,
    )
    appointment = {"appointment_id": missed.appointment_id, "version": 1}

    arn = restart(platform, appointment)
    # What the lifecycle would have done at the check-in deadline: a no-show, at once; no
    # reminder (the visit has started), no waiting room.
    assert eventually(lambda: execution(platform, appointment)["status"] == "SUCCEEDED", timeout_s=40)
    entered = _entered(platform, arn)
    assert "CheckInDeadline" in entered
    assert not {"Remind", "UntilAdmission"} & set(entered)
    (deadline,) = [s["deadline"] for s in _left(platform, arn, "CheckInDeadline")]
    assert deadline["result"]["outcome"] == "no-show"
    read = call(gateway, "GET", f"/v1/appointments/{missed.appointment_id}", patient).json()
    assert read["status"] == "noshow"
    missed_patient = store.patient(missed.patient_id)
    assert missed_patient is not None and missed_patient.zone is not None
    assert _reminders(platform, start, missed_patient.zone) == 0


def test_after_a_restart_a_reminder_missed_while_down_is_sent_late_once_and_never_again(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    # A visit in 20 to 55 minutes: booked now, it owes no reminder (both times have passed).
    now = datetime.now(UTC)
    offered = call(
        gateway,
        "GET",
        f"/v1/slots?state=NY&specialty=urgent-care"
        f"&from={stamp(now + timedelta(minutes=20))}&to={stamp(now + timedelta(minutes=55))}",
        patient,
    ).ok()["slots"]
    booked = book(gateway, patient, offered[0]["slot_id"])
    assert booked.status == 201, booked.body
    appointment = booked.json()
    visit_id = appointment["appointment_id"]
    start = datetime.fromisoformat(appointment["start"].replace("Z", "+00:00"))
    store = _store(platform)
    profile = store.patient(appointment["patient_id"])
    assert profile is not None and profile.zone is not None
    zone = profile.zone
    first = execution(platform, appointment)["executionArn"]
    _wait_to_enter(platform, first, "AwaitCheckIn", timeout_s=30)
    assert "Remind" not in _entered(platform, first)

    # The table as it would be had the visit been booked two days ago, its 24-hour reminder sent
    # a day ago, and the platform down when the 1-hour one was due.
    platform.client("dynamodb").update_item(
        TableName=topology.CLINIC_TABLE.name(RIVERSIDE),
        Key={"pk": {"S": f"APPT#{visit_id}"}, "sk": {"S": "APPT"}},
        UpdateExpression="SET booked_at = :at",
        ExpressionAttributeValues={":at": {"S": stamp(start - timedelta(days=2))}},
    )
    assert _visit_store(platform).record_reminder(visit_id, 1, "24h", start - timedelta(hours=24), [])
    assert _reminders(platform, start, zone) == 0

    # Back before the start: the 1-hour reminder goes out late, once, and the lifecycle goes on
    # to wait for check-in.
    arn = restart(platform, appointment)
    _wait_to_enter(platform, arn, "UntilCheckIn", timeout_s=RESUMED_WITHIN_S)
    assert _entered(platform, arn).count("Remind") == 1
    (reminded,) = [s["timers"] for s in _left(platform, arn, "Timers")]
    assert reminded["next_key"] == "1h"
    assert eventually(lambda: _reminders(platform, start, zone) == 1, timeout_s=15)

    # Down and back again: the table says it went out, so it is not sent a second time.
    arn = restart(platform, appointment)
    _wait_to_enter(platform, arn, "AwaitCheckIn", timeout_s=RESUMED_WITHIN_S)
    assert "Remind" not in _entered(platform, arn)
    assert [s["timers"]["next_key"] for s in _left(platform, arn, "Timers")] == [""]
    assert _reminders(platform, start, zone) == 1
    call(gateway, "POST", f"/v1/appointments/{visit_id}/cancel", patient)
