"""The clinician's note of a visit: written during and after the call, saved as a draft as they
type, then signed. A signed note is never rewritten: it is corrected by an amendment (a new signed
version that keeps every earlier one) or added to by an addendum.

Pure rules, no I/O. What the record keeps of a note (its rendered copy) is at most
`MAX_RENDERED_CHARACTERS` long: HealthLake's limit on a note's text, which its stand-in enforces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from telehealth.domain.appointments import AppointmentRuleError

# The record's limit on one document's text (HealthLake's; its stand-in refuses more).
MAX_RENDERED_CHARACTERS = 10_000
MAX_SECTIONS = 12
MAX_SECTION_TITLE = 60
MAX_DIAGNOSES = 12  # a professional claim carries twelve
MAX_INSTRUCTIONS = 2_000
MAX_ADDENDUM = 4_000
# Every signed version and addendum is kept on the note's one item, each with its rendered copy:
# these keep it under DynamoDB's 400 KB (6 versions of 2 x 10,000 characters, 10 addenda of 2 x 4,000).
MAX_AMENDMENTS = 5
MAX_ADDENDA = 10
MAX_FOLLOW_UP_DAYS = 365

SOAP: tuple[str, ...] = ("Subjective", "Objective", "Assessment", "Plan")

# ICD-10-CM as the tabular list writes a code: a letter, two characters, then up to four after a dot.
ICD10CM_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def rule(kind: str, message: str) -> AppointmentRuleError:
    return AppointmentRuleError(kind, message)


def check_template(titles: Sequence[str]) -> tuple[str, ...]:
    """A clinic's note template: its section titles, in order (the default is SOAP)."""
    cleaned = tuple(t.strip() for t in titles)
    if not 1 <= len(cleaned) <= MAX_SECTIONS:
        raise ValueError(f"a note template has 1 to {MAX_SECTIONS} sections")
    if any(not t or len(t) > MAX_SECTION_TITLE for t in cleaned):
        raise ValueError(f"each section title is 1 to {MAX_SECTION_TITLE} characters")
    if len({t.casefold() for t in cleaned}) != len(cleaned):
        raise ValueError("each section title appears once")
    return cleaned


@dataclass(frozen=True)
class Diagnosis:
    """An ICD-10-CM code as the clinic's terminology describes it."""

    code: str
    display: str


@dataclass(frozen=True)
class FollowUp:
    """When the clinician wants to see the patient again, and why (in words the patient reads)."""

    within_days: int
    reason: str = ""


@dataclass(frozen=True)
class NoteContent:
    """What the clinician wrote: each section's text (titles in the template's order), the
    diagnoses, the patient's instructions, a follow-up, and the visit's vital-sign Observations
    they confirmed and chose to cite."""

    sections: tuple[tuple[str, str], ...]
    diagnoses: tuple[Diagnosis, ...] = ()
    instructions: str = ""
    follow_up: FollowUp | None = None
    observation_ids: tuple[str, ...] = ()

    @property
    def written(self) -> bool:
        return any(text.strip() for _, text in self.sections)

    def checked(self, template: Sequence[str]) -> NoteContent:
        """The content if it fits the template and the limits; raises a 422 rule otherwise."""
        titles = tuple(title for title, _ in self.sections)
        if titles != tuple(template):
            raise rule("note-sections", f"The note's sections are {', '.join(template)}, in that order.")
        codes = [d.code for d in self.diagnoses]
        if len(codes) > MAX_DIAGNOSES:
            raise rule("note-too-many-diagnoses", f"A note lists at most {MAX_DIAGNOSES} diagnoses.")
        if len(set(codes)) != len(codes):
            raise rule("note-duplicate-diagnosis", "Each diagnosis is listed once.")
        if len(self.instructions) > MAX_INSTRUCTIONS:
            raise rule(
                "note-too-long", f"The patient's instructions are at most {MAX_INSTRUCTIONS} characters."
            )
        if self.follow_up is not None and not 1 <= self.follow_up.within_days <= MAX_FOLLOW_UP_DAYS:
            raise rule("note-follow-up", f"A follow-up is within 1 to {MAX_FOLLOW_UP_DAYS} days.")
        if len(set(self.observation_ids)) != len(self.observation_ids):
            raise rule("note-duplicate-observation", "Each vital sign is cited once.")
        return self


@dataclass(frozen=True)
class SignedVersion:
    """One signing: the original (number 1) or an amendment (2 on), as it was signed."""

    number: int
    revision: int  # the draft revision the clinician signed (an amendment: the note's revision then)
    signed_at: datetime
    content: NoteContent
    reason: str = ""  # an amendment's: why the signed note was corrected
    # The document as signed, word for word (the record's attachment): kept, never rendered again,
    # so a later change of a name or a template cannot change what was signed.
    rendered: str = ""


@dataclass(frozen=True)
class Addendum:
    number: int
    text: str
    author_id: str
    added_at: datetime
    rendered: str = ""


@dataclass(frozen=True)
class ClinicalNote:
    """A visit's note. `revision` counts every change (each autosave, the signing, each
    amendment and addendum): a save names the revision it was made on, so two tabs or a
    reconnecting editor never overwrite each other's words unseen."""

    appointment_id: str
    visit_version: int  # the Encounter it documents
    patient_id: str
    provider_id: str  # its author: the visit's provider, the only one who writes and signs it
    template: tuple[str, ...]
    content: NoteContent
    revision: int
    saved_at: datetime
    signed: tuple[SignedVersion, ...] = ()
    addenda: tuple[Addendum, ...] = ()

    @property
    def status(self) -> str:
        """`draft`, `signed`, or `amended` (signed, then corrected)."""
        return "draft" if not self.signed else "signed" if len(self.signed) == 1 else "amended"

    @property
    def current(self) -> SignedVersion | None:
        """The version in force: the latest signing (None while a draft)."""
        return self.signed[-1] if self.signed else None

    @classmethod
    def started(
        cls,
        *,
        appointment_id: str,
        visit_version: int,
        patient_id: str,
        provider_id: str,
        template: Sequence[str],
        at: datetime,
    ) -> ClinicalNote:
        """An empty draft in the clinic's template (revision 0: nothing saved yet)."""
        titles = tuple(template)
        return cls(
            appointment_id,
            visit_version,
            patient_id,
            provider_id,
            titles,
            NoteContent(tuple((t, "") for t in titles)),
            0,
            at,
        )

    def _by_author(self, provider_id: str) -> None:
        if provider_id != self.provider_id:
            raise rule("not-the-author", "Only the visit's provider writes and signs its note.")

    def _on(self, revision: int) -> None:
        if revision != self.revision:
            raise rule(
                "note-changed",
                f"The note was saved elsewhere since (revision {self.revision}, not {revision}): "
                "reload it before going on.",
            )

    @property
    def follow_up_due(self) -> date | None:
        """The day the signed note asks to see the patient again by (from its signing, as the
        patient's summary counts it); None without a follow-up, or before signing."""
        current = self.current
        if current is None or current.content.follow_up is None:
            return None
        return current.signed_at.date() + timedelta(days=current.content.follow_up.within_days)

    def saved(
        self, content: NoteContent, *, on_revision: int, by: str, at: datetime, rendered_length: int
    ) -> ClinicalNote:
        """The draft as the clinician has it now. The same words sent again on the revision before
        (an autosave whose answer was lost, retried) are the save that made this revision: the
        note as it is, not a conflict."""
        self._by_author(by)
        if self.signed:
            raise rule("note-signed", "The note is signed: correct it with an amendment or an addendum.")
        checked = content.checked(self.template)
        if self.revision and on_revision == self.revision - 1 and checked == self.content:
            return self
        self._on(on_revision)
        _fits(rendered_length)
        return replace(self, content=checked, revision=self.revision + 1, saved_at=at)

    def signed_now(self, *, on_revision: int, by: str, at: datetime, rendered: str) -> ClinicalNote:
        """Signed as saved at `on_revision`: what the clinician saw is what they sign
        (`rendered`: the document, as `render` writes it at `at`)."""
        self._by_author(by)
        if self.signed:
            raise rule("note-signed", "The note is signed already.")
        self._on(on_revision)
        _signable(self.content)
        _fits(len(rendered))
        version = SignedVersion(1, self.revision, at, self.content, rendered=rendered)
        return replace(self, signed=(version,), revision=self.revision + 1, saved_at=at)

    def amended(
        self,
        content: NoteContent,
        *,
        reason: str,
        on_revision: int,
        by: str,
        at: datetime,
        rendered: str,
    ) -> ClinicalNote:
        """A corrected version, signed at once; every earlier version stays as it was signed."""
        self._by_author(by)
        if not self.signed:
            raise rule("note-not-signed", "A draft is changed by saving it; only a signed note is amended.")
        self._on(on_revision)
        if not reason.strip():
            raise rule("note-amendment-reason", "Say why the signed note is amended.")
        if len(self.signed) > MAX_AMENDMENTS:
            raise rule("note-too-many-amendments", f"A note takes at most {MAX_AMENDMENTS} amendments.")
        checked = content.checked(self.template)
        _signable(checked)
        _fits(len(rendered))
        if checked == self.content:
            raise rule("note-amendment-unchanged", "The amendment changes nothing in the signed note.")
        version = SignedVersion(
            len(self.signed) + 1, self.revision + 1, at, checked, reason.strip(), rendered
        )
        return replace(
            self, content=checked, signed=(*self.signed, version), revision=self.revision + 1, saved_at=at
        )

    def with_addendum(
        self, text: str, *, on_revision: int, by: str, at: datetime, render: Callable[[Addendum], str]
    ) -> ClinicalNote:
        """Words added to the signed note (a result that came in, a call after the visit)."""
        self._by_author(by)
        if not self.signed:
            raise rule("note-not-signed", "An addendum is added to a signed note.")
        self._on(on_revision)
        words = text.strip()
        if not words or len(words) > MAX_ADDENDUM:
            raise rule("note-addendum", f"An addendum is 1 to {MAX_ADDENDUM} characters.")
        if len(self.addenda) >= MAX_ADDENDA:
            raise rule("note-too-many-addenda", f"A note takes at most {MAX_ADDENDA} addenda.")
        addendum = Addendum(len(self.addenda) + 1, words, by, at)
        addendum = replace(addendum, rendered=render(addendum))
        return replace(self, addenda=(*self.addenda, addendum), revision=self.revision + 1, saved_at=at)


def _signable(content: NoteContent) -> None:
    if not content.written:
        raise rule("note-empty", "Write the note before signing it.")
    if not content.diagnoses:
        raise rule("note-no-diagnosis", "Give at least one diagnosis (ICD-10-CM) before signing.")


def _fits(rendered_length: int) -> None:
    if rendered_length > MAX_RENDERED_CHARACTERS:
        raise rule(
            "note-too-long",
            f"The note comes to {rendered_length} characters; the record keeps at most "
            f"{MAX_RENDERED_CHARACTERS} per document. Shorten it, or add the rest as an addendum "
            "once signed.",
        )


# --- the rendered copy --------------------------------------------------------------------------------


def render(
    content: NoteContent,
    *,
    title: str,
    author: str,
    signed_at: datetime | None,
    amendment: tuple[int, str] | None = None,
    vital_signs: Iterable[str] = (),
) -> str:
    """The note as the record keeps it (the DocumentReference's attachment) and as a person
    reads it: plain text, sections in order, then diagnoses, instructions, follow-up and who
    signed. `vital_signs` are the cited Observations in words."""
    lines = [title]
    if amendment is not None:
        number, reason = amendment
        lines.append(f"Amendment {number - 1} (replaces the version signed before). Reason: {reason}")
    lines.append("")
    for section, text in content.sections:
        lines += [section.upper(), text.strip() or "(nothing written)", ""]
    cited = list(vital_signs)
    if cited:
        lines += ["VITAL SIGNS (confirmed by the clinician)", *(f"- {v}" for v in cited), ""]
    lines.append("DIAGNOSES (ICD-10-CM)")
    lines += [f"- {d.code} {d.display}" for d in content.diagnoses] or ["(none given)"]
    lines.append("")
    if content.instructions.strip():
        lines += ["INSTRUCTIONS FOR THE PATIENT", content.instructions.strip(), ""]
    if content.follow_up is not None:
        reason = f": {content.follow_up.reason}" if content.follow_up.reason else ""
        lines += [f"FOLLOW-UP within {content.follow_up.within_days} days{reason}", ""]
    when = signed_at.strftime("%Y-%m-%d %H:%M UTC") if signed_at else "(not yet signed)"
    lines.append(f"Signed electronically by {author} on {when}")
    return "\n".join(lines) + "\n"


def render_addendum(addendum: Addendum, *, title: str, author: str) -> str:
    when = addendum.added_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"{title}: addendum {addendum.number}\n\n{addendum.text}\n\nAdded by {author} on {when}\n"


# The longest a signing time renders to, so a draft's length is measured as it will be signed.
SIGNED_AT_PLACEHOLDER = datetime(2000, 12, 31, 23, 59)
