"""Store-and-forward: a patient opens a case with their answers, adds one to six photos (each
uploaded by their browser straight to storage through a slot of its own), and submits it to the
clinicians' queue, due by the clinic's turnaround promise. Every read and write is audited; the
submitted case reaches the record as a QuestionnaireResponse through the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
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
    DeadlineStep,
    Escalation,
    PhotoCase,
    PhotoStatus,
    Verdict,
    add_photo,
    answered,
    deadline_step,
    escalated,
    photo_settled,
    submit,
    too_urgent_for_photos,
)
from telehealth.domain.questionnaires import Questionnaire
from telehealth.errors import StaleWriteError
from telehealth.events import PhotoCaseAnswered, PhotoCaseEscalated, PhotoCaseSubmitted
from telehealth.fhir import photo_cases as record
from telehealth.fhir import questionnaire as fhir_questionnaire
from telehealth.ports import IdempotencyClaim, Notice, Notifier, OutboxEntry, UploadSlot, workflow_start

if TYPE_CHECKING:
    from telehealth.application.booking import BookingService, OfferedSlot
    from telehealth.domain.clinic_settings import ClinicSettings
    from telehealth.fhir.projection import PatientProfile
    from telehealth.ports import ProviderRecord

PHOTO_CASE = "photo-case-2026.1.json"
RECENT_CASES = 20
# A case's photos are scanned side by side as they land, each settling on the case's item: a
# change that meets another's is read again and made again, up to this many times.
SAVE_ATTEMPTS = 6
QUEUE_LENGTH = 100  # the clinicians' queue shows this many, the soonest due first
DEADLINE = "photo-case-deadline"  # the state machine that escalates a case nearing its deadline
# A clinician who asks to see the patient: the soonest visit offered is within this, and the
# offer stands this long after the answer.
VISIT_WITHIN = timedelta(days=14)


def saved_again(
    case: PhotoCase,
    read_again: Callable[[], PhotoCase | None],
    change: Callable[[PhotoCase], PhotoCase | None],
    save: Callable[[PhotoCase], None],
) -> PhotoCase | None:
    """`change(case)` saved; when the case changed meanwhile (a photo's scan settles on it whenever
    it lands, the deadline's timer marks it), read again and changed again, up to SAVE_ATTEMPTS
    times. `change` answering None means there is nothing to save (it is so already)."""
    for attempt in range(SAVE_ATTEMPTS):
        changed = change(case)
        if changed is None:
            return None
        try:
            save(changed)
            return changed
        except StaleWriteError:
            fresh = read_again() if attempt < SAVE_ATTEMPTS - 1 else None
            if fresh is None:
                raise
            case = fresh
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class VisitOffer:
    """An answer that asks to see the patient: the soonest time with the clinician who answered
    (else with another of their specialty) where the patient lives, within VISIT_WITHIN; `soonest`
    None when there is none, and the patient searches for a time of that kind of care."""

    specialty: str
    state: str
    soonest: OfferedSlot | None


class PhotoCaseRecords(Protocol):
    def case(self, patient_id: str, case_id: str) -> PhotoCase | None: ...

    def provider(self, provider_id: str) -> ProviderRecord | None: ...

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
        booking: Callable[[], BookingService] | None = None,
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
        self.booking = booking

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
            changed = saved_again(
                self._own(caller, case_id),
                lambda: self._own(caller, case_id),
                lambda case: add_photo(case, photo),
                lambda made: self.store.save_case(
                    made,
                    self._audit(caller, Interaction.UPDATE, made),
                    claim(idempotency, (made, photo, slot)),
                ),
            )
            assert changed is not None
            return changed, photo, slot

    def submit(self, caller: Caller, case_id: str) -> PhotoCase:
        with self.trail.request(caller, Interaction.UPDATE):
            caller.require(Actor.PATIENT)
            now = self._now()
            case = self._own(caller, case_id)
            uploaded = self.uploads.uploaded(case.case_id)
            if not self._questionnaire_kept:  # once per container, outside the transaction
                self.store.record([OutboxEntry(fhir_questionnaire.authored(self.questionnaire_file)[0], 1)])
                self._questionnaire_kept = True
            turnaround = self.settings().triage.photo_turnaround
            profile = self.store.patient(caller.subject)
            state = profile.home_state if profile else None

            def sent(submitted: PhotoCase) -> None:
                response = fhir_questionnaire.response(
                    self.questionnaire,
                    response_id=self._reference(submitted).split("/")[1],
                    patient_id=submitted.patient_id,
                    answers=submitted.answers,
                    status="completed",
                    authored_at=now,
                )
                outbox = [
                    OutboxEntry(response, submitted.version),
                    announce(
                        PhotoCaseSubmitted(case_id=submitted.case_id, patient_id=submitted.patient_id), now
                    ),
                    # Its deadline's timer: the execution is named by the case (one per case).
                    workflow_start(DEADLINE, submitted.case_id, {"case_id": submitted.case_id}),
                    *self._audit(caller, Interaction.UPDATE, submitted),
                ]
                self.store.save_case(submitted, outbox)

            done = saved_again(
                case,
                lambda: self._own(caller, case_id),
                lambda current: submit(current, uploaded, now, turnaround, state),
                sent,
            )
            assert done is not None
            return done

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

    def visit_offer(self, caller: Caller, case: PhotoCase) -> VisitOffer | None:
        """For a case whose answer asks to see the patient (and not long ago): the visit offered."""
        answer = case.answer
        if answer is None or answer.outcome is not AnswerOutcome.LIVE_VISIT or self.booking is None:
            return None
        now = self.clock()
        if now - answer.answered_at > VISIT_WITHIN:
            return None
        state, clinician = self._state(case), self.store.provider(answer.provider_id)
        if state is None or clinician is None:
            return None
        from telehealth.application.booking import SlotQuery

        specialty = clinician.profile.specialty
        for who in (answer.provider_id, None):  # the clinician who answered first, then their kind
            query = SlotQuery(state, now, now + VISIT_WITHIN, specialty=specialty, provider_id=who)
            if (found := self.booking().soonest(caller, query)) is not None:
                return VisitOffer(specialty, state, found)
        return VisitOffer(specialty, state, None)

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
            self._check_licensed(provider_id, case, now)
            given = CaseAnswer(provider_id, assessment.strip(), advice.strip(), outcome, now)

            def save(done: PhotoCase) -> None:
                assert done.answer is not None
                outbox = [
                    *(OutboxEntry(media, done.version) for media in record.photos(done)),
                    OutboxEntry(record.answer_document(done, done.answer), done.version),
                    announce(PhotoCaseAnswered(case_id=done.case_id, patient_id=done.patient_id), now),
                    *self._audit(caller, Interaction.UPDATE, done),
                ]
                self.store.save_case(done, outbox)

            done = saved_again(
                case, lambda: self._submitted(case_id), lambda current: answered(current, given), save
            )
            assert done is not None
            return done

    # --- shared -----------------------------------------------------------------------------------

    def _check_licensed(self, provider_id: str, case: PhotoCase, now: datetime) -> None:
        """A clinician answers only a case from a state where they may treat the patient."""
        from telehealth.domain.licensure import LicensurePolicy

        provider, state = self.store.provider(provider_id), self._state(case)
        if state is None:
            raise CaseRuleError(
                "not-licensed", "Where the patient lives is not known: ask them to add it to their details."
            )
        refused = LicensurePolicy().check(provider.licenses if provider else (), state, now.date())
        if refused is not None:
            raise CaseRuleError("not-licensed", f"{refused.value} ({state})")

    def _state(self, case: PhotoCase) -> str | None:
        return treated_in(case, self.store.patient)

    def _submitted(self, case_id: str) -> PhotoCase:
        return sent_case(self.store.case_by_id(case_id))

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
        return record.case_reference(case.case_id)


def sent_case(case: PhotoCase | None) -> PhotoCase:
    """A case a clinician may see: sent by its patient (a draft is the patient's alone, and is
    "no such case" to anyone else, as a case that does not exist)."""
    if case is None or not case.sent:
        raise NotFoundError("no such case")
    return case


def treated_in(case: PhotoCase, patient: Callable[[str], PatientProfile | None]) -> str | None:
    """Where the patient is treated: their home state as they sent the case (for a case sent
    before cases kept it, their home state now, the only time their details are read)."""
    if case.patient_state:
        return case.patient_state
    profile = patient(case.patient_id)
    return profile.home_state if profile else None


class PhotoStorage(Protocol):
    def original(self, case_id: str, photo_id: str) -> bytes:
        """The photo as uploaded (readable once the malware scan found it clean)."""

    def keep_review_copy(self, case_id: str, photo_id: str, jpeg: bytes) -> None: ...


class CaseLookup(Protocol):
    def case_by_id(self, case_id: str) -> PhotoCase | None: ...

    def provider(self, provider_id: str) -> ProviderRecord | None: ...

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

        def settle(current: PhotoCase) -> PhotoCase | None:
            settled = photo_settled(current, photo_id, ready=ready, reason=reason)
            return None if settled is current else settled

        saved_again(
            case,
            lambda: self.store.case_by_id(case_id),
            settle,
            lambda settled: self.store.save_case(settled, []),
        )
        return PhotoStatus.READY if ready else PhotoStatus.REFUSED


class AnswerNotice:
    """The patient told that a clinician answered their case: where to read it, never what it says
    (e-mail and SMS leave the platform's encryption). Once per case: the case keeps when."""

    def __init__(
        self,
        store: CaseLookup,
        patients: PatientLookup,
        notifier: Notifier,
        portal_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.patients, self.notifier = store, patients, notifier
        self.portal_url, self.clock = portal_url, clock

    def tell_patient(self, case_id: str) -> bool:
        case = self.store.case_by_id(case_id)
        if case is None or case.answer is None or case.patient_told_at is not None:
            return False  # not answered as far as this read sees (the event's retry finds it), or told
        patient = self.patients.patient(case.patient_id)
        if patient is None or not (patient.email or patient.phone):
            return False
        where = f"{self.portal_url}#/photos"
        text = f"A clinician has answered the photos you sent. Sign in to read the answer: {where}"
        self.notifier.send(Notice(patient.email, patient.phone, "Your photos have been answered", text))
        # Kept once it went out: a failure between the two tells the patient again on the event's
        # retry (a repeat rather than a loss).
        now = self.clock().replace(microsecond=0)

        def told(current: PhotoCase) -> PhotoCase | None:
            if current.patient_told_at is not None:
                return None
            return replace(current, patient_told_at=now, version=current.version + 1)

        saved_again(
            case, lambda: self.store.case_by_id(case_id), told, lambda made: self.store.save_case(made, [])
        )
        return True


class PatientLookup(Protocol):
    def patient(self, patient_id: str) -> PatientProfile | None: ...


class CasePager(Protocol):
    def page(self, provider_id: str, about: str = "alert") -> None: ...


class CaseDeadlines:
    """The deadline timer's step (the photo-case-deadline state machine runs one per submitted
    case): a case still unanswered when the clinic's warning begins is escalated to the on-call,
    who are paged, and once overdue to the medical director as well; `PhotoCase.Escalated` says
    so and the queue shows it. The settings are read at each step, so a change applies to cases
    already waiting."""

    def __init__(
        self,
        store: CaseLookup,
        settings: Callable[[], ClinicSettings],
        pager: CasePager,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.settings, self.pager, self.clock = store, settings, pager, clock

    def step(self, case_id: str) -> DeadlineStep:
        case, now = self.store.case_by_id(case_id), self.clock().replace(microsecond=0)
        if case is None:
            return DeadlineStep(None, None)
        triage = self.settings().triage
        step = deadline_step(case, triage.photo_warning, now)
        if step.level is None:
            return step
        to = self._on_call_for(case, triage.on_call, now)
        if step.level is Escalation.OVERDUE and triage.medical_director not in (None, *to):
            to.append(str(triage.medical_director))
        # Paged before it is written: a step retried after a failed write pages twice, never not
        # at all. Each is tried: one with no address for pages, or whose page failed, is not a
        # failure for the others; only when every page failed is the step retried.
        failed: Exception | None = None
        paged = 0
        for provider_id in to:
            try:
                self.pager.page(provider_id, f"photo-case-{step.level.value}")
                paged += 1
            except LookupError:
                continue
            except Exception as error:  # SES refusing one address: the others still hear
                failed = error
        if failed is not None and paged == 0:
            raise failed
        level = step.level

        def escalate(current: PhotoCase) -> PhotoCase | None:
            if deadline_step(current, triage.photo_warning, now).level is not level:
                return None  # answered meanwhile, or escalated by a step before this one
            return escalated(current, level, now)

        def save(made: PhotoCase) -> None:
            told = PhotoCaseEscalated(case_id=made.case_id, patient_id=made.patient_id, level=level.value)
            self.store.save_case(made, [announce(told, now)])

        saved_again(case, lambda: self.store.case_by_id(case_id), escalate, save)
        return step

    def _on_call_for(self, case: PhotoCase, on_call: tuple[str, ...], now: datetime) -> list[str]:
        """The on-call licensed where the patient lives, who can answer it; when none of them is,
        all of them (someone must see that the case waits)."""
        from telehealth.domain.licensure import LicensurePolicy

        state, policy = case.patient_state or "", LicensurePolicy()
        licensed = [
            p
            for p in on_call
            if (record := self.store.provider(p)) is not None
            and policy.may_treat(record.licenses, state, now.date())
        ]
        return licensed or list(on_call)
