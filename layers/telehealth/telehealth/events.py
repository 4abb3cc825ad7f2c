"""Domain facts as EventBridge events: versioned schemas, ids and instants only.

Events live on in the bus archive and in dead-letter queues, so no field here may hold PHI: a
patient is an opaque id, never a name, a reason for visit or a place. They leave through the
outbox with the change that caused them, so a fact is published if and only if it happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: ClassVar[str]
    detail_type: ClassVar[str]
    schema_version: Literal[1] = 1


class AppointmentBooked(DomainEvent):
    source: ClassVar[str] = "telehealth.scheduling"
    detail_type: ClassVar[str] = "Appointment.Booked"
    appointment_id: str
    version: int
    provider_id: str
    patient_id: str
    start: datetime
    end: datetime


class AppointmentRescheduled(AppointmentBooked):
    detail_type: ClassVar[str] = "Appointment.Rescheduled"


class AppointmentTransferred(AppointmentBooked):
    """The appointment is another patient record's now (a merge of one person's two records, or
    its undoing): the same visit, at its next version."""

    detail_type: ClassVar[str] = "Appointment.Transferred"


class AppointmentCancelled(DomainEvent):
    source: ClassVar[str] = "telehealth.scheduling"
    detail_type: ClassVar[str] = "Appointment.Cancelled"
    appointment_id: str
    version: int
    provider_id: str
    patient_id: str


class VisitEvent(DomainEvent):
    """A step of one visit: the appointment and its version (a moved visit is a new one)."""

    source: ClassVar[str] = "telehealth.visits"
    appointment_id: str
    version: int


class VisitReminderSent(VisitEvent):
    detail_type: ClassVar[str] = "Visit.ReminderSent"
    reminder: str  # 24h, 1h
    channels: list[str]  # email, sms


class VisitCheckedIn(VisitEvent):
    detail_type: ClassVar[str] = "Visit.CheckedIn"
    recording_consented: bool


class VisitAdmitted(VisitEvent):
    detail_type: ClassVar[str] = "Visit.Admitted"
    provider_id: str
    meeting_id: str


class VisitParticipantJoined(VisitEvent):
    detail_type: ClassVar[str] = "Visit.ParticipantJoined"
    role: Literal["patient", "provider", "interpreter", "caregiver"]


class VisitParticipantLeft(VisitEvent):
    detail_type: ClassVar[str] = "Visit.ParticipantLeft"
    role: Literal["patient", "provider", "interpreter", "caregiver"]
    dropped: bool  # the connection failed, rather than the participant leaving


class VisitInCall(VisitEvent):
    detail_type: ClassVar[str] = "Visit.InCall"
    meeting_id: str


class VisitCompleted(VisitEvent):
    detail_type: ClassVar[str] = "Visit.Completed"
    provider_id: str
    patient_id: str
    ended_by: Literal["provider", "meeting-ended", "overrun"]


class VisitNoShow(VisitEvent):
    detail_type: ClassVar[str] = "Visit.NoShow"
    absent: Literal["patient", "provider"]
    provider_id: str
    patient_id: str


class VisitCancelled(VisitEvent):
    """Hooked by payments (a held copay is voided) and by anything else that holds a resource."""

    detail_type: ClassVar[str] = "Visit.Cancelled"
    reason: Literal["cancelled", "provider-not-licensed", "not-admitted", "meeting-lost"]
    provider_id: str
    patient_id: str
    late_fee: bool = False  # staff cancelled late at the patient's request: the clinic's fee applies


class RecordingAvailable(VisitEvent):
    """The visit's recording, one file per participant's stream: the media workers start here."""

    source: ClassVar[str] = "telehealth.media"
    detail_type: ClassVar[str] = "Recording.Available"
    bucket: str
    patient_stream_key: str  # the patient's video, e.g. for vital signs
    encounter_id: str
    patient_id: str


class VitalsEstimated(VisitEvent):
    """A media worker read vital signs from the visit's video: preliminary Observations."""

    source: ClassVar[str] = "telehealth.media"
    detail_type: ClassVar[str] = "Vitals.Estimated"
    encounter_id: str
    observation_ids: list[str]
    refused: list[str]  # signs it could not read honestly (heart-rate, respiratory-rate)


class VitalsReviewed(VisitEvent):
    source: ClassVar[str] = "telehealth.visits"
    detail_type: ClassVar[str] = "Vitals.Reviewed"
    observation_id: str
    status: Literal["final", "entered-in-error"]


class NoteEvent(VisitEvent):
    """A step of a visit's clinical note: which visit, and the note's revision then (never a
    word of it, nor a diagnosis)."""

    source: ClassVar[str] = "telehealth.notes"
    revision: int


class NoteSigned(NoteEvent):
    detail_type: ClassVar[str] = "Note.Signed"


class NoteAmended(NoteEvent):
    detail_type: ClassVar[str] = "Note.Amended"
    amendment: int  # 1: the first correction


class NoteAddendumAdded(NoteEvent):
    detail_type: ClassVar[str] = "Note.AddendumAdded"
    addendum: int


class PrescriptionEvent(DomainEvent):
    """A prescription's step on its way to the pharmacy: ids alone (never the drug, the dose or
    the pharmacy: together with the patient's id, a drug is their diagnosis)."""

    source: ClassVar[str] = "telehealth.prescriptions"
    prescription_id: str
    appointment_id: str | None  # the visit it was written in; None for a case of photos'
    patient_id: str
    version: int
    case_id: str | None = None  # the case of photos it was written from


class PrescriptionSent(PrescriptionEvent):
    detail_type: ClassVar[str] = "Prescription.Sent"  # the network delivered it to the pharmacy


class PrescriptionFailed(PrescriptionEvent):
    detail_type: ClassVar[str] = "Prescription.Failed"  # its reason is on the prescription, not here


class PrescriptionDispensed(PrescriptionEvent):
    detail_type: ClassVar[str] = "Prescription.Dispensed"
    fill: int  # 1: the first fill


class PrescriptionCancelled(PrescriptionEvent):
    detail_type: ClassVar[str] = "Prescription.Cancelled"


class PrescriptionRenewalRequested(PrescriptionEvent):
    detail_type: ClassVar[str] = "Prescription.RenewalRequested"


class ReadingRefused(DomainEvent):
    """Readings a sender was told were not taken (the reasons went back to it, not here)."""

    source: ClassVar[str] = "telehealth.monitoring"
    detail_type: ClassVar[str] = "Reading.Refused"
    refused: int  # how many entries of the request
    sender: str  # the machine client (`Device/...`) or the patient (`Patient/<id>`) that sent them


class AlertEvent(DomainEvent):
    """A remote-monitoring alert's step: ids only (never the rule, the tier or a value: with the
    patient's id, `heart-failure-weight` is a diagnosis)."""

    source: ClassVar[str] = "telehealth.monitoring"
    alert_id: str
    patient_id: str


class AlertRaised(AlertEvent):
    detail_type: ClassVar[str] = "Alert.Raised"


class AlertAcknowledged(AlertEvent):
    detail_type: ClassVar[str] = "Alert.Acknowledged"


class AlertEscalated(AlertEvent):
    """An urgent alert nobody acknowledged, handed on to the next person the clinic names."""

    detail_type: ClassVar[str] = "Alert.Escalated"
    provider_id: str  # whom it went to
    level: int  # 1 for the first person named, 2 for the next...


class PaymentEvent(DomainEvent):
    """A movement of a visit's money, settled: ids only (no amount, no card, nothing of the visit),
    `sequence` the step's count on the visit (a second hold, a second refund)."""

    source: ClassVar[str] = "telehealth.payments"
    appointment_id: str
    sequence: int
    intent_id: str


class PaymentHeld(PaymentEvent):
    detail_type: ClassVar[str] = "Payment.Held"


class PaymentCaptured(PaymentEvent):
    detail_type: ClassVar[str] = "Payment.Captured"


class PaymentReleased(PaymentEvent):
    detail_type: ClassVar[str] = "Payment.Released"


class PaymentRefunded(PaymentEvent):
    detail_type: ClassVar[str] = "Payment.Refunded"


class PaymentFailed(DomainEvent):
    """The processor refused a step: the patient is told to fix their card (a hold), or the
    clinic looks (a capture past the hold's deadline)."""

    source: ClassVar[str] = "telehealth.payments"
    detail_type: ClassVar[str] = "Payment.Failed"
    appointment_id: str
    step: Literal["hold", "capture", "release", "refund"]
    sequence: int
    code: str  # the processor's reason: card_declined, authentication_required, ...


class CoverageRecorded(DomainEvent):
    """A patient recorded (or changed) their insurance: it is checked with the payer. Ids only."""

    source: ClassVar[str] = "telehealth.coverage"
    detail_type: ClassVar[str] = "Coverage.Recorded"
    patient_id: str
    version: int


class ChargeEntered(DomainEvent):
    """A completed visit's charge and the patient's invoice were entered (ids only: a billing
    code names the care)."""

    source: ClassVar[str] = "telehealth.payments"
    detail_type: ClassVar[str] = "Charge.Entered"
    appointment_id: str


class EstimateIssued(DomainEvent):
    """A self-pay patient's Good Faith Estimate was issued for a version of their booking."""

    source: ClassVar[str] = "telehealth.payments"
    detail_type: ClassVar[str] = "Estimate.Issued"
    appointment_id: str
    version: int


class CoverageChecked(DomainEvent):
    """The payer answered (or did not) about a patient's insurance: the outcome's kind only."""

    source: ClassVar[str] = "telehealth.coverage"
    detail_type: ClassVar[str] = "Coverage.Checked"
    patient_id: str
    version: int
    status: Literal["active", "inactive", "rejected", "unavailable"]


class SubscriptionRequested(DomainEvent):
    """A health system's subscription was created: its handshake is owed (after the commit)."""

    source: ClassVar[str] = "telehealth.subscriptions"
    detail_type: ClassVar[str] = "Subscription.Requested"
    subscription_id: str


class TriageEvent(DomainEvent):
    """A symptom intake's step: ids only (never the answers, the complaint or which red flag held:
    with the patient's id, `suicidal-thoughts` is a diagnosis)."""

    source: ClassVar[str] = "telehealth.triage"
    intake_id: str
    patient_id: str


class TriageEmergencyShown(TriageEvent):
    """A red flag held and the patient was shown the emergency instruction: the on-call is paged."""

    detail_type: ClassVar[str] = "Triage.EmergencyShown"


class TriageCompleted(TriageEvent):
    """The intake routed the patient; `free_text` says there are words for NLP to read."""

    detail_type: ClassVar[str] = "Triage.Completed"
    free_text: bool


class PhotoCaseEvent(DomainEvent):
    """A case of photos' step (store-and-forward): ids only (never the answers, the body site or
    the clinician's words)."""

    source: ClassVar[str] = "telehealth.triage"
    case_id: str
    patient_id: str


class PhotoCaseSubmitted(PhotoCaseEvent):
    """A patient's case of photos is in the clinicians' queue."""

    detail_type: ClassVar[str] = "PhotoCase.Submitted"


class PhotoCaseAnswered(PhotoCaseEvent):
    """A clinician answered a patient's case of photos."""

    detail_type: ClassVar[str] = "PhotoCase.Answered"


class PhotoCaseEscalated(PhotoCaseEvent):
    """A case of photos still unanswered as its deadline nears (`level` "nearing"), or past it
    ("overdue"): the clinic's on-call were paged (the medical director too, overdue)."""

    detail_type: ClassVar[str] = "PhotoCase.Escalated"
    level: str


CATALOGUE: tuple[type[DomainEvent], ...] = (
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentTransferred,
    AppointmentCancelled,
    VisitReminderSent,
    VisitCheckedIn,
    VisitAdmitted,
    VisitParticipantJoined,
    VisitParticipantLeft,
    VisitInCall,
    VisitCompleted,
    VisitNoShow,
    VisitCancelled,
    RecordingAvailable,
    VitalsEstimated,
    VitalsReviewed,
    PaymentHeld,
    PaymentCaptured,
    PaymentReleased,
    PaymentRefunded,
    PaymentFailed,
    ChargeEntered,
    EstimateIssued,
    CoverageRecorded,
    CoverageChecked,
    SubscriptionRequested,
    ReadingRefused,
    AlertRaised,
    AlertAcknowledged,
    AlertEscalated,
    TriageEmergencyShown,
    TriageCompleted,
    PhotoCaseSubmitted,
    PhotoCaseAnswered,
    PhotoCaseEscalated,
)
