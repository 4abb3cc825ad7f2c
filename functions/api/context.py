"""Per container: the services (functions/services.py); per request: who is calling."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from functions.services import (
    adt_feed,
    after_visit,
    billing,
    booking,
    clinic_admin,
    dexcom_links,
    export_desk,
    features,
    fhir_facade,
    insurance,
    medical_history,
    monitoring,
    notes,
    now,
    patient_merges,
    patients,
    payment_notices,
    photo_cases,
    prescribing,
    referrals,
    rpm_ledger,
    triage,
    visits,
    vitals,
)
from telehealth.application.callers import Caller, NotAuthorizedError, caller_from_claims
from telehealth.domain.appointments import Actor

if TYPE_CHECKING:  # the service loads on first use, not with the API function's import
    from telehealth.application.booking import Idempotency

__all__ = [
    "adt_feed",
    "after_visit",
    "billing",
    "booking",
    "caller",
    "clinic_admin",
    "dexcom_links",
    "export_desk",
    "feature_on",
    "fhir_facade",
    "idempotency",
    "insurance",
    "medical_history",
    "monitoring",
    "notes",
    "now",
    "patient_merges",
    "patients",
    "payment_notices",
    "photo_cases",
    "prescribing",
    "referrals",
    "rpm_ledger",
    "triage",
    "visits",
    "vitals",
]


def feature_on(feature: str) -> None:
    """For an operation that needs a feature beyond its route's (`contract.answers(also_needs=)`),
    as a route of a group's greedy resource there in every tenant does: where the tenant has it
    off, there is no such resource, as the gateway says of a feature's own routes."""
    from telehealth.application.callers import NotFoundError

    if feature not in features():
        raise NotFoundError(f"this clinic has {feature} off")


def caller(app: Any) -> Caller:
    """`app` is the resolver or a router of it: whatever holds the current event."""
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.claims if authorizer else None
    if not claims:  # only the public routes have no authorizer, and they do not ask
        raise NotAuthorizedError("No caller.")
    found = caller_from_claims(
        claims,
        workforce_pool_id=os.environ["WORKFORCE_POOL_ID"],
        patient_pool_id=os.environ["PATIENT_POOL_ID"],
    )
    if found.actor is Actor.PATIENT:
        # A portal account whose record was merged into another acts as the survivor.
        holder = patients().account_holder(found.subject)
        if holder != found.subject:
            return replace(found, subject=holder)
    return found


def idempotency(answer: Callable[[Any], Response[Any]]) -> Idempotency | None:
    """For a route under `idempotent.in_transaction()`: the request's key, and `answer` (how the
    route answers the change) for the service to keep with the change."""
    from functions.api import idempotent

    return idempotent.current(answer)
