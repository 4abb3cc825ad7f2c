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
    SignedVersion,
    render,
    render_addendum,
    rule,
)
from telehealth.domain.visits import Visit
from telehealth.domain.vitals import ReadingStatus
from telehealth.events import NoteAddendumAdded, NoteAmended, NoteSigned
from telehealth.fhir import notes as record
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
            content = self._content(note, draft)
            now = self.clock()
            saved = note.saved(
                content,
                on_revision=on_revision,
                by=own,
                at=now,
                rendered_length=len(self._render(note, content, SIGNED_AT_PLACEHOLDER)),
            )
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
            signed = note.signed_now(on_revision=on_revision, by=own, at=now)
            version = signed.signed[-1]
            outbox = self._projected(signed, version, withdrawn=())
            created = [
                f"Composition/{record.composition_id(signed.appointment_id, signed.visit_version)}",
                f"DocumentReference/{record.document_id(signed.appointment_id, signed.visit_version, 1)}",
                *self._condition_refs(signed),
            ]
            outbox.append(self.trail.entry(self.trail.agent(caller), Interaction.CREATE, created, now))
            outbox.append(
                announce(
                    NoteSigned(
                        appointment_id=appointment_id, version=signed.visit_version, revision=signed.revision
                    ),
                    now,
                )
            )
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
            amended = note.amended(
                content,
                reason=reason,
                on_revision=on_revision,
                by=own,
                at=now,
                rendered_length=len(
                    self._render(note, content, SIGNED_AT_PLACEHOLDER, amendment=(number, reason.strip()))
                ),
            )
            appt, visit = amended.appointment_id, amended.visit_version
            before = {d.code for d in note.content.diagnoses}
            after = {d.code for d in amended.content.diagnoses}
            outbox = self._projected(amended, amended.signed[-1], withdrawn=self._withdrawn(amended))
            previous = amended.signed[-2]
            outbox.append(
                OutboxEntry(
                    record.document(amended, previous, self._render_version(amended, previous), TITLE),
                    amended.revision,
                )
            )
            changed = [
                f"Composition/{record.composition_id(appt, visit)}",
                f"DocumentReference/{record.document_id(appt, visit, previous.number)}",
                *(f"Condition/{record.condition_id(appt, visit, code)}" for code in sorted(before - after)),
            ]
            created = [
                f"DocumentReference/{record.document_id(appt, visit, number)}",
                *(f"Condition/{record.condition_id(appt, visit, code)}" for code in sorted(after - before)),
            ]
            agent = self.trail.agent(caller)
            outbox.append(self.trail.entry(agent, Interaction.UPDATE, changed, now))
            outbox.append(self.trail.entry(agent, Interaction.CREATE, created, now))
            outbox.append(
                announce(
                    NoteAmended(
                        appointment_id=appointment_id,
                        version=amended.visit_version,
                        revision=amended.revision,
                        amendment=number - 1,
                    ),
                    now,
                )
            )
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
            added = note.with_addendum(text, on_revision=on_revision, by=own, at=now)
            addendum = added.addenda[-1]
            author = self._name(addendum.author_id)
            document = record.addendum_document(
                added, addendum, render_addendum(addendum, title=TITLE, author=author), TITLE
            )
            composition = record.composition(added, TITLE)
            agent = self.trail.agent(caller)
            outbox = [
                OutboxEntry(document, added.revision),
                OutboxEntry(composition, added.revision),
                self.trail.entry(agent, Interaction.CREATE, [f"DocumentReference/{document['id']}"], now),
                self.trail.entry(agent, Interaction.UPDATE, [f"Composition/{composition['id']}"], now),
                announce(
                    NoteAddendumAdded(
                        appointment_id=appointment_id,
                        version=added.visit_version,
                        revision=added.revision,
                        addendum=addendum.number,
                    ),
                    now,
                ),
            ]
            self.notes.save_note(added, outbox, claim(idempotency, added))
            return added

    # --- the record --------------------------------------------------------------------------------

    def record_of(self, note: ClinicalNote) -> list[OutboxEntry]:
        """Every resource a signed note stands as in the record (a rebuild writes them again)."""
        if not note.signed:
            return []
        entries = self._projected(note, note.signed[-1], withdrawn=self._withdrawn(note))
        for version in note.signed[:-1]:
            entries.append(
                OutboxEntry(
                    record.document(note, version, self._render_version(note, version), TITLE), note.revision
                )
            )
        for addendum in note.addenda:
            rendered = render_addendum(addendum, title=TITLE, author=self._name(addendum.author_id))
            entries.append(
                OutboxEntry(record.addendum_document(note, addendum, rendered, TITLE), note.revision)
            )
        return entries

    @staticmethod
    def _withdrawn(note: ClinicalNote) -> tuple[Diagnosis, ...]:
        current = {d.code for d in note.content.diagnoses}
        seen: dict[str, Diagnosis] = {}
        for version in note.signed:
            for d in version.content.diagnoses:
                if d.code not in current:
                    seen.setdefault(d.code, d)
        return tuple(seen.values())

    def _projected(
        self, note: ClinicalNote, version: SignedVersion, withdrawn: Sequence[Diagnosis]
    ) -> list[OutboxEntry]:
        entries = [OutboxEntry(record.condition(note, d), note.revision) for d in version.content.diagnoses]
        entries += [OutboxEntry(record.condition(note, d, withdrawn=True), note.revision) for d in withdrawn]
        entries.append(
            OutboxEntry(
                record.document(note, version, self._render_version(note, version), TITLE), note.revision
            )
        )
        entries.append(OutboxEntry(record.composition(note, TITLE), note.revision))
        return entries

    def _render_version(self, note: ClinicalNote, version: SignedVersion) -> str:
        amendment = (version.number, version.reason) if version.number > 1 else None
        return self._render(note, version.content, version.signed_at, amendment=amendment)

    def _render(
        self,
        note: ClinicalNote,
        content: NoteContent,
        signed_at: datetime,
        amendment: tuple[int, str] | None = None,
    ) -> str:
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
        if file.appointment is None or file.appointment.provider_id != own or not file.visits:
            raise NotFoundError("no such visit")
        visit = file.visits[max(file.visits)][0]
        if visit.admitted_at is None:
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
