"""What to do about an open visit whose lifecycle is not running: the reconciler's one rule.

An open appointment (booked, not yet cancelled, fulfilled or a no-show) must have its lifecycle
running at its current version. Executions are named after the appointment and version, so the
first is `<id>-v<version>`; names are unique for 90 days per state machine, so a lifecycle that
ended while its visit is still open is started again under a new name, `<id>-v<version>-r<n>`
(attempt n). Every lifecycle step reads the visit as it is now and does only what is left, so a
fresh execution of an open visit carries on from wherever it had got to: each wait it has passed
resumes at once, every timeout is counted from the clock and the table (never restarted), and a
reminder goes out only if the table does not record it as sent (`telehealth.domain.visits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

# A reschedule or a cancellation stops the old version's execution with this error: ended on
# purpose, never restarted (its appointment is closed, or open at a newer version).
REPLACED = "Visit.Replaced"

# After its first restart, a lifecycle that keeps ending is started again less and less often
# (each wait three times the one before, counted from when the last attempt ended), then left to
# the on-call engineer: the visit-lifecycle-failed alarm has fired for every attempt by then.
MAX_RESTARTS = 5
FIRST_BACKOFF = timedelta(minutes=5)


class RunStatus(Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"


@dataclass(frozen=True)
class LifecycleRun:
    """One execution of a version's lifecycle: its attempt (0 the first), how it stands, and how
    it ended (the error a stop or a failure gave, and when)."""

    attempt: int
    status: RunStatus
    error: str | None = None
    stopped_at: datetime | None = None

    @property
    def ended_on_purpose(self) -> bool:
        return self.status is RunStatus.ABORTED and self.error == REPLACED


class Repair(Enum):
    NOTHING = "nothing"  # running, finished, or stopped on purpose
    START = "start"  # never started: the first attempt
    RESTART = "restart"  # ended while the visit is open: the next attempt, under a new name
    LATER = "later"  # ended again: the next attempt waits its back-off
    GIVE_UP = "give-up"  # ended after every restart: for a person to look at


def backoff(attempt: int) -> timedelta:
    """How long after attempt `attempt - 1` ended the `attempt`th restart waits: none for the
    first (a failed start, an outage that has passed), then 5, 15, 45 and 135 minutes."""
    return timedelta(0) if attempt <= 1 else FIRST_BACKOFF * 3 ** (attempt - 2)


def repair(latest: LifecycleRun | None, now: datetime) -> tuple[Repair, int]:
    """What to do for an open visit, from its latest execution (None: none was ever started),
    and the attempt to start when that is what to do."""
    if latest is None:
        return Repair.START, 0
    if latest.status in (RunStatus.RUNNING, RunStatus.SUCCEEDED) or latest.ended_on_purpose:
        # A lifecycle that succeeded closed its visit (the index has not caught up yet), or ended
        # it as "over": starting it again would decide the same.
        return Repair.NOTHING, latest.attempt
    attempt = latest.attempt + 1
    if attempt > MAX_RESTARTS:
        return Repair.GIVE_UP, latest.attempt
    if latest.stopped_at is not None and now - latest.stopped_at < backoff(attempt):
        return Repair.LATER, attempt
    return Repair.RESTART, attempt
