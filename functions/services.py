"""The application services, wired once per container from the tenant's environment.

Every function of a tenant shares one environment (see infra/topology.py), so these are the same
wherever they are built; each is built on first use only, keeping cold starts to what is used.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telehealth.adapters.payments import StripePayments
    from telehealth.adapters.scheduling_store import DynamoSchedulingStore
    from telehealth.adapters.visits_store import DynamoVisitStore
    from telehealth.adapters.vitals_store import DynamoVitalsStore
    from telehealth.application.booking import BookingService
    from telehealth.application.lifecycle import VisitLifecycle
    from telehealth.application.reconciler import VisitReconciler
    from telehealth.application.record import RecordProjector
    from telehealth.application.visits import VisitService
    from telehealth.application.vitals import VitalsService
    from telehealth.domain.visits import VisitTimings
    from telehealth.ports import IdempotencyRecords


def now() -> datetime:
    return datetime.now(UTC)


# --- the clinic table, one store per context over one client ------------------------------------------


@cache
def table_client() -> Any:
    """One DynamoDB client for every store of the container (a client is thread-safe, and each
    costs time at a cold start)."""
    import boto3

    return boto3.client("dynamodb")


@cache
def scheduling_store() -> DynamoSchedulingStore:
    from telehealth.adapters.scheduling_store import DynamoSchedulingStore

    return DynamoSchedulingStore(client=table_client())


@cache
def visit_store() -> DynamoVisitStore:
    from telehealth.adapters.visits_store import DynamoVisitStore

    return DynamoVisitStore(client=table_client())


@cache
def vitals_store() -> DynamoVitalsStore:
    from telehealth.adapters.vitals_store import DynamoVitalsStore

    return DynamoVitalsStore(client=table_client())


def idempotency_records() -> IdempotencyRecords:
    """The answers kept for Idempotency-Keys: any store over the table reads them."""
    return scheduling_store()


# --- the application services --------------------------------------------------------------------------


@cache
def booking() -> BookingService:
    from telehealth.adapters.workflows import StepFunctionsVisits
    from telehealth.application.booking import BookingService, ClinicRules

    rules = ClinicRules(
        tenant_id=os.environ["TENANT_ID"],
        cancellation_window=timedelta(hours=int(os.environ["CANCELLATION_WINDOW_HOURS"])),
        states=frozenset(os.environ["SERVED_STATES"].split(",")),
    )
    return BookingService(scheduling_store(), rules, now, StepFunctionsVisits())


def timings() -> VisitTimings:
    """The clinic's defaults, with the tenant's own where `VISIT_TIMINGS` (seconds) sets them."""
    from telehealth.domain.visits import VisitTimings

    raw = json.loads(os.environ.get("VISIT_TIMINGS") or "{}")
    given: dict[str, object] = {
        k: tuple(timedelta(seconds=x) for x in v) if isinstance(v, list) else timedelta(seconds=v)
        for k, v in raw.items()
    }
    return VisitTimings(**given)  # type: ignore[arg-type]  # names and kinds are checked at runtime


@cache
def visits() -> VisitService:
    from telehealth.adapters.meetings import ChimeMeetings
    from telehealth.application.visits import VideoSettings, VisitService

    video = VideoSettings(
        tenant_id=os.environ["TENANT_ID"],
        media_region=os.environ["CHIME_MEDIA_REGION"],
        recording=os.environ.get("RECORDING_ENABLED") == "true",
        recordings_bucket=os.environ.get("RECORDINGS_BUCKET"),
    )
    meetings = ChimeMeetings(tenant_id=video.tenant_id)
    return VisitService(booking(), visit_store(), meetings, now, video, timings())


@cache
def lifecycle() -> VisitLifecycle:
    from telehealth.adapters.notifier import SesSnsNotifier
    from telehealth.adapters.recordings import S3RecordingFiles
    from telehealth.application.lifecycle import VisitLifecycle

    return VisitLifecycle(
        visits(), SesSnsNotifier(), visit_store(), os.environ["PORTAL_URL"], S3RecordingFiles()
    )


@cache
def vitals() -> VitalsService:
    from telehealth.application.vitals import VitalsService

    # The booking's audit trail: one per container, so each agent's resource is written once.
    return VitalsService(vitals_store(), visit_store(), scheduling_store(), now, booking().trail)


@cache
def reconciler() -> VisitReconciler:
    from telehealth.adapters.workflows import StepFunctionsVisits
    from telehealth.application.reconciler import VisitReconciler

    return VisitReconciler(scheduling_store(), StepFunctionsVisits(), now)


def record_projector() -> RecordProjector:
    """The outbox's deliverer. Not cached here: each function that delivers keeps its own (its
    circuit breakers are that function's, and locally every function shares this process)."""
    from telehealth.adapters.audit_archive import S3AuditArchive
    from telehealth.adapters.bus import EventBridgeBus
    from telehealth.adapters.healthlake import HealthLakeFhirStore
    from telehealth.adapters.outages import is_outage
    from telehealth.adapters.outbox_store import DynamoOutbox
    from telehealth.adapters.workflows import StepFunctionsVisits
    from telehealth.application.record import RecordProjector

    return RecordProjector(
        HealthLakeFhirStore(os.environ["FHIR_STORE_ENDPOINT"]),
        S3AuditArchive(os.environ["AUDIT_BUCKET"]),
        DynamoOutbox(client=table_client()),
        EventBridgeBus(),
        StepFunctionsVisits(),
        is_outage=is_outage,
    )


def stripe() -> StripePayments:
    """Stripe with the tenant's key, read once per execution environment from the secret the
    payments function (and no other) is told about. A rotated key reaches new environments."""
    from telehealth.adapters.payments import StripePayments, stripe_key

    return StripePayments(stripe_key(os.environ["STRIPE_SECRET_ARN"]))
