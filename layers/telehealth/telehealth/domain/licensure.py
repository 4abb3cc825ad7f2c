"""Who may see a patient where: a provider may treat a patient located in a state only with an
active license there, or an active privilege through an interstate compact, valid that day.

Licenses and privileges are data kept in the clinic table (the source of truth, so the rule holds
with the FHIR store down). Compacts (IMLC, PSYPACT, the Nurse Licensure Compact...) are data too:
a privilege names its compact and the state it is valid in; nothing here knows which states belong
to which compact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from telehealth.domain.jurisdictions import JURISDICTION_ZONES, US_JURISDICTIONS


class LicenseStatus(Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True)
class License:
    """A state license, or (with `compact`) a compact privilege to practise in `state`."""

    state: str
    number: str
    valid_from: date
    valid_until: date
    status: LicenseStatus = LicenseStatus.ACTIVE
    compact: str | None = None

    def __post_init__(self) -> None:
        if self.state not in US_JURISDICTIONS:
            raise ValueError("state must be a USPS jurisdiction code")
        if self.valid_until < self.valid_from:
            raise ValueError("a license must end after it starts")

    def valid_on(self, day: date) -> bool:
        return self.status is LicenseStatus.ACTIVE and self.valid_from <= day <= self.valid_until


class Refusal(Enum):
    """Why licensure says no, in words a patient and a scheduler can act on."""

    NO_LICENSE = "The provider holds no license or compact privilege in the patient's state."
    NOT_ACTIVE = "The provider's license in the patient's state is not active."
    NOT_VALID_THAT_DAY = "The provider's license in the patient's state is not valid on the visit date."


@dataclass(frozen=True)
class LicensurePolicy:
    def check(self, credentials: Iterable[License], state: str, day: date) -> Refusal | None:
        """None when the provider may treat a patient located in `state` on `day`."""
        in_state = [c for c in credentials if c.state == state]
        if not in_state:
            return Refusal.NO_LICENSE
        if any(c.valid_on(day) for c in in_state):
            return None
        if not any(c.status is LicenseStatus.ACTIVE for c in in_state):
            return Refusal.NOT_ACTIVE
        return Refusal.NOT_VALID_THAT_DAY

    def may_treat(self, credentials: Iterable[License], state: str, day: date) -> bool:
        return self.check(credentials, state, day) is None

    def check_visit(
        self, credentials: Iterable[License], state: str, start: datetime, end: datetime
    ) -> Refusal | None:
        """A visit is licensed only if it is on every calendar day it touches where the patient
        is, in each zone the patient's state spans."""
        found = list(credentials)
        zones = [ZoneInfo(z) for z in JURISDICTION_ZONES[state]]
        for day in sorted({moment.astimezone(zone).date() for moment in (start, end) for zone in zones}):
            refusal = self.check(found, state, day)
            if refusal is not None:
                return refusal
        return None

    def states_open(self, credentials: Iterable[License], at: datetime) -> tuple[str, ...]:
        """The states where the provider may see a patient at the instant `at` (on that day in
        every zone the state spans, as a visit is checked), in code order: what a directory shows."""
        found = list(credentials)
        return tuple(
            state
            for state in sorted({c.state for c in found})
            if self.check_visit(found, state, at, at) is None
        )
