"""The lifecycle's own steps, as the visit state machine calls them: timers from the clock,
reminders, the no-show decisions, the attendance check against Chime, recording, the end.

Every step takes and returns ids, instants and outcomes only (execution history is kept), and
every step can run twice: each one reads the visit as it is now and does only what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from telehealth.application.visits import VisitService, resume, retrying
from telehealth.domain.appointments import AppointmentStatus
from telehealth.domain.scheduling import slot_id
from telehealth.domain.visits import (
    Role,
    VisitState,
    admit_by,
    attendance_outcome,
    join_closes,
    next_reminder,
    no_show_at,
    notice_when,
    seconds_until,
)
from telehealth.events import RecordingAvailable, VisitNoShow, VisitReminderSent
from telehealth.fhir import projection
from telehealth.ports import (
    MeetingGoneError,
    Notice,
    Notifier,
    OutboxEntry,
    RecordingFiles,
    VisitChangedError,
    VisitStore,
)

TOKEN_TTL_SECONDS = 366 * 24 * 3600


def recording_prefix(appointment_id: str, version: int) -> str:
    return f"recordings/{appointment_id}/v{version}"


class VisitLifecycle:
    def __init__(
        self,
        visits: VisitService,
        notifier: Notifier,
        tokens: VisitStore,
        portal_url: str,
        files: RecordingFiles,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.visits, self.notifier, self.tokens, self.portal_url = visits, notifier, tokens, portal_url
        self.files = files
        self.clock = clock or visits.clock

    @property
    def _store(self) -> VisitStore:
        return self.visits.store

    # --- timers ------------------------------------------------------------------------------------

    def timers(
        self, appointment_id: str, version: int, start: datetime, after: str | None = None
    ) -> dict[str, Any]:
        """The next reminder (a Wait state waits until `next_at`, at once for one sent late);
        none: empty. `start` is the execution's (a version's start never changes); the table adds
        when the version was booked and which reminders went out, so a lifecycle started again
        owes what the first one would have and repeats nothing."""
        file = self._store.visit_file(appointment_id)
        appointment = file.appointment
        booked_at = appointment.booked_at if appointment and appointment.version == version else None
        due = next_reminder(
            start,
            self.clock(),
            self.visits.timings,
            booked_at=booked_at,
            sent=file.reminders_sent.get(version, set()),
            after=after,
        )
        if due is None:
            return {"next_key": "", "next_at": ""}
        return {"next_key": due.key, "next_at": projection.instant(due.at)}

    def deadlines(self, appointment_id: str, version: int, start: datetime, end: datetime) -> dict[str, int]:
        """Seconds until each deadline, computed now (a wait's timeout is fixed when it starts):
        each from the clock and the visit as the table has it, never a full length again."""
        now, timings = self.clock(), self.visits.timings
        _, visit, _ = self._visit(appointment_id, version)
        return {
            "no_show_in_s": seconds_until(no_show_at(start, timings), now),
            "admit_in_s": seconds_until(admit_by(end, timings), now),
            "join_window_s": seconds_until(join_closes(visit, now, timings), now),
            "end_in_s": seconds_until(end + timings.overrun, now),
        }

    def wait_for(self, appointment_id: str, version: int, step: str, token: str) -> dict[str, Any]:
        """Keep a waiting step's token where the change that ends the wait will find it. A change
        that came first (the provider ended the call before this step began) did not find it, so
        the step checks once more and, if its wait is already over, resumes itself."""
        expires = int(self.clock().timestamp()) + TOKEN_TTL_SECONDS
        self.tokens.put_task_token(appointment_id, f"{step}#v{version}", token, expires)
        _, visit, _ = self._visit(appointment_id, version)
        done: dict[str, Any] | None = None
        if visit is not None:
            done = {
                "check-in": {"checked_in": True},
                "admit": {"admitted": visit.state in (VisitState.ADMITTED, VisitState.IN_CALL)}
                if visit.state is not VisitState.CHECKED_IN
                else None,
                "join": {"in_call": visit.state is VisitState.IN_CALL}
                if visit.state is VisitState.IN_CALL or visit.state.over
                else None,
                "end": {"ended": True} if visit.state.over else None,
            }.get(step)
        if done is not None:
            self._store.record([resume(token, done, self.clock())])
        return {"appointment_id": appointment_id, "waiting_for": step}

    # --- reminders -------------------------------------------------------------------------------------

    def remind(self, appointment_id: str, version: int, key: str, start: datetime) -> dict[str, Any]:
        """Send one reminder; returns the next one's timer (as `timers` does)."""
        sent = self._send_reminder(appointment_id, version, key)
        return {**self.timers(appointment_id, version, start, after=key), "sent": sent}

    def _send_reminder(self, appointment_id: str, version: int, key: str) -> bool:
        file = self._store.visit_file(appointment_id)
        appointment = file.appointment
        now = self.clock()
        if (
            appointment is None
            or appointment.version != version
            or appointment.status is not AppointmentStatus.BOOKED
            or now >= appointment.start
            or key in file.reminders_sent.get(version, set())
        ):
            return False
        patient = self.visits.booking.store.patient(appointment.patient_id)
        if patient is None or not (patient.email or patient.phone):
            return False
        # When and where, nothing about why: no specialty, no reason, no provider's field.
        text = (
            f"Reminder: you have a video visit on {notice_when(appointment.start, patient.zone or 'UTC')}. "
            f"Check in from 15 minutes before the start at {self.portal_url}"
        )
        channels = self.notifier.send(Notice(patient.email, patient.phone, "Your video visit", text))
        event = VisitReminderSent(
            appointment_id=appointment_id, version=version, reminder=key, channels=channels
        )
        # Recorded once it went out: a step that fails before the record is written sends it
        # again when retried (a repeat rather than a loss); a lifecycle started afresh finds the
        # record and sends nothing.
        self._store.record_reminder(
            appointment_id, version, key, now, [self.visits.booking.announce(event, now)]
        )
        return True

    # --- no-shows and attendance ----------------------------------------------------------------------

    def check_in_deadline(self, appointment_id: str, version: int) -> dict[str, Any]:
        """Check-in's wait timed out. Checked in at the last moment: carry on; otherwise a no-show."""
        file = self._store.visit_file(appointment_id)
        if version in file.visits:
            return {"outcome": "checked-in"}
        appointment = file.appointment
        if (
            appointment is None
            or appointment.version != version
            or appointment.status is not AppointmentStatus.BOOKED
        ):
            return {"outcome": "over"}
        now = self.clock()
        after = appointment.closed(AppointmentStatus.NO_SHOW)
        event = VisitNoShow(
            appointment_id=appointment_id,
            version=version,
            absent="patient",
            provider_id=appointment.provider_id,
            patient_id=appointment.patient_id,
        )
        self._store.close_appointment(
            appointment,
            after,
            [
                OutboxEntry(
                    self.visits.booking.appointment_resource(
                        after, slot_id(appointment.provider_id, appointment.start)
                    ),
                    after.version,
                ),
                self.visits.booking.announce(event, now),
            ],
        )
        return {"outcome": "no-show"}

    def admission_deadline(self, appointment_id: str, version: int) -> dict[str, Any]:
        """Nobody admitted the patient in time: the visit is cancelled, the patient told so."""
        file, visit, revision = self._visit(appointment_id, version)
        if visit is None or visit.state is not VisitState.CHECKED_IN or file.appointment is None:
            return {"outcome": "over" if visit is None or visit.state.over else "admitted"}
        self.visits.close(
            visit, revision, file.appointment, VisitState.CANCELLED, "not-admitted", self.clock(), None, []
        )
        return {"outcome": "cancelled"}

    def check_attendance(self, appointment_id: str, version: int) -> dict[str, Any]:
        """The join window closed (or the meeting ended early): decide from Chime itself, since
        its events may be late or lost. Returns `in-call`, `waiting` (admit again) or `over`."""
        file, visit, revision = self._visit(appointment_id, version)
        if visit is None or visit.state.over or file.appointment is None:
            return {"outcome": "over"}
        if visit.state is VisitState.IN_CALL:
            return {"outcome": "in-call"}
        if visit.meeting_id is None:
            return {"outcome": "waiting"}
        # Chime does not say who is connected, only whether the meeting stands and who still has
        # an attendee in it; who joined comes from its events, recorded on the visit.
        seated: set[Role] | None = None
        try:
            self.visits.meetings.get_meeting(visit.meeting_id)
            attendees = self.visits.meetings.list_attendees(visit.meeting_id)
            seated = {
                r for a in attendees if (r := visit.attendees.get(str(a.get("AttendeeId")))) is not None
            }
        except MeetingGoneError:
            pass
        exists = seated is not None
        outcome = attendance_outcome(visit, seated if seated is not None else set(visit.joined), exists)
        now = self.clock()
        if outcome == "in-call":
            return {"outcome": "in-call"}
        if exists:
            self.visits.meetings.delete_meeting(visit.meeting_id)
        if outcome == "recreate":
            self._store.save_visit(visit.back_to_waiting(), revision, [])
            return {"outcome": "waiting"}
        absent = "patient" if outcome == "patient-no-show" else "provider"
        self.visits.close(visit, revision, file.appointment, VisitState.NO_SHOW, absent, now, None, [])
        return {"outcome": "over"}

    # --- the call and its end --------------------------------------------------------------------------

    def start_recording(self, appointment_id: str, version: int, bucket: str | None) -> dict[str, Any]:
        """Per-attendee capture into the recordings bucket: only with the patient's consent."""
        _, visit, revision = self._visit(appointment_id, version)
        if (
            visit is None
            or visit.state.over
            or not visit.recording_consented
            or not bucket
            or visit.capture_pipeline_arn
        ):
            return {"recording": bool(visit and visit.capture_pipeline_arn)}
        if not self.visits.video.recording or visit.meeting_id is None:
            return {"recording": False}
        meeting = self.visits.meetings.get_meeting(visit.meeting_id)
        pipeline = self.visits.meetings.start_capture(
            meeting_arn=meeting["MeetingArn"],
            bucket_arn=f"arn:aws:s3:::{bucket}",
            prefix=f"captures/{appointment_id}/v{version}",
            request_token=f"{appointment_id}-v{version}-capture",
        )
        # The call's events may move the visit meanwhile: apply the pipeline to the latest revision.
        for _ in range(5):
            try:
                self._store.save_visit(
                    replace(visit, capture_pipeline_arn=pipeline["MediaPipelineArn"]), revision, []
                )
                break
            except VisitChangedError:
                _, latest, revision = self._visit(appointment_id, version)
                if latest is None:
                    break
                visit = latest
        return {"recording": True}

    def overrun(self, appointment_id: str, version: int) -> dict[str, Any]:
        """Long past the scheduled end: if Chime still has the meeting, end it; the visit completes."""
        file, visit, revision = self._visit(appointment_id, version)
        if visit is None or visit.state.over or file.appointment is None:
            return {"outcome": "over"}
        if visit.meeting_id:
            self.visits.meetings.delete_meeting(visit.meeting_id)
        self.visits.close(
            visit, revision, file.appointment, VisitState.COMPLETED, "overrun", self.clock(), None, []
        )
        return {"outcome": "completed"}

    def finish(self, appointment_id: str, version: int, bucket: str | None) -> dict[str, Any]:
        """After the call: the recording's chunks become one file per stream. Chime reports the
        concatenation's end as an event, which announces the recording (`on_pipeline_event`)."""
        for _ in range(5):
            _, visit, revision = self._visit(appointment_id, version)
            if visit is None or not visit.capture_pipeline_arn or not bucket:
                return {"recording": False}
            if visit.concatenation_pipeline_id:
                break
            pipeline = self.visits.meetings.concatenate(
                capture_pipeline_arn=visit.capture_pipeline_arn,
                bucket_arn=f"arn:aws:s3:::{bucket}",
                prefix=recording_prefix(appointment_id, version),
                request_token=f"{appointment_id}-v{version}-concat",
            )
            try:
                concatenating = replace(visit, concatenation_pipeline_id=pipeline["MediaPipelineId"])
                self._store.save_visit(concatenating, revision, [])
                break
            except VisitChangedError:
                continue  # the same request token gets the same pipeline back next time
        else:
            raise VisitChangedError("the visit kept changing while its recording was concatenated")
        # Chime writes the files before it reports the pipeline done: files here already mean its
        # event may have come before the pipeline was written down, and was not recognised.
        self.recording_ready(appointment_id, version, bucket)
        return {"recording": True}

    def on_pipeline_event(self, detail: dict[str, Any], bucket: str | None) -> str:
        """A concatenation that finished: the patient's stream is ready for the media workers."""
        if str(detail.get("eventType")) != "chime:MediaPipelineDeleted" or not bucket:
            return "ignored"
        appointment_id = str(detail["externalMeetingId"]).split(":", 1)[1]
        file = self._store.visit_file(appointment_id)
        for visit, _ in file.visits.values():
            if visit.concatenation_pipeline_id == detail.get("mediaPipelineId"):
                return self.recording_ready(appointment_id, visit.version, bucket)
        return "not-a-concatenation"  # the capture's own end, or one finish will recognise itself

    def recording_ready(self, appointment_id: str, version: int, bucket: str) -> str:
        """Announce the patient's stream, once, if the concatenation has left it. Only the
        patient's own video is named, and only ids travel in the event."""
        return retrying(lambda: self._announce_recording(appointment_id, version, bucket), times=5)

    def _announce_recording(self, appointment_id: str, version: int, bucket: str) -> str:
        _, visit, revision = self._visit(appointment_id, version)
        if visit is None or not visit.concatenation_pipeline_id:
            return "not-concatenating"
        if visit.recording_ready:
            return "already-announced"
        patient = {a for a, role in visit.attendees.items() if role is Role.PATIENT}
        prefix = recording_prefix(appointment_id, version)
        streams = [k for k in self.files.keys(bucket, f"{prefix}/video/") if any(a in k for a in patient)]
        if not streams:
            return "no-patient-video"
        event = RecordingAvailable(
            appointment_id=appointment_id,
            version=version,
            bucket=bucket,
            patient_stream_key=sorted(streams)[-1],
            encounter_id=projection.encounter_id(appointment_id, version),
            patient_id=visit.patient_id,
        )
        # Announced with the change that records it, once: whoever comes second finds it.
        announce = [self.visits.booking.announce(event, self.clock())]
        self._store.save_visit(replace(visit, recording_ready=True), revision, announce)
        return "recording-available"

    def _visit(self, appointment_id: str, version: int) -> tuple[Any, Any, int]:
        file = self._store.visit_file(appointment_id)
        found = file.visits.get(version)
        return (file, found[0], found[1]) if found else (file, None, 0)
