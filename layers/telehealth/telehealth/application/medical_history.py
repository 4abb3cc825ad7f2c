"""A patient's allergies and medicines: the patient tells them before a visit (the portal), the
visit's clinician reconciles them in it (the dashboard). Each change reaches the record as
AllergyIntolerance and MedicationStatement resources, and every read and write is audited."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import NotFoundError
from telehealth.application.callers import Caller
from telehealth.domain.appointments import Actor, AppointmentRuleError
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.medical_history import (
    Allergy,
    Author,
    Coding,
    EntryStatus,
    MedicalHistory,
    MedicationUse,
    Reconciliation,
    Severity,
)
from telehealth.fhir import medical_history as record
from telehealth.fhir import projection
from telehealth.ports import IdempotencyClaim, OutboxEntry, VisitFiles
from telehealth.terminology import drugs


class MedicalHistoryRecords(Protocol):
    def history(self, patient_id: str) -> MedicalHistory: ...

    def save_history(
        self, history: MedicalHistory, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


class Clinicians(Protocol):
    def provider_for_user(self, user_sub: str) -> str | None: ...


@dataclass(frozen=True)
class EntryIn:
    """One allergy or medicine as a form sends it: `entry_id` None for a new one; `code` an
    RxNorm or MED-RT code from the clinic's drug list (its system named), or None for words alone."""

    entry_id: str | None
    text: str
    system: str | None = None
    code: str | None = None
    status: EntryStatus = EntryStatus.ACTIVE
    reaction: str = ""  # allergies
    severity: Severity | None = None  # allergies
    dose: str = ""  # medicines


class MedicalHistoryDesk:
    def __init__(
        self,
        store: MedicalHistoryRecords,
        files: VisitFiles,
        clinicians: Clinicians,
        clock: Callable[[], datetime],
        trail: AuditTrail,
    ) -> None:
        self.store, self.files, self.clinicians, self.clock, self.trail = (
            store,
            files,
            clinicians,
            clock,
            trail,
        )

    # --- the patient ------------------------------------------------------------------------------

    def mine(self, caller: Caller) -> MedicalHistory:
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PATIENT)
            return self._read(caller, caller.subject)

    def tell(
        self, caller: Caller, allergies: Sequence[EntryIn], medications: Sequence[EntryIn], on_version: int
    ) -> MedicalHistory:
        with self.trail.request(caller, Interaction.UPDATE):
            caller.require(Actor.PATIENT)
            history = self.store.history(caller.subject)
            return self._change(caller, history, allergies, medications, on_version, Author.PATIENT, None)

    # --- the visit's clinician --------------------------------------------------------------------

    def for_visit(self, caller: Caller, appointment_id: str) -> MedicalHistory:
        with self.trail.request(caller, Interaction.READ, appointment_id):
            patient_id, _, _ = self._visit(caller, appointment_id)
            return self._read(caller, patient_id)

    def reconcile(
        self,
        caller: Caller,
        appointment_id: str,
        allergies: Sequence[EntryIn],
        medications: Sequence[EntryIn],
        on_version: int,
    ) -> MedicalHistory:
        with self.trail.request(caller, Interaction.UPDATE, appointment_id):
            patient_id, provider_id, visit_version = self._visit(caller, appointment_id)
            history = self.store.history(patient_id)
            done = Reconciliation(provider_id, appointment_id, visit_version, self.clock())
            return self._change(caller, history, allergies, medications, on_version, Author.CLINICIAN, done)

    # --- shared -----------------------------------------------------------------------------------

    def _read(self, caller: Caller, patient_id: str) -> MedicalHistory:
        history = self.store.history(patient_id)
        read = list(record.record(history)) or [f"Patient/{patient_id}"]
        self.store.record(self.trail.entries(self.trail.agent(caller), Interaction.READ, read, self.clock()))
        return history

    def _visit(self, caller: Caller, appointment_id: str) -> tuple[str, str, int | None]:
        """The visit's patient, its provider (the caller) and the visit's version (None before
        the patient checked in: no visit, no Encounter yet)."""
        caller.require(Actor.PROVIDER)
        own = self.clinicians.provider_for_user(caller.subject)
        file = self.files.visit_file(appointment_id)
        if own is None or file.appointment is None or file.appointment.provider_id != own:
            raise NotFoundError("no such visit")
        return file.appointment.patient_id, own, max(file.visits) if file.visits else None

    def _change(
        self,
        caller: Caller,
        history: MedicalHistory,
        allergies: Sequence[EntryIn],
        medications: Sequence[EntryIn],
        on_version: int,
        by: Author,
        reconciliation: Reconciliation | None,
    ) -> MedicalHistory:
        now = self.clock()
        known_allergies = {a.entry_id for a in history.allergies}
        known_medications = {m.entry_id for m in history.medications}
        changed = history.changed(
            [self._allergy(e, known_allergies, now) for e in allergies],
            [self._medication(e, known_medications, now) for e in medications],
            by=by,
            by_id=reconciliation.provider_id if reconciliation else history.patient_id,
            at=now,
            on_version=on_version,
            reconciliation=reconciliation,
        )
        before, after = record.record(history), record.record(changed)
        outbox = [OutboxEntry(after[ref], changed.version) for ref in projection.changed(before, after)]
        touched = [entry.reference for entry in outbox]
        created = [ref for ref in touched if ref not in before]
        updated = [ref for ref in touched if ref in before]
        agent = self.trail.agent(caller)
        for interaction, refs in ((Interaction.CREATE, created), (Interaction.UPDATE, updated)):
            if refs:
                outbox += self.trail.entries(agent, interaction, refs, now)
        if not touched:  # nothing changed: still a write the caller made, audited as such
            outbox += self.trail.entries(agent, Interaction.UPDATE, [f"Patient/{history.patient_id}"], now)
        self.store.save_history(changed, outbox)
        return changed

    def _allergy(self, entry: EntryIn, known: set[str], now: datetime) -> Allergy:
        return Allergy(
            self._entry_id(entry, known, now),
            self._coding(entry, allergy=True),
            entry.text.strip(),
            entry.reaction.strip(),
            entry.severity,
            entry.status,
        )

    def _medication(self, entry: EntryIn, known: set[str], now: datetime) -> MedicationUse:
        return MedicationUse(
            self._entry_id(entry, known, now),
            self._coding(entry, allergy=False),
            entry.text.strip(),
            entry.dose.strip(),
            entry.status,
        )

    @staticmethod
    def _entry_id(entry: EntryIn, known: set[str], now: datetime) -> str:
        if entry.entry_id is None:
            return new_id(now)[-10:].lower()
        if entry.entry_id not in known:
            raise NotFoundError("no such entry")
        return entry.entry_id

    @staticmethod
    def _coding(entry: EntryIn, *, allergy: bool) -> Coding | None:
        """The code as the clinic's drug list has it (its display, not the form's)."""
        if entry.code is None:
            return None
        if allergy:
            found = drugs.substance(entry.system or "", entry.code)
            if found is None:
                raise AppointmentRuleError(
                    "unknown-substance", "An allergy's code is from the clinic's drug list."
                )
            return Coding(found.system, found.code, found.display)
        drug = drugs.drug(entry.code) if entry.system in (None, drugs.RXNORM) else None
        if drug is None:
            raise AppointmentRuleError("unknown-drug", "A medicine's code is from the clinic's drug list.")
        return Coding(drugs.RXNORM, drug.rxcui, drug.name)
