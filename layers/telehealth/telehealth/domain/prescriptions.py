"""A prescription's life, from the form to the pharmacy: written and checked here, handed to the
e-prescribing network (through its vendor), then moved on by what the network sends back, in any
order and any number of times (a vendor's webhooks are at-least-once and unordered).

    sending ──vendor took it──▶ submitted ──network: transmitted──▶ transmitted ──fill──▶ dispensed
       │                           │                                     │
       └────────── network: error (with its reason) ─────────────────────┴──▶ failed
    submitted/transmitted ──the prescriber cancels──▶ cancel-requested ──network: cancelled──▶ cancelled
                                                            └── a fill arrives first ──▶ dispensed

A dispensed prescription is not cancelled (the medicine has left the pharmacy); a pharmacy's
renewal request is recorded on the prescription it renews, for the prescriber to answer. Pure:
no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from telehealth.domain.prescribing import Finding

MAX_SIG = 500  # the directions in plain words: NCPDP SCRIPT's Sig text is 1,000; half keeps it readable
MAX_QUANTITY = 10_000
MAX_DAYS_SUPPLY = 365
MAX_REFILLS = 11  # a non-controlled prescription lasts a year: the fill and at most 11 refills
MAX_REFILLS_SCHEDULE_III_V = 5  # 21 CFR 1306.22: at most five refills within six months
NOTICES_KEPT = 50  # the network's notices applied, remembered to ignore a repeat


class PrescriptionStatus(Enum):
    SENDING = "sending"  # checked and kept; being handed to the vendor
    SUBMITTED = "submitted"  # the vendor took it: on its way through the network
    TRANSMITTED = "transmitted"  # the pharmacy's system has it
    FAILED = "failed"  # the network could not deliver it (its reason kept)
    DISPENSED = "dispensed"  # the pharmacy filled it (at least once)
    CANCEL_REQUESTED = "cancel-requested"
    CANCELLED = "cancelled"


class PrescriptionRuleError(ValueError):
    """A prescription's rule said no; `kind` is the problem type, the message says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class PrescriptionRefusedError(ValueError):
    """The checks before sending refused it, or found warnings the prescriber has not
    acknowledged: every finding, for the form to show beside its field."""

    def __init__(self, findings: tuple[Finding, ...], unacknowledged: tuple[str, ...]) -> None:
        super().__init__("The prescription was not sent: see its findings.")
        self.findings, self.unacknowledged = findings, unacknowledged


# A prescriber's sign-in at the network must come back within this to link their account.
LINK_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class PrescriberAccount:
    """A provider's account at the network, linked by their own sign-in there: what the network
    gave for it, sealed so that only the prescribing function can open it, and when."""

    provider_id: str
    credential: str
    linked_at: datetime


@dataclass(frozen=True)
class PendingLink:
    """A sign-in at the network under way: whose, its PKCE verifier, until when it may finish."""

    provider_id: str
    verifier: str
    expires_at: datetime


@dataclass(frozen=True)
class Pharmacy:
    pharmacy_id: str  # the network's (the vendor's directory)
    name: str
    address: str
    city: str
    state: str
    postal_code: str
    phone: str = ""
    ncpdp_id: str = ""  # the pharmacy's NCPDP provider id, where the directory gives it


@dataclass(frozen=True)
class Directions:
    """What the prescriber writes: the drug (by RxNorm), how it is taken and how much."""

    rxcui: str
    dose: str  # "1 tablet"
    route: str  # "oral"
    frequency: str  # "twice a day"
    quantity: int
    quantity_unit: str  # the drug's dose unit: "tablet"
    days_supply: int
    refills: int
    substitution_allowed: bool
    sig: str  # the directions in the patient's words


@dataclass(frozen=True)
class Fill:
    fill_id: str
    quantity: int
    at: datetime


class RenewalStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"  # renewed: a new prescription, sent to the pharmacy, continues this one
    DENIED = "denied"


@dataclass(frozen=True)
class RenewalRequest:
    request_id: str  # the network's
    at: datetime
    status: RenewalStatus = RenewalStatus.PENDING
    renewed_by: str | None = None  # the prescription that renews it, once approved


class NoticeKind(Enum):
    """What the network says of a prescription, as the vendor's adapter reads its webhooks."""

    TRANSMITTED = "transmitted"
    ERROR = "error"
    DISPENSED = "dispensed"
    CANCELLED = "cancelled"
    RENEWAL_REQUESTED = "renewal-requested"


@dataclass(frozen=True)
class Notice:
    notice_id: str  # the vendor's event id: a repeat is applied once
    kind: NoticeKind
    prescription_id: str  # ours (the vendor's external id)
    at: datetime
    reason: str = ""  # an error's, in the network's words (never the patient's details)
    fill_id: str = ""
    quantity: int = 0
    request_id: str = ""


@dataclass(frozen=True)
class Prescription:
    """Written in a visit (`appointment_id` and the visit's version) or from a case of photos
    (`case_id`), never both: that is its encounter."""

    prescription_id: str
    appointment_id: str | None
    visit_version: int | None
    patient_id: str
    provider_id: str
    patient_state: str
    directions: Directions
    drug_name: str
    schedule: str | None
    pharmacy: Pharmacy
    written_at: datetime
    status: PrescriptionStatus = PrescriptionStatus.SENDING
    version: int = 1
    updated_at: datetime | None = None
    acknowledged: tuple[str, ...] = ()  # the warnings and vendor alerts the prescriber acknowledged
    vendor_prescription_id: str = ""
    vendor_order_id: str = ""
    failure_reason: str = ""
    fills: tuple[Fill, ...] = ()
    renewals: tuple[RenewalRequest, ...] = ()
    renews: str | None = None  # the prescription this one renews (MedicationRequest.priorPrescription)
    notices: tuple[str, ...] = ()
    case_id: str | None = None

    def __post_init__(self) -> None:
        if (self.appointment_id is None) == (self.case_id is None):
            raise ValueError("a prescription is written in a visit or from a case of photos, one of the two")

    @property
    def dispensed_quantity(self) -> int:
        return sum(f.quantity for f in self.fills)

    @property
    def fills_left(self) -> int:
        return max(0, 1 + self.directions.refills - len(self.fills))

    def _next(self, at: datetime, **changes: object) -> Prescription:
        return replace(self, version=self.version + 1, updated_at=at, **changes)  # type: ignore[arg-type]

    def submitted(self, vendor_prescription_id: str, vendor_order_id: str, at: datetime) -> Prescription:
        """The vendor took it: its ids kept. The network's news may have come first (its webhook
        can beat the answer to the send): then the status it brought stands."""
        if self.vendor_order_id:
            raise PrescriptionRuleError("prescription-not-sending", "This prescription was sent already.")
        status = PrescriptionStatus.SUBMITTED if self.status is PrescriptionStatus.SENDING else self.status
        return self._next(
            at, status=status, vendor_prescription_id=vendor_prescription_id, vendor_order_id=vendor_order_id
        )

    def refused_by_network(self, code: str, at: datetime) -> Prescription:
        """The vendor refused it outright (nothing reached a pharmacy): failed, with its code."""
        return self._next(at, status=PrescriptionStatus.FAILED, failure_reason=code)

    def cancel_requested(self, at: datetime) -> Prescription:
        """The prescriber asks the pharmacy to cancel it: refused once it is dispensed (the
        medicine has left the pharmacy), and where there is nothing to cancel."""
        if self.status is PrescriptionStatus.DISPENSED:
            raise PrescriptionRuleError(
                "prescription-dispensed",
                "The pharmacy has dispensed this prescription: it can no longer be cancelled. "
                "Tell the patient and the pharmacy directly.",
            )
        if self.status in (PrescriptionStatus.CANCELLED, PrescriptionStatus.CANCEL_REQUESTED):
            raise PrescriptionRuleError("prescription-cancelled", "This prescription is cancelled already.")
        if self.status in (PrescriptionStatus.FAILED, PrescriptionStatus.SENDING):
            raise PrescriptionRuleError(
                "prescription-not-sent", "This prescription never reached a pharmacy: nothing to cancel."
            )
        return self._next(at, status=PrescriptionStatus.CANCEL_REQUESTED)

    def pending_renewal(self, request_id: str) -> RenewalRequest:
        found = next((r for r in self.renewals if r.request_id == request_id), None)
        if found is None:
            raise PrescriptionRuleError("no-such-renewal", "No such renewal request on this prescription.")
        if found.status is not RenewalStatus.PENDING:
            raise PrescriptionRuleError("renewal-answered", "This renewal request was answered already.")
        return found

    def renewal_answered(self, request_id: str, renewed_by: str | None, at: datetime) -> Prescription:
        """The prescriber's answer to the pharmacy's request: approved (`renewed_by`: the new
        prescription that continues this one) or denied (None)."""
        found = self.pending_renewal(request_id)
        answered = replace(
            found,
            status=RenewalStatus.APPROVED if renewed_by else RenewalStatus.DENIED,
            renewed_by=renewed_by,
        )
        return self._next(at, renewals=tuple(answered if r is found else r for r in self.renewals))

    def asked_to_cancel(self, at: datetime) -> Prescription:
        """The prescriber's request to cancel, kept where the network's news raced it: cancelled
        already (its confirmation came first) stays cancelled; otherwise as `cancel_requested`."""
        if self.status is PrescriptionStatus.CANCELLED:
            return self._next(at)
        return self.cancel_requested(at)

    def applied(self, notice: Notice) -> Prescription | None:
        """The prescription after the network's notice, or None where it changes nothing: a repeat,
        or news older than what is known (a transmission after the fill)."""
        if notice.notice_id in self.notices:
            return None
        status, kind = self.status, notice.kind
        changes: dict[str, object] = {}
        early = (PrescriptionStatus.SENDING, PrescriptionStatus.SUBMITTED)
        if kind is NoticeKind.TRANSMITTED and status in early:
            changes["status"] = PrescriptionStatus.TRANSMITTED
        elif kind is NoticeKind.ERROR and status in (*early, PrescriptionStatus.TRANSMITTED):
            changes |= {"status": PrescriptionStatus.FAILED, "failure_reason": notice.reason[:200]}
        elif kind is NoticeKind.DISPENSED and notice.fill_id not in {f.fill_id for f in self.fills}:
            if status is PrescriptionStatus.CANCELLED:
                return None  # a cancelled prescription's late fill is the pharmacy's to resolve
            changes |= {
                "status": PrescriptionStatus.DISPENSED,
                "fills": (*self.fills, Fill(notice.fill_id, notice.quantity, notice.at)),
            }
        elif kind is NoticeKind.CANCELLED and status is not PrescriptionStatus.DISPENSED:
            changes["status"] = PrescriptionStatus.CANCELLED
        elif kind is NoticeKind.RENEWAL_REQUESTED and notice.request_id not in {
            r.request_id for r in self.renewals
        }:
            changes["renewals"] = (*self.renewals, RenewalRequest(notice.request_id, notice.at))
        if not changes or (changes.get("status") is status and len(changes) == 1):
            return None
        return self._next(notice.at, notices=(*self.notices, notice.notice_id)[-NOTICES_KEPT:], **changes)


@dataclass(frozen=True)
class Screened:
    """The network's answer to a draft: the patient's id there (made now if they had none), its
    own alerts, and the pharmacy the draft names (None: not in its directory)."""

    vendor_patient_id: str
    alerts: list[dict[str, str]]
    pharmacy: Pharmacy | None


def check_directions(directions: Directions, schedule: str | None) -> None:
    """What the form must say, whatever the drug: refused with the field named."""
    if not directions.sig.strip():
        raise PrescriptionRuleError("sig-required", "Write the directions for the patient (the sig).")
    if schedule == "II" and directions.refills:
        raise PrescriptionRuleError(
            "refills-not-allowed", "A Schedule II prescription cannot be refilled (21 CFR 1306.12)."
        )
    if schedule in ("III", "IV", "V") and directions.refills > MAX_REFILLS_SCHEDULE_III_V:
        raise PrescriptionRuleError(
            "too-many-refills",
            f"A Schedule {schedule} prescription has at most {MAX_REFILLS_SCHEDULE_III_V} refills "
            "(21 CFR 1306.22).",
        )
