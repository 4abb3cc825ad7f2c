"""GET /health: the API is up and so is everything it depends on (table, FHIR store, meetings,
payments where the tenant has them, through the payments function), or 503 naming what is down.
Results are kept for a few seconds (`HEALTH_CACHE_S`, five by default): the route is public."""

from __future__ import annotations

import os
import threading
import time

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from functions.api.contract import HEALTH
from telehealth.readiness import Probe, Readiness, check

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated
# Read per container, as the clinic settings' cache time is: an outage test need not wait five seconds.
CACHE_SECONDS = float(os.environ.get("HEALTH_CACHE_S") or 5.0)
_lock = threading.Lock()
_last: Readiness | None = None


class Health(BaseModel):
    status: str
    components: dict[str, str]


def _probes() -> dict[str, Probe]:
    """Adapters are made here, on this thread, then pinged in parallel: boto3 sessions are not
    safe to build from several threads at once. Imported here: other routes never pay for them."""
    from telehealth.adapters.dynamo import DynamoTable
    from telehealth.adapters.healthlake import HealthLakeFhirStore
    from telehealth.adapters.meetings import ChimeMeetings

    probes: dict[str, Probe] = {
        "aws": DynamoTable().ping,
        "fhir": HealthLakeFhirStore(os.environ["FHIR_STORE_ENDPOINT"]).ping,
        "meetings": ChimeMeetings().ping,
    }
    if os.environ.get("PAYMENTS_FUNCTION"):  # where the tenant has payments: ask the function
        from telehealth.adapters.payments import PaymentsFunction

        # The api never calls Stripe: the payments function, on the egress path, does.
        probes["payments"] = PaymentsFunction().ping
    return probes


@router.get(
    "/health",
    summary="Is the API and everything it depends on answering?",
    tags=[HEALTH],
    responses={
        200: {"description": "Every component answers", "content": {"application/json": {"model": Health}}},
        503: {"description": "A component is down", "content": {"application/json": {"model": Health}}},
    },
)
def health() -> Response[Health]:
    global _last
    with _lock:
        if _last is None or time.time() - _last.checked_at > CACHE_SECONDS:
            _last = check(_probes())
        readiness = _last
    body = Health(status="ok" if readiness.ready else "unavailable", components=readiness.components)
    return Response(status_code=200 if readiness.ready else 503, body=body, content_type="application/json")
