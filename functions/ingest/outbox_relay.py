"""Drains outbox entries from the table's stream into HealthLake and the audit archive.

A failed record is reported back (partial batch response) and retried by the stream; when the
stream gives up, the entry is still pending in the table and the sweeper delivers it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, tracer_for

logger = logger_for("outbox-relay")
tracer = tracer_for("outbox-relay")


@cache
def projector() -> Any:
    from telehealth.application.record import from_environment

    return from_environment()


def _pending_entry(record: dict[str, Any]) -> Any:
    """The outbox entry a stream record carries, if it is one still to deliver."""
    from boto3.dynamodb.types import TypeDeserializer

    from telehealth.adapters.clinic_store import entry_from_item

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


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from telehealth.application.record import RecordRejectedError, RecordUnavailableError

    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        entry = _pending_entry(record)
        if entry is None:
            continue
        try:
            outcome = projector().deliver(entry)
            logger.info("projected", extra={"reference": entry.reference, "outcome": outcome})
        except RecordUnavailableError:
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        except RecordRejectedError as rejected:
            # Set aside, not retried: a poison entry must not hold up the rest of the shard.
            logger.error("projection rejected", extra={"reason": str(rejected)})
        except Exception:
            logger.exception("projection failed", extra={"reference": entry.reference})
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
    return {"batchItemFailures": failures}
