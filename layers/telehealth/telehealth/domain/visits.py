"""The visit around an appointment: check-in, the waiting room, admission, the call and its end.

Pure rules with the clock passed in. A visit exists once the patient checks in; before that the
appointment is all there is. States move one way:

    checked-in -> admitted -> in-call -> completed
         |            |          |
         +------------+----------+--> no-show | cancelled
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from telehealth.domain.appointments import Appointment, AppointmentRuleError, AppointmentStatus


@dataclass(frozen=True)
class VisitTimings:
    """When the lifecycle's clocks run out. Defaults are the clinic's; a tenant may set its own."""

    check_in_opens: timedelta = timedelta(minutes=15)
    # A patient not checked in this long after the start is a no-show.
    no_show_grace: timedelta = timedelta(minutes=10)
    # After admission, each party has this long to join. Shorter than Chime's five minutes, after
    # which it ends a meeting nobody joined, so the visit decides before the meeting vanishes.
    join_window: timedelta = timedelta(minutes=4)
    # A checked-in patient the provider has not admitted by the end plus this is sent home.
    admit_by_after_end: timedelta = timedelta(minutes=60)
    # A call still running this long after the scheduled end is checked against Chime.
    overrun: timedelta = timedelta(minutes=60)
    reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    link_lifetime: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.link_lifetime <= timedelta(minutes=10):
            raise ValueError("a join link lives 10 minutes at most")
        if self.join_window >= timedelta(minutes=5):
            raise ValueError("the join window must end before Chime ends an empty meeting (5 minutes)")


class VisitState(Enum):
    CHECKED_IN = "checked-in"
    ADMITTED = "admitted"
    IN_CALL = "in-call"
    COMPLETED = "completed"
    NO_SHOW = "no-show"
    CANCELLED = "cancelled"

    @property
    def over(self) -> bool:
        return self in (VisitState.COMPLETED, VisitState.NO_SHOW, VisitState.CANCELLED)


class Role(Enum):
    """Who takes part in a video visit; each participant is one Chime attendee."""

    PATIENT = "patient"
    PROVIDER = "provider"
    INTERPRETER = "interpreter"  # invited by the provider at admission
    CAREGIVER = "caregiver"  # invited by the provider at admission


# The two parties a visit needs: guests join or not, the visit does not wait on them.
PARTIES = frozenset({Role.PATIENT, Role.PROVIDER})
GUEST_ROLES = frozenset({Role.INTERPRETER, Role.CAREGIVER})


class VisitRuleError(AppointmentRuleError):
    """A visit rule said no; `kind` is the stable problem type."""


@dataclass(frozen=True)
class CheckIn:
    """What the law and an emergency need at the start of a telehealth visit."""

    appointment_id: str
    at: datetime
    state: str  # where the patient is now: licensure is checked against it at admission
    emergency_contact: str  # a callback number or an address, for an emergency during the visit
    consents_to_telehealth: bool
    consents_to_recording: bool
    reason: str = ""  # the reason for the visit, in the patient's words: shown to the provider only
    # Whether the patient is at home (the claim's place of service); None: they did not say.
    at_home: bool | None = None


def check_check_in(
    appointment: Appointment, check_in: CheckIn, timings: VisitTimings = VisitTimings()
) -> None:
    if appointment.status is AppointmentStatus.CANCELLED:
        raise VisitRuleError("appointment-cancelled", "A cancelled appointment has no check-in.")
    if appointment.status is not AppointmentStatus.BOOKED:
        raise VisitRuleError("appointment-closed", "This visit has ended; book again if you still need care.")
    if check_in.at < appointment.start - timings.check_in_opens:
        minutes = int(timings.check_in_opens.total_seconds() // 60)
        raise VisitRuleError("check-in-not-open", f"Check-in opens {minutes} minutes before the visit.")
    if check_in.at > appointment.start + timings.no_show_grace:
        minutes = int(timings.no_show_grace.total_seconds() // 60)
        raise VisitRuleError("check-in-closed", f"Check-in closed {minutes} minutes after the start.")
    if not check_in.consents_to_telehealth:
        raise VisitRuleError(
            "consent-required", "A telehealth visit needs the patient's consent to telehealth."
        )


@dataclass(frozen=True)
class Visit:
    """One appointment version's visit. `attendees` maps a Chime attendee id to its role (a
    participant who asks again gets a new attendee); `joined` holds each role's first join."""

    appointment_id: str
    version: int
    provider_id: str
    patient_id: str
    start: datetime
    end: datetime
    state: VisitState
    checked_in_at: datetime
    recording_consented: bool
    reason: str = ""
    admitted_at: datetime | None = None
    meeting_id: str | None = None
    attendees: Mapping[str, Role] = field(default_factory=dict)
    joined: Mapping[Role, datetime] = field(default_factory=dict)
    guests: Mapping[str, Role] = field(default_factory=dict)  # invited user (sub) -> role
    ended_at: datetime | None = None
    outcome: str | None = None  # why it ended: completed, patient-no-show, provider-ended...
    capture_pipeline_arn: str | None = None  # recording, with the patient's consent
    concatenation_pipeline_id: str | None = None  # one file per stream, once the call is over
    recording_ready: bool = False

    @property
    def recording(self) -> str:
        """Where the recording stands: none, recording, processing or available."""
        if self.recording_ready:
            return "available"
        if self.concatenation_pipeline_id:
            return "processing"
        return "recording" if self.capture_pipeline_arn else "none"

    @classmethod
    def checked_in(cls, appointment: Appointment, check_in: CheckIn) -> Visit:
        return cls(
            appointment.appointment_id,
            appointment.version,
            appointment.provider_id,
            appointment.patient_id,
            appointment.start,
            appointment.end,
            VisitState.CHECKED_IN,
            check_in.at,
            check_in.consents_to_recording,
            check_in.reason,
        )

    def admitted(
        self,
        meeting_id: str,
        attendees: Mapping[str, Role],
        now: datetime,
        guests: Mapping[str, Role] | None = None,
    ) -> Visit:
        if self.state is not VisitState.CHECKED_IN:
            raise VisitRuleError(
                "not-waiting", f"This visit is {self.state.value}, not waiting to be admitted."
            )
        if any(role not in GUEST_ROLES for role in (guests or {}).values()):
            raise VisitRuleError("not-a-guest-role", "Guests join as an interpreter or a caregiver.")
        return replace(
            self,
            state=VisitState.ADMITTED,
            admitted_at=now,
            meeting_id=meeting_id,
            attendees=attendees,
            guests=dict(guests or {}),
        )

    def back_to_waiting(self) -> Visit:
        """The meeting ended before anyone joined: the patient waits to be admitted again."""
        return replace(self, state=VisitState.CHECKED_IN, meeting_id=None, attendees={}, joined={}, guests={})

    def with_attendee(self, attendee_id: str, role: Role, replaced: str | None) -> Visit:
        self.require_meeting()
        attendees = {k: v for k, v in self.attendees.items() if k != replaced}
        return replace(self, attendees={**attendees, attendee_id: role})

    def require_meeting(self) -> str:
        if self.state not in (VisitState.ADMITTED, VisitState.IN_CALL) or self.meeting_id is None:
            raise VisitRuleError("not-in-meeting", "This visit has no video meeting open.")
        return self.meeting_id

    def attendee_joined(self, attendee_id: str, at: datetime) -> Visit:
        """A participant's client connected. Both parties in: the call is on."""
        role = self.attendees.get(attendee_id)
        if role is None or self.state.over:
            return self
        joined = dict(self.joined)
        joined.setdefault(role, at)
        state = VisitState.IN_CALL if set(joined) >= PARTIES else self.state
        return replace(self, joined=joined, state=state)

    @property
    def both_joined(self) -> bool:
        return set(self.joined) >= PARTIES

    def ended(self, state: VisitState, outcome: str, at: datetime) -> Visit:
        if self.state.over:
            return self
        return replace(self, state=state, outcome=outcome, ended_at=at)

    def missing(self) -> list[Role]:
        return [role for role in (Role.PATIENT, Role.PROVIDER) if role not in self.joined]


def attendance_outcome(visit: Visit, seated: Iterable[Role], meeting_exists: bool) -> str:
    """After the join window: what the visit becomes. A party counts as present if Chime reported
    them joining and they still hold a place (an attendee) in the meeting.

    Returns `in-call`, `patient-no-show`, `provider-no-show` or `recreate` (nobody came and the
    meeting is gone or empty: back to the waiting room, to be admitted into a new meeting).
    """
    present = set(visit.joined) & set(seated) & PARTIES
    if present >= PARTIES:
        return "in-call"
    if not present:
        return "recreate"
    if Role.PATIENT not in present:
        return "patient-no-show"
    return "provider-no-show"


# --- the lifecycle's timers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    key: str  # "24h", "1h": which one, for the notifier's template and idempotency
    at: datetime


def reminder_schedule(start: datetime, timings: VisitTimings) -> list[Reminder]:
    """A visit's reminders at their times, earliest first."""
    return sorted((Reminder(_label(b), start - b) for b in timings.reminders), key=lambda r: r.at)


def next_reminder(
    start: datetime,
    now: datetime,
    timings: VisitTimings,
    *,
    booked_at: datetime | None = None,
    sent: Collection[str] = (),
    after: str | None = None,
) -> Reminder | None:
    """The reminder the lifecycle sends next and when (None: no more), however it got here: from
    the booking, or started afresh on a visit that was open while nothing ran (the platform down).

    A reminder is owed when this version of the visit was booked before its time: one booked
    later skips it. None comes again, nor any earlier one, once the table records it as sent
    (`sent`) or the running lifecycle has passed it (`after`; a timer may fire a moment early, a
    patient without an address gets nothing). An owed reminder whose time passed unsent goes out
    late, at once, while the visit has not started: the patient was owed it and still gains from
    it (when and where to be), and it is what the lifecycle would have done; of several, only the
    latest, since they say the same thing. Where the table does not say when this version was
    booked (`booked_at` None), only the reminders still ahead are owed.
    """
    if now >= start:
        return None
    schedule = reminder_schedule(start, timings)
    keys = [r.key for r in schedule]
    done = [keys.index(k) for k in (*sent, after) if k in keys]
    left = schedule[max(done) + 1 :] if done else schedule
    owed = [r for r in left if (r.at > booked_at if booked_at is not None else r.at > now)]
    missed = [r for r in owed if r.at <= now]
    if missed:
        return Reminder(missed[-1].key, now)
    return owed[0] if owed else None


def _label(before: timedelta) -> str:
    hours, rest = divmod(int(before.total_seconds()), 3600)
    return f"{hours}h" if not rest else f"{int(before.total_seconds() // 60)}m"


def no_show_at(start: datetime, timings: VisitTimings) -> datetime:
    return start + timings.no_show_grace


def admit_by(end: datetime, timings: VisitTimings) -> datetime:
    return end + timings.admit_by_after_end


def join_closes(visit: Visit | None, now: datetime, timings: VisitTimings) -> datetime:
    """When the parties' time to join runs out: the window counts from the admission, so a
    lifecycle that learns of it late (started again after the platform was down, or resumed
    behind a backlog) waits only for what is left of it, as Chime's own clock on the meeting
    does; `now` when the visit is not (or no longer) admitted."""
    if visit is not None and visit.state is VisitState.ADMITTED and visit.admitted_at is not None:
        return visit.admitted_at + timings.join_window
    return now + timings.join_window


def seconds_until(moment: datetime, now: datetime, at_least: int = 1) -> int:
    """A Step Functions timeout in whole seconds: never zero (a task must be able to start)."""
    return max(at_least, int((moment - now).total_seconds() + 0.999))


# --- the waiting room --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceInLine:
    position: int  # 1: next to be admitted
    estimated_wait: timedelta


def waiting_line(visits: Iterable[Visit]) -> list[Visit]:
    """Who is waiting for this provider, in the order they will be seen: by appointment time,
    then by who checked in first."""
    return sorted(
        (v for v in visits if v.state is VisitState.CHECKED_IN), key=lambda v: (v.start, v.checked_in_at)
    )


def typical_visit_length(visits: Iterable[Visit], fallback: timedelta, recent: int = 5) -> timedelta:
    """The median of the provider's most recent completed calls; the booked length without any."""
    lengths = [
        v.ended_at - v.admitted_at
        for v in sorted(
            (v for v in visits if v.state is VisitState.COMPLETED and v.admitted_at and v.ended_at),
            key=lambda v: v.ended_at or v.start,
        )
        if v.ended_at and v.admitted_at
    ][-recent:]
    if not lengths:
        return fallback
    return timedelta(seconds=statistics.median(length.total_seconds() for length in lengths))


def place_in_line(visit: Visit, provider_visits: Sequence[Visit], now: datetime) -> PlaceInLine:
    """Where a checked-in patient stands, and about how long until the provider admits them:
    what is left of the provider's current visit, then a typical visit for each patient ahead,
    and never before the appointment's own start."""
    line = waiting_line(provider_visits)
    ids = [v.appointment_id for v in line]
    if visit.appointment_id not in ids:
        raise VisitRuleError("not-waiting", f"This visit is {visit.state.value}, not in the waiting room.")
    position = ids.index(visit.appointment_id) + 1
    typical = typical_visit_length(provider_visits, visit.end - visit.start)
    current = [
        v for v in provider_visits if v.state in (VisitState.ADMITTED, VisitState.IN_CALL) and v.admitted_at
    ]
    busy = timedelta(0)
    if current:
        started = min(v.admitted_at for v in current if v.admitted_at)
        busy = max(timedelta(0), typical - (now - started))
    wait = busy + typical * (position - 1)
    return PlaceInLine(position, max(wait, visit.start - now, timedelta(0)))


def notice_when(start: datetime, zone: str) -> str:
    """A visit's start as a message to the patient says it (a reminder, a refused card), on the
    patient's clock: when, and nothing of why."""
    return start.astimezone(ZoneInfo(zone)).strftime("%A %d %B at %H:%M %Z")
