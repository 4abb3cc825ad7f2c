"""Remote monitoring's alerts (issue #20): tiered, one per episode, and never from missing data.

A rule (NEWS2, the blood-pressure crisis, heart failure weight, ...) evaluated on a patient's new
readings gives a signal: a tier, or clear. An episode opens with the first signal of a rule and
raises its alert; later signals at its tier or under raise nothing (one alert per episode), a
higher tier raises again (escalated); it closes only after `CLEAR_TO_CLOSE` clear evaluations in a
row, so a value wavering at a threshold does not raise an alert each time it crosses (hysteresis).
A rule with no new readings is not evaluated at all: its episode neither closes nor raises. Days
without any reading are a signal of their own (`silence`), at the information tier.

An urgent alert nobody acknowledges is escalated, on a timer, to the people the clinic's settings
name, one after another (`next_escalation`). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum

from telehealth.domain.blood_pressure import BloodPressureAdvice
from telehealth.domain.news2 import Response

CLEAR_TO_CLOSE = 2
SILENT_DAYS = 3  # days without a reading that are worth a word to the care team
NO_READINGS = "no-readings"


class Tier(IntEnum):
    INFORMATION = 1
    REVIEW = 2
    URGENT = 3  # a clinician must acknowledge it (a FHIR Task), or it escalates


@dataclass(frozen=True)
class Episode:
    rule: str
    tier: Tier
    opened_at: datetime
    clear_in_a_row: int = 0


@dataclass(frozen=True)
class Raised:
    rule: str
    tier: Tier
    at: datetime
    escalated: bool  # a higher tier within an open episode


def step(
    episode: Episode | None, rule: str, tier: Tier | None, at: datetime
) -> tuple[Episode | None, Raised | None]:
    """The rule's episode after a signal (`tier` None: clear), and the alert it raises, if any."""
    if episode is None:
        if tier is None:
            return None, None
        return Episode(rule, tier, at), Raised(rule, tier, at, escalated=False)
    if tier is None:
        cleared = episode.clear_in_a_row + 1
        return (None if cleared >= CLEAR_TO_CLOSE else replace(episode, clear_in_a_row=cleared)), None
    if tier > episode.tier:
        return replace(episode, tier=tier, clear_in_a_row=0), Raised(rule, tier, at, escalated=True)
    return replace(episode, clear_in_a_row=0), None


@dataclass(frozen=True)
class Escalation:
    """An urgent alert handed on, unacknowledged, to the next person the clinic names."""

    provider_id: str
    at: datetime


@dataclass(frozen=True)
class EscalationStep:
    """What an escalation timer does now: hand the alert on (`to`), and when to look again (None:
    never: it was acknowledged, or there is nobody left to hand it on to)."""

    to: str | None
    next_at: datetime | None


def next_escalation(
    *,
    open: bool,
    tier: Tier,
    raised_at: datetime,
    handed_on: int,
    chain: tuple[str, ...],
    after: timedelta,
    now: datetime,
) -> EscalationStep:
    """The alert's escalation at `now`: the k-th person of `chain` is due `after` × k from when
    the alert was raised. The chain is read at each step, so a change of the clinic's settings
    applies to alerts already waiting; a step that comes late (a retried task) hands on once."""
    if not open or tier is not Tier.URGENT or handed_on >= len(chain):
        return EscalationStep(None, None)
    due = raised_at + after * (handed_on + 1)
    if now < due:
        return EscalationStep(None, due)
    later = handed_on + 1 < len(chain)
    return EscalationStep(chain[handed_on], raised_at + after * (handed_on + 2) if later else None)


def silence(last_reading: datetime | None, enrolled: datetime, now: datetime) -> Tier | None:
    """The no-readings signal: information once `SILENT_DAYS` have passed without a reading (from
    enrolment, for a patient who never sent one)."""
    since = last_reading or enrolled
    return Tier.INFORMATION if now - since >= timedelta(days=SILENT_DAYS) else None


def news2_tier(response: Response) -> Tier | None:
    """Chart 4's response as an alert's tier: the urgent and emergency responses need a
    clinician now; a single parameter's 3 needs a review; an aggregate of 1 to 4 is a word."""
    return {
        Response.NONE: None,
        Response.ASSESS: Tier.INFORMATION,
        Response.URGENT_REVIEW: Tier.REVIEW,
        Response.URGENT: Tier.URGENT,
        Response.EMERGENCY: Tier.URGENT,
    }[response]


def blood_pressure_tier(advice: BloodPressureAdvice) -> Tier | None:
    """A first reading at crisis level asks the patient to repeat and the care team to look; a
    repeat still there is urgent, whatever the patient was told."""
    return {
        BloodPressureAdvice.NONE: None,
        BloodPressureAdvice.REPEAT: Tier.REVIEW,
        BloodPressureAdvice.CALL_CARE_TEAM: Tier.URGENT,
        BloodPressureAdvice.CALL_911: Tier.URGENT,
    }[advice]


def cgm_tier(missed: tuple[tuple[str, bool], ...]) -> Tier | None:
    """A fortnight's glucose: time spent low asks for a review, any other target missed is a word.
    Never urgent: CGM data reach the platform hours late (docs/decisions.md)."""
    if not missed:
        return None
    return Tier.REVIEW if any(low for _, low in missed) else Tier.INFORMATION
