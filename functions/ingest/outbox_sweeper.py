"""Every minute: delivers outbox entries still pending, whatever the stream did. Stream records
live 24 hours and a stream's failure destination gets metadata, not records, so the table, not
the stream, is what guarantees the clinical record catches up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.observability import logger_for, tracer_for

logger = logger_for("outbox-sweeper")
tracer = tracer_for("outbox-sweeper")

# Younger entries are the stream's to deliver; the sweeper takes what it has left behind.
MINIMUM_AGE = timedelta(seconds=30)
BATCH = 200
STOP_WITH_MS_LEFT = 15_000


@cache
def projector() -> Any:
    from telehealth.application.record import from_environment

    return from_environment()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from telehealth.application.record import RecordRejectedError, RecordUnavailableError

    delivered = 0
    store = projector().outbox
    for entry in store.pending_outbox(datetime.now(UTC) - MINIMUM_AGE, BATCH):
        if context.get_remaining_time_in_millis() < STOP_WITH_MS_LEFT:
            break
        try:
            projector().deliver(entry)
            delivered += 1
        except RecordUnavailableError:
            logger.warning("FHIR store unavailable; leaving the rest pending")
            break
        except RecordRejectedError as rejected:
            logger.error("projection rejected", extra={"reason": str(rejected)})
        except Exception:
            # One entry's trouble (a bus or archive error) must not hold back every entry after it.
            logger.exception("delivery failed", extra={"reference": entry.reference})
    logger.info("swept", extra={"delivered": delivered})
    return {"swept": delivered}
