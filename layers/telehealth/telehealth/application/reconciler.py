"""The visit reconciler: every open visit has its lifecycle running.

A booking starts its lifecycle after its transaction commits, so a start that fails (throttled,
timed out, the function stopped) leaves a booked visit whose check-in never opens; an execution
that fails or times out while its visit is open leaves the same; and the local platform, started
again on a table that survived, has no executions at all. One pass repairs all three: the open
appointments (the sparse open-visits index), less those with an execution running (one listing),
and for each of the rest the latest attempt decides (`telehealth.domain.reconciliation`): start
it, start it again under the next attempt's name, wait, or leave it.

Before starting anything the appointment is read again, consistently: the index lags its table,
and a visit closed or moved meanwhile must not get its old lifecycle back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from telehealth.domain.appointments import AppointmentStatus
from telehealth.domain.reconciliation import Repair, RunStatus, repair
from telehealth.ports import LifecycleRuns, OpenVisits


@dataclass
class Reconciled:
    """What one pass found and did: counts, and the visits acted on or failed (appointment id
    and version, for the log: ids only)."""

    open: int = 0
    running: int = 0
    waiting: int = 0  # ended again; its next attempt waits its back-off
    left: int = 0  # finished, stopped on purpose, or closed since the index was written
    unvisited: int = 0  # out of time: the next pass gets to them
    started: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)  # ended after every restart
    failed: list[str] = field(default_factory=list)  # the repair itself failed: tried next pass

    def counts(self) -> dict[str, int]:
        return {k: v if isinstance(v, int) else len(v) for k, v in vars(self).items()}


class VisitReconciler:
    def __init__(self, visits: OpenVisits, runs: LifecycleRuns, clock: Callable[[], datetime]) -> None:
        self.visits, self.runs, self.clock = visits, runs, clock

    def reconcile(self, time_left: Callable[[], bool] = lambda: True) -> Reconciled:
        """One pass over every open visit, soonest first (the most urgent, should the pass run
        out of time: `time_left` is asked before each visit that needs a look)."""
        done = Reconciled()
        running = self.runs.running()
        to_check = []
        for appointment in self.visits.open_appointments():
            done.open += 1
            if (appointment.appointment_id, appointment.version) in running:
                done.running += 1
            else:
                to_check.append(appointment)
        to_check.sort(key=lambda a: (a.start, a.appointment_id))
        for n, listed in enumerate(to_check):
            if not time_left():
                done.unvisited = len(to_check) - n
                break
            try:
                self._repair(listed.appointment_id, listed.version, done)
            except Exception as error:  # one visit's trouble must not hold back the others
                done.failed.append(f"{listed.appointment_id} v{listed.version}: {type(error).__name__}")
        return done

    def _repair(self, appointment_id: str, version: int, done: Reconciled) -> None:
        appointment = self.visits.appointment(appointment_id)
        if (
            appointment is None
            or appointment.version != version
            or appointment.status is not AppointmentStatus.BOOKED
        ):
            done.left += 1  # closed or moved since the index was written
            return
        latest = self.runs.latest_run(appointment)
        action, attempt = repair(latest, self.clock())
        which = f"{appointment_id} v{version}"
        if action is Repair.NOTHING:
            if latest is not None and latest.status is RunStatus.RUNNING:
                done.running += 1  # started since the listing
            else:
                done.left += 1
        elif action is Repair.LATER:
            done.waiting += 1
        elif action is Repair.GIVE_UP:
            done.given_up.append(which)
        else:
            self.runs.start(appointment, attempt)
            if action is Repair.START:
                done.started.append(which)
            else:
                done.restarted.append(f"{which} attempt {attempt}")
