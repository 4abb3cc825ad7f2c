"""Task steps of the visit lifecycle: Step Functions passes ids, never PHI, and gets ids back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, tracer_for

logger = logger_for("visit-tasks")
tracer = tracer_for("visit-tasks")

# How long a waiting step's task token is kept: a visit can be booked months ahead.
TOKEN_TTL_SECONDS = 366 * 24 * 3600


class UnknownTaskError(ValueError):
    """The state machine asked for a step this function does not have: a deployment mismatch."""


def _record_start(payload: dict[str, Any]) -> dict[str, Any]:
    return {"appointment_id": payload["appointment_id"], "version": payload["version"], "recorded": True}


def _await_check_in(payload: dict[str, Any]) -> dict[str, Any]:
    """Keep the task token so that the patient's check-in can resume this execution."""
    from telehealth.adapters.clinic_store import DynamoClinicStore

    # Per version: a moved visit's new lifecycle waits on a token of its own.
    step = f"check-in#v{payload['version']}"
    DynamoClinicStore().put_task_token(
        payload["appointment_id"], step, payload["task_token"], int(time.time()) + TOKEN_TTL_SECONDS
    )
    return {"appointment_id": payload["appointment_id"], "waiting_for": "check-in"}


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "record-start": _record_start,
    "await-check-in": _await_check_in,
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
