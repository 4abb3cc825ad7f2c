"""The visit lifecycle in Step Functions: one execution per appointment version.

Execution names are unique for 90 days in a state machine, so each version of an appointment
(a reschedule makes a new one) gets its own: `<appointment id>-v<version>`; when the visit
reconciler starts an ended one again, the attempt is named on: `<appointment id>-v<version>-r<n>`.
Input and output carry ids and instants only; execution history is kept, PHI never enters it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any

from telehealth.domain.appointments import Appointment
from telehealth.domain.reconciliation import MAX_RESTARTS, REPLACED, LifecycleRun, RunStatus
from telehealth.fhir.projection import instant

# An execution name, as `execution_name` makes it: the appointment, its version, the attempt.
NAME = re.compile(r"^(?P<appointment_id>.+)-v(?P<version>[0-9]+)(?:-r(?P<attempt>[0-9]+))?$")


# Where each state machine an outbox entry may start is named (its ARN, in the environment).
STATE_MACHINE_VARIABLES = {
    "alert-escalation": "ALERT_ESCALATION_ARN",
    "photo-case-deadline": "CASE_DEADLINE_ARN",
}


def execution_name(appointment: Appointment, attempt: int = 0) -> str:
    first = f"{appointment.appointment_id}-v{appointment.version}"
    return f"{first}-r{attempt}" if attempt else first


class StepFunctionsVisits:
    def __init__(self, state_machine_arn: str | None = None, client: Any = None) -> None:
        import boto3

        self.state_machine_arn = state_machine_arn or os.environ["VISIT_LIFECYCLE_ARN"]
        self._sfn = client or boto3.client("stepfunctions")

    def _execution_arn(self, appointment: Appointment, attempt: int = 0) -> str:
        executions = self.state_machine_arn.replace(":stateMachine:", ":execution:")
        return f"{executions}:{execution_name(appointment, attempt)}"

    def start(self, appointment: Appointment, attempt: int = 0) -> None:
        """Start the version's lifecycle (attempt 0), or a later attempt of it. Starting one that
        exists is a no-op, so a retried booking and the reconciler can both ask."""
        with contextlib.suppress(self._sfn.exceptions.ExecutionAlreadyExists):
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=execution_name(appointment, attempt),
                input=json.dumps(
                    {
                        "appointment_id": appointment.appointment_id,
                        "version": appointment.version,
                        "start": instant(appointment.start),
                        "end": instant(appointment.end),
                    }
                ),
            )

    def stop(self, appointment: Appointment, cause: str) -> None:
        """End the execution of this version (a reschedule or a cancellation replaced it): the
        attempt running, which is the first unless the reconciler has started the lifecycle again."""
        run = self.latest_run(appointment)
        if run is None or run.status is not RunStatus.RUNNING:
            return
        with contextlib.suppress(self._sfn.exceptions.ExecutionDoesNotExist):
            self._sfn.stop_execution(
                executionArn=self._execution_arn(appointment, run.attempt), error=REPLACED, cause=cause
            )

    # --- for the visit reconciler --------------------------------------------------------------

    def running(self) -> set[tuple[str, int]]:
        """Every running lifecycle, by appointment and version: one request per thousand running
        (ListExecutions is eventually consistent: one that just ended may still be listed, and is
        seen at the next pass; one that just started may not be, and is described)."""
        found: set[tuple[str, int]] = set()
        pages = self._sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn,
            statusFilter="RUNNING",
            PaginationConfig={"PageSize": 1000},
        )
        for page in pages:
            for execution in page["executions"]:
                if match := NAME.match(execution["name"]):
                    found.add((match["appointment_id"], int(match["version"])))
        return found

    def latest_run(self, appointment: Appointment) -> LifecycleRun | None:
        """The last attempt that exists: attempts are started in order, so the first missing name
        ends the walk (one DescribeExecution per attempt, at most MAX_RESTARTS + 1)."""
        latest: LifecycleRun | None = None
        for attempt in range(MAX_RESTARTS + 1):
            try:
                found = self._sfn.describe_execution(executionArn=self._execution_arn(appointment, attempt))
            except self._sfn.exceptions.ExecutionDoesNotExist:
                break
            latest = LifecycleRun(
                attempt, RunStatus(found["status"]), found.get("error"), found.get("stopDate")
            )
            if latest.status is RunStatus.RUNNING or latest.ended_on_purpose:
                break
        return latest

    def start_workflow(self, state_machine: str, name: str, input: dict[str, Any]) -> bool:
        """Start an execution of one of the tenant's other state machines (an outbox entry's)."""
        try:
            self._sfn.start_execution(
                stateMachineArn=os.environ[STATE_MACHINE_VARIABLES[state_machine]],
                name=name,
                input=json.dumps(input),
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return False
        return True

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        """False when the step no longer waits (it timed out, or its execution ended)."""
        errors = self._sfn.exceptions
        try:
            self._sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
        except (errors.TaskTimedOut, errors.TaskDoesNotExist, errors.InvalidToken):
            return False
        return True
