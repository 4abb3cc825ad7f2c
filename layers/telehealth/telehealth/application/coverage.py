"""The clinic's insurance desk: a patient records their insurance (a payer from the clearinghouse's
directory, the member id, the group, and the subscriber where the patient is a dependent); it is
checked with the payer off the request's path (a real-time check can take tens of seconds) when it
is recorded and again the day before each visit; what a visit costs the patient follows from the
last answer (the co-payment, or the deductible and co-insurance), and booking never waits on it.

The check's answer is kept normalized (never the payer's raw response) and projected to FHIR as
`CoverageEligibilityResponse`; the insurance itself as `Coverage`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import BookingService, announce
from telehealth.application.callers import Caller, NotFoundError
from telehealth.domain.appointments import Actor
from telehealth.domain.coverage import (
    Coverage,
    CoverageCheck,
    CoverageRuleError,
    Eligibility,
    EligibilityQuestion,
    EligibilityStatus,
    PatientCoverage,
    Payer,
    Person,
    rejection,
    service_type_codes,
    unavailable,
)
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.payments import Money
from telehealth.events import CoverageChecked, CoverageRecorded
from telehealth.fhir import projection
from telehealth.ports import (
    CoverageRecords,
    EligibilityChecker,
    IdempotencyClaim,
    OutboxEntry,
    StaleWriteError,
)

# The payer directory changes rarely: kept this long in the function's memory.
PAYERS_KEPT = timedelta(hours=1)
# The visits whose coverage the sweep checks again: those starting within this (the day before).
RECHECK_WITHIN = timedelta(hours=24)


class CoverageUnavailableError(Exception):
    """The clearinghouse's directory could not be read (the form offers no payers to choose)."""


class InsuranceDesk:
    def __init__(
        self,
        booking: BookingService,
        records: CoverageRecords,
        checker: EligibilityChecker,
        trail: AuditTrail,
        clock: Callable[[], datetime],
        is_unavailable: Callable[[Exception], bool] = lambda _: False,
    ) -> None:
        self.booking, self.records, self.checker, self.trail, self.clock = (
            booking,
            records,
            checker,
            trail,
            clock,
        )
        self.is_unavailable = is_unavailable
        self._payers: tuple[datetime, list[Payer]] | None = None

    # --- the patient's side ----------------------------------------------------------------------------

    def payers(self, caller: Caller | None = None) -> list[Payer]:
        """The clearinghouse's payers that take eligibility checks, by name: for the patient and
        the front desk entering insurance (None: the desk itself, recording it)."""
        if caller is not None:
            caller.require(Actor.PATIENT, Actor.STAFF)
        now = self.clock()
        if self._payers is None or now - self._payers[0] > PAYERS_KEPT:
            try:
                listed = sorted(self.checker.payers(), key=lambda p: p.name.lower())
            except Exception as error:
                if self.is_unavailable(error):
                    raise CoverageUnavailableError("the payer directory did not load") from None
                raise
            self._payers = (now, listed)
        return self._payers[1]

    def _whose(self, caller: Caller, patient_id: str | None, *, reading: bool = False) -> str:
        """A patient's own insurance, or the patient named, who must exist: by the front desk, or
        (recording only) by a health system's software through the FHIR facade."""
        if patient_id is None:  # one's own: patients only
            caller.require(Actor.PATIENT)
            return caller.subject
        if reading:
            caller.require(Actor.STAFF)
        else:
            caller.require(Actor.STAFF, Actor.MACHINE)
        if self.booking.store.patient(patient_id) is None:
            raise NotFoundError("no such patient")
        return patient_id

    def record(
        self,
        caller: Caller,
        coverage: Coverage,
        patient_id: str | None = None,
        *,
        on_file: Callable[[PatientCoverage | None], None] = lambda _: None,
        claim_of: Callable[[PatientCoverage], IdempotencyClaim | None] = lambda _: None,
        interaction: Interaction = Interaction.UPDATE,
    ) -> PatientCoverage:
        """The patient's insurance (theirs, the one the front desk names, or the one a health
        system writes for its patient), replacing what was on file (whose check no longer holds);
        checked with the payer next, off this request (`Coverage.Recorded`).

        For the FHIR facade: `on_file` sees what is on file before the write and may refuse it
        (an If-Match); the write is conditional on that version, so nothing recorded in between
        is overwritten (`StaleWriteError`). `claim_of` is the request's Idempotency-Key record,
        committed with the change; `interaction` is what the audit says was done."""
        patient_id = self._whose(caller, patient_id)
        payer = next((p for p in self.payers() if p.payer_id == coverage.payer_id), None)
        if payer is None:
            raise CoverageRuleError("choose the insurer from the list of payers")
        if caller.actor is Actor.MACHINE:
            # The facade audits each of a client's requests once, whatever its outcome.
            return self._record(caller, patient_id, coverage, payer, on_file, claim_of, interaction)
        with self.trail.request(caller, interaction, f"Patient/{patient_id}"):
            return self._record(caller, patient_id, coverage, payer, on_file, claim_of, interaction)

    def _record(
        self,
        caller: Caller,
        patient_id: str,
        coverage: Coverage,
        payer: Payer,
        on_file: Callable[[PatientCoverage | None], None],
        claim_of: Callable[[PatientCoverage], IdempotencyClaim | None],
        interaction: Interaction,
    ) -> PatientCoverage:
        before = self.records.coverage_of(patient_id)
        on_file(before)
        recorded = PatientCoverage(patient_id, coverage, payer.name, (before.version if before else 0) + 1)
        now = self.clock()
        entries = [
            announce(CoverageRecorded(patient_id=patient_id, version=recorded.version), now),
            OutboxEntry(projection.coverage(recorded), recorded.version),
            self._audit(caller, interaction, patient_id),
        ]
        self.records.save_coverage(recorded, entries, now, claim_of(recorded))
        return recorded

    def view(self, caller: Caller, patient_id: str | None = None) -> PatientCoverage | None:
        patient_id = self._whose(caller, patient_id, reading=True)
        with self.trail.request(caller, Interaction.READ, f"Patient/{patient_id}"):
            found = self.records.coverage_of(patient_id)
            self.booking.store.record([self._audit(caller, Interaction.READ, patient_id)])
            return found

    # --- what a visit costs -----------------------------------------------------------------------------

    def share(self, patient_id: str, price: Money) -> tuple[Money, Eligibility | None]:
        """What the patient owes of `price` by their last answered check, and that answer (None:
        no insurance on file, or not checked yet: self-pay)."""
        found = self.records.coverage_of(patient_id)
        if found is None or found.check is None:
            return price, None
        return found.check.eligibility.patient_share(price), found.check.eligibility

    # --- checks, off the request's path --------------------------------------------------------------

    def check(
        self, patient_id: str, service_type: str = "general", on: date | None = None
    ) -> PatientCoverage | None:
        """Ask the payer (through the clearinghouse) and keep the answer; a payer that does not
        answer is kept as unavailable, to be checked again. None: nothing to check (no insurance,
        or the patient's name and date of birth are not on file yet)."""
        found = self.records.coverage_of(patient_id)
        patient = self.booking.store.patient(patient_id)
        if found is None or patient is None:
            return None
        if not (patient.given_name and patient.family_name and patient.birth_date):
            return None
        now = self.clock()
        question = EligibilityQuestion(
            found.coverage,
            Person(patient.given_name, patient.family_name, patient.birth_date),
            service_type_codes(service_type),
            on or now.date(),
        )
        try:
            answer = self.checker.check(question)
        except Exception as error:
            if not self.is_unavailable(error):
                raise
            answer = unavailable()
        answered_before = (
            found.check is not None and found.check.eligibility.status is not EligibilityStatus.UNAVAILABLE
        )
        if answer.status is EligibilityStatus.UNAVAILABLE and answered_before:
            return found  # the last answer stands until the payer gives another
        checked = replace(found, check=CoverageCheck(answer, now, service_type), version=found.version + 1)
        entries = [
            announce(
                CoverageChecked(patient_id=patient_id, version=checked.version, status=answer.status.value),
                now,
            ),
            OutboxEntry(projection.eligibility_response(checked), checked.version),
        ]
        try:
            self.records.save_coverage(checked, entries, now)
        except StaleWriteError:
            return None  # new details were recorded meanwhile: their own check follows
        return checked

    def recheck_upcoming(self, keep_going: Callable[[], bool] = lambda: True) -> tuple[int, int]:
        """The sweep: each open visit starting within a day whose patient's coverage is due (see
        `PatientCoverage.due_for_check`) is checked again, for the visit's own kind of care, one
        at a time, while `keep_going()` (a check may wait a minute on its payer; what is left
        waits for the next sweep). One visit's failure stops no other. Returns how many were asked
        about, and how many of those failed."""
        now = self.clock()
        asked = failed = 0
        for appointment in self.booking.store.open_appointments(starting_before=now + RECHECK_WITHIN):
            if appointment.start <= now:
                continue
            if not keep_going():
                break
            found = self.records.coverage_of(appointment.patient_id)
            if found is None or not found.due_for_check(appointment.start, appointment.service_type):
                continue
            asked += 1
            try:
                self.check(appointment.patient_id, appointment.service_type, appointment.start.date())
            except Exception:
                failed += 1
        return asked, failed

    def _audit(self, caller: Caller, interaction: Interaction, patient_id: str) -> OutboxEntry:
        # A health system's write names the FHIR resource it wrote, as its other writes do.
        about = [f"Coverage/{projection.coverage_id(patient_id)}"] if caller.actor is Actor.MACHINE else []
        return self.booking.audit(caller, interaction, [*about, f"Patient/{patient_id}"], self.clock())


def status_words(found: PatientCoverage, *, for_desk: bool = False) -> str:
    """The last check in the patient's words, or (`for_desk`) the front desk's, about a patient."""
    check = found.check
    if check is None:
        if for_desk:
            return "The insurer is being asked about this coverage."
        return "We are checking your insurance with your insurer."
    answer = check.eligibility
    if answer.status is EligibilityStatus.ACTIVE:
        if for_desk:
            return f"The patient's insurance with {found.payer_name} is active."
        return f"Your insurance with {found.payer_name} is active."
    if answer.status is EligibilityStatus.INACTIVE:
        if for_desk:
            return (
                f"{found.payer_name} says this coverage is not active: the patient pays for visits "
                "themselves."
            )
        return (
            f"Your insurer, {found.payer_name}, says this coverage is not active. "
            "You can pay for visits yourself."
        )
    reasons = answer.rejections or (rejection("79"),)
    return " ".join(dict.fromkeys(r.words for r in reasons))
