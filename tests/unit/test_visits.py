"""The visit's rules with the clock passed in: timers, check-in, the waiting room, attendance and
join links."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from telehealth.domain.appointments import Appointment
from telehealth.domain.join_links import (
    IssuedLink,
    LinkGoneError,
    LinkNotYoursError,
    LinkState,
    check_redeemable,
    new_link,
    parse_link,
)
from telehealth.domain.visits import (
    CheckIn,
    Role,
    Visit,
    VisitRuleError,
    VisitState,
    VisitTimings,
    attendance_outcome,
    check_check_in,
    join_closes,
    next_reminder,
    place_in_line,
    seconds_until,
    waiting_line,
)

NOON = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
APPT = "01JB0000000000000000000000"


def appointment(start: datetime = NOON, minutes: int = 15, appointment_id: str = APPT) -> Appointment:
    return Appointment(
        appointment_id, "dr-a", "patient-1", "general", start, start + timedelta(minutes=minutes), "NY"
    )


def visit(start: datetime = NOON, checked_in: datetime | None = None, appointment_id: str = APPT) -> Visit:
    a = appointment(start, appointment_id=appointment_id)
    at = checked_in or start - timedelta(minutes=5)
    return Visit.checked_in(a, CheckIn(a.appointment_id, at, "NY", "+1 555 0100", True, False, "cough"))


def test_timings_keep_links_short_and_the_join_window_inside_chimes_five_minutes() -> None:
    with pytest.raises(ValueError, match="10 minutes"):
        VisitTimings(link_lifetime=timedelta(minutes=11))
    with pytest.raises(ValueError, match="Chime"):
        VisitTimings(join_window=timedelta(minutes=5))


def reminders(booked: datetime) -> list[str]:
    """Every reminder a lifecycle started at the booking sends, each at its time."""
    sent: list[str] = []
    now = booked
    while (due := next_reminder(NOON, now, VisitTimings(), booked_at=booked, sent=sent)) is not None:
        sent.append(due.key)
        now = max(now, due.at)
    return sent


@pytest.mark.parametrize(
    ("booked_before", "due"),
    [(timedelta(days=2), ["24h", "1h"]), (timedelta(hours=3), ["1h"]), (timedelta(minutes=30), [])],
)
def test_reminders_booked_later_than_their_time_are_skipped(booked_before: timedelta, due: list[str]) -> None:
    assert reminders(NOON - booked_before) == due
    first = next_reminder(NOON, NOON - booked_before, VisitTimings(), booked_at=NOON - booked_before)
    assert first is None or NOON - booked_before < first.at < NOON


def test_a_reminder_never_comes_twice_even_when_its_timer_fires_early() -> None:
    booked = NOON - timedelta(days=2)
    a_moment_early = NOON - timedelta(hours=24, milliseconds=300)
    after_24h = next_reminder(NOON, a_moment_early, VisitTimings(), booked_at=booked, after="24h")
    assert after_24h is not None and after_24h.key == "1h"
    early = NOON - timedelta(hours=1, milliseconds=1)
    assert next_reminder(NOON, early, VisitTimings(), booked_at=booked, after="1h") is None


def test_a_reminder_the_table_records_as_sent_is_not_sent_again_by_a_lifecycle_started_afresh() -> None:
    booked = NOON - timedelta(days=2)
    # The platform came back 40 minutes before the visit: the 1h reminder went out before it
    # went down, so nothing is left (the 24h one, earlier, is not sent late either).
    back = NOON - timedelta(minutes=40)
    assert next_reminder(NOON, back, VisitTimings(), booked_at=booked, sent={"1h"}) is None
    # Back a day before: the 24h one went out, the 1h one is still ahead and waited for.
    a_day_before = NOON - timedelta(hours=20)
    ahead = next_reminder(NOON, a_day_before, VisitTimings(), booked_at=booked, sent={"24h"})
    assert ahead is not None and (ahead.key, ahead.at) == ("1h", NOON - timedelta(hours=1))


def test_a_reminder_missed_while_nothing_ran_is_sent_late_once_while_the_visit_is_ahead() -> None:
    booked = NOON - timedelta(days=2)
    back = NOON - timedelta(minutes=40)
    late = next_reminder(NOON, back, VisitTimings(), booked_at=booked, sent={"24h"})
    assert late is not None and (late.key, late.at) == ("1h", back)
    # Both missed: one message, the latest, not the same text twice in a row.
    both = next_reminder(NOON, back, VisitTimings(), booked_at=booked)
    assert both is not None and (both.key, both.at) == ("1h", back)
    # Missed the 24h one, the 1h one ahead: the missed one now, then the 1h one at its time.
    early = NOON - timedelta(hours=20)
    missed = next_reminder(NOON, early, VisitTimings(), booked_at=booked)
    assert missed is not None and (missed.key, missed.at) == ("24h", early)
    then = next_reminder(NOON, early, VisitTimings(), booked_at=booked, sent={"24h"})
    assert then is not None and then.key == "1h"
    # Once the visit has started, no reminder: the lifecycle decides the no-show instead.
    assert next_reminder(NOON, NOON, VisitTimings(), booked_at=booked) is None
    assert next_reminder(NOON, NOON + timedelta(minutes=5), VisitTimings(), booked_at=booked) is None


def test_a_reminder_booked_later_than_its_time_is_not_owed_late_either() -> None:
    booked = NOON - timedelta(minutes=90)
    back = NOON - timedelta(minutes=40)
    late = next_reminder(NOON, back, VisitTimings(), booked_at=booked)
    assert late is not None and late.key == "1h"
    assert next_reminder(NOON, back, VisitTimings(), booked_at=NOON - timedelta(minutes=50)) is None
    # Where the table does not say when it was booked, only what is still ahead is owed.
    assert next_reminder(NOON, back, VisitTimings()) is None
    ahead = next_reminder(NOON, NOON - timedelta(hours=3), VisitTimings())
    assert ahead is not None and ahead.key == "1h"


def test_the_join_window_counts_from_the_admission() -> None:
    timings = VisitTimings()
    admitted_at = NOON + timedelta(minutes=1)
    admitted = replace(visit(), state=VisitState.ADMITTED, admitted_at=admitted_at, meeting_id="m-1")
    # Learnt of late (the lifecycle started again a minute after the admission): what is left.
    later = admitted_at + timedelta(minutes=1)
    assert join_closes(admitted, later, timings) == admitted_at + timings.join_window
    assert seconds_until(join_closes(admitted, later, timings), later) == 180
    # Long past: the attendance check runs at once.
    assert (
        seconds_until(join_closes(admitted, later + timedelta(hours=1), timings), later + timedelta(hours=1))
        == 1
    )
    # Not admitted (or in the call already): a whole window from now.
    assert join_closes(visit(), later, timings) == later + timings.join_window
    in_call = replace(admitted, state=VisitState.IN_CALL)
    assert join_closes(in_call, later, timings) == later + timings.join_window
    assert join_closes(None, later, timings) == later + timings.join_window


def test_a_timeout_is_never_zero_seconds() -> None:
    assert seconds_until(NOON - timedelta(hours=1), NOON) == 1
    assert seconds_until(NOON + timedelta(seconds=90.2), NOON) == 91


@pytest.mark.parametrize(
    ("at", "consent", "kind"),
    [
        (NOON - timedelta(minutes=16), True, "check-in-not-open"),
        (NOON + timedelta(minutes=11), True, "check-in-closed"),
        (NOON - timedelta(minutes=5), False, "consent-required"),
    ],
)
def test_check_in_window_and_consent(at: datetime, consent: bool, kind: str) -> None:
    with pytest.raises(VisitRuleError) as refused:
        check_check_in(appointment(), CheckIn(APPT, at, "NY", "+1 555 0100", consent, False))
    assert refused.value.kind == kind
    check_check_in(
        appointment(), CheckIn(APPT, NOON - timedelta(minutes=15), "NY", "+1 555 0100", True, False)
    )


def test_the_line_goes_by_appointment_time_then_by_who_checked_in_first() -> None:
    late = visit(NOON, NOON - timedelta(minutes=1), "01JB0000000000000000000001")
    early = visit(NOON, NOON - timedelta(minutes=9), "01JB0000000000000000000002")
    next_slot = visit(
        NOON + timedelta(minutes=15), NOON - timedelta(minutes=14), "01JB0000000000000000000003"
    )
    assert [v.appointment_id for v in waiting_line([next_slot, late, early])] == [
        early.appointment_id,
        late.appointment_id,
        next_slot.appointment_id,
    ]


def test_the_estimate_is_what_is_left_of_the_current_visit_plus_a_typical_visit_per_patient_ahead() -> None:
    now = NOON + timedelta(minutes=20)
    done = [
        replace(
            visit(NOON - timedelta(hours=2), appointment_id=f"01JB00000000000000000000D{i}"),
            state=VisitState.COMPLETED,
            admitted_at=NOON - timedelta(hours=2),
            ended_at=NOON - timedelta(hours=2) + timedelta(minutes=length),
        )
        for i, length in enumerate((8, 10, 12))
    ]
    current = replace(
        visit(NOON, appointment_id="01JB00000000000000000000C0"),
        state=VisitState.ADMITTED,
        admitted_at=now - timedelta(minutes=3),
    )
    first = visit(NOON + timedelta(minutes=5), appointment_id="01JB00000000000000000000W1")
    second = visit(NOON + timedelta(minutes=10), appointment_id="01JB00000000000000000000W2")
    day = [*done, current, first, second]
    assert place_in_line(first, day, now).position == 1
    assert place_in_line(first, day, now).estimated_wait == timedelta(minutes=7)  # 10 typical - 3 in
    assert place_in_line(second, day, now).estimated_wait == timedelta(minutes=17)
    # Early for an appointment with nobody ahead: the wait is until the appointment's start.
    early = visit(now + timedelta(minutes=12), appointment_id="01JB00000000000000000000E1")
    assert place_in_line(early, [early], now).estimated_wait == timedelta(minutes=12)


def test_both_parties_joining_puts_the_visit_in_call_and_unknown_attendees_change_nothing() -> None:
    admitted = visit().admitted("m-1", {"a-p": Role.PATIENT, "a-d": Role.PROVIDER}, NOON)
    assert admitted.attendee_joined("someone-else", NOON) == admitted
    one = admitted.attendee_joined("a-p", NOON)
    assert one.state is VisitState.ADMITTED and one.missing() == [Role.PROVIDER]
    both = one.attendee_joined("a-d", NOON + timedelta(seconds=30))
    assert both.state is VisitState.IN_CALL and both.both_joined
    with pytest.raises(VisitRuleError):
        both.admitted("m-2", {}, NOON)


@pytest.mark.parametrize(
    ("joined", "seated", "outcome"),
    [
        ({Role.PATIENT, Role.PROVIDER}, {Role.PATIENT, Role.PROVIDER}, "in-call"),
        ({Role.PROVIDER}, {Role.PATIENT, Role.PROVIDER}, "patient-no-show"),
        ({Role.PATIENT}, {Role.PATIENT, Role.PROVIDER}, "provider-no-show"),
        (set(), set(), "recreate"),
        # Joined, but their attendee is gone from the meeting: not there any more.
        ({Role.PATIENT, Role.PROVIDER}, {Role.PROVIDER}, "patient-no-show"),
    ],
)
def test_attendance_is_decided_on_what_chime_still_holds(
    joined: set[Role], seated: set[Role], outcome: str
) -> None:
    v = replace(visit(), state=VisitState.ADMITTED, joined=dict.fromkeys(joined, NOON))
    assert attendance_outcome(v, seated, meeting_exists=bool(seated)) == outcome


def issued(link_text: str, holder: str = "sub-1", **change: object) -> IssuedLink:
    link = parse_link(link_text)
    base = IssuedLink(
        link.appointment_id,
        link.link_id,
        Role.PATIENT,
        holder,
        "a-1",
        NOON + timedelta(minutes=10),
        LinkState.ISSUED,
        link.secret_hash,
    )
    return replace(base, **change)  # type: ignore[arg-type]


def test_a_link_opens_only_for_its_holder_once_and_before_it_expires() -> None:
    text = new_link(APPT, "01JB00000000000000000000L1").text
    presented = parse_link(text)
    check_redeemable(issued(text), presented, "sub-1", NOON)
    with pytest.raises(LinkNotYoursError):
        check_redeemable(issued(text), presented, "sub-2", NOON)
    with pytest.raises(LinkNotYoursError):
        check_redeemable(issued(text), parse_link(text[:-3] + "xyz"), "sub-1", NOON)
    with pytest.raises(LinkNotYoursError):  # made at admission, never handed out
        check_redeemable(issued(text, state=LinkState.PREPARED), presented, "sub-1", NOON)
    for gone in (issued(text, state=LinkState.REDEEMED), issued(text, state=LinkState.REVOKED)):
        with pytest.raises(LinkGoneError):
            check_redeemable(gone, presented, "sub-1", NOON)
    with pytest.raises(LinkGoneError):
        check_redeemable(issued(text), presented, "sub-1", NOON + timedelta(minutes=10))


@pytest.mark.parametrize("text", ["", "not-a-link", f"{APPT}.short.secret", f"{APPT}/x/y"])
def test_anything_else_is_not_a_link(text: str) -> None:
    with pytest.raises(LinkNotYoursError):
        parse_link(text)
