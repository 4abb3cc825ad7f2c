"""The visit service and its lifecycle steps over in-memory stores: check-in, admission, join links
and Chime's events when something else moves the visit between a read and its write."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from telehealth.application.booking import LicensureError
from telehealth.application.lifecycle import VisitLifecycle
from telehealth.domain.appointments import AppointmentStatus
from telehealth.domain.join_links import LinkGoneError
from telehealth.domain.licensure import Refusal
from telehealth.domain.visits import CheckIn, Visit, VisitRuleError, VisitState
from telehealth.ports import StaleWriteError
from tests.unit.fakes import (
    PATIENT,
    PROVIDER,
    PROVIDER_ID,
    STAFF,
    START,
    Clinic,
    FakeNotifier,
    FakeRecordingFiles,
    booked_soon,
    check_in,
    checked_in,
    clinic,
)


def _admitted(c: Clinic) -> str:
    appointment_id = checked_in(c)
    c.visits.admit(PROVIDER, appointment_id)
    return appointment_id


def _visit(c: Clinic, appointment_id: str) -> tuple[Visit, int]:
    return c.table.visits[(appointment_id, 1)]


def _bump(c: Clinic, appointment_id: str) -> None:
    """Another step's change to the visit (a new revision of the same state)."""
    visit, revision = _visit(c, appointment_id)
    c.visit_store.save_visit(visit, revision, [])


def _lifecycle(c: Clinic) -> VisitLifecycle:
    return VisitLifecycle(
        c.visits, FakeNotifier(), c.visit_store, "https://portal.example.test", FakeRecordingFiles()
    )


# --- check-in ----------------------------------------------------------------------------------------


def test_a_check_in_racing_another_from_a_second_tab_is_told_it_is_checked_in_and_resumes_nothing() -> None:
    c = clinic()
    appointment_id = booked_soon(c)
    appointment = c.table.appointments[appointment_id]
    other = CheckIn(appointment_id, c.clock.now, "NY", "+1 555 0199", True, False)
    c.table.meanwhile(
        lambda: c.visit_store.record_check_in(other, appointment, Visit.checked_in(appointment, other), [])
    )
    with pytest.raises(VisitRuleError) as refused:
        check_in(c, appointment_id)
    assert refused.value.kind == "already-checked-in"
    assert c.table.check_ins[(appointment_id, 1)] == other
    assert c.table.resumptions() == []  # the loser's resumption never left
    assert c.table.entries(kind="Encounter") == []


def test_a_check_in_of_a_visit_cancelled_meanwhile_writes_nothing() -> None:
    c = clinic()
    appointment_id = booked_soon(c)
    before = c.table.appointments[appointment_id]
    c.table.meanwhile(lambda: c.scheduling.change(before, before.cancelled(), [], None))
    written = len(c.table.changes())
    with pytest.raises(StaleWriteError):
        check_in(c, appointment_id)
    assert (appointment_id, 1) not in c.table.visits
    assert len(c.table.changes()) == written
    assert [r["outcome"] for r in c.table.refusals()] == ["4"]  # the refusal is in the trail


# --- admission ---------------------------------------------------------------------------------------


def test_an_admission_whose_lifecycle_began_waiting_meanwhile_is_retried_and_resumes_that_step() -> None:
    c = clinic()
    appointment_id = checked_in(c)
    c.table.meanwhile(lambda: c.visit_store.put_task_token(appointment_id, "admit#v1", "token-admit", 0))
    admission = c.visits.admit(PROVIDER, appointment_id)
    assert admission.visit.state is VisitState.ADMITTED
    assert ("token-admit", {"admitted": True}) in c.table.resumptions()
    assert c.meetings.created == 1  # the retry got the same meeting back (same request token)
    assert _visit(c, appointment_id)[1] == 2


def test_two_admissions_at_once_make_one_meeting_and_the_second_hears_the_visit_was_just_admitted() -> None:
    c = clinic()
    appointment_id = checked_in(c)
    c.table.meanwhile(lambda: c.visits.admit(PROVIDER, appointment_id))
    with pytest.raises(VisitRuleError) as refused:
        c.visits.admit(PROVIDER, appointment_id)
    assert refused.value.kind == "not-waiting"
    assert c.meetings.created == 1
    assert len(c.table.events("Visit.Admitted")) == 1


def test_an_admission_over_a_visit_that_never_stops_changing_gives_up_after_four_reads() -> None:
    c = clinic()
    appointment_id = checked_in(c)
    c.table.meanwhile(*[lambda: _bump(c, appointment_id)] * 4)
    with pytest.raises(VisitRuleError) as refused:
        c.visits.admit(PROVIDER, appointment_id)
    assert refused.value.kind == "not-waiting"
    assert _visit(c, appointment_id)[0].state is VisitState.CHECKED_IN
    assert c.table.events("Visit.Admitted") == []


def test_an_admission_by_a_provider_whose_record_was_removed_meanwhile_is_refused_as_unlicensed() -> None:
    c = clinic()
    appointment_id = checked_in(c)
    c.visits.queue(PROVIDER)  # the service has learnt which provider the user is
    del c.table.providers[PROVIDER_ID]  # no record, no credentials: that refuses, never waives
    with pytest.raises(LicensureError) as refused:
        c.visits.admit(PROVIDER, appointment_id)
    assert refused.value.refusal is Refusal.NO_LICENSE
    assert _visit(c, appointment_id)[0].state is VisitState.CANCELLED
    assert c.meetings.created == 0


# --- join links ----------------------------------------------------------------------------------------


def test_of_two_redemptions_of_one_link_at_once_the_one_that_writes_second_gets_no_join_token() -> None:
    c = clinic()
    appointment_id = _admitted(c)
    link, _ = c.visits.issue_link(PATIENT, appointment_id)
    stored = c.table.links[(appointment_id, link.link_id)][0]
    # Both read the link as issued; the other tab's redemption writes first.
    c.table.meanwhile(lambda: c.visit_store.redeem_link(stored, []))
    audits = len(c.table.entries(kind="AuditEvent"))
    with pytest.raises(LinkGoneError):
        c.visits.redeem(PATIENT, link.text)
    # No read is recorded (none took place); the refused redemption is.
    assert len(c.table.entries(kind="AuditEvent")) == audits + 1
    assert [r["outcome"] for r in c.table.refusals()] == ["4"]


def test_a_second_link_revokes_the_first_and_its_attendee_so_the_old_join_token_dies() -> None:
    c = clinic()
    appointment_id = _admitted(c)
    first, _ = c.visits.issue_link(PATIENT, appointment_id)
    second, _ = c.visits.issue_link(PATIENT, appointment_id)
    with pytest.raises(LinkGoneError):
        c.visits.redeem(PATIENT, first.text)
    assert c.visits.redeem(PATIENT, second.text)["Attendee"]["JoinToken"]
    visit, _ = _visit(c, appointment_id)
    meeting = c.meetings.attendees[str(visit.meeting_id)]
    assert len([a for a in meeting.values() if a["ExternalUserId"].startswith("patient-")]) == 1


def test_a_link_asked_for_after_chime_ended_the_meeting_is_refused_as_gone_and_changes_nothing() -> None:
    c = clinic()
    appointment_id = _admitted(c)
    c.visits.issue_link(PATIENT, appointment_id)
    visit, revision = _visit(c, appointment_id)
    c.meetings.delete_meeting(str(visit.meeting_id))  # Chime's end, before its event is handled
    with pytest.raises(LinkGoneError):
        c.visits.issue_link(PATIENT, appointment_id)
    assert _visit(c, appointment_id) == (visit, revision)
    assert [r["outcome"] for r in c.table.refusals()] == ["4"]


# --- Chime's events ----------------------------------------------------------------------------------


def _event(c: Clinic, appointment_id: str, kind: str, attendee: str = "") -> dict[str, object]:
    visit, _ = _visit(c, appointment_id)
    return {
        "eventType": f"chime:{kind}",
        "externalMeetingId": f"riverside:{appointment_id}",
        "meetingId": visit.meeting_id,
        "attendeeId": attendee,
        "timestamp": int(c.clock.now.timestamp() * 1000),
    }


def test_joins_delivered_twice_put_the_visit_in_call_once() -> None:
    c = clinic()
    appointment_id = _admitted(c)
    c.visit_store.put_task_token(appointment_id, "join#v1", "token-join", 0)
    attendees = list(_visit(c, appointment_id)[0].attendees)
    events = [_event(c, appointment_id, "AttendeeJoined", a) for a in attendees]
    outcomes = [c.visits.on_meeting_event(e) for e in events + events]
    assert outcomes == ["joined", "joined", "already-known", "already-known"]
    assert _visit(c, appointment_id)[0].state is VisitState.IN_CALL
    assert len(c.table.events("Visit.InCall")) == 1
    assert c.table.resumptions().count(("token-join", {"in_call": True})) == 1


def test_a_join_racing_the_recording_step_is_applied_to_the_visit_as_it_now_stands() -> None:
    c = clinic()
    appointment_id = _admitted(c)
    patient = next(a for a, r in _visit(c, appointment_id)[0].attendees.items() if r.value == "patient")
    c.table.meanwhile(lambda: _bump(c, appointment_id))
    assert c.visits.on_meeting_event(_event(c, appointment_id, "AttendeeJoined", patient)) == "joined"
    assert _visit(c, appointment_id)[0].joined


def test_cancelling_a_visit_in_its_call_closes_the_visit_and_deletes_its_meeting() -> None:
    c = clinic()
    appointment_id = _admitted(c)
    meeting_id = str(_visit(c, appointment_id)[0].meeting_id)
    c.visits.cancel(STAFF, appointment_id, None)  # within 24 hours, only the clinic cancels
    assert c.table.appointments[appointment_id].status is AppointmentStatus.CANCELLED
    assert _visit(c, appointment_id)[0].state is VisitState.CANCELLED
    assert meeting_id not in c.meetings.meetings


# --- the lifecycle's steps ---------------------------------------------------------------------------


def test_a_step_that_begins_waiting_after_its_change_came_resumes_itself() -> None:
    c = clinic()
    appointment_id = _admitted(c)  # admitted before the admit step got to wait
    _lifecycle(c).wait_for(appointment_id, 1, "admit", "token-late")
    assert ("token-late", {"admitted": True}) in c.table.resumptions()


def test_a_no_show_over_an_appointment_moved_meanwhile_is_not_written() -> None:
    c = clinic()
    appointment_id = booked_soon(c)
    before = c.table.appointments[appointment_id]
    moved = before.moved(START + timedelta(hours=2), START + timedelta(hours=2, minutes=30))
    c.table.meanwhile(lambda: c.scheduling.change(before, moved, [], None))
    with pytest.raises(StaleWriteError):  # the step fails; retried, it finds the visit moved on
        _lifecycle(c).check_in_deadline(appointment_id, 1)
    assert c.table.appointments[appointment_id] == moved
    assert c.table.events("Visit.NoShow") == []
    assert _lifecycle(c).check_in_deadline(appointment_id, 1) == {"outcome": "over"}


def test_a_check_in_at_the_last_moment_is_not_taken_for_a_no_show() -> None:
    c = clinic()
    appointment_id = checked_in(c)
    assert _lifecycle(c).check_in_deadline(appointment_id, 1) == {"outcome": "checked-in"}
    assert c.table.appointments[appointment_id].status is AppointmentStatus.BOOKED


def test_the_recording_pipeline_lands_on_the_visit_as_it_stands_after_a_join_moved_it() -> None:
    c = clinic()
    appointment_id = _admitted(c)
    patient = next(a for a, r in _visit(c, appointment_id)[0].attendees.items() if r.value == "patient")

    def joined() -> None:
        c.visits.on_meeting_event(_event(c, appointment_id, "AttendeeJoined", patient))

    c.table.meanwhile(joined)
    assert _lifecycle(c).start_recording(appointment_id, 1, "recordings-bucket") == {"recording": True}
    visit, _ = _visit(c, appointment_id)
    assert visit.capture_pipeline_arn and visit.joined  # both changes kept
    assert len(c.meetings.captures) == 1


def test_the_recording_is_announced_once_when_finish_and_chimes_event_race() -> None:
    c = clinic()
    appointment_id = _admitted(c)
    lifecycle = _lifecycle(c)
    visit, revision = _visit(c, appointment_id)
    c.visit_store.save_visit(replace(visit, capture_pipeline_arn="arn:capture"), revision, [])
    patient = next(a for a, r in visit.attendees.items() if r.value == "patient")
    files = lifecycle.files
    assert isinstance(files, FakeRecordingFiles)
    files.objects["recordings-bucket"] = {f"recordings/{appointment_id}/v1/video/{patient}.mp4"}
    pipeline = f"concat-{appointment_id}-v1-concat"

    def chime_reports_it() -> None:
        event = {
            "eventType": "chime:MediaPipelineDeleted",
            "externalMeetingId": f"riverside:{appointment_id}",
            "mediaPipelineId": pipeline,
        }
        lifecycle.on_pipeline_event(event, "recordings-bucket")

    assert lifecycle.finish(appointment_id, 1, "recordings-bucket") == {"recording": True}
    chime_reports_it()
    assert len(c.table.events("Recording.Available")) == 1
    assert _visit(c, appointment_id)[0].recording_ready
