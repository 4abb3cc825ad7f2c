"""Vital signs a media worker estimated from the visit's video: preliminary until the visit's
provider confirms or rejects each one. Never diagnostic on their own."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from telehealth.domain.appointments import AppointmentRuleError


class VitalSign(Enum):
    HEART_RATE = "heart-rate"
    RESPIRATORY_RATE = "respiratory-rate"

    @property
    def loinc(self) -> tuple[str, str]:
        return {
            VitalSign.HEART_RATE: ("8867-4", "Heart rate"),
            VitalSign.RESPIRATORY_RATE: ("9279-1", "Respiratory rate"),
        }[self]


# Oxygen saturation is never read from the video, whatever a worker sends: no method that reads
# it from an ordinary camera is cleared, and its error with darker skin is unresolved. It is listed
# with what was not read (the worker's code for why), so the provider reads that it was not, rather
# than wondering whether the video was tried for it.
NEVER_ESTIMATED = (("oxygen-saturation", "not_estimated"),)


class ReadingStatus(Enum):
    PRELIMINARY = "preliminary"
    FINAL = "final"  # the provider confirmed it
    ENTERED_IN_ERROR = "entered-in-error"  # the provider rejected it


@dataclass(frozen=True)
class Reading:
    sign: VitalSign
    per_minute: float
    quality: float  # the estimator's signal quality, 0 to 1
    status: ReadingStatus = ReadingStatus.PRELIMINARY
    # When the visit's provider (the only one who may) confirmed or rejected it; None while
    # preliminary, and for a review recorded before the time was kept.
    reviewed_at: datetime | None = None

    def reviewed(self, confirmed: bool, at: datetime) -> Reading:
        if self.status is not ReadingStatus.PRELIMINARY:
            raise AppointmentRuleError(
                "already-reviewed", f"This estimate was reviewed already ({self.status.value})."
            )
        status = ReadingStatus.FINAL if confirmed else ReadingStatus.ENTERED_IN_ERROR
        return replace(self, status=status, reviewed_at=at)


@dataclass(frozen=True)
class VisitVitals:
    """One visit's estimates: what could be read, and for what could not, why not."""

    appointment_id: str
    version: int
    patient_id: str
    encounter_id: str
    effective: datetime  # when the measured stretch of the visit took place
    readings: tuple[Reading, ...]
    refusals: tuple[tuple[VitalSign, str], ...] = ()
    method: str = "rppg"

    @property
    def not_read(self) -> tuple[tuple[str, str], ...]:
        """Each sign not read, and why (the worker's code): the refused, then the never estimated."""
        return (*((sign.value, why) for sign, why in self.refusals), *NEVER_ESTIMATED)

    def observation_id(self, sign: VitalSign) -> str:
        return f"{self.appointment_id.lower()}-v{self.version}-{sign.value}"

    def reading(self, sign: VitalSign) -> Reading:
        found = next((r for r in self.readings if r.sign is sign), None)
        if found is None:
            raise AppointmentRuleError("no-estimate", f"There is no {sign.value} estimate for this visit.")
        return found

    def with_reading(self, reading: Reading) -> VisitVitals:
        return replace(self, readings=tuple(reading if r.sign is reading.sign else r for r in self.readings))
