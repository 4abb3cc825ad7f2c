"""The reconciler's rule: what an open visit's latest lifecycle execution calls for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telehealth.domain.reconciliation import (
    MAX_RESTARTS,
    REPLACED,
    LifecycleRun,
    Repair,
    RunStatus,
    backoff,
    repair,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_a_lifecycle_never_started_is_started_as_the_first_attempt() -> None:
    assert repair(None, NOW) == (Repair.START, 0)


@pytest.mark.parametrize("status", [RunStatus.RUNNING, RunStatus.SUCCEEDED])
def test_a_running_or_finished_lifecycle_is_left_alone(status: RunStatus) -> None:
    assert repair(LifecycleRun(2, status), NOW) == (Repair.NOTHING, 2)


def test_a_lifecycle_stopped_by_a_reschedule_or_cancellation_is_not_started_again() -> None:
    stopped = LifecycleRun(0, RunStatus.ABORTED, REPLACED, NOW - timedelta(hours=1))
    assert repair(stopped, NOW) == (Repair.NOTHING, 0)


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABORTED])
def test_a_lifecycle_that_ended_with_its_visit_open_is_started_again_at_once_the_first_time(
    status: RunStatus,
) -> None:
    ended = LifecycleRun(0, status, "VisitTaskFailed" if status is RunStatus.FAILED else None, NOW)
    assert repair(ended, NOW) == (Repair.RESTART, 1)


def test_later_restarts_wait_longer_each_time_then_give_up() -> None:
    assert [backoff(n) for n in range(1, MAX_RESTARTS + 1)] == [
        timedelta(0),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(minutes=45),
        timedelta(minutes=135),
    ]
    first_restart_failed = LifecycleRun(1, RunStatus.FAILED, "VisitTaskFailed", NOW - timedelta(minutes=4))
    assert repair(first_restart_failed, NOW) == (Repair.LATER, 2)
    assert repair(first_restart_failed, NOW + timedelta(minutes=1)) == (Repair.RESTART, 2)
    last = LifecycleRun(MAX_RESTARTS, RunStatus.FAILED, "VisitTaskFailed", NOW - timedelta(days=1))
    assert repair(last, NOW) == (Repair.GIVE_UP, MAX_RESTARTS)
