"""Every minute: delivers outbox entries still pending, whatever the stream did. Stream records
live 24 hours and a stream's failure destination gets metadata, not records, so the table, not
the stream, is what guarantees the clinical record catches up.

Each destination is swept as its own lane (a thread per lane and shard), so a FHIR store that is
down or far behind leaves the bus events and the workflow resumptions to go at their own pace.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, metrics_for, tracer_for

logger = logger_for("outbox-sweeper")
tracer = tracer_for("outbox-sweeper")
metrics = metrics_for("outbox-sweeper")

STOP_WITH_MS_LEFT = 15_000


@cache
def projector() -> Any:
    from functions.services import record_projector

    return record_projector()


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    lanes = projector().sweep(lambda: context.get_remaining_time_in_millis() > STOP_WITH_MS_LEFT)
    swept = {destination: dict(outcomes) for destination, outcomes in lanes.items() if outcomes}
    logger.info("swept", extra={"lanes": swept})
    metrics.add_metric(name="OutboxParked", unit="Count", value=sum(o["parked"] for o in lanes.values()))
    return {"swept": swept}
