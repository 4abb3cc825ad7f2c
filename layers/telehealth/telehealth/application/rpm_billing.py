"""Remote monitoring's billing ledger (tenants with `rpm` on): what a monitored patient's care bills
under CMS's 2026 codes, period by period and month by month (telehealth/domain/rpm_billing.py),
from what the care team records here: the patient's consent, who bills, and the time spent on the
patient's monitoring. The days a device sent readings come from the readings themselves (marked as
they are kept), never from what anyone types. Every read and write is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotFoundError
from telehealth.application.monitoring import patient_entity
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.monitoring import Enrolment
from telehealth.domain.rpm_billing import (
    BillingPractitioner,
    Consent,
    ConsentMethod,
    Ledger,
    TimeEntry,
    ledger,
)
from telehealth.errors import LedgerEntryError
from telehealth.ports import OutboxEntry

MOST_MINUTES_AN_ENTRY = 240  # a day's sitting: more is a typing slip


class LedgerStore(Protocol):
    def enrolment(self, patient_id: str) -> Enrolment | None: ...

    def device_days(self, patient_id: str) -> list[date]: ...

    def consent(self, patient_id: str) -> Consent | None: ...

    def save_consent(self, patient_id: str, consent: Consent, outbox: list[OutboxEntry]) -> None: ...

    def billing_practitioners(self, patient_id: str) -> list[BillingPractitioner]: ...

    def name_billing_practitioner(
        self, patient_id: str, named: BillingPractitioner, outbox: list[OutboxEntry]
    ) -> None: ...

    def time_entries(self, patient_id: str) -> list[TimeEntry]: ...

    def log_time(self, patient_id: str, entry: TimeEntry, outbox: list[OutboxEntry]) -> None: ...

    def provider_names(self, provider_ids: Sequence[str]) -> dict[str, str]: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


@dataclass(frozen=True)
class PatientLedger:
    enrolment: Enrolment
    consent: Consent | None
    practitioners: tuple[BillingPractitioner, ...]
    time: tuple[TimeEntry, ...]
    ledger: Ledger
    names: Mapping[str, str]  # the billing practitioners' names, by provider id


class RpmLedger:
    def __init__(self, store: LedgerStore, trail: AuditTrail, clock: Callable[[], datetime]) -> None:
        self.store, self.trail, self.clock = store, trail, clock

    def report(self, caller: Caller, patient_id: str) -> PatientLedger:
        """The patient's ledger through today, for the care team and the clinic's billers."""
        caller.require(Actor.PROVIDER, Actor.STAFF)
        enrolment = self._enrolment(patient_id)
        found = self._ledger(enrolment)
        self.store.record([self._audit(caller, Interaction.READ, patient_id)])
        return found

    def record_consent(
        self, caller: Caller, patient_id: str, *, obtained_on: date, method: ConsentMethod
    ) -> PatientLedger:
        """The patient's consent, as the clinician obtained it (recorded again, it is corrected)."""
        caller.require(Actor.PROVIDER, Actor.STAFF)
        enrolment = self._enrolment(patient_id)
        if obtained_on > self._today():
            raise LedgerEntryError("The consent's day is not in the future.")
        consent = Consent(obtained_on, method, caller.subject)
        self.store.save_consent(patient_id, consent, [self._audit(caller, Interaction.UPDATE, patient_id)])
        return self._ledger(enrolment)

    def name_billing_practitioner(self, caller: Caller, patient_id: str, provider_id: str) -> PatientLedger:
        """Who bills from today: for the periods and months that start from today on (each has
        one billing practitioner, the one in force on its first day)."""
        caller.require(Actor.PROVIDER, Actor.STAFF)
        enrolment = self._enrolment(patient_id)
        if provider_id not in self.store.provider_names([provider_id]):
            raise LedgerEntryError(f"{provider_id} is not one of the clinic's providers.")
        named = BillingPractitioner(self._today(), provider_id)
        audit = self._audit(caller, Interaction.UPDATE, patient_id)
        self.store.name_billing_practitioner(patient_id, named, [audit])
        return self._ledger(enrolment)

    def log_time(
        self, caller: Caller, patient_id: str, *, on: date, minutes: int, interactive: bool
    ) -> PatientLedger:
        """Time spent on the patient's monitoring on a day (reviewing readings, calling them)."""
        caller.require(Actor.PROVIDER, Actor.STAFF)
        enrolment = self._enrolment(patient_id)
        if not enrolment.enrolled_at.astimezone(UTC).date() <= on <= self._today():
            raise LedgerEntryError("Time is logged for a day from the patient's enrolment to today.")
        if not 1 <= minutes <= MOST_MINUTES_AN_ENTRY:
            raise LedgerEntryError(f"An entry is 1 to {MOST_MINUTES_AN_ENTRY} minutes.")
        entry = TimeEntry(new_id(self.clock()).lower(), on, minutes, interactive, caller.subject)
        self.store.log_time(patient_id, entry, [self._audit(caller, Interaction.CREATE, patient_id)])
        return self._ledger(enrolment)

    def _ledger(self, enrolment: Enrolment) -> PatientLedger:
        patient_id = enrolment.patient_id
        practitioners = tuple(self.store.billing_practitioners(patient_id))
        consent, time = self.store.consent(patient_id), tuple(self.store.time_entries(patient_id))
        found = ledger(
            enrolment.enrolled_at.astimezone(UTC).date(),
            self.store.device_days(patient_id),
            time,
            consent,
            practitioners,
            self._today(),
        )
        names = self.store.provider_names([p.provider_id for p in practitioners])
        return PatientLedger(enrolment, consent, practitioners, time, found, names)

    def _enrolment(self, patient_id: str) -> Enrolment:
        enrolment = self.store.enrolment(patient_id)
        if enrolment is None:
            raise NotFoundError("The patient is in no monitoring program.")
        return enrolment

    def _today(self) -> date:
        return self.clock().astimezone(UTC).date()

    def _audit(self, caller: Caller, interaction: Interaction, patient_id: str) -> OutboxEntry:
        return self.trail.entry(
            self.trail.agent(caller), interaction, [patient_entity(patient_id)], self.clock()
        )
