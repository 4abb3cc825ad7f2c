"""A blood pressure at crisis level, and what the patient is told (issue #20): the one place this
rule lives, for remote monitoring's readings and for triage's red flags alike.

A systolic of 180 mm[Hg] or more, or a diastolic of 120 or more, asks the patient to sit quietly and
measure again in five minutes. A repeat still at that level with symptoms (chest pain, shortness
of breath, back pain, numbness or weakness, a change in vision, difficulty speaking) tells them to
call 911, in words on their screen and not only as an alert to the care team; a repeat still there
without symptoms is an urgent alert to the care team. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

CRISIS_SYSTOLIC = 180  # mm[Hg], at or above
CRISIS_DIASTOLIC = 120
REPEAT_AFTER = timedelta(minutes=5)  # a repeat sooner does not count as one
REPEAT_WITHIN = timedelta(minutes=30)  # a reading later than this is a new first reading

SYMPTOMS = (
    "chest pain",
    "shortness of breath",
    "back pain",
    "numbness or weakness",
    "a change in vision",
    "difficulty speaking",
)


class BloodPressureAdvice(StrEnum):
    NONE = "none"
    REPEAT = "repeat"  # sit quietly, measure again in five minutes
    CALL_CARE_TEAM = "call-care-team"  # a crisis confirmed, no symptoms: the care team is told now
    CALL_911 = "call-911"  # a crisis confirmed, with symptoms

    @property
    def words(self) -> str:
        """What the patient reads."""
        return {
            BloodPressureAdvice.NONE: "",
            BloodPressureAdvice.REPEAT: (
                "Your blood pressure is very high. Sit quietly for five minutes, then measure it again."
            ),
            BloodPressureAdvice.CALL_CARE_TEAM: (
                "Your blood pressure is still very high. Your care team has been told and will contact "
                "you soon. If you get chest pain, shortness of breath, back pain, numbness or weakness, "
                "a change in vision or difficulty speaking, call 911."
            ),
            BloodPressureAdvice.CALL_911: (
                "Call 911 now. Your blood pressure is still very high and you have symptoms that need "
                "emergency care."
            ),
        }[self]


@dataclass(frozen=True)
class BloodPressure:
    systolic: float
    diastolic: float
    at: datetime

    @property
    def at_crisis_level(self) -> bool:
        return self.systolic >= CRISIS_SYSTOLIC or self.diastolic >= CRISIS_DIASTOLIC


def advice(latest: BloodPressure, earlier: BloodPressure | None, *, symptoms: bool) -> BloodPressureAdvice:
    """What the latest reading asks of the patient, given the reading before it (if any)."""
    if not latest.at_crisis_level:
        return BloodPressureAdvice.NONE
    repeated = (
        earlier is not None
        and earlier.at_crisis_level
        and REPEAT_AFTER <= latest.at - earlier.at <= REPEAT_WITHIN
    )
    if not repeated:
        return BloodPressureAdvice.REPEAT
    return BloodPressureAdvice.CALL_911 if symptoms else BloodPressureAdvice.CALL_CARE_TEAM
