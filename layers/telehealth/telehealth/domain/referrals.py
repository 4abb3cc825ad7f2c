"""A referral: a health system asks the clinic to see a patient. It waits on the front desk's
worklist until staff book a visit for it, and leaves the worklist then. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from telehealth.domain.appointments import AppointmentRuleError

REASON_MAX = 500  # characters: a referral's reason is a line or two, not a letter


class ReferralStatus(StrEnum):
    OPEN = "open"  # on the worklist
    BOOKED = "booked"  # a visit is booked for it


class Priority(StrEnum):
    """FHIR's request priorities, most pressing last (the worklist shows those first)."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


@dataclass(frozen=True)
class Referral:
    referral_id: str
    patient_id: str
    reason: str
    requester: str  # who referred, as the health system names them (a display, not a reference)
    authored_at: datetime
    priority: Priority = Priority.ROUTINE
    service: str | None = None  # what the referrer asks for, in their words
    status: ReferralStatus = ReferralStatus.OPEN
    appointment_id: str | None = None
    version: int = 1

    def booked(self, appointment_id: str, patient_id: str) -> Referral:
        """The next version, booked as `appointment_id`: only an open referral, and only for its
        own patient."""
        if self.status is not ReferralStatus.OPEN:
            raise AppointmentRuleError("referral-not-open", "This referral already has a visit booked.")
        if patient_id != self.patient_id:
            raise AppointmentRuleError("referral-other-patient", "This referral is for another patient.")
        return replace(
            self, status=ReferralStatus.BOOKED, appointment_id=appointment_id, version=self.version + 1
        )
