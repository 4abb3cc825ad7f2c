"""Who reads a visit's note, as the service decides it (no AWS): its author everything, drafts
included; another provider only a signed note of a patient in their care; the front desk a signed
note's status and codes; patients never the clinician's note. Every read is audited."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotAuthorizedError
from telehealth.application.notes import ClinicalNotes, NoteAccess, NoteDraft
from telehealth.domain.appointments import Actor, Appointment
from telehealth.domain.clinic_settings import ClinicSettings
from telehealth.domain.notes import ClinicalNote
from telehealth.domain.visits import Visit, VisitState
from telehealth.errors import NotFoundError
from telehealth.ports import OutboxEntry, ProviderRecord, VisitFile
from tests.unit.fakes import provider_record

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
APPOINTMENT = "01JAPPTAAAAAAAAAAAAAAAAAAA"
AUTHOR = Caller(Actor.PROVIDER, "sub-author", frozenset(), frozenset({"providers"}))
COLLEAGUE = Caller(Actor.PROVIDER, "sub-colleague", frozenset(), frozenset({"providers"}))
STRANGER = Caller(Actor.PROVIDER, "sub-stranger", frozenset(), frozenset({"providers"}))
DESK = Caller(Actor.STAFF, "sub-staff", frozenset(), frozenset({"staff"}))
PATIENT = Caller(Actor.PATIENT, "patient-1", frozenset(), frozenset())
SOAP_TEXT = [("Subjective", "sore throat"), ("Objective", ""), ("Assessment", "pharyngitis"), ("Plan", "")]


@dataclass
class Fakes:
    notes: dict[str, ClinicalNote] = field(default_factory=dict)
    written: list[OutboxEntry] = field(default_factory=list)

    # NoteRecords
    def note(self, appointment_id: str) -> ClinicalNote | None:
        return self.notes.get(appointment_id)

    def save_note(self, note: ClinicalNote, outbox: list[OutboxEntry], claim: Any = None) -> None:
        self.notes[note.appointment_id] = note
        self.written += outbox

    def revisions(self, appointment_id: str, limit: int = 50) -> list[tuple[int, str, datetime]]:
        return []

    def revision(self, appointment_id: str, revision: int) -> None:
        return None

    def record(self, outbox: list[OutboxEntry]) -> None:
        self.written += outbox

    # VisitFiles
    def visit_file(self, appointment_id: str) -> VisitFile:
        start = NOW - timedelta(minutes=20)
        appointment = Appointment(
            APPOINTMENT, "dr-author", "patient-1", "general", start, start + timedelta(minutes=30), "NY"
        )
        visit = Visit(
            APPOINTMENT,
            1,
            "dr-author",
            "patient-1",
            start,
            start + timedelta(minutes=30),
            VisitState.IN_CALL,
            start - timedelta(minutes=5),
            False,
            admitted_at=start,
        )
        return VisitFile(appointment_id, appointment, visits={1: (visit, 1)})

    # CareTeam
    def provider_for_user(self, user_sub: str) -> str | None:
        return {
            "sub-author": "dr-author",
            "sub-colleague": "dr-colleague",
            "sub-stranger": "dr-stranger",
        }.get(user_sub)

    def provider(self, provider_id: str) -> ProviderRecord | None:
        return provider_record(provider_id, f"sub-{provider_id}")

    def patients_of_provider(self, provider_id: str) -> frozenset[str]:
        return frozenset({"patient-1"}) if provider_id in ("dr-author", "dr-colleague") else frozenset()

    # VitalsStore (nothing cited here)
    def vitals(self, appointment_id: str, version: int) -> None:
        return None

    def appointment(self, appointment_id: str) -> Appointment | None:
        return self.visit_file(appointment_id).appointment


def service() -> tuple[ClinicalNotes, Fakes]:
    fakes = Fakes()
    trail = AuditTrail(fakes, lambda: NOW)
    notes = ClinicalNotes(fakes, fakes, fakes, fakes, ClinicSettings, lambda: NOW, trail)  # type: ignore[arg-type]
    return notes, fakes


def draft(notes: ClinicalNotes) -> ClinicalNote:
    return notes.save_draft(AUTHOR, APPOINTMENT, NoteDraft(SOAP_TEXT, ["J02.9"]), 0)


def test_a_draft_is_its_authors_alone() -> None:
    notes, _ = service()
    draft(notes)
    assert notes.note(AUTHOR, APPOINTMENT)[1] is NoteAccess.AUTHOR
    for other in (COLLEAGUE, STRANGER, DESK):
        with pytest.raises(NotFoundError):
            notes.note(other, APPOINTMENT)
    with pytest.raises(NotAuthorizedError):
        notes.note(PATIENT, APPOINTMENT)


def test_a_signed_note_is_read_by_relationship_and_every_read_is_audited() -> None:
    notes, fakes = service()
    saved = draft(notes)
    notes.sign(AUTHOR, APPOINTMENT, saved.revision)
    before = len(fakes.written)
    assert notes.note(COLLEAGUE, APPOINTMENT)[1] is NoteAccess.CLINICIAN  # the patient is in their care
    assert notes.note(DESK, APPOINTMENT)[1] is NoteAccess.BILLING
    with pytest.raises(NotFoundError):
        notes.note(STRANGER, APPOINTMENT)  # no care relationship
    audits = [e.resource for e in fakes.written[before:] if e.resource.get("resourceType") == "AuditEvent"]
    assert len(audits) == 3  # two reads that answered, one refused: each an AuditEvent
    assert {a["outcome"] for a in audits} == {"0", "4"}


def test_only_the_author_writes_signs_and_adds_and_the_record_names_no_one_else() -> None:
    notes, fakes = service()
    saved = draft(notes)
    with pytest.raises(NotFoundError):
        notes.save_draft(COLLEAGUE, APPOINTMENT, NoteDraft(SOAP_TEXT, ["J02.9"]), saved.revision)
    with pytest.raises(NotFoundError):
        notes.sign(COLLEAGUE, APPOINTMENT, saved.revision)
    signed = notes.sign(AUTHOR, APPOINTMENT, saved.revision)
    record = [
        e.resource
        for e in fakes.written
        if e.destination == "fhir" and e.resource["resourceType"] != "AuditEvent"
    ]
    assert {r["resourceType"] for r in record} == {"Composition", "DocumentReference", "Condition"}
    assert all(
        r.get("author", [{"reference": "Practitioner/dr-author"}])[0]["reference"] == "Practitioner/dr-author"
        for r in record
    )
    assert signed.current is not None and "Ada Synthetic" in signed.current.rendered


def test_the_desks_follow_ups_are_the_signed_notes_asking_for_one_that_no_later_visit_answers() -> None:
    from telehealth.application.after_visit import AfterVisitSummaries
    from telehealth.domain.appointments import AppointmentStatus
    from telehealth.domain.notes import FollowUp

    notes, fakes = service()
    saved = notes.save_draft(
        AUTHOR, APPOINTMENT, NoteDraft(SOAP_TEXT, ["J02.9"], follow_up=FollowUp(7, "if not better")), 0
    )
    notes.sign(AUTHOR, APPOINTMENT, saved.revision)
    later: list[Appointment] = []

    class Clinic(Fakes):
        def follow_ups(self, since: date, limit: int) -> list[ClinicalNote]:
            return [n for n in fakes.notes.values() if n.follow_up_due]

        def appointments_of_patient(self, patient_id: str) -> list[Appointment]:
            return later

        def patient(self, patient_id: str) -> None:
            return None

    clinic = Clinic(fakes.notes)
    desk = AfterVisitSummaries(clinic, clinic, clinic, None, "", lambda: NOW, AuditTrail(clinic, lambda: NOW))  # type: ignore[arg-type]
    (asked,) = desk.follow_ups(DESK)
    assert (asked.due, asked.reason, asked.provider_id) == (
        (NOW + timedelta(days=7)).date(),
        "if not better",
        "dr-author",
    )
    with pytest.raises(NotAuthorizedError):
        desk.follow_ups(AUTHOR)
    start = NOW + timedelta(days=5)
    other = Appointment(
        "01JAPPTBBBBBBBBBBBBBBBBBBB", "dr-colleague", "patient-1", "general", start, start, "NY"
    )
    later.append(other)  # a visit with another clinician does not answer it
    assert len(desk.follow_ups(DESK)) == 1
    later.append(replace(other, provider_id="dr-author", status=AppointmentStatus.CANCELLED))
    assert len(desk.follow_ups(DESK)) == 1  # nor a cancelled one
    later.append(replace(other, provider_id="dr-author"))
    assert desk.follow_ups(DESK) == []  # booked with the same clinician: off the list
