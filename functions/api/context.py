"""Per container: the services (functions/services.py); per request: who is calling."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from functions.services import booking, now, visits, vitals
from telehealth.application.booking import Idempotency
from telehealth.application.callers import Caller, NotAuthorizedError, caller_from_claims

__all__ = ["booking", "caller", "idempotency", "now", "visits", "vitals"]


def caller(app: Any) -> Caller:
    """`app` is the resolver or a router of it: whatever holds the current event."""
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.claims if authorizer else None
    if not claims:  # only the public routes have no authorizer, and they do not ask
        raise NotAuthorizedError("No caller.")
    return caller_from_claims(
        claims,
        workforce_pool_id=os.environ["WORKFORCE_POOL_ID"],
        patient_pool_id=os.environ["PATIENT_POOL_ID"],
    )


def idempotency(app: Any, request: Any) -> Idempotency | None:
    """The request's Idempotency-Key, with a hash of what it asks for (body and path)."""
    key = app.current_event.headers.get("Idempotency-Key") or app.current_event.headers.get("idempotency-key")
    if not key:
        return None
    if not 8 <= len(key) <= 128 or not key.isascii():
        from telehealth.domain.scheduling import SchedulingError

        raise SchedulingError("Idempotency-Key must be 8 to 128 ASCII characters")
    payload = json.dumps({"path": app.current_event.path, "body": request}, sort_keys=True, default=str)
    return Idempotency(key=key, payload_hash=hashlib.sha256(payload.encode()).hexdigest())
