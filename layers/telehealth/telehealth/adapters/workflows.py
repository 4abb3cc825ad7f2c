"""The visit lifecycle in Step Functions: one execution per appointment version.

Execution names are unique for 90 days in a state machine, so each version of an appointment
(a reschedule makes a new one) gets its own: `<appointment id>-v<version>`. Input and output
carry ids and instants only; execution history is kept, PHI never enters it.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from telehealth.domain.appointments import Appointment
from telehealth.fhir.projection import instant


def execution_name(appointment: Appointment) -> str:
    return f"{appointment.appointment_id}-v{appointment.version}"


class StepFunctionsVisits:
    def __init__(self, state_machine_arn: str | None = None, client: Any = None) -> None:
        import boto3

        self.state_machine_arn = state_machine_arn or os.environ["VISIT_LIFECYCLE_ARN"]
        self._sfn = client or boto3.client("stepfunctions")

    def _execution_arn(self, appointment: Appointment) -> str:
        executions = self.state_machine_arn.replace(":stateMachine:", ":execution:")
        return f"{executions}:{execution_name(appointment)}"

    def start(self, appointment: Appointment) -> None:
        with contextlib.suppress(self._sfn.exceptions.ExecutionAlreadyExists):  # a retried booking
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=execution_name(appointment),
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
        """End the execution of this version (a reschedule or a cancellation replaced it)."""
        with contextlib.suppress(self._sfn.exceptions.ExecutionDoesNotExist):
            self._sfn.stop_execution(
                executionArn=self._execution_arn(appointment), error="Visit.Replaced", cause=cause
            )

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        """False when the step no longer waits (it timed out, or its execution ended)."""
        errors = self._sfn.exceptions
        try:
            self._sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
        except (errors.TaskTimedOut, errors.TaskDoesNotExist, errors.InvalidToken):
            return False
        return True
