"""A patient's allergies and the medicines they take: told by the patient before a visit, then
reconciled by the clinician in it (each entry confirmed, stopped, or struck as entered in error).
Nothing is deleted: an entry's status changes, so the record keeps what was believed and when.

Pure rules, no I/O. Coded entries carry RxNorm (an ingredient or a drug) or MED-RT (a class)
codes, from the clinic's drug list; an entry the list does not carry is kept in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import TypeVar

from telehealth.domain.appointments import AppointmentRuleError

MAX_ALLERGIES = 50
MAX_MEDICATIONS = 100
MAX_TEXT = 200


class Author(Enum):
    PATIENT = "patient"
    CLINICIAN = "clinician"


class EntryStatus(Enum):
    ACTIVE = "active"
    STOPPED = "stopped"  # an allergy no longer held (inactive, resolved), a medicine no longer taken
    ENTERED_IN_ERROR = "entered-in-error"  # a clinician's alone: it was never so


class Severity(Enum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str


@dataclass(frozen=True)
class Allergy:
    entry_id: str
    substance: Coding | None  # None: in words alone (`text`)
    text: str
    reaction: str = ""
    severity: Severity | None = None
    status: EntryStatus = EntryStatus.ACTIVE
    verified: bool = False  # a clinician confirmed it in a visit
    recorded_by: Author = Author.PATIENT
    recorder_id: str = ""  # the patient's id, or the clinician's provider id
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class MedicationUse:
    entry_id: str
    drug: Coding | None
    text: str
    dose: str = ""  # how they take it, in their words
    status: EntryStatus = EntryStatus.ACTIVE
    verified: bool = False
    recorded_by: Author = Author.PATIENT
    recorder_id: str = ""
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class Reconciliation:
    """Who last went through the lists with the patient, in which visit, and when
    (`visit_version`: the visit, once the patient checked in; None before, when there is no
    Encounter yet for the record to name)."""

    provider_id: str
    appointment_id: str
    visit_version: int | None
    at: datetime


@dataclass(frozen=True)
class MedicalHistory:
    patient_id: str
    allergies: tuple[Allergy, ...] = ()
    medications: tuple[MedicationUse, ...] = ()
    version: int = 0
    reconciled: Reconciliation | None = None

    @property
    def active_allergies(self) -> tuple[Allergy, ...]:
        return tuple(a for a in self.allergies if a.status is EntryStatus.ACTIVE)

    @property
    def active_medications(self) -> tuple[MedicationUse, ...]:
        return tuple(m for m in self.medications if m.status is EntryStatus.ACTIVE)

    def changed(
        self,
        allergies: Sequence[Allergy],
        medications: Sequence[MedicationUse],
        *,
        by: Author,
        by_id: str,
        at: datetime,
        on_version: int,
        reconciliation: Reconciliation | None = None,
    ) -> MedicalHistory:
        """The lists with these entries added or changed (an entry is named by its id; those not
        named stay as they are). A patient's change is unverified until a clinician sees it; a
        clinician's reconciliation verifies every entry it leaves active or stopped."""
        if on_version != self.version:
            raise AppointmentRuleError(
                "history-changed", "The allergies and medicines were changed elsewhere: reload them."
            )
        reconciling = reconciliation is not None
        kept_allergies = _merged(self.allergies, allergies, (by, by_id), at, reconciling)
        kept_medications = _merged(self.medications, medications, (by, by_id), at, reconciling)
        if len(kept_allergies) > MAX_ALLERGIES or len(kept_medications) > MAX_MEDICATIONS:
            raise AppointmentRuleError(
                "history-too-long", f"At most {MAX_ALLERGIES} allergies and {MAX_MEDICATIONS} medicines."
            )
        return replace(
            self,
            allergies=kept_allergies,
            medications=kept_medications,
            version=self.version + 1,
            reconciled=reconciliation or self.reconciled,
        )


E = TypeVar("E", Allergy, MedicationUse)


def _merged(
    before: tuple[E, ...], given: Sequence[E], who: tuple[Author, str], at: datetime, reconciling: bool
) -> tuple[E, ...]:
    by, by_id = who
    ids = [e.entry_id for e in given]
    if len(set(ids)) != len(ids):
        raise AppointmentRuleError("history-duplicate-entry", "Each entry is named once.")
    known = {e.entry_id: e for e in before}
    changes: dict[str, E] = {}
    for entry in given:
        if len(entry.text) > MAX_TEXT or not entry.text.strip():
            raise AppointmentRuleError("history-entry", f"Each entry is named in 1 to {MAX_TEXT} characters.")
        if entry.status is EntryStatus.ENTERED_IN_ERROR and by is not Author.CLINICIAN:
            raise AppointmentRuleError(
                "history-entered-in-error", "Only a clinician strikes an entry as entered in error."
            )
        old = known.get(entry.entry_id)
        same = old is not None and _same(old, entry)
        if same and not reconciling:
            continue  # unchanged: keeps who recorded it and whether a clinician verified it
        changes[entry.entry_id] = replace(
            entry,
            verified=reconciling and entry.status is not EntryStatus.ENTERED_IN_ERROR,
            recorded_by=old.recorded_by if same and old else by,
            recorder_id=old.recorder_id if same and old else by_id,
            recorded_at=old.recorded_at if same and old else at,
        )
    merged: list[E] = [changes.pop(e.entry_id, e) for e in before]
    merged.extend(changes.values())
    return tuple(merged)


def _same(a: Allergy | MedicationUse, b: Allergy | MedicationUse) -> bool:
    """The same facts, whoever recorded them and whether verified."""

    def facts(e: Allergy | MedicationUse) -> Allergy | MedicationUse:
        return replace(e, verified=False, recorded_by=Author.PATIENT, recorder_id="", recorded_at=None)

    return facts(a) == facts(b)
