"""The application services, wired once per container from the tenant's environment.

Every function of a tenant shares one environment (see infra/topology.py), so these are the same
wherever they are built; each is built on first use only, keeping cold starts to what is used.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telehealth.adapters.comprehend_medical import ComprehendMedicalReader
    from telehealth.adapters.notes_store import DynamoNoteStore
    from telehealth.adapters.pager import ProviderEmailPager
    from telehealth.adapters.payments import PaymentsFunction, StripePayments
    from telehealth.adapters.scheduling_store import DynamoSchedulingStore
    from telehealth.adapters.subscriptions_store import DynamoSubscriptionStore
    from telehealth.adapters.visits_store import DynamoVisitStore
    from telehealth.adapters.vitals_store import DynamoVitalsStore
    from telehealth.application.adt_feed import AdtFeed
    from telehealth.application.after_visit import AfterVisitSummaries
    from telehealth.application.audit import AuditTrail
    from telehealth.application.billing import Billing, CardRefusalNotices
    from telehealth.application.booking import BookingService
    from telehealth.application.clinic_admin import ClinicAdmin, CurrentSettings
    from telehealth.application.coverage import InsuranceDesk
    from telehealth.application.dexcom import DexcomLinks, DexcomPoller
    from telehealth.application.exports import ExportDesk, ExportRunner
    from telehealth.application.fhir_facade import FhirFacade
    from telehealth.application.lifecycle import VisitLifecycle
    from telehealth.application.medical_history import MedicalHistoryDesk
    from telehealth.application.monitoring import RemoteMonitoring, UrgentAlertEscalation
    from telehealth.application.notes import ClinicalNotes
    from telehealth.application.patients import PatientMerges, PatientRecords
    from telehealth.application.payments import PaymentNoticeInbox
    from telehealth.application.photo_cases import AnswerNotice, CaseDeadlines, PhotoCaseDesk, PhotoScans
    from telehealth.application.prescriptions import Prescribing
    from telehealth.application.reconciler import VisitReconciler
    from telehealth.application.record import RecordProjector
    from telehealth.application.referrals import Referrals
    from telehealth.application.rpm_billing import RpmLedger
    from telehealth.application.subscriptions import SubscriptionDesk, SubscriptionNotices
    from telehealth.application.triage import TriageDesk
    from telehealth.application.visits import VisitService
    from telehealth.application.vitals import VitalsService
    from telehealth.domain.clinic_settings import ClinicSettings
    from telehealth.ports import IdempotencyRecords


def features() -> frozenset[str]:
    """The tenant's features that are on, as its stack tells each function (`FEATURES`)."""
    return frozenset(f for f in os.environ.get("FEATURES", "").split(",") if f)


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


@cache
def note_store() -> DynamoNoteStore:
    from telehealth.adapters.notes_store import DynamoNoteStore

    return DynamoNoteStore(client=table_client())


def idempotency_records() -> IdempotencyRecords:
    """The answers kept for Idempotency-Keys: any store over the table reads them."""
    return scheduling_store()


# --- the application services --------------------------------------------------------------------------


def seed_settings() -> ClinicSettings:
    """The settings until an admin first writes them: the tenant file's seed values
    (`CLINIC_SEED_SETTINGS`, as ClinicSettings.as_seconds spells them), the platform's otherwise."""
    from telehealth.domain.clinic_settings import ClinicSettings

    return ClinicSettings.from_seconds(json.loads(os.environ.get("CLINIC_SEED_SETTINGS") or "{}"))


@cache
def clinic_settings() -> CurrentSettings:
    """The clinic's settings and services from the table, re-read at most once a minute per
    container (`CLINIC_SETTINGS_TTL_S`), so an admin's change needs no deploy."""
    from telehealth.adapters.admin_store import DynamoClinicAdmin
    from telehealth.application.clinic_admin import CurrentSettings

    ttl = float(os.environ.get("CLINIC_SETTINGS_TTL_S") or 60)
    return CurrentSettings(DynamoClinicAdmin(client=table_client()), seed_settings(), ttl_s=ttl)


@cache
def clinic_admin() -> ClinicAdmin:
    from telehealth.adapters.admin_store import DynamoClinicAdmin, DynamoProviderAdmin
    from telehealth.application.clinic_admin import ClinicAdmin

    client = table_client()
    providers = DynamoProviderAdmin(client=client)
    return ClinicAdmin(DynamoClinicAdmin(client=client), now, seed_settings(), providers)


@cache
def booking() -> BookingService:
    from telehealth.adapters.workflows import StepFunctionsVisits
    from telehealth.application.booking import BookingService, ClinicRules

    source = clinic_settings()
    rules = ClinicRules(
        tenant_id=os.environ["TENANT_ID"],
        cancellation_window=source.defaults.cancellation_window,
        states=frozenset(os.environ["SERVED_STATES"].split(",")),
    )
    return BookingService(
        scheduling_store(), rules, now, StepFunctionsVisits(), settings=source, trail=audit_trail()
    )


@cache
def audit_trail() -> AuditTrail:
    """One trail per container, whichever services use it: each agent's resource is written once."""
    from telehealth.application.audit import AuditTrail

    return AuditTrail(scheduling_store(), now)


@cache
def fhir_facade() -> FhirFacade:
    """The FHIR facade: HealthLake read with the function's role (SigV4); the clinic table for
    providers' patients, search cursors, what is still on its way to HealthLake (the outbox) and
    the patients a health system registers; the insurance desk for the Coverage it writes, where
    the clinic checks insurance (an eligibility function is deployed: payments on)."""
    from telehealth.adapters.healthlake import HealthLakeFhirStore
    from telehealth.adapters.outbox_store import DynamoOutbox
    from telehealth.adapters.search_cursors import DynamoSearchCursors
    from telehealth.application.fhir_facade import FhirFacade

    store = HealthLakeFhirStore(os.environ["FHIR_STORE_ENDPOINT"])
    return FhirFacade(
        store,
        scheduling_store(),
        DynamoSearchCursors(client=table_client()),
        audit_trail(),
        now,
        pending=DynamoOutbox(client=table_client()),
        patients=patients(),
        referrals=referrals(),
        mrn_system=os.environ["MRN_SYSTEM"],
        insurance=insurance() if os.environ.get("ELIGIBILITY_FUNCTION") else None,
        subscriptions=subscription_desk(),
        subscriber_domains=tuple(d for d in os.environ.get("SUBSCRIBER_DOMAINS", "").split(",") if d),
    )


@cache
def referrals() -> Referrals:
    from telehealth.application.referrals import Referrals

    return Referrals(scheduling_store(), audit_trail(), now)


@cache
def patients() -> PatientRecords:
    from telehealth.application.patients import PatientRecords

    return PatientRecords(scheduling_store(), audit_trail(), now)


@cache
def patient_merges() -> PatientMerges:
    from telehealth.application.patients import PatientMerges

    return PatientMerges(scheduling_store(), booking(), audit_trail(), now)


@cache
def _export_parts() -> tuple[Any, Any, Any]:
    """The exports' table store, HealthLake (signed as this function), and the export bucket."""
    from telehealth.adapters.export_files import S3ExportFiles
    from telehealth.adapters.exports_store import DynamoExportStore
    from telehealth.adapters.healthlake import HealthLakeFhirStore

    return (
        DynamoExportStore(client=table_client()),
        HealthLakeFhirStore(os.environ["FHIR_STORE_ENDPOINT"]),
        S3ExportFiles(os.environ["EXPORTS_BUCKET"]),
    )


@cache
def export_desk() -> ExportDesk:
    """Bulk export as the FHIR facade serves it: asked, polled, cancelled, its files read."""
    from telehealth.application.exports import ExportDesk

    store, healthlake, files = _export_parts()
    return ExportDesk(
        store,
        files,
        scheduling_store(),
        audit_trail(),
        now,
        cancel=healthlake.cancel_export,
        wake=_wake_exports,
    )


def _wake_exports() -> None:
    """The exports' runner, invoked asynchronously (Lambda queues it): an export asked for starts
    now when none runs, not at the runner's next minute."""
    import boto3

    boto3.client("lambda").invoke(
        FunctionName=os.environ["BULK_EXPORTS_FUNCTION"], InvocationType="Event", Payload=b"{}"
    )


@cache
def export_runner() -> ExportRunner:
    """Bulk export's runner: HealthLake's export jobs, one at a time, into the export bucket."""
    from telehealth.application.exports import ExportRunner, ExportSite

    store, healthlake, files = _export_parts()
    site = ExportSite(os.environ["EXPORTS_BUCKET"], os.environ["EXPORTS_KEY"], os.environ["EXPORT_ROLE_ARN"])
    return ExportRunner(store, healthlake, files, scheduling_store(), site, now)


@cache
def subscription_store() -> DynamoSubscriptionStore:
    from telehealth.adapters.subscriptions_store import DynamoSubscriptionStore

    return DynamoSubscriptionStore(client=table_client())


@cache
def subscription_desk() -> SubscriptionDesk:
    """Subscriptions as the FHIR facade serves them: in the clinic table, secrets made and sealed
    by the delivery function."""
    from telehealth.adapters.subscriber_delivery import DeliveryFunction
    from telehealth.application.subscriptions import SubscriptionDesk

    return SubscriptionDesk(subscription_store(), DeliveryFunction(), now)


@cache
def subscription_notices() -> SubscriptionNotices:
    from telehealth.adapters.subscriber_delivery import DeliveryFunction, QueuedDeadLetters
    from telehealth.application.subscriptions import SubscriptionNotices

    return SubscriptionNotices(subscription_store(), DeliveryFunction(), QueuedDeadLetters(), now)


@cache
def adt_feed() -> AdtFeed:
    """A health system's HL7 v2 ADT messages, onto the same patients as the FHIR facade's writes."""
    from telehealth.application.adt_feed import AdtFeed

    return AdtFeed(
        patients(), patient_merges(), audit_trail(), now, os.environ["MRN_SYSTEM"], scheduling_store()
    )


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
    # No timings given: the visit's clocks are the clinic's settings, read at run time. With
    # payments on, check-in asks the billing desk whether the visit is paid for (built on first use).
    paid_for = (
        (lambda appointment: billing().paid_for(appointment)) if os.environ.get("PAYMENTS_FUNCTION") else None
    )
    return VisitService(booking(), visit_store(), meetings, now, video, paid_for=paid_for)


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

    return VitalsService(vitals_store(), visit_store(), scheduling_store(), now, audit_trail())


@cache
def notes() -> ClinicalNotes:
    from telehealth.application.notes import ClinicalNotes

    settings = clinic_settings()
    return ClinicalNotes(
        note_store(), visit_store(), scheduling_store(), vitals_store(), settings.settings, now, audit_trail()
    )


@cache
def medical_history() -> MedicalHistoryDesk:
    from telehealth.adapters.medical_history_store import DynamoMedicalHistory
    from telehealth.application.medical_history import MedicalHistoryDesk

    return MedicalHistoryDesk(
        DynamoMedicalHistory(client=table_client()), visit_store(), scheduling_store(), now, audit_trail()
    )


@cache
def prescribing() -> Prescribing:
    """Prescriptions: checked here, sent through the tenant's prescribing function (Lambda
    Invoke), which alone reaches the e-prescribing network."""
    from telehealth.adapters.medical_history_store import DynamoMedicalHistory
    from telehealth.adapters.photon import PrescribingFunction, wire_patient
    from telehealth.adapters.prescriptions_store import DynamoPrescriptions
    from telehealth.adapters.triage_store import DynamoTriageStore
    from telehealth.application.prescriptions import Prescribing

    return Prescribing(
        DynamoPrescriptions(client=table_client()),
        PrescribingFunction(),
        DynamoMedicalHistory(client=table_client()),
        visit_store(),
        scheduling_store(),
        clinic_settings().settings,
        now,
        audit_trail(),
        wire_patient,
        # The dashboard: where Photon's sign-in sends a prescriber back, linking their account.
        os.environ["DASHBOARD_URL"],
        # A prescription may be written from a case of photos where the tenant takes them.
        cases=DynamoTriageStore(client=table_client()) if "triage" in features() else None,
    )


@cache
def after_visit() -> AfterVisitSummaries:
    from telehealth.adapters.notifier import SesSnsNotifier
    from telehealth.application.after_visit import AfterVisitSummaries

    return AfterVisitSummaries(
        note_store(),
        scheduling_store(),
        visit_store(),
        SesSnsNotifier(),
        os.environ["PORTAL_URL"],
        now,
        audit_trail(),
    )


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
    from telehealth.application.record import OPEN_FOR_SECONDS, BundlePacer, RecordProjector

    return RecordProjector(
        HealthLakeFhirStore(os.environ["FHIR_STORE_ENDPOINT"]),
        S3AuditArchive(os.environ["AUDIT_BUCKET"]),
        DynamoOutbox(client=table_client()),
        EventBridgeBus(),
        StepFunctionsVisits(),
        is_outage=is_outage,
        # Thirty seconds unless the environment says otherwise (the local test session's record
        # catches up sooner after an outage).
        open_for_s=float(os.environ.get("OUTBOX_CIRCUIT_OPEN_S") or OPEN_FOR_SECONDS),
        pacer=BundlePacer(float(os.environ.get("FHIR_BUNDLES_PER_SECOND") or 1.0)),
    )


@cache
def payments_function() -> PaymentsFunction:
    """The tenant's payments function (Lambda Invoke): one client for every desk that asks it."""
    from telehealth.adapters.payments import PaymentsFunction

    return PaymentsFunction()


@cache
def billing() -> Billing:
    """The billing desk: its card processor is the tenant's payments function (by Lambda Invoke),
    its records the clinic table."""
    from telehealth.adapters.payments_store import DynamoEstimates, DynamoPaymentRecords
    from telehealth.application.billing import Billing
    from telehealth.application.payments import VisitPayments
    from telehealth.domain.estimates import BillingProvider

    processor, records = payments_function(), DynamoPaymentRecords(client=table_client())
    payments = VisitPayments(processor, records, now)
    return Billing(
        booking(),
        payments,
        processor,
        records,
        audit_trail(),
        now,
        charges=records,
        visits=visit_store(),
        estimates=DynamoEstimates(client=table_client()),
        billed_by=BillingProvider(
            os.environ["CLINIC_NAME"], os.environ["BILLING_NPI"], os.environ["BILLING_TIN"]
        ),
        insurance=insurance(),
    )


@cache
def insurance() -> InsuranceDesk:
    """The insurance desk: coverage in the clinic table, checks through the eligibility function."""
    from telehealth.adapters.coverage_store import DynamoCoverageRecords
    from telehealth.adapters.eligibility import (
        ClearinghouseRefusedError,
        ClearinghouseUnavailableError,
        EligibilityFunction,
    )
    from telehealth.application.coverage import InsuranceDesk

    def unanswered(error: Exception) -> bool:
        # A refusal of the request itself is the operator's to fix (the eligibility function
        # logs it as an error); for the patient it is a check that did not happen yet.
        return isinstance(error, ClearinghouseUnavailableError | ClearinghouseRefusedError)

    records = DynamoCoverageRecords(client=table_client())
    return InsuranceDesk(booking(), records, EligibilityFunction(), audit_trail(), now, unanswered)


@cache
def card_refusals() -> CardRefusalNotices:
    """Telling a patient their card refused a visit's hold (the visit-payments function's)."""
    from telehealth.adapters.notifier import SesSnsNotifier
    from telehealth.application.billing import CardRefusalNotices

    records = billing().payments.records
    return CardRefusalNotices(booking(), records, SesSnsNotifier(), os.environ["PORTAL_URL"], now)


@cache
def payment_notices() -> PaymentNoticeInbox:
    """Stripe's webhooks: verified and re-read by the payment-notices function (the payments
    function's code, with capacity of its own), taken once here."""
    from telehealth.adapters.payments import PaymentsFunction
    from telehealth.application.payments import PaymentNoticeInbox

    return PaymentNoticeInbox(PaymentsFunction(os.environ["PAYMENT_NOTICES_FUNCTION"]), billing().payments)


@cache
def stripe() -> StripePayments:
    """Stripe with the tenant's key and webhook signing secret, read once per execution
    environment from the secret the payments function (and no other) is told about. A rotated key
    reaches new environments."""
    from telehealth.adapters.payments import StripePayments, stripe_credentials

    api_key, webhook_secret = stripe_credentials(os.environ["STRIPE_SECRET_ARN"])
    return StripePayments(api_key, webhook_secret=webhook_secret)


@cache
def monitoring() -> RemoteMonitoring:
    """Remote monitoring: the api's intake and care-team reads, and the readings function's keeper."""
    from telehealth.adapters.monitoring_store import DynamoMonitoringStore
    from telehealth.adapters.readings_queue import SqsReadingsQueue
    from telehealth.application.monitoring import RemoteMonitoring

    return RemoteMonitoring(DynamoMonitoringStore(), SqsReadingsQueue(), audit_trail(), now)


@cache
def rpm_ledger() -> RpmLedger:
    """Remote monitoring's billing ledger, over the monitoring store."""
    from telehealth.adapters.monitoring_store import DynamoMonitoringStore
    from telehealth.application.rpm_billing import RpmLedger

    return RpmLedger(DynamoMonitoringStore(), audit_trail(), now)


@cache
def dexcom_links() -> DexcomLinks:
    """A patient's Dexcom account, linked from the portal: the api asks the dexcom function."""
    from telehealth.adapters.dexcom import DexcomFunction
    from telehealth.adapters.monitoring_store import DynamoMonitoringStore
    from telehealth.application.dexcom import DexcomLinks

    return DexcomLinks(
        DynamoMonitoringStore(), DexcomFunction(), audit_trail(), now, os.environ["DEXCOM_RETURN_URL"]
    )


@cache
def dexcom_poller() -> DexcomPoller:
    """The dexcom-poll function's poll, through the dexcom function."""
    from telehealth.adapters.dexcom import DexcomFunction
    from telehealth.adapters.monitoring_store import DynamoMonitoringStore
    from telehealth.adapters.readings_queue import SqsReadingsQueue
    from telehealth.application.dexcom import DexcomPoller
    from telehealth.fhir.audit import poller_agent

    return DexcomPoller(
        DynamoMonitoringStore(),
        DexcomFunction(),
        SqsReadingsQueue(),
        sender=audit_trail().kept(poller_agent("dexcom")),
        return_url=os.environ["DEXCOM_RETURN_URL"],
        clock=now,
    )


@cache
def alert_escalation() -> UrgentAlertEscalation:
    """The escalation timer's step: the monitoring store, the clinic's settings, and a pager that
    e-mails the provider named next at their profile's address for pages."""
    from telehealth.adapters.monitoring_store import DynamoMonitoringStore
    from telehealth.application.monitoring import UrgentAlertEscalation

    return UrgentAlertEscalation(DynamoMonitoringStore(), lambda: clinic_settings().settings(), pager(), now)


@cache
def triage() -> TriageDesk:
    """Virtual triage: patients' intakes, the care team's reads, the medical director's sign-off."""
    from telehealth.adapters.triage_store import DynamoTriageStore
    from telehealth.application.triage import TriageDesk
    from telehealth.application.triage_content import from_environment

    questionnaire, _, rule_set = from_environment()  # the tenant file's, as the stack deployed it
    return TriageDesk(
        DynamoTriageStore(client=table_client()),
        lambda: clinic_settings().settings(),
        booking,
        now,
        audit_trail(),
        rule_set=rule_set,
        questionnaire=questionnaire,
    )


@cache
def photo_cases() -> PhotoCaseDesk:
    """Store-and-forward: patients' cases of photos, uploaded straight to the uploads bucket."""
    from telehealth.adapters.photo_uploads import S3PhotoUploads
    from telehealth.adapters.triage_store import DynamoTriageStore
    from telehealth.application.photo_cases import PhotoCaseDesk

    return PhotoCaseDesk(
        DynamoTriageStore(client=table_client()),
        S3PhotoUploads(),
        lambda: clinic_settings().settings(),
        now,
        audit_trail(),
        booking=booking,
    )


@cache
def photo_scans() -> PhotoScans:
    """A photo's malware verdict: its review copy made once it is clean."""
    from telehealth.adapters.photo_uploads import S3PhotoUploads
    from telehealth.adapters.triage_store import DynamoTriageStore
    from telehealth.application.photo_cases import PhotoScans

    return PhotoScans(DynamoTriageStore(client=table_client()), S3PhotoUploads())


@cache
def case_deadlines() -> CaseDeadlines:
    """A case of photos' deadline timer's step: the case, the clinic's settings, and the pager."""
    from telehealth.adapters.triage_store import DynamoTriageStore
    from telehealth.application.photo_cases import CaseDeadlines

    store = DynamoTriageStore(client=table_client())
    return CaseDeadlines(store, lambda: clinic_settings().settings(), pager(), now)


@cache
def answer_notice() -> AnswerNotice:
    """A patient told their case of photos is answered, by e-mail or SMS, once."""
    from telehealth.adapters.notifier import SesSnsNotifier
    from telehealth.adapters.triage_store import DynamoTriageStore
    from telehealth.application.photo_cases import AnswerNotice

    store = DynamoTriageStore(client=table_client())
    return AnswerNotice(store, store, SesSnsNotifier(), os.environ["PORTAL_URL"], now)


@cache
def free_text_reader() -> ComprehendMedicalReader:
    """Comprehend Medical, paced under InferSNOMEDCT's two requests a second."""
    from telehealth.adapters.comprehend_medical import ComprehendMedicalReader

    return ComprehendMedicalReader()


@cache
def pager() -> ProviderEmailPager:
    """Pages to providers (an urgent alert's next in turn, triage's on-call), at the address for
    pages their profile names."""
    from telehealth.adapters.notifier import SesSnsNotifier
    from telehealth.adapters.pager import ProviderEmailPager

    return ProviderEmailPager(scheduling_store(), SesSnsNotifier())
