"""Virtual triage: a patient's symptom intake, one question at a time, that escalates to emergency
care the moment a red flag holds, or else routes the patient (and says why).

- The questionnaire is FHIR data (`fhir/questionnaires/`); its `enableWhen` makes it adaptive.
- Every answer is held to the red flags first (`domain/triage.py`), before anything else reads it.
  A red flag stops the intake: the patient is shown the emergency instruction, what was shown is
  kept word for word, and the clinic's on-call is paged (`Triage.EmergencyShown`).
- A clinic uses a rule set only once its medical director has signed that version off.
- A finished intake reaches the record as a QuestionnaireResponse (stopped or completed), through
  the outbox; every read and write of one is audited.
- Free text is read by an NLP service afterwards (`Triage.Completed`), for the clinician: never
  to decide anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import Idempotency, NotFoundError, announce, claim
from telehealth.application.callers import Caller, NotAuthorizedError
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.questionnaires import Item, Questionnaire
from telehealth.domain.triage import (
    RULE_SET,
    CareOffer,
    Disposition,
    EmergencyShown,
    Finding,
    Intake,
    IntakeStatus,
    RuleSet,
    SignOff,
    care_offer,
    enabled,
    self_care_advice,
    triage,
)
from telehealth.errors import IntakeClosedError, StaleWriteError, TriageUnavailableError
from telehealth.events import TriageCompleted, TriageEmergencyShown
from telehealth.fhir import questionnaire as fhir_questionnaire
from telehealth.ports import IdempotencyClaim, OutboxEntry

if TYPE_CHECKING:
    from telehealth.application.booking import BookingService, OfferedSlot
    from telehealth.domain.clinic_settings import ClinicSettings
    from telehealth.fhir.projection import PatientProfile

RECENT_INTAKES = 20  # what a clinician's view of a patient lists
RECENT_EMERGENCIES = 50  # what the on-call's view lists
NO_SLOT = (
    "No urgent-care clinician is free soon enough. Call your doctor's office now, or go to an "
    "urgent care center today. Call 911 if you get worse."
)
SELF_CARE_OFF = "The clinic would like a clinician to look at this, within the next few days."


class TriageRecords(Protocol):
    def intake(self, patient_id: str, intake_id: str) -> Intake | None: ...

    def intakes(self, patient_id: str, limit: int) -> list[Intake]: ...

    def save_intake(
        self, intake: Intake, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        """At `intake.version`, on the one before it (StaleWriteError otherwise)."""

    def emergencies(self, limit: int) -> list[Intake]: ...

    def sign_offs(self) -> tuple[SignOff, ...]: ...

    def save_sign_off(self, sign_off: SignOff) -> None:
        """Once per version (a second of the same version is a no-op)."""

    def record(self, outbox: list[OutboxEntry]) -> None: ...

    def provider_for_user(self, user_sub: str) -> str | None: ...

    def patient(self, patient_id: str) -> PatientProfile | None: ...


class Pager(Protocol):
    def page(self, provider_id: str, about: str = "alert") -> None: ...


class NlpPort(Protocol):
    def findings(self, text: str) -> tuple[Finding, ...]:
        """Symptoms and conditions the words name, negated ones marked; raises on an outage."""


@dataclass(frozen=True)
class Offer:
    """What a routing offers to book now: the kind of care, the window, and for "now" the soonest
    slot the patient can take (None: none within the clinic's limit)."""

    specialty: str
    start: datetime
    end: datetime
    state: str | None  # where slots were looked for: the patient's home state (None: not known)
    soonest: OfferedSlot | None


@dataclass(frozen=True)
class Step:
    """Where an intake stands for the patient: the next question, or how it ended."""

    intake: Intake
    question: Item | None
    offer: Offer | None = None
    advice: str | None = None  # self-care's


@dataclass(frozen=True)
class RuleSetView:
    rule_set: RuleSet
    sign_offs: tuple[SignOff, ...]
    medical_director: str | None
    enabled: bool


class TriageDesk:
    def __init__(
        self,
        store: TriageRecords,
        settings: Callable[[], ClinicSettings],
        booking: Callable[[], BookingService],
        clock: Callable[[], datetime],
        trail: AuditTrail,
        rule_set: RuleSet = RULE_SET,
        questionnaire: str = fhir_questionnaire.TRIAGE_INTAKE,
    ) -> None:
        self.store, self.settings, self.booking, self.clock, self.trail = (
            store,
            settings,
            booking,
            clock,
            trail,
        )
        self.rule_set, self.questionnaire_file = rule_set, questionnaire
        self._questionnaire_kept = False

    @property
    def questionnaire(self) -> Questionnaire:
        return fhir_questionnaire.authored(self.questionnaire_file)[1]

    # --- the medical director ------------------------------------------------------------------------

    def rules(self, caller: Caller) -> RuleSetView:
        caller.require(Actor.PROVIDER, Actor.STAFF)
        sign_offs = self.store.sign_offs()
        director = self.settings().triage.medical_director
        return RuleSetView(self.rule_set, sign_offs, director, enabled(self.rule_set, sign_offs))

    def sign_off(self, caller: Caller, version: str) -> RuleSetView:
        """The clinic's medical director, signed in, signs the platform's rule set off."""
        caller.require(Actor.PROVIDER)
        director = self.settings().triage.medical_director
        if director is None or self.store.provider_for_user(caller.subject) != director:
            raise NotAuthorizedError("Only the clinic's medical director signs triage's rules off.")
        if version != self.rule_set.version:
            raise NotFoundError("no such rule set version")
        if not any(s.version == version for s in self.store.sign_offs()):
            self.store.save_sign_off(SignOff(version, director, self.clock()))
        return self.rules(caller)

    # --- the patient -----------------------------------------------------------------------------------

    def available(self) -> bool:
        return enabled(self.rule_set, self.store.sign_offs())

    def start(self, caller: Caller, idempotency: Idempotency | None = None) -> Step:
        with self.trail.request(caller, Interaction.CREATE):
            caller.require(Actor.PATIENT)
            if not self.available():
                raise TriageUnavailableError("the rule set is not signed off")
            now = self.clock().replace(microsecond=0)  # as the table keeps it
            intake = Intake(
                intake_id=new_id(now),
                patient_id=caller.subject,
                questionnaire=self.questionnaire.canonical,
                rule_set=self.rule_set.version,
                started_at=now,
                answers={},
            )
            step = Step(intake, self.questionnaire.next_question({}))
            # A check under way is in no record yet: its writes are audited as the patient's.
            self.store.save_intake(
                intake, self._patient_audit(caller, Interaction.CREATE), claim(idempotency, step)
            )
            return step

    def answer(self, caller: Caller, intake_id: str, answers: Mapping[str, Any]) -> Step:
        """Take the answers so far (all of them, each time): the next question, or the end. The
        red flags are held to the answers before anything else is."""
        with self.trail.request(caller, Interaction.UPDATE):
            caller.require(Actor.PATIENT)
            intake = self._own(caller, intake_id)
            taken = self.questionnaire.in_force(answers)
            if not intake.open:
                if taken != intake.answers:
                    raise IntakeClosedError("the intake has ended")
                return self._step(caller, intake)  # the same answers again: the same end
            now = self.clock().replace(microsecond=0)  # as the table keeps it
            flag, routing = triage(taken, self.rule_set)
            if flag is not None:
                shown = EmergencyShown(flag.code, flag.call, flag.instruction, self.rule_set.version, now)
                ended = replace(
                    intake,
                    answers=taken,
                    status=IntakeStatus.STOPPED,
                    emergency=shown,
                    disposition=Disposition.EMERGENCY,
                    why=flag.instruction,
                    finished_at=now,
                    version=intake.version + 1,
                )
                event = TriageEmergencyShown(intake_id=intake.intake_id, patient_id=intake.patient_id)
                self._save_ended(caller, ended, announce(event, now))
                return Step(ended, None)
            question = self.questionnaire.next_question(taken)
            if question is not None:
                going = replace(intake, answers=taken, version=intake.version + 1)
                self._save(going, self._patient_audit(caller, Interaction.UPDATE))
                return Step(going, question)
            disposition, why = routing.disposition, routing.why
            if disposition is Disposition.SELF_CARE and not self.settings().triage.self_care:
                disposition, why = Disposition.WITHIN_DAYS, SELF_CARE_OFF
            ended = replace(
                intake,
                answers=taken,
                status=IntakeStatus.COMPLETED,
                disposition=disposition,
                why=why,
                finished_at=now,
                version=intake.version + 1,
            )
            free_text = bool(taken.get("details"))
            event_done = TriageCompleted(
                intake_id=intake.intake_id, patient_id=intake.patient_id, free_text=free_text
            )
            self._save_ended(caller, ended, announce(event_done, now))
            return self._step(caller, ended)

    def view(self, caller: Caller, intake_id: str) -> Step:
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PATIENT)
            intake = self._own(caller, intake_id)
            self._audit(caller, Interaction.READ, intake)
            return self._step(caller, intake)

    # --- the care team --------------------------------------------------------------------------------

    def of_patient(self, caller: Caller, patient_id: str) -> list[Intake]:
        """A patient's recent intakes, newest first: the answers, how each ended, what NLP found."""
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PROVIDER, Actor.STAFF)
            found = self.store.intakes(patient_id, RECENT_INTAKES)
            ended = [i for i in found if not i.open]
            refs = [self._reference(i) for i in ended] or [f"Patient/{patient_id}"]
            self.store.record(
                self.trail.entries(self.trail.agent(caller), Interaction.READ, refs, self.clock())
            )
            return ended

    def emergencies(self, caller: Caller) -> list[tuple[Intake, PatientProfile | None]]:
        """The on-call's view: intakes a red flag ended, newest first, with whose they are."""
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PROVIDER, Actor.STAFF)
            found = self.store.emergencies(RECENT_EMERGENCIES)
            refs = [self._reference(i) for i in found]
            if refs:
                agent = self.trail.agent(caller)
                self.store.record(self.trail.entries(agent, Interaction.READ, refs, self.clock()))
            return [(i, self.store.patient(i.patient_id)) for i in found]

    # --- afterwards: the on-call paged, the free text read ----------------------------------------

    def page_on_call(self, patient_id: str, intake_id: str, pager: Pager) -> list[str]:
        """Page each of the clinic's on-call providers about an intake a red flag ended (the page
        says nothing of whose or why); the providers paged. One with no address for pages is
        skipped, not a failure for the others."""
        intake = self.store.intake(patient_id, intake_id)
        if intake is None or intake.emergency is None:
            return []
        paged = []
        for provider_id in self.settings().triage.on_call:
            try:
                pager.page(provider_id, "triage-emergency")
            except LookupError:
                continue
            paged.append(provider_id)
        return paged

    # --- NLP, afterwards -------------------------------------------------------------------------------

    def read_free_text(self, patient_id: str, intake_id: str, nlp: NlpPort) -> int | None:
        """What the NLP service finds in an ended intake's free text, kept for the clinician;
        None when there is nothing to read (or it was read before). Raises on the service's outage."""
        intake = self.store.intake(patient_id, intake_id)
        if intake is None or intake.open or intake.findings is not None:
            return None
        text = intake.answers.get("details")
        if not text:
            return None
        findings = nlp.findings(str(text))
        try:
            self.store.save_intake(replace(intake, findings=findings, version=intake.version + 1), [])
        except StaleWriteError:  # read twice at once: the other kept them
            return None
        return len(findings)

    # --- shared -----------------------------------------------------------------------------------------

    def _own(self, caller: Caller, intake_id: str) -> Intake:
        intake = self.store.intake(caller.subject, intake_id)
        if intake is None:
            raise NotFoundError("no such intake")
        return intake

    def _save(self, intake: Intake, outbox: list[OutboxEntry]) -> None:
        try:
            self.store.save_intake(intake, outbox)
        except StaleWriteError as error:  # two tabs answering at once: the patient reloads
            raise StaleWriteError("the intake changed meanwhile") from error

    def _save_ended(self, caller: Caller, ended: Intake, event: OutboxEntry) -> None:
        resource, _ = fhir_questionnaire.authored(self.questionnaire_file)
        qr = fhir_questionnaire.response(
            self.questionnaire,
            response_id=self._reference(ended).split("/")[1],
            patient_id=ended.patient_id,
            answers=ended.answers,
            status=ended.status.value,
            authored_at=ended.finished_at or ended.started_at,
            choice_systems=fhir_questionnaire.choice_systems(resource),
        )
        if not self._questionnaire_kept:
            # The questionnaire the responses answer, once per container and outside each change's
            # transaction: every ended check writing the same outbox item would make concurrent
            # ones conflict (an emergency among them).
            self.store.record([OutboxEntry(resource, 1)])
            self._questionnaire_kept = True
        outbox = [
            OutboxEntry(qr, ended.version),
            event,
            *self.trail.entries(
                self.trail.agent(caller), Interaction.CREATE, [self._reference(ended)], self.clock()
            ),
        ]
        self._save(ended, outbox)

    def _patient_audit(self, caller: Caller, interaction: Interaction) -> list[OutboxEntry]:
        agent = self.trail.agent(caller)
        return self.trail.entries(agent, interaction, [f"Patient/{caller.subject}"], self.clock())

    def _audit(self, caller: Caller, interaction: Interaction, intake: Intake) -> None:
        refs = [f"Patient/{intake.patient_id}"] if intake.open else [self._reference(intake)]
        self.store.record(self.trail.entries(self.trail.agent(caller), interaction, refs, self.clock()))

    @staticmethod
    def _reference(intake: Intake) -> str:
        return f"QuestionnaireResponse/triage-{intake.intake_id.lower()}"

    def _step(self, caller: Caller, intake: Intake) -> Step:
        if intake.open:
            return Step(intake, self.questionnaire.next_question(intake.answers))
        if intake.disposition is Disposition.SELF_CARE:
            return Step(intake, None, advice=self_care_advice(intake.answers))
        if intake.disposition in (None, Disposition.EMERGENCY):
            return Step(intake, None)
        offer = self._offer(caller, intake)
        stuck = intake.disposition is Disposition.NOW and (offer is None or offer.soonest is None)
        return Step(intake, None, offer=offer, advice=NO_SLOT if stuck else None)

    def _offer(self, caller: Caller, intake: Intake) -> Offer | None:
        from telehealth.application.booking import SlotQuery

        assert intake.disposition is not None
        care: CareOffer = care_offer(intake.disposition, intake.answers, self.settings().triage.urgent_within)
        if care.specialty is None:
            return None
        now = self.clock()
        start, end = now, now + care.within
        soonest = None
        profile = self.store.patient(intake.patient_id)
        if intake.disposition is Disposition.NOW and profile is not None and profile.home_state:
            query = SlotQuery(profile.home_state, start, end, specialty=care.specialty)
            soonest = self.booking().soonest(caller, query)
        return Offer(care.specialty, start, end, profile.home_state if profile else None, soonest)
