"""Delivers outbox entries from the table's stream, as soon as they are written.

Two mappings on the table's stream run this handler, each filtered to its lanes: the clinical
record (the FHIR store) in `outbox-relay`, the signals (bus events, workflow resumptions) in
`outbox-signals`, so a slow or failing FHIR store never holds a resumption back. A destination's
trouble is never reported back to the stream (that would replay the shard behind it): the entry
stays pending in its lane, where the sweeper takes it. Only a failure to settle an entry in the
table is reported, and the stream retries that record.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, metrics_for, tracer_for

logger = logger_for("outbox-relay")
tracer = tracer_for("outbox-relay")
metrics = metrics_for("outbox-relay")


@cache
def projector() -> Any:
    from functions.services import record_projector

    return record_projector()


def _pending_entry(record: dict[str, Any]) -> Any:
    """The outbox entry a stream record carries, if it is one still to deliver."""
    from boto3.dynamodb.types import TypeDeserializer

    from telehealth.adapters.outbox_store import entry_from_item

    image = record.get("dynamodb", {}).get("NewImage")
    if record.get("eventName") not in ("INSERT", "MODIFY") or not image:
        return None
    if (
        not image.get("pk", {}).get("S", "").startswith("OUTBOX#")
        or image.get("status", {}).get("S") != "pending"
    ):
        return None
    deserialize = TypeDeserializer().deserialize
    return entry_from_item({k: deserialize(v) for k, v in image.items()})


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from collections import Counter

    records = [(r, entry) for r in event.get("Records", []) if (entry := _pending_entry(r)) is not None]
    outcomes = projector().relay([entry for _, entry in records]) if records else []
    failures: list[dict[str, str]] = []
    for (record, entry), outcome in zip(records, outcomes, strict=True):
        if outcome == "unsettled":
            # Settling the entry failed (the table): the stream tries this record again.
            logger.error("could not settle an outbox entry", extra={"outbox_id": entry.outbox_id})
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        elif outcome == "parked":
            logger.error("outbox entry parked", extra={"outbox_id": entry.outbox_id})
    counted = Counter(outcomes)
    if counted:
        logger.info("relayed", extra={"outcomes": dict(counted)})
    metrics.add_metric(name="OutboxParked", unit="Count", value=counted["parked"])
    return {"batchItemFailures": failures}
