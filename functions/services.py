"""The application services, wired once per container from the tenant's environment.

Every function of a tenant shares one environment (see infra/topology.py), so these are the same
wherever they are built; each is built on first use only, keeping cold starts to what is used.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telehealth.adapters.payments import StripePayments
    from telehealth.application.booking import BookingService
    from telehealth.application.lifecycle import VisitLifecycle
    from telehealth.application.reconciler import VisitReconciler
    from telehealth.application.visits import VisitService
    from telehealth.application.vitals import VitalsService
    from telehealth.domain.visits import VisitTimings


def now() -> datetime:
    return datetime.now(UTC)


@cache
def booking() -> BookingService:
    from telehealth.adapters.clinic_store import DynamoClinicStore
    from telehealth.adapters.workflows import StepFunctionsVisits
    from telehealth.application.booking import BookingService, ClinicRules

    rules = ClinicRules(
        tenant_id=os.environ["TENANT_ID"],
        cancellation_window=timedelta(hours=int(os.environ["CANCELLATION_WINDOW_HOURS"])),
        states=frozenset(os.environ["SERVED_STATES"].split(",")),
    )
    return BookingService(DynamoClinicStore(), rules, now, StepFunctionsVisits())


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

    service = booking()
    video = VideoSettings(
        tenant_id=os.environ["TENANT_ID"],
        media_region=os.environ["CHIME_MEDIA_REGION"],
        recording=os.environ.get("RECORDING_ENABLED") == "true",
        recordings_bucket=os.environ.get("RECORDINGS_BUCKET"),
    )
    meetings = ChimeMeetings(tenant_id=video.tenant_id)
    return VisitService(service, service.store, meetings, now, video, timings())  # type: ignore[arg-type]


@cache
def lifecycle() -> VisitLifecycle:
    from telehealth.adapters.notifier import SesSnsNotifier
    from telehealth.adapters.recordings import S3RecordingFiles
    from telehealth.application.lifecycle import VisitLifecycle

    service = visits()
    return VisitLifecycle(
        service, SesSnsNotifier(), service.store, os.environ["PORTAL_URL"], S3RecordingFiles()
    )


@cache
def vitals() -> VitalsService:
    from telehealth.application.vitals import VitalsService

    return VitalsService(booking().store, now)  # type: ignore[arg-type]


@cache
def reconciler() -> VisitReconciler:
    from telehealth.adapters.clinic_store import DynamoClinicStore
    from telehealth.adapters.workflows import StepFunctionsVisits
    from telehealth.application.reconciler import VisitReconciler

    return VisitReconciler(DynamoClinicStore(), StepFunctionsVisits(), now)


def stripe() -> StripePayments:
    """Stripe with the tenant's key, read once per execution environment from the secret the
    payments function (and no other) is told about. A rotated key reaches new environments."""
    from telehealth.adapters.payments import StripePayments, stripe_key

    return StripePayments(stripe_key(os.environ["STRIPE_SECRET_ARN"]))
