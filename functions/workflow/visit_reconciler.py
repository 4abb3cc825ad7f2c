"""Every five minutes, and on demand: every open visit gets its lifecycle running.

A booking starts its lifecycle after it commits; if that start failed, or the execution ended
while the visit is still open, this starts it (or starts it again under a new name). Invoked by
the `visit-reconcile` schedule, or by hand (`aws lambda invoke`, the local platform's
`reconcile_visits`) with any event. Logs carry appointment ids and counts only.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import reconciler
from telehealth.observability import logger_for, tracer_for

logger = logger_for("visit-reconciler")
tracer = tracer_for("visit-reconciler")

# Stop looking at further visits with this much time left; the next pass starts from the soonest.
STOP_WITH_MS_LEFT = 15_000


class RepairFailedError(RuntimeError):
    """Some visits' lifecycles could not be started: the function's error alarm should see it."""


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    done = reconciler().reconcile(lambda: context.get_remaining_time_in_millis() > STOP_WITH_MS_LEFT)
    for appointment in done.started:
        logger.warning("lifecycle was not running: started", extra={"visit": appointment})
    for appointment in done.restarted:
        logger.warning("lifecycle had ended with the visit open: started again", extra={"visit": appointment})
    for appointment in done.given_up:
        logger.error("lifecycle ended after every restart: left for a person", extra={"visit": appointment})
    counts = done.counts()
    logger.info("reconciled", extra=counts)
    if done.failed:
        for failure in done.failed:
            logger.error("lifecycle could not be started", extra={"visit": failure})
        # After the pass, not instead of it: every other visit was repaired. A retry is harmless.
        raise RepairFailedError(f"{len(done.failed)} lifecycles could not be started")
    return counts
