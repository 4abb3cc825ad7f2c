"""Task steps of the visit lifecycle: Step Functions passes ids, never PHI, and gets ids back."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, tracer_for

logger = logger_for("visit-tasks")
tracer = tracer_for("visit-tasks")


class UnknownTaskError(ValueError):
    """The state machine asked for a step this function does not have: a deployment mismatch."""


def _record_start(payload: dict[str, Any]) -> dict[str, Any]:
    return {"appointment_id": payload["appointment_id"], "recorded": True}


TASKS = {"record-start": _record_start}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = event.get("task")
    step = TASKS.get(task) if isinstance(task, str) else None
    if step is None:
        raise UnknownTaskError(f"no such visit task: {task!r}")
    logger.info("visit task", extra={"task": task})
    return step(event)
