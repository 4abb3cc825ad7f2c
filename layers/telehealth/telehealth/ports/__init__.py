"""What the application needs from the outside world, as Protocols; adapters implement them.

The clinic table is the source of truth for scheduling, licensure and visits, one store per
context (SchedulingStore, VisitStore, VitalsStore); the FHIR store receives the clinical record
through the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from telehealth.domain.appointments import Appointment
from telehealth.domain.charges import VisitCharge
from telehealth.domain.coverage import Eligibility, EligibilityQuestion, PatientCoverage, Payer
from telehealth.domain.estimates import GoodFaithEstimate
from telehealth.domain.join_links import IssuedLink
from telehealth.domain.licensure import License
from telehealth.domain.medical_history import MedicalHistory
from telehealth.domain.monitoring import Alert
from telehealth.domain.notes import ClinicalNote, NoteContent
from telehealth.domain.payments import HoldState, VisitPayment
from telehealth.domain.prescriptions import Prescription
from telehealth.domain.reconciliation import LifecycleRun
from telehealth.domain.referrals import Referral
from telehealth.domain.scheduling import Availability
from telehealth.domain.visits import CheckIn, Visit
from telehealth.domain.vitals import VisitVitals
from telehealth.errors import IdempotencyMismatchError as IdempotencyMismatchError
from telehealth.errors import SlotTakenError as SlotTakenError
from telehealth.errors import StaleWriteError as StaleWriteError
from telehealth.errors import VisitChangedError as VisitChangedError
from telehealth.fhir.projection import PatientProfile, PractitionerProfile


@dataclass(frozen=True)
class ProviderRecord:
    profile: PractitionerProfile
    availability: Availability
    licenses: tuple[License, ...]
    user_sub: str


@dataclass(frozen=True)
class ProviderListing:
    """One index entry: a provider holding a credential in a state, with what search filters on."""

    provider_id: str
    specialty: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class OutboxEntry:
    """Something a change must deliver: a FHIR resource at a source version (audit events are
    archived as well), or, with `destination="events"`, a domain event for the tenant's bus."""

    resource: Mapping[str, Any]
    source_version: int
    destination: str = "fhir"  # one of DESTINATIONS
    # Deliveries tried and failed for this entry itself (not for an outage of its destination).
    attempts: int = 0
    # A resource written many at a time (readings' summaries): the relay sends these to the FHIR
    # store in bundles, paced under HealthLake's bundle quotas, not one request each.
    bundled: bool = False

    @property
    def reference(self) -> str:
        if self.destination == "workflow":
            kind = "Start" if "state_machine" in self.resource else "Resume"
        else:
            kind = "Event" if self.destination == "events" else self.resource["resourceType"]
        return f"{kind}/{self.resource['id']}"

    @property
    def outbox_id(self) -> str:
        """Unique per entry: what a consumer drops a repeat by (relay and sweeper may both send)."""
        return f"{self.reference}@{self.source_version}"


def workflow_start(state_machine: str, name: str, input: Mapping[str, Any]) -> OutboxEntry:
    """A workflow to start once the change that needs it is committed: the state machine (its
    topology key), the execution's name (a second start of the same name is a no-op) and its
    input (ids and instants only: execution history is kept)."""
    return OutboxEntry({"id": name, "state_machine": state_machine, "input": dict(input)}, 1, "workflow")


@dataclass(frozen=True)
class UploadSlot:
    """Where a browser uploads one file straight to storage: a presigned POST's URL and form
    fields, which storage holds the upload to, until `expires_at`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class ResourceBusyError(Exception):
    """Another deliverer holds the write of this resource: the entry stays pending for later."""


# Where outbox entries go, each a lane of its own: the FHIR store (the clinical record, with audit
# events archived too), the tenant's bus (domain events), and workflows (waiting steps resumed,
# timers started).
DESTINATIONS = ("fhir", "events", "workflow")


@dataclass
class VisitFile:
    """One appointment's whole file, as one query reads it: check-ins, visits (with their
    revision), task tokens and reminders sent by appointment version, join links with their
    attendees."""

    appointment_id: str
    appointment: Appointment | None = None
    check_ins: dict[int, CheckIn] = field(default_factory=dict)
    visits: dict[int, tuple[Visit, int]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    reminders_sent: dict[int, set[str]] = field(default_factory=dict)  # version -> "24h", "1h"
    links: list[IssuedLink] = field(default_factory=list)
    join_info: dict[str, str] = field(default_factory=dict)  # link id -> attendee JSON (secret)

    def visit(self, version: int) -> tuple[Visit, int] | None:
        return self.visits.get(version)


# --- what a scan of the whole table reads, for rebuilding the record from it ----------------------


@dataclass(frozen=True)
class StoredCheckIn:
    version: int  # the appointment version it checked in
    check_in: CheckIn


@dataclass(frozen=True)
class StoredVisit:
    visit: Visit
    revision: int  # counts every change of the visit's item, projected or not


@dataclass(frozen=True)
class StoredVitals:
    vitals: VisitVitals
    revision: int


@dataclass(frozen=True)
class StoredOutboxEntry:
    entry: OutboxEntry
    status: str  # pending, delivered (kept 30 days) or rejected (parked)


# What a scan yields, item by item (a provider whole: its profile with its credentials).
TableRecord = (
    ProviderRecord
    | PatientProfile
    | Referral
    | Appointment
    | StoredCheckIn
    | StoredVisit
    | StoredVitals
    | PatientCoverage
    | VisitCharge
    | ClinicalNote
    | MedicalHistory
    | Prescription
    | Alert
    | StoredOutboxEntry
)


@dataclass(frozen=True)
class IdempotencyClaim:
    """A POST's key, scoped to the caller and route, with the hash of what it asked for."""

    caller: str
    route: str
    key: str
    payload_hash: str
    response: str  # what to answer if the same request comes again (JSON)


@dataclass(frozen=True)
class SearchCursor:
    """Where a search stands between pages: the store's `next` link and what was searched, kept
    in the table (encrypted with the tenant's key), for the caller who searched only."""

    token: str
    owner: str
    resource_type: str
    link: str
    searched: tuple[tuple[str, str], ...]  # as sent: a name may repeat
    expires_at: datetime
    resource_id: str | None = None  # a resource's history, paged; None for a search


class MrnTakenError(Exception):
    """Another patient of the clinic holds this medical record number."""


class FhirStoreError(Exception):
    """The store refused a request. Carries the status and the OperationOutcome's issue codes,
    never the resource, so it can be logged and raised through a state machine safely."""

    def __init__(self, status: int, codes: tuple[str, ...], diagnostics: tuple[str, ...] = ()) -> None:
        super().__init__(f"FHIR store answered {status}: {', '.join(codes) or 'no issue code'}")
        self.status = status
        self.codes = codes
        self.diagnostics = diagnostics


class AlreadyCheckedInError(Exception):
    """The visit has its check-in already."""


class MeetingGoneError(Exception):
    """The video meeting no longer exists (ended, or never did)."""


class IdempotentReplay(Exception):  # noqa: N818 (an outcome, not a failure)
    def __init__(self, response: str) -> None:
        super().__init__("replayed")
        self.response = response


class VisitWorkflows(Protocol):
    """One lifecycle execution per appointment version (ids and instants only)."""

    def start(self, appointment: Appointment) -> None: ...

    def stop(self, appointment: Appointment, cause: str) -> None: ...


class LifecycleRuns(Protocol):
    """What the visit reconciler asks of the workflow engine about lifecycles."""

    def running(self) -> set[tuple[str, int]]:
        """(appointment id, version) of every lifecycle execution running now, any attempt."""
        ...

    def latest_run(self, appointment: Appointment) -> LifecycleRun | None:
        """The last attempt started for the appointment's version, None if none ever was."""
        ...

    def start(self, appointment: Appointment, attempt: int = 0) -> None: ...


class OpenVisits(Protocol):
    """Appointments still open (booked: not cancelled, fulfilled or a no-show), as an index has
    them (eventually consistent), and one appointment as it stands (consistent)."""

    def open_appointments(self, starting_before: datetime | None = None) -> Iterator[Appointment]: ...

    def appointment(self, appointment_id: str) -> Appointment | None: ...


class ProviderDirectory(Protocol):
    def provider_for_user(self, user_sub: str) -> str | None:
        """The provider profile of a signed-in clinician (None: the user is no provider)."""
        ...


class SchedulingStore(ProviderDirectory, OpenVisits, Protocol):
    """Providers, their licences and hours, patients, appointments: booking, moving, cancelling."""

    def providers_licensed_in(self, state: str) -> list[ProviderListing]: ...

    def provider(self, provider_id: str) -> ProviderRecord | None: ...

    def booked_cells(self, provider_id: str, start: datetime, end: datetime) -> set[datetime]: ...

    def appointment(self, appointment_id: str) -> Appointment | None: ...

    def appointments_of_patient(self, patient_id: str) -> list[Appointment]: ...

    def appointments_of_provider(
        self, provider_id: str, start: datetime, end: datetime
    ) -> list[Appointment]: ...

    def patient(self, patient_id: str) -> PatientProfile | None: ...

    def replace_availability(
        self, provider_id: str, availability: Availability, expected_version: int
    ) -> int: ...

    def book(
        self,
        appointment: Appointment,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None,
        referral: Referral | None = None,
    ) -> None:
        """The booking, and (booked for a referral) the referral's next version, or nothing."""
        ...

    def referral(self, referral_id: str) -> Referral | None: ...

    def change(
        self,
        before: Appointment,
        after: Appointment,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None,
    ) -> None: ...

    def transfer(self, moves: Sequence[tuple[Appointment, Appointment]], outbox: list[OutboxEntry]) -> None:
        """Appointments handed to another patient's record, each on its version read (StaleWriteError)."""
        ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


class IdempotencyRecords(Protocol):
    """The answers kept for `Idempotency-Key`s, asked before a route's rules run."""

    def replay_if_claimed(self, claim: IdempotencyClaim, now: datetime) -> None:
        """Raise `IdempotentReplay` with the kept answer, or `IdempotencyMismatchError`; return
        when the key is new (or its record is past its 24 hours)."""
        ...


class VisitFiles(Protocol):
    def visit_file(self, appointment_id: str) -> VisitFile: ...


class VisitStore(VisitFiles, Protocol):
    """Check-ins, visits, join links, waiting steps' task tokens and reminders: an appointment's
    file, and the appointment's last version when a visit closes it."""

    def record_check_in(
        self,
        check_in: CheckIn,
        appointment: Appointment,
        visit: Visit,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None = None,
    ) -> None: ...

    def save_visit(
        self,
        visit: Visit,
        revision: int,
        outbox: list[OutboxEntry],
        *,
        links: Sequence[tuple[IssuedLink, dict[str, Any]]] = (),
        revoked: Sequence[IssuedLink] = (),
        appointment: tuple[Appointment, Appointment] | None = None,
        not_waiting: Sequence[str] = (),
    ) -> int: ...

    def redeem_link(
        self, link: IssuedLink, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None: ...

    def close_appointment(
        self, before: Appointment, after: Appointment, outbox: list[OutboxEntry]
    ) -> None: ...

    def visits_of_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Visit]: ...

    def put_task_token(self, appointment_id: str, step: str, token: str, expires_at: int) -> None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...

    def record_reminder(
        self, appointment_id: str, version: int, reminder: str, at: datetime, outbox: list[OutboxEntry]
    ) -> bool: ...


class VitalsStore(Protocol):
    """A visit's vital signs estimated from its recording, and their review."""

    def vitals(self, appointment_id: str, version: int) -> tuple[VisitVitals, int] | None: ...

    def save_vitals(
        self,
        vitals: VisitVitals,
        revision: int,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None = None,
    ) -> int: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


class NoteRecords(Protocol):
    """A visit's clinical note: as it stands, and each revision as it was saved."""

    def note(self, appointment_id: str) -> ClinicalNote | None: ...

    def save_note(
        self, note: ClinicalNote, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        """At `note.revision`, on the revision before it; StaleWriteError when another save won."""

    def revisions(self, appointment_id: str, limit: int = 50) -> list[tuple[int, str, datetime]]: ...

    def revision(self, appointment_id: str, revision: int) -> NoteContent | None: ...

    def follow_ups(self, since: date, limit: int) -> list[ClinicalNote]: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


@dataclass(frozen=True)
class Notice:
    """A message to a patient. It says when and where to go, never why: no diagnosis, specialty
    or reason for the visit (e-mail and SMS leave the platform's encryption)."""

    email: str | None
    phone: str | None
    subject: str
    text: str


class NotificationFailedError(Exception):
    """A reminder did not go out. It names the channel and the service's error code only: SES and
    SNS quote the address or number they refused in their messages, and this error travels into
    the lifecycle's execution history (kept 90 days) and the function's error report."""

    def __init__(self, channel: str, code: str) -> None:
        super().__init__(f"{channel} not sent: {code}")
        self.channel, self.code = channel, code


class Notifier(Protocol):
    def send(self, notice: Notice) -> list[str]:
        """Returns the channels used (email, sms); raises NotificationFailedError."""
        ...


class Meetings(Protocol):
    """The video service (Amazon Chime SDK): one meeting per visit, one attendee per participant."""

    def create_meeting_with_attendees(
        self,
        *,
        external_meeting_id: str,
        media_region: str,
        external_user_ids: list[str],
        idempotency_key: str,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]: ...

    def create_attendee(self, meeting_id: str, external_user_id: str) -> dict[str, Any]: ...

    def get_attendee(self, meeting_id: str, attendee_id: str) -> dict[str, Any]:
        """The attendee with its join token (MeetingGoneError when it or its meeting is gone)."""
        ...

    def delete_attendee(self, meeting_id: str, attendee_id: str) -> None: ...

    def delete_meeting(self, meeting_id: str) -> None: ...

    def get_meeting(self, meeting_id: str) -> dict[str, Any]: ...

    def list_attendees(self, meeting_id: str) -> list[dict[str, Any]]: ...

    def start_capture(
        self,
        *,
        meeting_arn: str,
        bucket_arn: str,
        prefix: str,
        request_token: str,
        kms_key_arn: str | None = None,
        sink_role_arn: str | None = None,
    ) -> dict[str, Any]: ...

    def concatenate(
        self, *, capture_pipeline_arn: str, bucket_arn: str, prefix: str, request_token: str
    ) -> dict[str, Any]: ...


class RecordingFiles(Protocol):
    """Where the media pipelines leave a visit's recording (the tenant's recordings bucket)."""

    def keys(self, bucket: str, prefix: str) -> list[str]: ...


# --- coverage ----------------------------------------------------------------------------------------


class CoverageRecords(Protocol):
    """A patient's insurance and its last check, kept with the patient (adapters/coverage_store.py)."""

    def coverage_of(self, patient_id: str) -> PatientCoverage | None: ...

    def save_coverage(
        self,
        coverage: PatientCoverage,
        outbox: list[OutboxEntry],
        now: datetime,
        claim: IdempotencyClaim | None = None,
    ) -> None:
        """At `coverage.version`, on the one before (`StaleWriteError` otherwise), with its outbox
        and the request's Idempotency-Key record (`IdempotentReplay` when a twin committed first)."""
        ...


class EligibilityChecker(Protocol):
    """The clearinghouse, through the eligibility function (adapters/eligibility.py)."""

    def check(self, question: EligibilityQuestion) -> Eligibility:
        """`ClearinghouseUnavailableError` when it did not answer; a refused member is an answer."""
        ...

    def payers(self) -> list[Payer]: ...


# --- payments -------------------------------------------------------------------------------------


class PaymentRefusedError(Exception):
    """The card processor refused a step for good (a declined card, an expired hold, a card that
    needs the patient): `code` is its reason, never the card's details."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PaymentsUnavailableError(Exception):
    """The payments function, or the processor behind it, did not answer: the step stays pending,
    to be sent again under the same key."""


@dataclass(frozen=True)
class CardSetup:
    """A card being saved through the portal's form (a SetupIntent): the client secret the form
    confirms it with, and, once confirmed, the card."""

    setup_id: str
    status: str  # Stripe's: requires_payment_method, requires_action, succeeded, canceled
    customer_id: str
    payment_method_id: str | None = None
    client_secret: str | None = None


class CardProcessor(Protocol):
    """The card processor as the clinic's functions reach it: through the payments function, the
    one that may call it (adapters/payments.py)."""

    def carry_out(self, payment: VisitPayment) -> HoldState:
        """Send the payment's pending step under its key; the hold's state after it."""
        ...

    def retrieve(self, intent_id: str) -> HoldState: ...

    def find_hold(self, payment: VisitPayment) -> HoldState | None:
        """The hold the pending hold step made, if the processor has one (the step's key may be
        past the processor's day)."""
        ...


@dataclass(frozen=True)
class ProcessorNotice:
    """A notice from the card processor (a Stripe webhook event), its signature verified and
    the hold it concerns re-read: what the notice said is only a prompt, the hold's state now is
    what is acted on. `hold` is None for a notice about nothing the clinic acts on."""

    event_id: str
    kind: str  # the processor's event type: payment_intent.canceled, charge.refunded, ...
    appointment_id: str | None = None  # from the hold's metadata
    hold: HoldState | None = None


class PrescribingUnavailableError(Exception):
    """The e-prescribing network (or its function) did not answer: try again (a send resumes)."""


class PrescribingRefusedError(Exception):
    """The network refused the request; `code` says why in its words (never the patient's)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"the e-prescribing network refused: {code}")
        self.code = code


class NoticeRefusedError(Exception):
    """A webhook whose signature is not the network's (or with no secret to check it against)."""


class SignatureRefusedError(Exception):
    """A notice that is not the processor's: no signature, a wrong one, or one too old."""


class PaymentNotices(Protocol):
    def verified_notice(self, payload: str, signature: str) -> ProcessorNotice:
        """The notice, if the signature over the raw payload is the processor's and fresh
        (`SignatureRefusedError` otherwise)."""
        ...


class CardSetups(Protocol):
    """Cards saved through the portal's form (Stripe.js confirms a SetupIntent): a customer per
    patient, a setup for the form, and what the setup came to."""

    def new_customer(self, idempotency_key: str) -> str: ...

    def set_up_card(self, customer_id: str, idempotency_key: str) -> CardSetup: ...

    def card_of_setup(self, setup_id: str) -> CardSetup: ...


class PaymentRecords(Protocol):
    """A visit's payment, kept with its booking (adapters/payments_store.py)."""

    def visit_payment(self, appointment_id: str) -> VisitPayment | None: ...

    def save_payment(self, payment: VisitPayment, outbox: list[OutboxEntry], now: datetime) -> None:
        """At `payment.version`, on the condition that the one on file is the version before
        (`StaleWriteError` otherwise), with the outbox entries the change owes."""
        ...

    def notice_taken(self, event_id: str) -> bool:
        """Whether a notice (a processor's event, a message to a patient) was taken before."""
        ...

    def claim_notice(self, event_id: str, now: datetime) -> bool:
        """Remember a notice as taken: False when it was already (a redelivery, a twin)."""
        ...

    def forget_notice(self, event_id: str) -> None:
        """Un-take a notice whose handling failed, so the processor's redelivery is handled."""
        ...


class ChargeRecords(Protocol):
    """A completed visit's charge and invoice, kept with its booking (adapters/payments_store.py)."""

    def visit_charge(self, appointment_id: str) -> VisitCharge | None: ...

    def save_charge(self, charge: VisitCharge, outbox: list[OutboxEntry], now: datetime) -> None:
        """At `charge.version`, on the one before (`StaleWriteError` otherwise), with its outbox."""
        ...


class EstimateRecords(Protocol):
    """The Good Faith Estimates issued for a booking, each kept as issued (adapters/payments_store.py)."""

    def latest_estimate(self, appointment_id: str) -> GoodFaithEstimate | None: ...

    def save_estimate(self, estimate: GoodFaithEstimate, outbox: list[OutboxEntry], now: datetime) -> None:
        """Once per booking version: `StaleWriteError` when that version's was issued already."""
        ...


class PaymentProfiles(Protocol):
    """The processor's customer each patient's saved cards live under (adapters/payments_store.py)."""

    def customer_of(self, patient_id: str) -> str | None: ...

    def keep_customer(self, patient_id: str, customer_id: str) -> str:
        """Keep it unless the patient has one already (two first setups at once): the one kept."""
        ...
