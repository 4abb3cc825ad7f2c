"""Step Functions' tasks. The timers' steps (an urgent alert's escalation, a case of photos'
deadline) answer their state machine alike: whether to look again, and when."""

from __future__ import annotations

from datetime import datetime, timedelta


def timer_step(next_at: datetime | None) -> dict[str, object]:
    """What a timer's Choice and Wait states read: done, or the instant to wake at."""
    if next_at is None:
        return {"done": True, "next_at": ""}
    return {"done": False, "next_at": wake_at(next_at)}


def wake_at(moment: datetime) -> str:
    """The Wait state's instant, to the second: rounded up, never down, or the machine would wake
    before the turn is due and spin through steps that do nothing."""
    from telehealth.fhir.projection import instant

    return instant(moment.replace(microsecond=0) + timedelta(seconds=1 if moment.microsecond else 0))
