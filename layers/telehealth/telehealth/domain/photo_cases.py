"""Store-and-forward: a patient's case of photos and answers that a clinician reviews without a call
(the dermatology pattern). Pure rules, no I/O.

A case is opened with its answers (a Questionnaire's), takes one to six photos, and is submitted;
it then waits in the clinicians' queue until the clinic's turnaround promise (`due_at`). Each photo
is uploaded by the patient's browser straight to storage, through an upload slot whose size and
type the storage itself holds it to; a photo is `awaited` until its upload is there, then the
malware scan and the review copy take it on (`scanning`, then `ready` or `refused` with a reason
the patient reads).

A case not answered as its deadline nears is escalated, and again once it is overdue (the
deadline timer, one per submitted case: `deadline_step`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 25 * 1024 * 1024  # a 48 MP HEIC is about 15 MB
CONTENT_TYPES = ("image/jpeg", "image/png", "image/heic", "image/heif")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CaseRuleError(ValueError):
    """A change the case cannot take: `code` is stable (the API's problem type), the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class CaseStatus(StrEnum):
    DRAFT = "draft"  # photos being added
    SUBMITTED = "submitted"  # in the clinicians' queue
    ANSWERED = "answered"


class PhotoStatus(StrEnum):
    AWAITED = "awaited"  # a slot issued; the upload not there yet
    SCANNING = "scanning"  # uploaded: the malware scan and the review copy to come
    READY = "ready"  # clean, and its review copy made
    REFUSED = "refused"  # not one whole photo, or not clean: `reason` says which


@dataclass(frozen=True)
class CasePhoto:
    photo_id: str
    content_type: str
    size: int
    sha256: str  # hex, as the patient's browser computed it before the upload
    added_at: datetime
    status: PhotoStatus = PhotoStatus.AWAITED
    reason: str | None = None


class AnswerOutcome(StrEnum):
    ADVICE = "advice"  # the assessment and advice answer it
    LIVE_VISIT = "live-visit"  # a clinician needs to see the patient: a visit is offered


@dataclass(frozen=True)
class CaseAnswer:
    provider_id: str
    assessment: str
    advice: str
    outcome: AnswerOutcome
    answered_at: datetime


MAX_ANSWER = 4000  # characters of the assessment, and of the advice


class Escalation(StrEnum):
    """How far past the clinic's warning a case unanswered has come."""

    NEARING = "nearing"  # the clinic's warning before the deadline has begun
    OVERDUE = "overdue"  # the turnaround promise is broken


@dataclass(frozen=True)
class CaseEscalation:
    level: Escalation
    at: datetime


@dataclass(frozen=True)
class PhotoCase:
    case_id: str
    patient_id: str
    questionnaire: str  # canonical url|version
    answers: dict[str, Any]
    opened_at: datetime
    photos: tuple[CasePhoto, ...] = ()
    status: CaseStatus = CaseStatus.DRAFT
    submitted_at: datetime | None = None
    due_at: datetime | None = None
    answer: CaseAnswer | None = None
    escalations: tuple[CaseEscalation, ...] = ()
    version: int = 1
    # Where the patient is treated (their home state as they sent the case): the clinician who
    # answers must be licensed there.
    patient_state: str | None = None
    patient_told_at: datetime | None = None  # when the patient was told the answer is there

    @property
    def escalation(self) -> Escalation | None:
        """The furthest the case has been escalated, if at all."""
        return self.escalations[-1].level if self.escalations else None

    def photo(self, photo_id: str) -> CasePhoto | None:
        return next((p for p in self.photos if p.photo_id == photo_id), None)

    @property
    def kept(self) -> tuple[CasePhoto, ...]:
        """The photos that count: all but those refused."""
        return tuple(p for p in self.photos if p.status is not PhotoStatus.REFUSED)

    @property
    def sent(self) -> bool:
        """Sent by its patient: a clinician may see it (a draft is the patient's alone)."""
        return self.status is not CaseStatus.DRAFT

    @property
    def scanning(self) -> bool:
        """A photo still awaits its verdict: nobody has seen all the case yet."""
        return any(p.status is PhotoStatus.SCANNING for p in self.photos)


def photo_problem(content_type: str, size: int, sha256: str) -> str | None:
    if content_type not in CONTENT_TYPES:
        return "Send a JPEG, PNG or HEIC photo."
    if not 1 <= size <= MAX_PHOTO_BYTES:
        return f"A photo is at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB."
    if not SHA256.match(sha256):
        return "sha256 is the photo's SHA-256, 64 lowercase hex digits."
    return None


def add_photo(case: PhotoCase, photo: CasePhoto) -> PhotoCase:
    if case.status is not CaseStatus.DRAFT:
        raise CaseRuleError("case-submitted", "The case is submitted: its photos no longer change.")
    if (problem := photo_problem(photo.content_type, photo.size, photo.sha256)) is not None:
        raise CaseRuleError("photo-refused", problem)
    if len(case.kept) >= MAX_PHOTOS:
        raise CaseRuleError("too-many-photos", f"A case takes at most {MAX_PHOTOS} photos.")
    return replace(case, photos=(*case.photos, photo), version=case.version + 1)


def submit(
    case: PhotoCase, uploaded: set[str], now: datetime, turnaround: timedelta, state: str | None
) -> PhotoCase:
    """The case into the clinicians' queue, due `turnaround` from now, treated where the patient
    lives (`state`): every photo it kept must be uploaded (`uploaded`: the photo ids whose upload is
    there), and there must be one at least."""
    if case.status is not CaseStatus.DRAFT:
        raise CaseRuleError("case-submitted", "The case is submitted already.")
    if not state:
        raise CaseRuleError(
            "home-state-required",
            "Add the state you live in to your details first: a clinician licensed there answers.",
        )
    if not case.kept:
        raise CaseRuleError("no-photos", "Add at least one photo before you send the case.")
    missing = [
        p.photo_id for p in case.kept if p.status is PhotoStatus.AWAITED and p.photo_id not in uploaded
    ]
    if missing:
        raise CaseRuleError(
            "photos-not-uploaded", f"{len(missing)} photo(s) have not finished uploading: send them again."
        )
    photos = tuple(
        replace(p, status=PhotoStatus.SCANNING) if p.status is PhotoStatus.AWAITED else p for p in case.photos
    )
    return replace(
        case,
        photos=photos,
        status=CaseStatus.SUBMITTED,
        submitted_at=now,
        due_at=now + turnaround,
        version=case.version + 1,
        patient_state=state,
    )


class Verdict(StrEnum):
    """A malware scan's result for an uploaded photo (GuardDuty Malware Protection for S3's)."""

    CLEAN = "NO_THREATS_FOUND"
    THREATS = "THREATS_FOUND"
    UNSUPPORTED = "UNSUPPORTED"
    ACCESS_DENIED = "ACCESS_DENIED"
    FAILED = "FAILED"


NOT_CLEAN = "This file did not pass our safety check, so it was not sent. Take the photo again and send that."


def photo_settled(case: PhotoCase, photo_id: str, *, ready: bool, reason: str | None = None) -> PhotoCase:
    """A photo ready for the clinician (clean, its review copy made), or refused with its reason.
    A photo already settled stays as it is (a scan result delivered twice)."""
    photo = case.photo(photo_id)
    if photo is None or photo.status in (PhotoStatus.READY, PhotoStatus.REFUSED):
        return case
    status = PhotoStatus.READY if ready else PhotoStatus.REFUSED
    photos = tuple(
        replace(p, status=status, reason=None if ready else reason) if p.photo_id == photo_id else p
        for p in case.photos
    )
    return replace(case, photos=photos, version=case.version + 1)


def answered(case: PhotoCase, answer: CaseAnswer) -> PhotoCase:
    """The clinician's answer: to a submitted case whose photos have all had their verdict."""
    if case.status is CaseStatus.ANSWERED:
        raise CaseRuleError("case-answered", "The case is answered already.")
    if case.status is not CaseStatus.SUBMITTED:
        raise CaseRuleError("case-not-submitted", "The patient has not sent the case yet.")
    if case.scanning:
        raise CaseRuleError("photos-scanning", "A photo is still being checked: answer once it is shown.")
    if (
        not answer.assessment.strip()
        or len(answer.assessment) > MAX_ANSWER
        or len(answer.advice) > MAX_ANSWER
    ):
        raise CaseRuleError(
            "answer-refused", f"An assessment is 1 to {MAX_ANSWER} characters, advice at most {MAX_ANSWER}."
        )
    return replace(case, status=CaseStatus.ANSWERED, answer=answer, version=case.version + 1)


NEEDS_SOONER = (
    "A skin problem that spreads fast or comes with a fever needs a clinician sooner than photos "
    "allow. Use Check your symptoms, or call 911 if you feel very unwell."
)


def too_urgent_for_photos(answers: dict[str, Any]) -> bool:
    """Answers that a case of photos, answered in days, must not wait on."""
    return answers.get("spreading_fast") is True or answers.get("fever") is True


@dataclass(frozen=True)
class DeadlineStep:
    """What a case's deadline timer does now: escalate (`level`), and when to look again (None:
    never again: the case is answered, or it is overdue and escalated as such)."""

    level: Escalation | None
    next_at: datetime | None


def deadline_step(case: PhotoCase, warning: timedelta, now: datetime) -> DeadlineStep:
    """The case's deadline at `now`: nearing from `warning` before it is due, overdue once due. A
    step that comes late escalates to where the case is now, once (a case found overdue is not
    also escalated as nearing); a warning as long as the turnaround escalates it on arrival."""
    if case.status is not CaseStatus.SUBMITTED or case.due_at is None:
        return DeadlineStep(None, None)
    turns = ((Escalation.NEARING, case.due_at - warning), (Escalation.OVERDUE, case.due_at))
    reached = [level for level, at in turns if at <= now]
    upcoming = [at for level, at in turns if at > now]
    next_at = upcoming[0] if upcoming else None
    if reached and reached[-1] not in {e.level for e in case.escalations}:
        return DeadlineStep(reached[-1], next_at)
    return DeadlineStep(None, next_at)


def escalated(case: PhotoCase, level: Escalation, now: datetime) -> PhotoCase:
    return replace(
        case, escalations=(*case.escalations, CaseEscalation(level, now)), version=case.version + 1
    )
