"""Task steps of the visit lifecycle: Step Functions passes ids, never PHI, and gets ids back."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import lifecycle
from telehealth.observability import logger_for, tracer_for

logger = logger_for("visit-tasks")
tracer = tracer_for("visit-tasks")


class UnknownTaskError(ValueError):
    """The state machine asked for a step this function does not have: a deployment mismatch."""


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ids(p: dict[str, Any]) -> tuple[str, int]:
    return str(p["appointment_id"]), int(p["version"])


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "timers": lambda p: lifecycle().timers(*_ids(p), _at(p["start"])),
    "deadlines": lambda p: lifecycle().deadlines(*_ids(p), _at(p["start"]), _at(p["end"])),
    "await": lambda p: lifecycle().wait_for(*_ids(p), str(p["step"]), str(p["task_token"])),
    "remind": lambda p: lifecycle().remind(*_ids(p), str(p["reminder"]), _at(p["start"])),
    "check-in-deadline": lambda p: lifecycle().check_in_deadline(*_ids(p)),
    "admission-deadline": lambda p: lifecycle().admission_deadline(*_ids(p)),
    "check-attendance": lambda p: lifecycle().check_attendance(*_ids(p)),
    "start-recording": lambda p: lifecycle().start_recording(*_ids(p), os.environ.get("RECORDINGS_BUCKET")),
    "overrun": lambda p: lifecycle().overrun(*_ids(p)),
    "finish": lambda p: lifecycle().finish(*_ids(p), os.environ.get("RECORDINGS_BUCKET")),
}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = event.get("task")
    step = TASKS.get(task) if isinstance(task, str) else None
    if step is None:
        raise UnknownTaskError(f"no such visit task: {task!r}")
    logger.info("visit task", extra={"task": task, "appointment_id": event.get("appointment_id")})
    return step(event)
