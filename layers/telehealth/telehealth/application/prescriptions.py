"""Prescribing in a visit: the visit's provider writes a prescription, the checks run (licensure in
the state the patient checked in from, allergies by ingredient and class, duplicate therapy, the
controlled-substance rules of the clinic's settings, and the network's own interaction and dose
alerts), and the prescription goes to the patient's pharmacy through the e-prescribing network.
What the network sends back (transmitted, an error, a fill, a cancellation, a renewal request)
moves it on, and each step reaches the record through the outbox (`fhir/prescriptions.py`).

A send is idempotent by its key: the prescription is kept (status `sending`) under the key before
the network is asked, so a retry after any failure finds it and resumes, never sends a second.
The patient reads their prescriptions and their status; every read and write is audited.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import Idempotency, NotFoundError, announce, claim
from telehealth.application.callers import Caller
from telehealth.application.photo_cases import sent_case, treated_in
from telehealth.domain.appointments import Actor
from telehealth.domain.clinic_settings import ClinicSettings
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.licensure import LicensurePolicy
from telehealth.domain.medical_history import EntryStatus, MedicalHistory
from telehealth.domain.photo_cases import PhotoCase
from telehealth.domain.prescribing import (
    MAX_DEA_REGISTRATIONS,
    DeaRegistration,
    DrugFacts,
    Finding,
    KnownAllergy,
    MedicineTaken,
    Modality,
    Severity,
    TelemedicineFacts,
    review,
)
from telehealth.domain.prescriptions import (
    LINK_WINDOW,
    Directions,
    Notice,
    NoticeKind,
    PendingLink,
    Pharmacy,
    PrescriberAccount,
    Prescription,
    PrescriptionRefusedError,
    PrescriptionRuleError,
    PrescriptionStatus,
    Screened,
    check_directions,
)
from telehealth.errors import StaleWriteError
from telehealth.events import (
    PrescriptionCancelled,
    PrescriptionDispensed,
    PrescriptionEvent,
    PrescriptionFailed,
    PrescriptionRenewalRequested,
    PrescriptionSent,
)
from telehealth.fhir import audit, projection
from telehealth.fhir import prescriptions as record
from telehealth.fhir.photo_cases import case_reference
from telehealth.ports import (
    IdempotencyClaim,
    OutboxEntry,
    PrescribingRefusedError,
    PrescribingUnavailableError,
    ProviderRecord,
    VisitFiles,
)
from telehealth.terminology import drugs

NETWORK = "photon"  # the network's agent in the audit trail: Device/client-photon
_LIVE = (
    PrescriptionStatus.SUBMITTED,
    PrescriptionStatus.TRANSMITTED,
    PrescriptionStatus.DISPENSED,
    PrescriptionStatus.CANCEL_REQUESTED,
)


class PrescriptionRecords(Protocol):
    def prescription(self, prescription_id: str) -> Prescription | None: ...

    def for_patient(self, patient_id: str) -> list[Prescription]: ...

    def for_visit(self, appointment_id: str) -> list[Prescription]: ...

    def for_case(self, case_id: str) -> list[Prescription]: ...

    def begin(self, rx: Prescription, send_key: str, outbox: list[OutboxEntry]) -> Prescription: ...

    def save(
        self,
        rx: Prescription,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None = None,
        *,
        remember: tuple[str, Pharmacy] | None = None,
    ) -> None: ...

    def prescribing_link(self, patient_id: str) -> tuple[str | None, Pharmacy | None]: ...

    def remember(self, patient_id: str, vendor_patient_id: str, pharmacy: Pharmacy | None) -> None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...

    def dea_registrations(self, provider_id: str) -> tuple[tuple[DeaRegistration, ...], int]: ...

    def save_dea_registrations(
        self,
        provider_id: str,
        registrations: tuple[DeaRegistration, ...],
        version: int,
        outbox: list[OutboxEntry],
    ) -> None: ...

    def prescriber_account(self, provider_id: str) -> PrescriberAccount | None: ...

    def save_prescriber_account(self, account: PrescriberAccount, outbox: list[OutboxEntry]) -> None: ...

    def forget_prescriber_account(self, account: PrescriberAccount, outbox: list[OutboxEntry]) -> None: ...

    def begin_link(self, state: str, pending: PendingLink) -> None: ...

    def take_link(self, state: str) -> PendingLink | None: ...


class PrescribingNetwork(Protocol):
    """The e-prescribing network, through its vendor (`adapters/photon.py`)."""

    def pharmacies(self, name: str, state: str) -> list[Pharmacy]: ...

    def screen(self, patient: Any, directions: Directions, pharmacy_id: str) -> Screened: ...

    def send(
        self,
        prescription_id: str,
        prescriber: PrescriberAccount,
        patient: Any,
        directions: Directions,
        pharmacy_id: str,
        *,
        resume: bool,
    ) -> tuple[str, str, str]: ...

    def cancel(self, vendor_order_id: str) -> None: ...

    def notice(self, body: str, signature: str) -> Notice | None: ...

    def authorize_url(self, state: str, code_challenge: str, redirect_uri: str) -> str: ...

    def link(self, provider_id: str, code: str, code_verifier: str, redirect_uri: str) -> str: ...

    def unlink(self, account: PrescriberAccount) -> None: ...


class PrescribingTeam(Protocol):
    def provider_for_user(self, user_sub: str) -> str | None: ...

    def provider(self, provider_id: str) -> ProviderRecord | None: ...

    def patient(self, patient_id: str) -> projection.PatientProfile | None: ...


class HistoryReader(Protocol):
    def history(self, patient_id: str) -> MedicalHistory: ...


class CaseReader(Protocol):
    """The cases of photos (tenants with triage on): a prescription may be written from one."""

    def case_by_id(self, case_id: str) -> PhotoCase | None: ...


def _already_linked() -> PrescriptionRuleError:
    return PrescriptionRuleError(
        "already-linked", "Your Photon account is linked already: unlink it first to link another."
    )


# A change to a prescription, as `Prescribing._kept` writes it: the prescription after it, its
# outbox entries, and the idempotency claim that keeps its answer (if the route has one).
Change = tuple[Prescription, list[OutboxEntry], IdempotencyClaim | None]


@dataclass(frozen=True)
class PrescriptionDraft:
    directions: Directions
    pharmacy_id: str
    acknowledged: Sequence[str] = ()  # the codes of the warnings and alerts the prescriber read
    prior_in_person: bool = False  # attested: they examined the patient in person before
    pdmp_checked_on: date | None = None  # attested: the day they checked the state's PDMP


@dataclass(frozen=True)
class Screening:
    """Everything the checks found: refusals stop the send; warnings and the network's alerts
    are sent only once acknowledged."""

    findings: tuple[Finding, ...]
    alerts: tuple[dict[str, str], ...]

    @property
    def to_acknowledge(self) -> tuple[str, ...]:
        return (
            *(f.code for f in self.findings if f.severity is Severity.WARNING),
            *(a["code"] for a in self.alerts),
        )


@dataclass(frozen=True)
class Encounter:
    """Where a prescription is written: a visit the prescriber admitted the patient to, or a case
    of photos; whose it is, the state that governs it, and by what means the prescriber saw them."""

    patient_id: str
    state: str
    modality: Modality
    appointment_id: str | None = None
    visit_version: int | None = None
    case_id: str | None = None


@dataclass(frozen=True)
class Checked:
    """A draft as the checks left it: what they found, the prescription it would be, the patient
    as the network needs them, and the prescriber's account there (None: not linked)."""

    screening: Screening
    rx: Prescription
    patient: object
    account: PrescriberAccount | None


@dataclass(frozen=True)
class VisitPrescriptions:
    prescriptions: list[Prescription]
    patient_state: str  # where the patient checked in from: the pharmacy is looked for there
    pharmacy: Pharmacy | None  # the one their last prescription went to


def drug_facts(drug: drugs.Drug) -> DrugFacts:
    return DrugFacts(
        drug.rxcui,
        drug.name,
        frozenset(i.rxcui for i in drug.ingredients),
        frozenset(drug.class_ids),
        drug.schedule,
        drug.opioid_use_disorder,
    )


class Prescribing:
    def __init__(
        self,
        store: PrescriptionRecords,
        network: PrescribingNetwork,
        histories: HistoryReader,
        files: VisitFiles,
        team: PrescribingTeam,
        settings: Callable[[], ClinicSettings],
        clock: Callable[[], datetime],
        trail: AuditTrail,
        wire_patient: Callable[[projection.PatientProfile, str | None], object],
        link_return: str = "",
        cases: CaseReader | None = None,
    ) -> None:
        """`link_return`: where the network's sign-in sends a prescriber back (the dashboard);
        `cases`: the cases of photos, where the tenant has triage on (None: it has not)."""
        self.store, self.network, self.histories, self.files, self.team = (
            store,
            network,
            histories,
            files,
            team,
        )
        self.settings, self.clock, self.trail, self.wire_patient = settings, clock, trail, wire_patient
        self.link_return = link_return
        self.cases = cases

    # --- the pharmacy directory --------------------------------------------------------------------

    def pharmacies(self, caller: Caller, name: str, state: str) -> list[Pharmacy]:
        caller.require(Actor.PROVIDER, Actor.PATIENT)
        return self.network.pharmacies(name, state)

    # --- writing and sending ---------------------------------------------------------------------

    def screen(self, caller: Caller, appointment_id: str, draft: PrescriptionDraft) -> Screening:
        """The checks, as the form shows them while the prescriber writes (nothing is kept)."""
        with self.trail.request(caller, Interaction.READ, appointment_id):
            own = self._provider(caller)
            return self._checked(self._seen(appointment_id, own), own, draft).screening

    def send(self, caller: Caller, appointment_id: str, draft: PrescriptionDraft, key: str) -> Prescription:
        """Checked, kept under the send's key, then handed to the network."""
        with self.trail.request(caller, Interaction.CREATE, appointment_id):
            own = self._provider(caller)
            return self._send(caller, own, self._seen(appointment_id, own), draft, f"{caller.subject}\n{key}")

    def screen_for_case(self, caller: Caller, case_id: str, draft: PrescriptionDraft) -> Screening:
        """`screen`, for a prescription written from a case of photos."""
        with self.trail.request(caller, Interaction.READ) as named:
            own = self._provider(caller)
            return self._checked(self._case_seen(case_id, own, named), own, draft).screening

    def send_for_case(self, caller: Caller, case_id: str, draft: PrescriptionDraft, key: str) -> Prescription:
        """`send`, for a prescription written from a case of photos."""
        with self.trail.request(caller, Interaction.CREATE) as named:
            own = self._provider(caller)
            encounter = self._case_seen(case_id, own, named)
            return self._send(caller, own, encounter, draft, f"{caller.subject}\n{key}")

    def _send(
        self,
        caller: Caller,
        own: str,
        encounter: Encounter,
        draft: PrescriptionDraft,
        key: str,
        renews: str | None = None,
    ) -> Prescription:
        # The key is the caller's for this encounter: one reused elsewhere is another send.
        where = encounter.appointment_id or f"case {encounter.case_id}"
        send_key = hashlib.sha256(f"{where}\n{key}".encode()).hexdigest()
        checked = self._checked(encounter, own, draft, renews)
        screening, rx = checked.screening, checked.rx
        if screening.findings and any(f.severity is Severity.REFUSAL for f in screening.findings):
            raise PrescriptionRefusedError(screening.findings, ())
        missing = tuple(c for c in screening.to_acknowledge if c not in draft.acknowledged)
        if missing:
            raise PrescriptionRefusedError(screening.findings, missing)
        rx = replace(rx, acknowledged=tuple(screening.to_acknowledge), renews=renews)
        kept = self.store.begin(rx, send_key, [])
        if kept.status is not PrescriptionStatus.SENDING:
            return kept  # the first attempt finished: the same prescription
        assert checked.account is not None  # not linked is a refusal, above
        return self._hand_over(caller, kept, checked.patient, checked.account, resume=kept is not rx)

    def answer_renewal(
        self,
        caller: Caller,
        prescription_id: str,
        request_id: str,
        approve: bool,
        acknowledged: Sequence[str] = (),
    ) -> tuple[Prescription, Prescription | None]:
        """The prescriber's answer to a pharmacy's renewal request: the prescription as answered,
        and, approved, the new one. Approved: the same directions to the same pharmacy, checked
        again as any prescription is, sent once per request (a retry finds it), continuing the old
        one. Denied: recorded (Photon documents no renewal answer to send: the pharmacy learns it
        from its own request going unanswered, or the clinic calls)."""
        with self.trail.request(caller, Interaction.UPDATE):
            own = self._provider(caller)
            rx = self._own_prescription(prescription_id, own)
            rx.pending_renewal(request_id)
            renewed: Prescription | None = None
            if approve:
                draft = PrescriptionDraft(rx.directions, rx.pharmacy.pharmacy_id, tuple(acknowledged))
                key = f"{caller.subject}\nrenewal\n{request_id}"
                # A prescriber renews their own prescription, even from a case a colleague answered since.
                encounter = (
                    self._case_seen(rx.case_id, own, renewing=True)
                    if rx.case_id is not None
                    else self._seen(rx.appointment_id or "", own)
                )
                renewed = self._send(caller, own, encounter, draft, key, renews=rx.prescription_id)
            renewed_by = renewed.prescription_id if renewed else None

            def answered(current: Prescription) -> Change:
                now = self.clock()
                ref = f"MedicationRequest/{current.prescription_id.lower()}"
                entry = self.trail.entry(self.trail.agent(caller), Interaction.UPDATE, [ref], now)
                return current.renewal_answered(request_id, renewed_by, now), [entry], None

            return self._kept(rx, answered), renewed

    def _hand_over(
        self,
        caller: Caller,
        rx: Prescription,
        vendor_patient: object,
        account: PrescriberAccount,
        *,
        resume: bool,
    ) -> Prescription:
        try:
            vendor_patient_id, vendor_rx, vendor_order = self.network.send(
                rx.prescription_id,
                account,
                vendor_patient,
                rx.directions,
                rx.pharmacy.pharmacy_id,
                resume=resume,
            )
        except PrescribingRefusedError as error:
            self.store.save(rx.refused_by_network(error.code, self.clock()), [])
            raise PrescriptionRuleError(
                "prescription-refused-by-network",
                f"The e-prescribing network refused it ({error.code}); nothing reached a pharmacy.",
            ) from error

        def submitted(current: Prescription) -> Change:
            now = self.clock()
            made = current.submitted(vendor_rx, vendor_order, now)
            resources = record.record(made)
            outbox = [OutboxEntry(r, made.version) for r in resources.values()]
            outbox.append(
                self.trail.entry(self.trail.agent(caller), Interaction.CREATE, list(resources), now)
            )
            return made, outbox, None

        return self._kept(rx, submitted, remember=(vendor_patient_id, rx.pharmacy))

    def cancel(
        self, caller: Caller, prescription_id: str, idempotency: Idempotency | None = None
    ) -> Prescription:
        """Asked of the pharmacy through the network; refused once the medicine is dispensed."""
        with self.trail.request(caller, Interaction.UPDATE):
            rx = self._own_prescription(prescription_id, self._provider(caller))
            rx.cancel_requested(self.clock())  # refused before the network is asked
            try:
                self.network.cancel(rx.vendor_order_id)
            except PrescribingRefusedError as error:
                # The pharmacy filled it before its news reached us: refused as a dispensed one.
                raise PrescriptionRuleError(
                    "prescription-dispensed",
                    f"The pharmacy could not cancel it ({error.code}): it may have been dispensed.",
                ) from error

            def asked(current: Prescription) -> Change:
                now = self.clock()
                ref = f"MedicationRequest/{current.prescription_id.lower()}"
                entry = self.trail.entry(self.trail.agent(caller), Interaction.UPDATE, [ref], now)
                # Its confirmation may have come first: then it stays cancelled.
                changed = current.asked_to_cancel(now)
                return changed, [entry], claim(idempotency, changed)

            return self._kept(rx, asked)

    def _own_prescription(self, prescription_id: str, own: str) -> Prescription:
        rx = self.store.prescription(prescription_id)
        if rx is None or rx.provider_id != own:
            raise NotFoundError("no such prescription")
        return rx

    def _kept(
        self,
        rx: Prescription,
        change: Callable[[Prescription], Change],
        *,
        remember: tuple[str, Pharmacy] | None = None,
    ) -> Prescription:
        """`change` made to the prescription and kept. The network's webhooks move it on at any
        moment (one can beat the answer to the very call that caused it): a write that lost to one
        reads the prescription again and makes the change on what the news made of it."""
        for _ in range(3):
            changed, outbox, kept_answer = change(rx)
            try:
                self.store.save(changed, outbox, kept_answer, remember=remember)
                return changed
            except StaleWriteError:
                fresh = self.store.prescription(rx.prescription_id)
                if fresh is None:
                    raise
                rx = fresh
        raise StaleWriteError("the prescription kept changing while it was being written")

    # --- what the network says ------------------------------------------------------------------------

    def receive(self, body: str, signature: str) -> bool:
        """A webhook of the network's: its signature checked (by the prescribing function), its
        news applied. False: it concerns nothing here (an event the platform does not read, or a
        prescription of no one's here)."""
        notice = self.network.notice(body, signature)
        return notice is not None and self.apply(notice) is not None

    def apply(self, notice: Notice) -> Prescription | None:
        """The network's news of a prescription; None when it changes nothing (a repeat, a notice
        older than what is known, or a prescription this clinic does not have)."""
        rx = self.store.prescription(notice.prescription_id)
        if rx is None:
            return None
        after = rx.applied(notice)
        if after is None:
            return None
        before_record, after_record = record.record(rx), record.record(after)
        changed = projection.changed(before_record, after_record)
        outbox = [OutboxEntry(after_record[ref], after.version) for ref in changed]
        agent = self.trail.kept(audit.client_agent(NETWORK))
        now = self.clock()
        outbox.append(
            self.trail.entry(
                agent, Interaction.UPDATE, [f"MedicationRequest/{rx.prescription_id.lower()}"], now
            )
        )
        event = self._event(rx, after, notice)
        if event is not None:
            outbox.append(announce(event, now))
        self.store.save(after, outbox)
        return after

    @staticmethod
    def _event(before: Prescription, after: Prescription, notice: Notice) -> PrescriptionEvent | None:
        kind = notice.kind
        fill = len(after.fills)
        if kind is NoticeKind.DISPENSED and fill > len(before.fills):
            return PrescriptionDispensed(
                prescription_id=after.prescription_id,
                appointment_id=after.appointment_id,
                case_id=after.case_id,
                patient_id=after.patient_id,
                version=after.version,
                fill=fill,
            )
        chosen: type[PrescriptionEvent] | None = None
        if kind is NoticeKind.TRANSMITTED and after.status is PrescriptionStatus.TRANSMITTED:
            chosen = PrescriptionSent
        elif kind is NoticeKind.ERROR and after.status is PrescriptionStatus.FAILED:
            chosen = PrescriptionFailed
        elif kind is NoticeKind.CANCELLED and after.status is PrescriptionStatus.CANCELLED:
            chosen = PrescriptionCancelled
        elif kind is NoticeKind.RENEWAL_REQUESTED and len(after.renewals) > len(before.renewals):
            chosen = PrescriptionRenewalRequested
        if chosen is None:
            return None
        return chosen(
            prescription_id=after.prescription_id,
            appointment_id=after.appointment_id,
            case_id=after.case_id,
            patient_id=after.patient_id,
            version=after.version,
        )

    # --- reading -------------------------------------------------------------------------------------------

    def for_visit(self, caller: Caller, appointment_id: str) -> VisitPrescriptions:
        """The visit's prescriptions for its provider, with what the form starts from: the state
        the patient checked in from and the pharmacy they last used."""
        with self.trail.request(caller, Interaction.READ, appointment_id):
            own = self._provider(caller)
            file = self.files.visit_file(appointment_id)
            appointment = file.appointment
            if appointment is None or appointment.provider_id != own:
                raise NotFoundError("no such visit")
            check_in = file.check_ins.get(appointment.version)
            found = self.store.for_visit(appointment_id)
            self._audit_read(caller, found)
            return VisitPrescriptions(
                found,
                check_in.state if check_in else appointment.patient_state,
                self.store.prescribing_link(appointment.patient_id)[1],
            )

    def for_case(self, caller: Caller, case_id: str) -> VisitPrescriptions:
        """The prescriptions written from a case of photos, for the clinic's providers (any of them
        reads a case waiting in the queue), with what the form starts from: the case's state and
        the pharmacy the patient last used."""
        with self.trail.request(caller, Interaction.READ) as named:
            self._provider(caller)
            case = self._submitted_case(case_id, named)
            found = self.store.for_case(case_id)
            self._audit_read(caller, found)
            return VisitPrescriptions(
                found, self._case_state(case) or "", self.store.prescribing_link(case.patient_id)[1]
            )

    def mine(self, caller: Caller) -> list[Prescription]:
        """A patient's prescriptions, newest first: their status, for the portal."""
        with self.trail.request(caller, Interaction.SEARCH):
            caller.require(Actor.PATIENT)
            found = [
                rx
                for rx in self.store.for_patient(caller.subject)
                if rx.status is not PrescriptionStatus.SENDING
            ]
            self._audit_read(caller, found)
            return found

    def _audit_read(self, caller: Caller, found: list[Prescription]) -> None:
        refs = [f"MedicationRequest/{rx.prescription_id.lower()}" for rx in found if rx.vendor_order_id]
        if refs:  # nothing of the record was read where there is none
            self.store.record(
                self.trail.entries(self.trail.agent(caller), Interaction.READ, refs, self.clock())
            )

    # --- a prescriber's DEA registrations (the clinic's admins keep them) ---------------------------

    def dea_registrations(self, caller: Caller, provider_id: str) -> tuple[tuple[DeaRegistration, ...], int]:
        with self.trail.request(caller, Interaction.READ):
            self._admin_or_self(caller, provider_id)
            return self.store.dea_registrations(provider_id)

    def set_dea_registrations(
        self, caller: Caller, provider_id: str, registrations: Sequence[DeaRegistration], version: int
    ) -> tuple[tuple[DeaRegistration, ...], int]:
        """The prescriber's registrations as the admin lists them, on the version read (a stale
        one is a 409): what the controlled-substance checks read. Audited."""
        with self.trail.request(caller, Interaction.UPDATE):
            from telehealth.application.clinic_admin import ClinicAdmin

            ClinicAdmin.require_admin(caller)
            if self.team.provider(provider_id) is None:
                raise NotFoundError("no such provider")
            if len(registrations) > MAX_DEA_REGISTRATIONS or len({r.state for r in registrations}) != len(
                registrations
            ):
                raise PrescriptionRuleError(
                    "dea-registrations", f"One registration per state, at most {MAX_DEA_REGISTRATIONS}."
                )
            kept = tuple(sorted(registrations, key=lambda r: r.state))
            entry = self.trail.entry(
                self.trail.agent(caller), Interaction.UPDATE, [f"Practitioner/{provider_id}"], self.clock()
            )
            self.store.save_dea_registrations(provider_id, kept, version + 1, [entry])
            return kept, version + 1

    def _admin_or_self(self, caller: Caller, provider_id: str) -> None:
        from telehealth.application.clinic_admin import ClinicAdmin

        if caller.actor is Actor.PROVIDER and self.team.provider_for_user(caller.subject) == provider_id:
            return
        ClinicAdmin.require_admin(caller)

    # --- the prescriber's account at the network -----------------------------------------------------

    def prescriber_account(self, caller: Caller) -> PrescriberAccount | None:
        """The calling provider's linked account (None: not linked)."""
        with self.trail.request(caller, Interaction.READ):
            return self.store.prescriber_account(self._provider(caller))

    def start_link(self, caller: Caller) -> tuple[str, str]:
        """Where the provider signs in at the network to link their account, and the sign-in's
        state: authorization code with PKCE, its verifier kept here until it comes back."""
        with self.trail.request(caller, Interaction.UPDATE):
            own = self._provider(caller)
            if self.store.prescriber_account(own) is not None:
                raise _already_linked()
            state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            self.store.begin_link(state, PendingLink(own, verifier, self.clock() + LINK_WINDOW))
            return self.network.authorize_url(state, challenge, self.link_return), state

    def complete_link(self, caller: Caller, state: str, code: str) -> PrescriberAccount:
        """The sign-in come back: its code exchanged (by the prescribing function) for the
        provider's credential, kept sealed. A state finishes one link, once, for its provider,
        within `LINK_WINDOW`. Audited."""
        with self.trail.request(caller, Interaction.UPDATE):
            own = self._provider(caller)
            pending = self.store.take_link(state)
            now = self.clock()
            if pending is None or pending.provider_id != own or pending.expires_at < now:
                raise PrescriptionRuleError(
                    "link-expired", "That sign-in at Photon expired or was already used: link again."
                )
            try:
                credential = self.network.link(own, code, pending.verifier, self.link_return)
            except PrescribingRefusedError as error:
                raise PrescriptionRuleError(
                    "link-refused", f"Photon did not accept that sign-in ({error.code}): link again."
                ) from error
            account = PrescriberAccount(own, credential, now)
            try:
                # Only where none is linked: a second tab's link must not drop the first's unrevoked.
                self.store.save_prescriber_account(account, [self._account_entry(caller, own, now)])
            except StaleWriteError:
                with contextlib.suppress(PrescribingRefusedError, PrescribingUnavailableError):
                    self.network.unlink(account)  # this sign-in's access is not kept: revoked
                raise _already_linked() from None
            return account

    def unlink(self, caller: Caller) -> None:
        """The provider's account unlinked: its credential revoked at the network, and forgotten.
        Unlinking what is not linked changes nothing. Audited."""
        with self.trail.request(caller, Interaction.UPDATE):
            own = self._provider(caller)
            account = self.store.prescriber_account(own)
            if account is None:
                return
            try:
                self.network.unlink(account)
            except PrescribingRefusedError as error:
                # Revocation answers 200 for a token Photon no longer holds: a refusal is the
                # client's credentials or the seal, and the token may still be live. Kept.
                raise PrescriptionRuleError(
                    "unlink-refused",
                    f"Photon did not revoke the account's access ({error.code}); it stays linked. "
                    "Try again, or ask the clinic to revoke it in Photon's settings.",
                ) from error
            # Only the credential revoked is forgotten (not one linked again meanwhile).
            self.store.forget_prescriber_account(account, [self._account_entry(caller, own, self.clock())])

    def _account_entry(self, caller: Caller, provider_id: str, now: datetime) -> OutboxEntry:
        return self.trail.entry(
            self.trail.agent(caller), Interaction.UPDATE, [f"Practitioner/{provider_id}"], now
        )

    # --- checks --------------------------------------------------------------------------------------------

    def _provider(self, caller: Caller) -> str:
        caller.require(Actor.PROVIDER)
        own = self.team.provider_for_user(caller.subject)
        if own is None:
            raise NotFoundError("no such visit")
        return own

    def _seen(self, appointment_id: str, own: str) -> Encounter:
        """The provider's latest visit of the appointment, once they admitted the patient, and the
        state the patient checked in from."""
        file = self.files.visit_file(appointment_id)
        if file.appointment is None or file.appointment.provider_id != own:
            raise NotFoundError("no such visit")
        visit = file.visits[max(file.visits)][0] if file.visits else None
        if visit is None or visit.admitted_at is None:
            raise PrescriptionRuleError(
                "visit-not-seen", "A prescription is written once the patient has been admitted to the visit."
            )
        check_in = file.check_ins.get(visit.version)
        state = check_in.state if check_in else file.appointment.patient_state
        return Encounter(visit.patient_id, state, Modality.AUDIO_VIDEO, appointment_id, visit.version)

    def _case_seen(
        self, case_id: str, own: str, named: list[str] | None = None, *, renewing: bool = False
    ) -> Encounter:
        """A case of photos sent to the clinic and seen whole (no photo still being checked): any
        provider prescribes from it while it waits, and once it is answered, only the one who
        answered it (the answer and the prescription are one clinician's decision), though a
        prescriber renews their own. The state is the case's, where the patient lived when they
        sent it. `named`: the failed request's audit names the case once it is found."""
        case = self._submitted_case(case_id, named)
        if case.scanning:
            raise PrescriptionRuleError(
                "photos-scanning", "A photo is still being checked: prescribe once the case is shown whole."
            )
        if case.answer is not None and case.answer.provider_id != own and not renewing:
            raise PrescriptionRuleError(
                "case-answered-by-another",
                "Another clinician answered this case: a prescription from it is theirs to write.",
            )
        state = self._case_state(case)
        if state is None:
            raise PrescriptionRuleError(
                "not-licensed", "Where the patient lives is not known: ask them to add it to their details."
            )
        return Encounter(case.patient_id, state, Modality.STORE_AND_FORWARD, case_id=case.case_id)

    def _submitted_case(self, case_id: str, named: list[str] | None = None) -> PhotoCase:
        case = sent_case(self.cases.case_by_id(case_id) if self.cases is not None else None)
        if named is not None:
            named.append(case_reference(case_id))
        return case

    def _case_state(self, case: PhotoCase) -> str | None:
        return treated_in(case, self.team.patient)

    def _checked(
        self, encounter: Encounter, own: str, draft: PrescriptionDraft, renewing: str | None = None
    ) -> Checked:
        state = encounter.state
        drug = drugs.drug(draft.directions.rxcui)
        if drug is None:
            raise PrescriptionRuleError("unknown-drug", "Choose the drug from the clinic's drug list.")
        directions = replace(draft.directions, quantity_unit=draft.directions.quantity_unit or drug.dose_unit)
        check_directions(directions, drug.schedule)
        patient_id = encounter.patient_id
        # What the checks read does not depend on itself: read side by side, one round trip's wait.
        with ThreadPoolExecutor(max_workers=6, thread_name_prefix="rx-checks") as pool:
            profile_of = pool.submit(self.team.patient, patient_id)
            provider_of = pool.submit(self.team.provider, own)
            history_of = pool.submit(self.histories.history, patient_id)
            earlier_of = pool.submit(self.store.for_patient, patient_id)
            link_of = pool.submit(self.store.prescribing_link, patient_id)
            registrations_of = pool.submit(self.store.dea_registrations, own)
            account_of = pool.submit(self.store.prescriber_account, own)
        patient, provider, history = profile_of.result(), provider_of.result(), history_of.result()
        earlier, (vendor_patient_id, remembered) = earlier_of.result(), link_of.result()
        if patient is None or not patient.phone:
            raise PrescriptionRuleError(
                "patient-phone-required",
                "The pharmacy needs the patient's phone number: ask them to add it in the portal.",
            )
        now = self.clock()
        findings: list[Finding] = []
        account = account_of.result()
        if account is None:
            findings.append(
                Finding(
                    "prescriber-not-linked",
                    Severity.REFUSAL,
                    'Link your Photon account first ("Link your Photon account", below the prescriptions).',
                )
            )
        licensed = LicensurePolicy().check(provider.licenses if provider else (), state, now.date())
        if licensed is not None:
            findings.append(Finding("not-licensed", Severity.REFUSAL, f"{licensed.value} ({state})"))
        allergies = [
            KnownAllergy(a.text, a.substance.code if a.substance else None)
            for a in history.allergies
            if a.status is EntryStatus.ACTIVE
        ]
        taking = [
            MedicineTaken(m.text, drug_facts(d) if m.drug and (d := drugs.drug(m.drug.code)) else None)
            for m in history.medications
            if m.status is EntryStatus.ACTIVE
        ]
        taking += [
            MedicineTaken(rx.drug_name, drug_facts(d) if (d := drugs.drug(rx.directions.rxcui)) else None)
            for rx in earlier
            if rx.status in _LIVE and rx.fills_left > 0 and rx.prescription_id != renewing
        ]
        facts = TelemedicineFacts(
            on=now.date(),
            modality=encounter.modality,
            patient_state=state,
            days_supply=directions.days_supply,
            registrations=registrations_of.result()[0],
            prior_in_person=draft.prior_in_person,
            pdmp_checked_on=draft.pdmp_checked_on,
        )
        findings += review(
            drug_facts(drug),
            allergies=allergies,
            taking=taking,
            facts=facts,
            rules=self.settings().controlled_substances,
        ).findings
        wire = self.wire_patient(patient, vendor_patient_id)
        alerts: list[dict[str, str]] = []
        pharmacy = remembered if remembered and remembered.pharmacy_id == draft.pharmacy_id else None
        if not any(f.severity is Severity.REFUSAL for f in findings):
            screened = self.network.screen(wire, directions, draft.pharmacy_id)
            if screened.pharmacy is None:
                raise PrescriptionRuleError("unknown-pharmacy", "Choose the pharmacy from the directory.")
            alerts, pharmacy = screened.alerts, screened.pharmacy
            if screened.vendor_patient_id != vendor_patient_id:  # made now: kept for the next time
                self.store.remember(patient_id, screened.vendor_patient_id, remembered)
                wire = self.wire_patient(patient, screened.vendor_patient_id)
        rx = Prescription(
            prescription_id=new_id(now),
            appointment_id=encounter.appointment_id,
            visit_version=encounter.visit_version,
            case_id=encounter.case_id,
            patient_id=patient_id,
            provider_id=own,
            patient_state=state,
            directions=directions,
            drug_name=drug.name,
            schedule=drug.schedule,
            pharmacy=pharmacy or Pharmacy(draft.pharmacy_id, "", "", "", "", ""),  # refused: never sent
            written_at=now,
        )
        return Checked(Screening(tuple(findings), tuple(alerts)), rx, wire, account)
