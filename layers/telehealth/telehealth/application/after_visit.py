"""The patient's after-visit summary: read in the portal once the clinician signed the note, and
announced by e-mail and text in words that say it is ready and nothing of what it says."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import NotFoundError, announce
from telehealth.application.callers import Caller
from telehealth.domain.after_visit import AfterVisitSummary, summary_of
from telehealth.domain.appointments import Actor, Appointment, AppointmentStatus
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.notes import ClinicalNote
from telehealth.events import VisitReminderSent
from telehealth.fhir import notes as record
from telehealth.fhir.projection import PatientProfile
from telehealth.ports import NoteRecords, Notice, Notifier, OutboxEntry, ProviderRecord, VisitFile
from telehealth.terminology import icd10cm

# The key its notice is kept under with the visit's reminders (one per signed version).
SUMMARY_NOTICE = "summary"
FOLLOW_UPS_READ = 200  # the desk's worklist reads at most this many notes asking for a follow-up,
FOLLOW_UPS_SHOWN = 50  # shows at most this many not booked yet,
FOLLOW_UPS_KEPT = timedelta(days=60)  # and none wanted more than this long ago (the clinic calls)


@dataclass(frozen=True)
class FollowUpToBook:
    """A signed note's follow-up that no visit with the same clinician answers yet."""

    appointment_id: str
    patient: PatientProfile | None
    provider_id: str
    clinician: str
    due: date
    reason: str


class Clinic(Protocol):
    def appointment(self, appointment_id: str) -> Appointment | None: ...

    def appointments_of_patient(self, patient_id: str) -> list[Appointment]: ...

    def patient(self, patient_id: str) -> PatientProfile | None: ...

    def provider(self, provider_id: str) -> ProviderRecord | None: ...


class NoticesSent(Protocol):
    def visit_file(self, appointment_id: str) -> VisitFile: ...

    def record_reminder(
        self, appointment_id: str, version: int, reminder: str, at: datetime, outbox: list[OutboxEntry]
    ) -> bool: ...


class AfterVisitSummaries:
    def __init__(
        self,
        notes: NoteRecords,
        clinic: Clinic,
        sent: NoticesSent,
        notifier: Notifier,
        portal_url: str,
        clock: Callable[[], datetime],
        trail: AuditTrail,
    ) -> None:
        self.notes, self.clinic, self.sent, self.notifier = notes, clinic, sent, notifier
        self.portal_url, self.clock, self.trail = portal_url, clock, trail

    def summary(self, caller: Caller, appointment_id: str) -> AfterVisitSummary:
        """The patient's own visit's summary; a 404 until the note is signed."""
        with self.trail.request(caller, Interaction.READ, appointment_id):
            caller.require(Actor.PATIENT)
            appointment = self.clinic.appointment(appointment_id)
            if appointment is None or appointment.patient_id != caller.subject:
                raise NotFoundError("no such visit")
            note = self.notes.note(appointment_id)
            found = self._summary(note, appointment) if note is not None else None
            if note is None or found is None:
                raise NotFoundError("the visit's summary is not ready yet")
            composition = record.composition_id(note.appointment_id, note.visit_version)
            entry = self.trail.entry(
                self.trail.agent(caller), Interaction.READ, [f"Composition/{composition}"], self.clock()
            )
            self.notes.record([entry])
            return found

    def follow_ups(self, caller: Caller) -> list[FollowUpToBook]:
        """The desk's worklist: signed notes asking to see the patient again, soonest wanted
        first, that no later visit with the same clinician (booked or held) answers yet."""
        with self.trail.request(caller, Interaction.SEARCH):
            caller.require(Actor.STAFF)
            found: list[FollowUpToBook] = []
            since = self.clock().date() - FOLLOW_UPS_KEPT
            for note in self.notes.follow_ups(since, FOLLOW_UPS_READ):
                if len(found) == FOLLOW_UPS_SHOWN:
                    break
                visit, due, current = (
                    self.clinic.appointment(note.appointment_id),
                    note.follow_up_due,
                    note.current,
                )
                if visit is None or due is None or current is None or current.content.follow_up is None:
                    continue
                answered = any(
                    a.provider_id == note.provider_id
                    and a.start >= visit.end
                    and a.status is not AppointmentStatus.CANCELLED
                    for a in self.clinic.appointments_of_patient(note.patient_id)
                )
                if not answered:
                    found.append(
                        FollowUpToBook(
                            note.appointment_id,
                            self.clinic.patient(note.patient_id),
                            note.provider_id,
                            self._clinician(note.provider_id),
                            due,
                            current.content.follow_up.reason,
                        )
                    )
            read = [
                ref
                for f in found
                for ref in (
                    f"Patient/{f.patient.patient_id}" if f.patient else None,
                    f"Appointment/{f.appointment_id}",
                )
                if ref
            ]
            self.notes.record(
                self.trail.entries(self.trail.agent(caller), Interaction.SEARCH, read, self.clock())
            )
            return found

    def _clinician(self, provider_id: str) -> str:
        provider = self.clinic.provider(provider_id)
        return f"{provider.profile.given_name} {provider.profile.family_name}" if provider else provider_id

    def _summary(self, note: ClinicalNote, appointment: Appointment) -> AfterVisitSummary | None:
        provider = self.clinic.provider(note.provider_id)
        clinician = (
            f"{provider.profile.given_name} {provider.profile.family_name}" if provider else "your clinician"
        )

        def plain(code: str) -> str | None:
            known = icd10cm.lookup(code)
            return known.plain if known else None

        return summary_of(note, visit_start=appointment.start, clinician=clinician, plain=plain)

    def tell_patient(self, appointment_id: str, revision: int) -> bool:
        """The patient hears, once per signed version, that the summary is ready (amended: that it
        changed). The words name no diagnosis, no clinician, no reason: only where to read it."""
        note = self.notes.note(appointment_id)
        if note is None or note.current is None or note.revision < revision:
            return False  # not signed yet as far as this read sees: the event's retry finds it
        appointment = self.clinic.appointment(appointment_id)
        patient = self.clinic.patient(note.patient_id)
        if appointment is None or patient is None or not (patient.email or patient.phone):
            return False
        key = f"{SUMMARY_NOTICE}-{note.current.number}"
        if key in self.sent.visit_file(appointment_id).reminders_sent.get(note.visit_version, set()):
            return False  # told already (a repeated event)
        updated = note.current.number > 1
        text = (
            f"Your visit summary {'was updated' if updated else 'is ready'}. "
            f"Sign in to read it: {self.portal_url}"
        )
        channels = self.notifier.send(Notice(patient.email, patient.phone, "Your visit summary", text))
        # Recorded once it went out, as reminders are: a failure between the two sends it again
        # when the event is retried (a repeat rather than a loss).
        now = self.clock()
        event = VisitReminderSent(
            appointment_id=appointment_id,
            version=note.visit_version,
            reminder=SUMMARY_NOTICE,
            channels=channels,
        )
        return self.sent.record_reminder(appointment_id, note.visit_version, key, now, [announce(event, now)])
