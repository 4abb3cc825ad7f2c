"""Errors as `application/problem+json` (RFC 9457): a stable `type` per kind of problem, a title,
and a detail that says what was wrong without repeating what was submitted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from telehealth.application.booking import LicensureError, NotFoundError
from telehealth.application.callers import NotAuthorizedError
from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.clinic_settings import SettingsError
from telehealth.domain.join_links import LinkNotYoursError
from telehealth.domain.scheduling import SchedulingError
from telehealth.ports import IdempotencyMismatchError, SlotTakenError, StaleWriteError, VisitChangedError

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"

# Rule kinds and the HTTP status each answers with.
RULE_STATUS = {
    "appointment-cancelled": 409,
    "appointment-started": 409,
    "outside-cancellation-window": 409,
    "slot-in-the-past": 409,
    "state-not-served": 422,
    "other-provider": 422,
    "check-in-not-open": 409,
    "check-in-closed": 409,
    "already-checked-in": 409,
    "consent-required": 422,
    "same-slot": 422,
    "appointment-closed": 409,
    "not-checked-in": 409,
    "not-waiting": 409,
    "not-in-meeting": 409,
    "visit-over": 409,
    "link-gone": 410,
    "already-reviewed": 409,
    "not-a-guest": 422,
    "not-a-guest-role": 422,
    "no-estimate": 404,
    "beyond-booking-horizon": 422,
    "service-not-offered": 422,
    "too-many-open-bookings": 409,
}


def problem(status: int, kind: str, title: str, detail: str | None = None, **extra: Any) -> Response[str]:
    body = {
        "type": PROBLEM_BASE + kind,
        "title": title,
        "status": status,
        **({"detail": detail} if detail else {}),
        **extra,
    }
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,40}$")
_WHERE = {"body", "query", "path", "header"}


def _field(location: Iterable[Any]) -> str:
    parts = [str(p) for p in location if p not in _WHERE]
    if all(isinstance(p, int) or _FIELD.match(p) for p in parts):
        return ".".join(parts) or "(request)"
    return "(request body)"


def install(app: APIGatewayRestResolver) -> None:
    """Map every error the application raises to its problem; anything else is a bare 500."""

    @app.exception_handler(RequestValidationError)
    def invalid(error: RequestValidationError) -> Response[str]:
        # Field locations and pydantic's message only: never the submitted value ("input"), and a
        # location only when it looks like a field name (a malformed body can surface as a "key").
        fields = [{"field": _field(e.get("loc", ())), "problem": e.get("msg", "")} for e in error.errors()]
        return problem(
            400, "invalid-request", "The request is not valid.", "See `errors` for each field.", errors=fields
        )

    @app.exception_handler(SchedulingError)
    def scheduling(error: SchedulingError) -> Response[str]:
        return problem(400, "invalid-request", "The request is not valid.", str(error))

    @app.exception_handler(SettingsError)
    def setting(error: SettingsError) -> Response[str]:
        return problem(400, "invalid-request", "The request is not valid.", str(error))

    @app.exception_handler(AppointmentRuleError)
    def rule(error: AppointmentRuleError) -> Response[str]:
        return problem(
            RULE_STATUS.get(error.kind, 409), error.kind, "The clinic's rules do not allow this.", str(error)
        )

    @app.exception_handler(LicensureError)
    def licensure(error: LicensureError) -> Response[str]:
        # At admission the visit has been stopped by now; the patient is offered to book again.
        return problem(
            422,
            "provider-not-licensed",
            "The provider may not see a patient in that state.",
            str(error),
            rebook="/v1/slots",
        )

    @app.exception_handler(NotAuthorizedError)
    def forbidden(error: NotAuthorizedError) -> Response[str]:
        return problem(403, "forbidden", "Not allowed.", str(error))

    @app.exception_handler(LinkNotYoursError)
    def not_yours(error: LinkNotYoursError) -> Response[str]:
        return problem(403, "link-not-yours", "This join link is not yours.", str(error))

    @app.exception_handler(NotFoundError)
    def not_found(error: NotFoundError) -> Response[str]:
        return problem(404, "not-found", "Not found.")

    @app.exception_handler(SlotTakenError)
    def taken(error: SlotTakenError) -> Response[str]:
        return problem(
            409, "slot-taken", "Someone else booked this slot first.", "Search again for open slots."
        )

    @app.exception_handler(StaleWriteError)
    @app.exception_handler(VisitChangedError)
    def stale(error: Exception) -> Response[str]:
        return problem(409, "conflict", "The record changed meanwhile.", "Read it again and retry.")

    @app.exception_handler(IdempotencyMismatchError)
    @app.exception_handler(IdempotencyValidationError)  # Powertools' word for the same
    def reused(error: Exception) -> Response[str]:
        return problem(
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was used for another request.",
            "Use a new key for a new request.",
        )

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def in_progress(error: IdempotencyAlreadyInProgressError) -> Response[str]:
        return problem(
            409,
            "idempotency-key-in-progress",
            "A request with this Idempotency-Key is still being answered.",
            "Retry shortly with the same key.",
        )
