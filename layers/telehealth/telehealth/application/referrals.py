"""Referrals: a health system's software asks the clinic to see a patient (a ServiceRequest through
the FHIR facade); the request waits on the front desk's worklist until staff book a visit for it
(the booking takes it off, in the same transaction: application/booking.py).

Every read and write is audited: the referral's arrival by the client that sent it, the worklist's
reads by the member of staff, naming every referral and patient shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotFoundError
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.referrals import Priority, Referral
from telehealth.fhir import projection
from telehealth.fhir.intake import ReferralRequest
from telehealth.fhir.projection import PatientProfile
from telehealth.ports import IdempotencyClaim, OutboxEntry

WORKLIST_LIMIT = 200  # the oldest this many; a front desk with more has a backlog to work down
_URGENCY = {Priority.STAT: 0, Priority.ASAP: 1, Priority.URGENT: 2, Priority.ROUTINE: 3}


class UnknownPatientError(Exception):
    """The referral names no patient of this clinic (422: register them first)."""


class ReferralStore(Protocol):
    def patient(self, patient_id: str) -> PatientProfile | None: ...

    def save_referral(
        self, referral: Referral, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None: ...

    def referral(self, referral_id: str) -> Referral | None: ...

    def open_referrals(self, limit: int) -> list[Referral]: ...

    def referrals_of_patient(self, patient_id: str) -> list[Referral]: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


@dataclass(frozen=True)
class WaitingReferral:
    referral: Referral
    patient: PatientProfile | None  # None only if the patient's record went missing


class Referrals:
    def __init__(self, store: ReferralStore, trail: AuditTrail, clock: Callable[[], datetime]) -> None:
        self.store, self.trail, self.clock = store, trail, clock

    def receive(
        self,
        caller: Caller,
        request: ReferralRequest,
        claim_of: Callable[[Referral], IdempotencyClaim | None] = lambda _: None,
    ) -> Referral:
        """A health system's referral, on the worklist from now: its ServiceRequest, the audit of
        its arrival and the request's Idempotency-Key record (`claim_of`) commit with it."""
        caller.require(Actor.MACHINE)
        if self.store.patient(request.patient_id) is None:
            raise UnknownPatientError(
                "The referral's subject is no patient of this clinic: register them first."
            )
        now = self.clock()
        referral = Referral(
            referral_id=new_id(now).lower(),
            patient_id=request.patient_id,
            reason=request.reason,
            requester=request.requester,
            authored_at=now,
            priority=request.priority,
            service=request.service,
        )
        reference = f"ServiceRequest/{referral.referral_id}"
        outbox = [
            OutboxEntry(projection.service_request(referral), referral.version),
            self.trail.entry(self.trail.agent(caller), Interaction.CREATE, [reference], now),
        ]
        self.store.save_referral(referral, outbox, claim_of(referral))
        return referral

    def of_patient(self, patient_id: str) -> list[Referral]:
        """A patient's referrals (unaudited: the FHIR facade audits what it answers with)."""
        return self.store.referrals_of_patient(patient_id)

    def worklist(self, caller: Caller) -> list[WaitingReferral]:
        """The referrals waiting for a visit, most pressing first, then oldest first."""
        with self.trail.request(caller, Interaction.SEARCH):
            caller.require(Actor.STAFF)
            waiting = sorted(
                self.store.open_referrals(WORKLIST_LIMIT),
                key=lambda r: (_URGENCY[r.priority], r.authored_at, r.referral_id),
            )
            found = [WaitingReferral(r, self.store.patient(r.patient_id)) for r in waiting]
            self._audit(caller, Interaction.SEARCH, found)
            return found

    def one(self, caller: Caller, referral_id: str) -> WaitingReferral:
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.STAFF)
            referral = self.store.referral(referral_id)
            if referral is None:
                raise NotFoundError("No such referral.")
            found = WaitingReferral(referral, self.store.patient(referral.patient_id))
            self._audit(caller, Interaction.READ, [found])
            return found

    def _audit(self, caller: Caller, interaction: Interaction, shown: list[WaitingReferral]) -> None:
        read: list[str] = []
        for w in shown:
            read.append(f"ServiceRequest/{w.referral.referral_id}")
            if w.patient is not None:
                read.append(f"Patient/{w.patient.patient_id}")
        self.store.record(self.trail.entries(self.trail.agent(caller), interaction, read, self.clock()))
