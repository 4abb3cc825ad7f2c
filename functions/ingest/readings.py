"""Keeps patients' device readings from the readings queue and holds them to their programs' rules.

Each message is one patient's checked readings (telehealth/adapters/readings_queue.py). A message
that fails is reported alone (Powertools' FIFO partial batch response), and with it the rest of
its patient's messages in the batch, so a patient's readings are held to the rules in the order
they came; other patients' go on. Nothing here logs a reading.
"""

from __future__ import annotations

import traceback
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, metrics_for, tracer_for

logger = logger_for("readings")
tracer = tracer_for("readings")
metrics = metrics_for("readings")
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def keep(record: SQSRecord) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from functions.services import monitoring
    from telehealth.adapters.readings_queue import handover_of

    try:
        kept = monitoring().keep(handover_of(record.body), record.message_id)
    except Exception as error:
        # Its type and where it was raised, by file and line: never its message (a store's error
        # can quote what it was given) and never the body. The message is received again.
        where = [
            f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in traceback.extract_tb(error.__traceback__)
        ]
        logger.error("readings not kept", extra={"error_type": type(error).__name__, "raised_at": where[-3:]})
        raise
    metrics.add_metric(name="ReadingsKept", unit=MetricUnit.Count, value=kept.new)
    metrics.add_metric(name="AlertsRaised", unit=MetricUnit.Count, value=len(kept.alerts))


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event, keep, processor, context)  # type: ignore[return-value]
