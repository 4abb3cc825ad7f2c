"""What the patient takes home from a visit: the diagnoses in plain words, what to do, when to
come back. Built from the note in force once it is signed (never the clinician's narrative), so an
amendment changes it too.

Pure: the caller looks the words up (the ICD-10-CM list's plain phrase for each code)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from telehealth.domain.notes import ClinicalNote, FollowUp


@dataclass(frozen=True)
class AfterVisitSummary:
    appointment_id: str
    visit_start: datetime
    provider_id: str
    clinician: str
    diagnoses: tuple[tuple[str, str], ...]  # (in plain words, the code)
    instructions: str
    follow_up: FollowUp | None
    signed_at: datetime
    updated: bool  # the note was amended since it was first signed

    def follow_up_by(self, zone_today: date) -> date | None:
        """The last day the follow-up is wanted by, from the day the note was signed."""
        if self.follow_up is None:
            return None
        return max(zone_today, self.signed_at.date() + timedelta(days=self.follow_up.within_days))


def summary_of(
    note: ClinicalNote, *, visit_start: datetime, clinician: str, plain: Callable[[str], str | None]
) -> AfterVisitSummary | None:
    """The summary of a signed note; None while it is a draft (nothing is ready to read)."""
    current = note.current
    if current is None:
        return None
    content = current.content
    return AfterVisitSummary(
        appointment_id=note.appointment_id,
        visit_start=visit_start,
        provider_id=note.provider_id,
        clinician=clinician,
        diagnoses=tuple((plain(d.code) or d.display, d.code) for d in content.diagnoses),
        instructions=content.instructions,
        follow_up=content.follow_up,
        signed_at=current.signed_at,
        updated=current.number > 1,
    )
