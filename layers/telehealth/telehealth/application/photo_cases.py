"""Store-and-forward: a patient opens a case with their answers, adds one to six photos (each
uploaded by their browser straight to storage through a slot of its own), and submits it to the
clinicians' queue, due by the clinic's turnaround promise. Every read and write is audited; the
submitted case reaches the record as a QuestionnaireResponse through the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import Idempotency, NotFoundError, announce, claim
from telehealth.application.callers import Caller, NotAuthorizedError
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.photo_cases import (
    NEEDS_SOONER,
    NOT_CLEAN,
    AnswerOutcome,
    CaseAnswer,
    CasePhoto,
    CaseRuleError,
    CaseStatus,
    PhotoCase,
    PhotoStatus,
    Verdict,
    add_photo,
    answered,
    photo_settled,
    submit,
    too_urgent_for_photos,
)
from telehealth.domain.questionnaires import Questionnaire
from telehealth.errors import StaleWriteError
from telehealth.events import PhotoCaseAnswered, PhotoCaseSubmitted
from telehealth.fhir import photo_cases as record
from telehealth.fhir import questionnaire as fhir_questionnaire
from telehealth.ports import IdempotencyClaim, OutboxEntry, UploadSlot

if TYPE_CHECKING:
    from telehealth.domain.clinic_settings import ClinicSettings
    from telehealth.fhir.projection import PatientProfile

PHOTO_CASE = "photo-case-2026.1.json"
RECENT_CASES = 20
# A case's photos are scanned side by side as they land, each settling on the case's item: a
# change that meets another's is read again and made again, up to this many times.
SAVE_ATTEMPTS = 6
QUEUE_LENGTH = 100  # the clinicians' queue shows this many, the soonest due first


class PhotoCaseRecords(Protocol):
    def case(self, patient_id: str, case_id: str) -> PhotoCase | None: ...

    def case_by_id(self, case_id: str) -> PhotoCase | None: ...

    def queue(self, limit: int) -> list[PhotoCase]: ...

    def patient(self, patient_id: str) -> PatientProfile | None: ...

    def provider_for_user(self, user_sub: str) -> str | None: ...

    def cases(self, patient_id: str, limit: int) -> list[PhotoCase]: ...

    def save_case(
        self, case: PhotoCase, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


class PhotoUploads(Protocol):
    def review_copy(self, case_id: str, photo_id: str) -> bytes: ...

    def slot(
        self, case_id: str, photo_id: str, *, content_type: str, size: int, sha256: str
    ) -> UploadSlot: ...

    def uploaded(self, case_id: str) -> set[str]: ...


class PhotoCaseDesk:
    def __init__(
        self,
        store: PhotoCaseRecords,
        uploads: PhotoUploads,
        settings: Callable[[], ClinicSettings],
        clock: Callable[[], datetime],
        trail: AuditTrail,
        questionnaire: str = PHOTO_CASE,
    ) -> None:
        self.store, self.uploads, self.settings, self.clock, self.trail = (
            store,
            uploads,
            settings,
            clock,
            trail,
        )
        self.questionnaire_file = questionnaire
        self._questionnaire_kept = False

    @property
    def questionnaire(self) -> Questionnaire:
        return fhir_questionnaire.authored(self.questionnaire_file)[1]

    def open(
        self, caller: Caller, answers: Mapping[str, Any], idempotency: Idempotency | None = None
    ) -> PhotoCase:
        with self.trail.request(caller, Interaction.CREATE):
            caller.require(Actor.PATIENT)
            taken = self.questionnaire.in_force(answers)
            unanswered = self.questionnaire.next_question(taken)
            if unanswered is not None and unanswered.required:
                from telehealth.domain.questionnaires import QuestionnaireError

                raise QuestionnaireError([f"{unanswered.link_id} must be answered"])
            if too_urgent_for_photos(taken):
                raise CaseRuleError("needs-sooner", NEEDS_SOONER)
            now = self._now()
            case = PhotoCase(new_id(now), caller.subject, self.questionnaire.canonical, taken, now)
            self.store.save_case(
                case, self._audit(caller, Interaction.CREATE, case), claim(idempotency, case)
            )
            return case

    def add_photo(
        self,
        caller: Caller,
        case_id: str,
        *,
        content_type: str,
        size: int,
        sha256: str,
        idempotency: Idempotency | None = None,
    ) -> tuple[PhotoCase, CasePhoto, UploadSlot]:
        """A photo's place in the case, and the slot its upload goes through (ten minutes)."""
        with self.trail.request(caller, Interaction.UPDATE):
            caller.require(Actor.PATIENT)
            now = self._now()
            photo = CasePhoto(new_id(now), content_type, size, sha256.lower(), now)
            slot = self.uploads.slot(
                case_id, photo.photo_id, content_type=content_type, size=size, sha256=photo.sha256
            )
            for attempt in range(SAVE_ATTEMPTS):
                # An earlier photo's scan may settle on the case meanwhile: read it again, add again.
                changed = add_photo(self._own(caller, case_id), photo)
                try:
                    self.store.save_case(
                        changed,
                        self._audit(caller, Interaction.UPDATE, changed),
                        claim(idempotency, (changed, photo, slot)),
                    )
                    return changed, photo, slot
                except StaleWriteError:
                    if attempt == SAVE_ATTEMPTS - 1:
                        raise
            raise AssertionError("unreachable")

    def submit(self, caller: Caller, case_id: str) -> PhotoCase:
        with self.trail.request(caller, Interaction.UPDATE):
            caller.require(Actor.PATIENT)
            now = self._now()
            uploaded = self.uploads.uploaded(self._own(caller, case_id).case_id)
            if not self._questionnaire_kept:  # once per container, outside the transaction
                self.store.record([OutboxEntry(fhir_questionnaire.authored(self.questionnaire_file)[0], 1)])
                self._questionnaire_kept = True
            for attempt in range(SAVE_ATTEMPTS):
                # A photo's scan may settle on the case meanwhile (uploads are scanned as they land).
                case = self._own(caller, case_id)
                submitted = submit(case, uploaded, now, self.settings().triage.photo_turnaround)
                response = fhir_questionnaire.response(
                    self.questionnaire,
                    response_id=self._reference(case).split("/")[1],
                    patient_id=case.patient_id,
                    answers=case.answers,
                    status="completed",
                    authored_at=now,
                )
                outbox = [
                    OutboxEntry(response, submitted.version),
                    announce(PhotoCaseSubmitted(case_id=case.case_id, patient_id=case.patient_id), now),
                    *self._audit(caller, Interaction.UPDATE, submitted),
                ]
                try:
                    self.store.save_case(submitted, outbox)
                    return submitted
                except StaleWriteError:
                    if attempt == SAVE_ATTEMPTS - 1:
                        raise
            raise AssertionError("unreachable")

    def view(self, caller: Caller, case_id: str) -> PhotoCase:
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PATIENT)
            case = self._own(caller, case_id)
            self.store.record(self._audit(caller, Interaction.READ, case))
            return case

    def mine(self, caller: Caller) -> list[PhotoCase]:
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PATIENT)
            found = self.store.cases(caller.subject, RECENT_CASES)
            refs = [self._reference(c) for c in found if c.status is not CaseStatus.DRAFT]
            refs = refs or [f"Patient/{caller.subject}"]
            self.store.record(
                self.trail.entries(self.trail.agent(caller), Interaction.READ, refs, self.clock())
            )
            return found

    # --- the clinicians ---------------------------------------------------------------------------

    def queue(self, caller: Caller) -> list[tuple[PhotoCase, PatientProfile | None]]:
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PROVIDER, Actor.STAFF)
            found = self.store.queue(QUEUE_LENGTH)
            if found:
                refs = [self._reference(c) for c in found]
                self.store.record(
                    self.trail.entries(self.trail.agent(caller), Interaction.READ, refs, self.clock())
                )
            return [(c, self.store.patient(c.patient_id)) for c in found]

    def for_review(self, caller: Caller, case_id: str) -> tuple[PhotoCase, PatientProfile | None]:
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PROVIDER, Actor.STAFF)
            case = self._submitted(case_id)
            self.store.record(self._audit(caller, Interaction.READ, case))
            return case, self.store.patient(case.patient_id)

    def photo(self, caller: Caller, case_id: str, photo_id: str) -> bytes:
        """A photo's review copy (only once it is ready: clean, and made safe to show)."""
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PROVIDER, Actor.STAFF)
            case = self._submitted(case_id)
            photo = case.photo(photo_id)
            if photo is None or photo.status is not PhotoStatus.READY:
                raise NotFoundError("no such photo to show")
            self.store.record(self._audit(caller, Interaction.READ, case))
            return self.uploads.review_copy(case_id, photo_id)

    def answer(
        self, caller: Caller, case_id: str, *, assessment: str, advice: str, outcome: AnswerOutcome
    ) -> PhotoCase:
        """The provider's answer: the case leaves the queue; the record gets the answer as a
        consult note and each photo shown as a Media; the patient is told it is there."""
        with self.trail.request(caller, Interaction.UPDATE):
            caller.require(Actor.PROVIDER)
            provider_id = self.store.provider_for_user(caller.subject)
            if provider_id is None:
                raise NotAuthorizedError("Only a provider of the clinic answers a case.")
            case = self._submitted(case_id)
            now = self._now()
            done = answered(case, CaseAnswer(provider_id, assessment.strip(), advice.strip(), outcome, now))
            assert done.answer is not None
            outbox = [
                *(OutboxEntry(media, done.version) for media in record.photos(done)),
                OutboxEntry(record.answer_document(done, done.answer), done.version),
                announce(PhotoCaseAnswered(case_id=case.case_id, patient_id=case.patient_id), now),
                *self._audit(caller, Interaction.UPDATE, done),
            ]
            self.store.save_case(done, outbox)
            return done

    # --- shared -----------------------------------------------------------------------------------

    def _submitted(self, case_id: str) -> PhotoCase:
        """A case a clinician may see: sent by its patient (a draft is the patient's alone)."""
        case = self.store.case_by_id(case_id)
        if case is None or case.status is CaseStatus.DRAFT:
            raise NotFoundError("no such case")
        return case

    def _now(self) -> datetime:
        return self.clock().replace(microsecond=0)  # as the table keeps instants

    def _own(self, caller: Caller, case_id: str) -> PhotoCase:
        case = self.store.case(caller.subject, case_id)
        if case is None:
            raise NotFoundError("no such case")
        return case

    def _audit(self, caller: Caller, interaction: Interaction, case: PhotoCase) -> list[OutboxEntry]:
        """A draft is in no record yet: its reads and writes are the patient's; once submitted, the
        case's QuestionnaireResponse."""
        draft = case.status is CaseStatus.DRAFT
        refs = [f"Patient/{case.patient_id}"] if draft else [self._reference(case)]
        return self.trail.entries(self.trail.agent(caller), interaction, refs, self.clock())

    @staticmethod
    def _reference(case: PhotoCase) -> str:
        return f"QuestionnaireResponse/case-{case.case_id.lower()}"


class PhotoStorage(Protocol):
    def original(self, case_id: str, photo_id: str) -> bytes:
        """The photo as uploaded (readable once the malware scan found it clean)."""

    def keep_review_copy(self, case_id: str, photo_id: str, jpeg: bytes) -> None: ...


class CaseLookup(Protocol):
    def case_by_id(self, case_id: str) -> PhotoCase | None: ...

    def save_case(
        self, case: PhotoCase, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None: ...


class PhotoScans:
    """A photo's malware verdict: clean, its review copy is made (`telehealth/photos/sanitize.py`)
    and it is ready for the clinician; otherwise, or when it is not one whole photo, it is refused
    with the reason the patient reads."""

    def __init__(self, store: CaseLookup, storage: PhotoStorage) -> None:
        self.store, self.storage = store, storage

    def scanned(self, case_id: str, photo_id: str, verdict: Verdict) -> PhotoStatus | None:
        """The photo's status after its verdict; None for an upload no case gave a slot for."""
        from telehealth.photos.sanitize import PhotoRefusedError, review_copy

        case = self.store.case_by_id(case_id)
        photo = case.photo(photo_id) if case else None
        if case is None or photo is None:
            return None
        if photo.status in (PhotoStatus.READY, PhotoStatus.REFUSED):
            return photo.status  # a verdict delivered again
        ready, reason = False, NOT_CLEAN
        if verdict is Verdict.CLEAN:
            try:
                made = review_copy(
                    self.storage.original(case_id, photo_id),
                    content_type=photo.content_type,
                    sha256=photo.sha256,
                )
            except PhotoRefusedError as refused:
                reason = refused.reason
            else:
                self.storage.keep_review_copy(case_id, photo_id, made.jpeg)
                ready = True
        for _ in range(SAVE_ATTEMPTS):
            settled = photo_settled(case, photo_id, ready=ready, reason=reason)
            if settled is case:
                break
            try:
                self.store.save_case(settled, [])
                break
            except StaleWriteError:  # another photo of the case settled meanwhile: read it again
                fresh = self.store.case_by_id(case_id)
                assert fresh is not None
                case = fresh
        else:
            raise StaleWriteError("the case kept changing")
        return PhotoStatus.READY if ready else PhotoStatus.REFUSED
