"""The clinician's note of a visit: drafted as they type, signed, then amended or added to. The
signed note reaches the clinical record through the outbox (fhir/notes.py): a Composition, a
DocumentReference per signed version, a Condition per diagnosis.

Who reads it: the visit's provider, always (its author, drafts included); another provider of
the clinic once it is signed, when the patient is in their care (they have or had a visit with
them); the front desk its status and diagnosis codes alone (a claim needs them, the narrative it
does not). Patients read their after-visit summary, not the clinician's note. Every read and
every write is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import Idempotency, NotFoundError, announce, claim
from telehealth.application.callers import Caller
from telehealth.domain.appointments import Actor
from telehealth.domain.clinic_settings import ClinicSettings
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.notes import (
    SIGNED_AT_PLACEHOLDER,
    ClinicalNote,
    Diagnosis,
    FollowUp,
    NoteContent,
    render,
    render_addendum,
    rule,
)
from telehealth.domain.visits import Visit
from telehealth.domain.vitals import ReadingStatus
from telehealth.events import NoteAddendumAdded, NoteAmended, NoteSigned
from telehealth.fhir import notes as record
from telehealth.fhir import projection
from telehealth.fhir.projection import encounter_id
from telehealth.ports import NoteRecords, OutboxEntry, ProviderRecord, VisitFiles, VitalsStore
from telehealth.terminology import icd10cm

TITLE = "Visit note"


class CareTeam(Protocol):
    """Who a clinician is, their name, and the patients in their care."""

    def provider_for_user(self, user_sub: str) -> str | None: ...

    def provider(self, provider_id: str) -> ProviderRecord | None: ...

    def patients_of_provider(self, provider_id: str) -> frozenset[str]: ...


class NoteAccess(Enum):
    AUTHOR = "author"  # the visit's provider: everything, drafts included
    CLINICIAN = "clinician"  # another provider with the patient in their care: the signed note
    BILLING = "billing"  # the front desk: status and diagnosis codes


@dataclass(frozen=True)
class NoteDraft:
    """What the editor sends: every section's text, the diagnosis codes, the patient's
    instructions, a follow-up and the confirmed vital signs it cites."""

    sections: Sequence[tuple[str, str]]
    diagnosis_codes: Sequence[str] = ()
    instructions: str = ""
    follow_up: FollowUp | None = None
    observation_ids: Sequence[str] = ()


class ClinicalNotes:
    def __init__(
        self,
        notes: NoteRecords,
        files: VisitFiles,
        team: CareTeam,
        vitals: VitalsStore,
        settings: Callable[[], ClinicSettings],
        clock: Callable[[], datetime],
        trail: AuditTrail,
    ) -> None:
        self.notes, self.files, self.team, self.vitals = notes, files, team, vitals
        self.settings, self.clock, self.trail = settings, clock, trail
        self._names: dict[str, str] = {}  # provider id -> name, as the note is signed with it

    # --- reading -------------------------------------------------------------------------------------

    def note(self, caller: Caller, appointment_id: str) -> tuple[ClinicalNote, NoteAccess]:
        """The visit's note as the caller may read it. A visit with no note yet reads, for its
        provider, as an empty draft in the clinic's template (nothing is written until they type)."""
        with self.trail.request(caller, Interaction.READ, appointment_id):
            note, access = self._readable(caller, appointment_id)
            self.notes.record(
                [
                    self.trail.entry(
                        self.trail.agent(caller),
                        Interaction.READ,
                        self._read_refs(note, access),
                        self.clock(),
                    )
                ]
            )
            return note, access

    def _readable(self, caller: Caller, appointment_id: str) -> tuple[ClinicalNote, NoteAccess]:
        caller.require(Actor.PROVIDER, Actor.STAFF)
        note = self.notes.note(appointment_id)
        if caller.actor is Actor.STAFF:
            if note is None or not note.signed:
                raise NotFoundError("no signed note for this visit")
            return note, NoteAccess.BILLING
        own = self.team.provider_for_user(caller.subject)
        if own is None:
            raise NotFoundError("no such visit")
        if note is not None and note.provider_id == own:
            return note, NoteAccess.AUTHOR
        if note is None:
            return self._started(self._seen_visit(appointment_id, own)), NoteAccess.AUTHOR
        if note.signed and note.patient_id in self.team.patients_of_provider(own):
            return note, NoteAccess.CLINICIAN
        raise NotFoundError("no such note")  # a draft, or a patient outside their care

    def _read_refs(self, note: ClinicalNote, access: NoteAccess) -> list[str]:
        encounter = f"Encounter/{encounter_id(note.appointment_id, note.visit_version)}"
        if not note.signed or (access is NoteAccess.AUTHOR and note.revision == 0):
            return [encounter]
        if access is NoteAccess.BILLING:
            return [encounter, *self._condition_refs(note)]
        return [
            f"Composition/{record.composition_id(note.appointment_id, note.visit_version)}",
            *self._condition_refs(note),
        ]

    @staticmethod
    def _condition_refs(note: ClinicalNote) -> list[str]:
        assert note.current is not None
        return [
            f"Condition/{record.condition_id(note.appointment_id, note.visit_version, d.code)}"
            for d in note.current.content.diagnoses
        ]

    def revisions(self, caller: Caller, appointment_id: str) -> list[tuple[int, str, datetime]]:
        """The note's saved revisions, newest first, for its author."""
        with self.trail.request(caller, Interaction.READ, appointment_id):
            _, access = self._readable(caller, appointment_id)
            if access is not NoteAccess.AUTHOR:
                raise NotFoundError("no such note")
            return self.notes.revisions(appointment_id)

    # --- writing -------------------------------------------------------------------------------------

    def save_draft(
        self, caller: Caller, appointment_id: str, draft: NoteDraft, on_revision: int
    ) -> ClinicalNote:
        """The draft as the provider has it (autosave). A save made on a revision that is not
        the latest is refused (409 note-changed), so no words are overwritten unseen."""
        with self.trail.request(caller, Interaction.UPDATE, appointment_id):
            own = self._provider(caller)
            note = self.notes.note(appointment_id)
            if note is None:
                note = self._started(self._seen_visit(appointment_id, own))
            elif note.provider_id != own:
                raise NotFoundError("no such visit")  # as for any write on another's visit
            content = self._content(note, draft)
            now = self.clock()
            saved = note.saved(
                content,
                on_revision=on_revision,
                by=own,
                at=now,
                rendered_length=len(self._render(note, content, SIGNED_AT_PLACEHOLDER)),
            )
            if saved is note:  # a retried save already kept: answered as kept, nothing written
                return note
            encounter = f"Encounter/{encounter_id(note.appointment_id, note.visit_version)}"
            interaction = Interaction.CREATE if note.revision == 0 else Interaction.UPDATE
            self.notes.save_note(
                saved, [self.trail.entry(self.trail.agent(caller), interaction, [encounter], now)]
            )
            return saved

    def sign(
        self, caller: Caller, appointment_id: str, on_revision: int, idempotency: Idempotency | None = None
    ) -> ClinicalNote:
        """The draft as saved at `on_revision`, signed: into the record."""
        with self.trail.request(caller, Interaction.CREATE, appointment_id):
            own = self._provider(caller)
            note = self._own_note(appointment_id, own)
            now = self.clock()
            signed = note.signed_now(
                on_revision=on_revision, by=own, at=now, rendered=self._render(note, note.content, now)
            )
            resources = record.record(signed, TITLE)
            outbox = [OutboxEntry(r, signed.revision) for r in resources.values()]
            agent = self.trail.agent(caller)
            outbox.append(self.trail.entry(agent, Interaction.CREATE, list(resources), now))
            event = NoteSigned(
                appointment_id=appointment_id, version=signed.visit_version, revision=signed.revision
            )
            outbox.append(announce(event, now))
            self.notes.save_note(signed, outbox, claim(idempotency, signed))
            return signed

    def amend(
        self,
        caller: Caller,
        appointment_id: str,
        draft: NoteDraft,
        reason: str,
        on_revision: int,
        idempotency: Idempotency | None = None,
    ) -> ClinicalNote:
        """A corrected version, signed at once; the versions signed before it stay as they were."""
        with self.trail.request(caller, Interaction.UPDATE, appointment_id):
            own = self._provider(caller)
            note = self._own_note(appointment_id, own)
            content = self._content(note, draft)
            now = self.clock()
            number = len(note.signed) + 1
            rendered = self._render(note, content, now, amendment=(number, reason.strip()))
            amended = note.amended(
                content, reason=reason, on_revision=on_revision, by=own, at=now, rendered=rendered
            )
            before, after = record.record(note, TITLE), record.record(amended, TITLE)
            # What the amendment changes: the Composition, the version it replaces (superseded),
            # its own copy, and the Conditions it adds or takes out; earlier copies stand.
            changed = {ref: after[ref] for ref in projection.changed(before, after)}
            outbox = [OutboxEntry(r, amended.revision) for r in changed.values()]
            agent = self.trail.agent(caller)
            updated = [ref for ref in changed if ref in before]
            created = [ref for ref in changed if ref not in before]
            outbox.append(self.trail.entry(agent, Interaction.UPDATE, updated, now))
            outbox.append(self.trail.entry(agent, Interaction.CREATE, created, now))
            event = NoteAmended(
                appointment_id=appointment_id,
                version=amended.visit_version,
                revision=amended.revision,
                amendment=number - 1,
            )
            outbox.append(announce(event, now))
            self.notes.save_note(amended, outbox, claim(idempotency, amended))
            return amended

    def add_addendum(
        self,
        caller: Caller,
        appointment_id: str,
        text: str,
        on_revision: int,
        idempotency: Idempotency | None = None,
    ) -> ClinicalNote:
        with self.trail.request(caller, Interaction.CREATE, appointment_id):
            own = self._provider(caller)
            note = self._own_note(appointment_id, own)
            now = self.clock()
            author = self._name(own)
            added = note.with_addendum(
                text,
                on_revision=on_revision,
                by=own,
                at=now,
                render=lambda a: render_addendum(a, title=TITLE, author=author),
            )
            addendum = added.addenda[-1]
            document = record.addendum_document(added, addendum, TITLE)
            composition = record.composition(added, TITLE)
            agent = self.trail.agent(caller)
            event = NoteAddendumAdded(
                appointment_id=appointment_id,
                version=added.visit_version,
                revision=added.revision,
                addendum=addendum.number,
            )
            outbox = [
                OutboxEntry(document, added.revision),
                OutboxEntry(composition, added.revision),
                self.trail.entry(agent, Interaction.CREATE, [f"DocumentReference/{document['id']}"], now),
                self.trail.entry(agent, Interaction.UPDATE, [f"Composition/{composition['id']}"], now),
                announce(event, now),
            ]
            self.notes.save_note(added, outbox, claim(idempotency, added))
            return added

    # --- rendering ---------------------------------------------------------------------------------

    def _render(
        self,
        note: ClinicalNote,
        content: NoteContent,
        signed_at: datetime,
        amendment: tuple[int, str] | None = None,
    ) -> str:
        """The document as the record keeps it: the author's name and the vital signs cited in
        words (a draft is measured with it, signing keeps it)."""
        return render(
            content,
            title=TITLE,
            author=self._name(note.provider_id),
            signed_at=signed_at,
            amendment=amendment,
            vital_signs=self._cited(note, content),
        )

    def _cited(self, note: ClinicalNote, content: NoteContent) -> list[str]:
        if not content.observation_ids:
            return []
        found = self.vitals.vitals(note.appointment_id, note.visit_version)
        if found is None:
            return []
        vitals = found[0]
        words = {
            vitals.observation_id(
                r.sign
            ): f"{r.sign.loinc[1]} {round(r.per_minute)} per minute (from the visit's video)"
            for r in vitals.readings
        }
        return [words.get(o, o) for o in content.observation_ids]

    def _name(self, provider_id: str) -> str:
        """The clinician's name as the rendered note carries it (read once per container)."""
        if provider_id not in self._names:
            found = self.team.provider(provider_id)
            if found is None:
                return f"Practitioner/{provider_id}"
            self._names[provider_id] = f"{found.profile.given_name} {found.profile.family_name}"
        return self._names[provider_id]

    # --- checks ------------------------------------------------------------------------------------

    def _provider(self, caller: Caller) -> str:
        caller.require(Actor.PROVIDER)
        own = self.team.provider_for_user(caller.subject)
        if own is None:
            raise NotFoundError("no such visit")
        return own

    def _own_note(self, appointment_id: str, own: str) -> ClinicalNote:
        note = self.notes.note(appointment_id)
        if note is None:
            self._seen_visit(appointment_id, own)  # a 404 for another's visit, else "nothing saved"
            raise rule("note-not-saved", "Nothing is written in this visit's note yet.")
        if note.provider_id != own:
            raise NotFoundError("no such visit")
        return note

    def _seen_visit(self, appointment_id: str, own: str) -> Visit:
        """The provider's latest visit of the appointment, once they admitted the patient."""
        file = self.files.visit_file(appointment_id)
        if file.appointment is None or file.appointment.provider_id != own:
            raise NotFoundError("no such visit")
        visit = file.visits[max(file.visits)][0] if file.visits else None
        if visit is None or visit.admitted_at is None:
            raise rule("visit-not-seen", "A note is written once the patient has been admitted to the visit.")
        return visit

    def _started(self, visit: Visit) -> ClinicalNote:
        return ClinicalNote.started(
            appointment_id=visit.appointment_id,
            visit_version=visit.version,
            patient_id=visit.patient_id,
            provider_id=visit.provider_id,
            template=self.settings().note_template,
            at=self.clock(),
        )

    def _content(self, note: ClinicalNote, draft: NoteDraft) -> NoteContent:
        diagnoses = []
        for code in draft.diagnosis_codes:
            known = icd10cm.lookup(code)
            if known is None:
                raise rule("unknown-diagnosis", "A diagnosis is an ICD-10-CM code from the clinic's list.")
            diagnoses.append(Diagnosis(known.code, known.description))
        if draft.observation_ids:
            found = self.vitals.vitals(note.appointment_id, note.visit_version)
            confirmed = (
                {
                    found[0].observation_id(r.sign)
                    for r in found[0].readings
                    if r.status is ReadingStatus.FINAL
                }
                if found
                else set()
            )
            if not set(draft.observation_ids) <= confirmed:
                raise rule(
                    "observation-not-confirmed",
                    "A note cites only the visit's vital signs the clinician confirmed.",
                )
        content = NoteContent(
            sections=tuple((str(t), str(x)) for t, x in draft.sections),
            diagnoses=tuple(diagnoses),
            instructions=draft.instructions,
            follow_up=draft.follow_up,
            observation_ids=tuple(draft.observation_ids),
        )
        return content
