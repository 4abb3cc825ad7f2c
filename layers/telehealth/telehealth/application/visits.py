"""The visit: check-in, the waiting room, admission into a Chime meeting, single-use join links,
the call as Chime reports it, and its end.

Every change is one conditional transaction with its FHIR resources, audit events, domain events
and, where a lifecycle step waits, the resumption of that step (an outbox entry carrying the task
token): a fact is recorded, announced and acted on together, or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from telehealth.application.booking import (
    BookingService,
    Idempotency,
    LicensureError,
    NotFoundError,
    claim,
)
from telehealth.application.callers import Caller
from telehealth.domain.appointments import Actor, Appointment, AppointmentRuleError, AppointmentStatus
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.join_links import (
    IssuedLink,
    JoinLink,
    LinkGoneError,
    LinkNotYoursError,
    LinkState,
    check_redeemable,
    new_link,
    parse_link,
)
from telehealth.domain.scheduling import slot_id
from telehealth.domain.visits import (
    CheckIn,
    PlaceInLine,
    Role,
    Visit,
    VisitRuleError,
    VisitState,
    VisitTimings,
    check_check_in,
    place_in_line,
    waiting_line,
)
from telehealth.events import (
    DomainEvent,
    VisitAdmitted,
    VisitCancelled,
    VisitCheckedIn,
    VisitCompleted,
    VisitInCall,
    VisitNoShow,
    VisitParticipantJoined,
    VisitParticipantLeft,
)
from telehealth.fhir import projection
from telehealth.ports import (
    AlreadyCheckedInError,
    MeetingGoneError,
    Meetings,
    OutboxEntry,
    VisitChangedError,
    VisitFile,
    VisitStore,
)

T = TypeVar("T")

# The provider's day as the waiting room sees it: visits that started or start this near now.
WAITING_ROOM_SPAN = timedelta(hours=12)


@dataclass(frozen=True)
class VideoSettings:
    tenant_id: str
    media_region: str
    recording: bool  # the tenant records visits (each only with the patient's consent)
    recordings_bucket: str | None = None


@dataclass(frozen=True)
class WaitingRoomStatus:
    visit: Visit | None
    appointment: Appointment
    place: PlaceInLine | None
    check_in_opens: datetime


@dataclass(frozen=True)
class Admission:
    visit: Visit
    link: JoinLink
    expires_at: datetime


def at_rest(join_info: Mapping[str, Any]) -> dict[str, Any]:
    """What a link keeps of its attendee's join information: everything but the join token."""
    attendee = {k: v for k, v in join_info["Attendee"].items() if k != "JoinToken"}
    return {**join_info, "Attendee": attendee}


def resume(token: str, output: dict[str, Any], now: datetime) -> OutboxEntry:
    """Move a waiting lifecycle step on, after the change that ends its wait has committed."""
    return OutboxEntry({"id": new_id(now), "task_token": token, "output": output}, 1, destination="workflow")


def wake(
    file: VisitFile, version: int, steps: Sequence[str], output: dict[str, Any], now: datetime
) -> tuple[list[OutboxEntry], list[str]]:
    """The resumption of the first of `steps` (by preference) that waits, and the steps to hold
    as not waiting (the preferred one, when its token is absent: if it appears before the change
    commits, the change fails and, retried, resumes it)."""
    for step in steps:
        token = file.tokens.get(f"{step}#v{version}")
        if token is not None:
            missing = [f"{s}#v{version}" for s in steps[: steps.index(step)]]
            return [resume(token, output, now)], missing
    return [], [f"{steps[0]}#v{version}"]


def retrying(attempt: Callable[[], T], times: int = 4) -> T:
    """A read-then-write again, from a fresh read, when the visit moved in between."""
    for _ in range(times - 1):
        try:
            return attempt()
        except VisitChangedError:
            continue
    return attempt()


def external_user_id(role: Role, party_id: str) -> str:
    return f"{role.value}-{party_id}"[:64]


class VisitService:
    def __init__(
        self,
        booking: BookingService,
        store: VisitStore,
        meetings: Meetings,
        clock: Callable[[], datetime],
        video: VideoSettings,
        timings: VisitTimings | None = None,
        paid_for: Callable[[Appointment], bool] | None = None,
    ) -> None:
        """`paid_for`: whether a visit's payment is secured (tenants with payments on), asked at
        check-in where the clinic lets no unpaid visit go ahead."""
        self.booking, self.store, self.meetings, self.clock = booking, store, meetings, clock
        self.video = video
        self._timings = timings
        self.paid_for = paid_for
        self._provider_of_user: dict[str, str] = {}

    @property
    def timings(self) -> VisitTimings:
        """The visit's clocks: as given, else as the clinic's settings say now (read at run time)."""
        return self._timings or self.booking.clinic_settings().timings

    # --- the patient ---------------------------------------------------------------------------------

    def check_in(
        self,
        caller: Caller,
        appointment_id: str,
        *,
        state: str,
        emergency_contact: str,
        consents_to_telehealth: bool,
        consents_to_recording: bool,
        reason: str = "",
        at_home: bool | None = None,
        idempotency: Idempotency | None = None,
    ) -> CheckIn:
        with self.booking.trail.request(caller, Interaction.CREATE, appointment_id):
            return self._check_in(
                caller,
                appointment_id,
                state=state,
                emergency_contact=emergency_contact,
                consents_to_telehealth=consents_to_telehealth,
                consents_to_recording=consents_to_recording,
                reason=reason,
                at_home=at_home,
                idempotency=idempotency,
            )

    def _check_in(
        self,
        caller: Caller,
        appointment_id: str,
        *,
        state: str,
        emergency_contact: str,
        consents_to_telehealth: bool,
        consents_to_recording: bool,
        reason: str,
        at_home: bool | None,
        idempotency: Idempotency | None,
    ) -> CheckIn:
        caller.require(Actor.PATIENT)
        file = self.store.visit_file(appointment_id)
        appointment = self._patients(caller, file)
        self.booking.check_state(state)
        if (
            self.paid_for is not None
            and not self.booking.clinic_settings().proceed_unpaid
            and not self.paid_for(appointment)
        ):
            raise AppointmentRuleError(
                "payment-required", "This clinic needs the visit paid for first: add a card for it."
            )
        now = self.clock()
        check_in = CheckIn(
            appointment_id,
            now,
            state,
            emergency_contact,
            consents_to_telehealth,
            consents_to_recording,
            reason,
            at_home,
        )
        check_check_in(appointment, check_in, self.timings)
        if appointment.version in file.visits:
            raise VisitRuleError("already-checked-in", "This visit is checked in already.")
        token = file.tokens.get(f"check-in#v{appointment.version}")
        if token is None:
            raise VisitRuleError("check-in-not-open", "The visit is not ready for check-in yet; try shortly.")
        visit = Visit.checked_in(appointment, check_in)
        records = self.video.recording and consents_to_recording
        patient = appointment.patient_id
        outbox = [
            OutboxEntry(
                projection.consent(appointment_id, patient, "telehealth", consents_to_telehealth, now), 1
            ),
            OutboxEntry(
                projection.consent(appointment_id, patient, "recording", consents_to_recording, now), 1
            ),
            OutboxEntry(
                projection.emergency_contact(appointment_id, visit.version, patient, emergency_contact), 1
            ),
            OutboxEntry(projection.encounter(visit, 1), 1),
            self.booking.audit(caller, Interaction.CREATE, [f"Appointment/{appointment_id}"], now),
            self._announce(VisitCheckedIn, visit, now, recording_consented=consents_to_recording),
            # Only ids and the outcome go back to the workflow: its history is kept.
            resume(token, {"checked_in": True, "recording": records}, now),
        ]
        try:
            self.store.record_check_in(check_in, appointment, visit, outbox, claim(idempotency, check_in))
        except AlreadyCheckedInError as error:
            raise VisitRuleError("already-checked-in", "This visit is checked in already.") from error
        return check_in

    def waiting_room(self, caller: Caller, appointment_id: str) -> WaitingRoomStatus:
        """Where the patient stands: before check-in, in line (position and estimated wait),
        admitted (ask for a join link), or how the visit ended."""
        with self.booking.trail.request(caller, Interaction.READ, appointment_id):
            return self._waiting_room(caller, appointment_id)

    def _waiting_room(self, caller: Caller, appointment_id: str) -> WaitingRoomStatus:
        file = self.store.visit_file(appointment_id)
        appointment = (
            self._patients(caller, file) if caller.actor is Actor.PATIENT else self._providers(caller, file)
        )
        now = self.clock()
        found = file.visits.get(_visit_version(file, appointment))
        visit = found[0] if found else None
        place = None
        if visit is not None and visit.state is VisitState.CHECKED_IN:
            day = self.store.visits_of_provider(
                visit.provider_id, now - WAITING_ROOM_SPAN, now + WAITING_ROOM_SPAN
            )
            place = place_in_line(visit, day, now)
        self.store.record(
            [self.booking.audit(caller, Interaction.READ, [f"Appointment/{appointment_id}"], now)]
        )
        return WaitingRoomStatus(visit, appointment, place, appointment.start - self.timings.check_in_opens)

    # --- the provider --------------------------------------------------------------------------------

    def queue(self, caller: Caller) -> tuple[list[Visit], Visit | None]:
        """The provider's waiting room in the order they will be seen, and their current visit: one
        AuditEvent names each of their appointments."""
        with self.booking.trail.request(caller, Interaction.SEARCH):
            return self._queue(caller)

    def _queue(self, caller: Caller) -> tuple[list[Visit], Visit | None]:
        caller.require(Actor.PROVIDER)
        provider_id = self._provider_id(caller)
        now = self.clock()
        day = self.store.visits_of_provider(provider_id, now - WAITING_ROOM_SPAN, now + WAITING_ROOM_SPAN)
        line = waiting_line(day)
        current = next((v for v in day if v.state in (VisitState.ADMITTED, VisitState.IN_CALL)), None)
        read = [f"Appointment/{v.appointment_id}" for v in [*line, *([current] if current else [])]]
        self.store.record(
            self.booking.trail.entries(self.booking.trail.agent(caller), Interaction.SEARCH, read, now)
        )
        return line, current

    def admit(
        self, caller: Caller, appointment_id: str, guests: Mapping[str, Role] | None = None
    ) -> Admission:
        """Licensure again, on where the patient said they are at check-in; then one meeting with
        one attendee per participant, and the provider's own join link."""
        with self.booking.trail.request(caller, Interaction.UPDATE, appointment_id):
            caller.require(Actor.PROVIDER)
            try:  # the lifecycle began waiting, or another admission won: read again
                return retrying(lambda: self._admit(caller, appointment_id, dict(guests or {})))
            except VisitChangedError as error:
                raise VisitRuleError("not-waiting", "This visit was just admitted or closed.") from error

    def _admit(self, caller: Caller, appointment_id: str, guests: dict[str, Role]) -> Admission:
        # Only the visit's own provider admits, so their credentials are read beside the visit.
        own = self._provider_id(caller)
        with ThreadPoolExecutor(max_workers=2) as pool:
            reading = pool.submit(self.store.visit_file, appointment_id)
            record = pool.submit(self.booking.store.provider, own).result()
            file = reading.result()
        appointment = self._providers(caller, file)
        visit, revision = self._open_visit(file, appointment)
        if visit.state is not VisitState.CHECKED_IN:
            raise VisitRuleError(
                "not-waiting", f"This visit is {visit.state.value}, not waiting to be admitted."
            )
        check_in = file.check_ins[appointment.version]
        now = self.clock()
        # No provider record means no credentials on file: that refuses, it never waives the check.
        refusal = self.booking.policy.check_visit(
            record.licenses if record else (), check_in.state, now, max(now, appointment.end)
        )
        if refusal is not None:
            woken, not_waiting = wake(file, visit.version, ["admit"], {"admitted": False}, now)
            # No audit of its own: the refused admission is the request's AuditEvent (outcome 4).
            self.close(
                visit,
                revision,
                appointment,
                VisitState.CANCELLED,
                "provider-not-licensed",
                now,
                None,
                woken,
                not_waiting,
            )
            raise LicensureError(refusal)
        if appointment.patient_id in guests or caller.subject in guests:
            raise VisitRuleError("not-a-guest", "The patient and the provider are in the visit already.")
        # (role, who Chime knows them as, the user their link is bound to): the two parties,
        # then each guest the provider invited.
        participants = [
            (Role.PATIENT, appointment.patient_id, appointment.patient_id),
            (Role.PROVIDER, appointment.provider_id, caller.subject),
            *((role, user, user) for user, role in guests.items()),
        ]
        meeting, attendees = self.meetings.create_meeting_with_attendees(
            external_meeting_id=f"{self.video.tenant_id}:{appointment_id}",
            media_region=self.video.media_region,
            external_user_ids=[external_user_id(role, party) for role, party, _ in participants],
            # One meeting per admission: a retried call gets the same one back.
            idempotency_key=f"{appointment_id}-v{visit.version}-r{revision}",
        )
        admitted = visit.admitted(
            meeting["MeetingId"],
            {a["AttendeeId"]: role for (role, _, _), a in zip(participants, attendees, strict=True)},
            now,
            guests,
        )
        link = new_link(appointment_id, new_id(now))
        expires = now + self.timings.link_lifetime
        links = []
        for (role, _, holder), attendee in zip(participants, attendees, strict=True):
            # The provider's own link is handed out now; everyone else's is prepared, and becomes
            # theirs when they ask for it.
            issued = (
                self._issued(link, role, holder, attendee, expires)
                if role is Role.PROVIDER
                else IssuedLink(
                    appointment_id,
                    new_id(now),
                    role,
                    holder,
                    attendee["AttendeeId"],
                    expires,
                    LinkState.PREPARED,
                    "",
                )
            )
            links.append((issued, at_rest({"Meeting": meeting, "Attendee": attendee})))
        outbox = [
            OutboxEntry(projection.encounter(admitted, revision + 1), revision + 1),
            self.booking.audit(caller, Interaction.UPDATE, [f"Appointment/{appointment_id}"], now),
            self._announce(
                VisitAdmitted,
                admitted,
                now,
                provider_id=admitted.provider_id,
                meeting_id=meeting["MeetingId"],
            ),
        ]
        woken, not_waiting = wake(file, visit.version, ["admit"], {"admitted": True}, now)
        # Raises VisitChangedError when the visit moved meanwhile: `admit` reads it again. A
        # meeting made for this revision is the one a retry gets back (the request token), and
        # one the visit never used ends by itself, empty, after five minutes.
        self.store.save_visit(admitted, revision, outbox + woken, links=links, not_waiting=not_waiting)
        return Admission(admitted, link, expires)

    def end(self, caller: Caller, appointment_id: str) -> Visit:
        """The provider ends the visit: the meeting ends for everyone, and the visit is complete
        (or, if the patient never came, a no-show)."""
        with self.booking.trail.request(caller, Interaction.UPDATE, appointment_id):
            caller.require(Actor.PROVIDER)
            # The call's own steps (recording starting, someone joining) may move the visit meanwhile.
            return retrying(lambda: self._end(caller, appointment_id))

    def _end(self, caller: Caller, appointment_id: str) -> Visit:
        file = self.store.visit_file(appointment_id)
        appointment = self._providers(caller, file)
        found = file.visits.get(_visit_version(file, appointment))
        if found and found[0].state.over and found[0].meeting_id:
            # Ended already (by this route, or by Chime's own end): finish what may be left, the
            # meeting's deletion, so a retry after a failed delete completes rather than meeting
            # 409. Deleting a meeting that is gone is a no-op.
            self._delete_meeting(found[0].meeting_id)
            return found[0]
        visit, revision = self._open_visit(file, appointment)
        meeting_id = visit.require_meeting()
        now = self.clock()
        state, outcome = (
            (VisitState.COMPLETED, "provider") if visit.both_joined else (VisitState.NO_SHOW, "patient")
        )
        woken, not_waiting = wake(file, visit.version, ["end", "join"], {"ended": True}, now)
        # Closed first, so the meeting's end (which Chime announces) finds the visit over already.
        closed = self.close(visit, revision, appointment, state, outcome, now, caller, woken, not_waiting)
        self._delete_meeting(meeting_id)
        return closed

    def _delete_meeting(self, meeting_id: str) -> None:
        try:
            self.meetings.delete_meeting(meeting_id)
        except MeetingGoneError:
            return

    def cancel(
        self,
        caller: Caller,
        appointment_id: str,
        idempotency: Idempotency | None,
        *,
        charge_late_fee: bool = False,
    ) -> Appointment:
        """Cancel at any point before the visit is over: the slot is released and the fact announced
        with the cancellation (one transaction); then the visit, if it had begun, is closed (its
        Encounter cancelled) and its meeting deleted, so nobody is left in a room that no longer
        has a visit."""
        with self.booking.trail.request(caller, Interaction.UPDATE, appointment_id):
            cancelled = self.booking.cancel(
                caller, appointment_id, idempotency, charge_late_fee=charge_late_fee
            )
            retrying(lambda: self._close_cancelled(appointment_id, cancelled.version - 1))
            return cancelled

    def _close_cancelled(self, appointment_id: str, version: int) -> None:
        found = self.store.visit_file(appointment_id).visits.get(version)
        if found is None or found[0].state.over:
            return
        visit, revision = found
        closed = visit.ended(VisitState.CANCELLED, "cancelled", self.clock())
        self.store.save_visit(
            closed, revision, [OutboxEntry(projection.encounter(closed, revision + 1), revision + 1)]
        )
        if closed.meeting_id:
            self.meetings.delete_meeting(closed.meeting_id)

    # --- join links ----------------------------------------------------------------------------------

    def issue_link(self, caller: Caller, appointment_id: str) -> tuple[JoinLink, datetime]:
        """A link for the caller's own place in the meeting. The first opens the attendee made at
        admission; any later one revokes the last link, deletes its attendee (so its join token
        dies with it) and opens a new attendee for the same participant."""
        with self.booking.trail.request(caller, Interaction.CREATE, appointment_id):
            caller.require(Actor.PATIENT, Actor.PROVIDER, Actor.STAFF)
            # Chime's events move the visit on meanwhile (someone joins): read again and retry.
            return retrying(lambda: self._issue_link(caller, appointment_id))

    def _issue_link(self, caller: Caller, appointment_id: str) -> tuple[JoinLink, datetime]:
        file = self.store.visit_file(appointment_id)
        appointment, role, party = self._participant(caller, file)
        visit, revision = self._open_visit(file, appointment)
        meeting_id = visit.require_meeting()
        now = self.clock()
        mine = [
            k
            for k in file.links
            if k.role is role
            and (role is Role.PROVIDER or k.holder == caller.subject)
            and k.attendee_id in visit.attendees
        ]
        expires = now + self.timings.link_lifetime
        prepared = next((k for k in mine if k.state is LinkState.PREPARED), None)
        link = new_link(appointment_id, prepared.link_id if prepared else new_id(now))
        if prepared is not None:
            info = json.loads(file.join_info[prepared.link_id])
            attendee_id, replaced, revoked = prepared.attendee_id, None, []
        else:
            revoked = [k for k in mine if k.state is not LinkState.REVOKED]
            for old in revoked:
                self.meetings.delete_attendee(meeting_id, old.attendee_id)
            try:
                attendee = self.meetings.create_attendee(meeting_id, external_user_id(role, party))
            except MeetingGoneError as error:  # ended by Chime (empty too long) before its event landed
                raise LinkGoneError("This visit's meeting is over.") from error
            info = {**json.loads(file.join_info[mine[-1].link_id]), "Attendee": attendee} if mine else None
            if info is None:
                raise VisitRuleError("not-in-meeting", "This visit has no place for you in its meeting.")
            attendee_id, replaced = attendee["AttendeeId"], (revoked[-1].attendee_id if revoked else None)
        issued = self._issued(link, role, caller.subject, info["Attendee"], expires)
        self.store.save_visit(
            visit.with_attendee(attendee_id, role, replaced),
            revision,
            [self.booking.audit(caller, Interaction.CREATE, [f"Appointment/{appointment_id}"], now)],
            links=[(issued, at_rest(info))],
            revoked=revoked,
        )
        return link, expires

    def redeem(self, caller: Caller, text: str, idempotency: Idempotency | None = None) -> dict[str, Any]:
        """The participant's Chime join information, exactly once per link (a retry with the
        same Idempotency-Key gets the same answer again: docs/decisions.md)."""
        with self.booking.trail.request(caller, Interaction.READ, _linked_appointment(text)):
            return self._redeem(caller, text, idempotency)

    def _redeem(self, caller: Caller, text: str, idempotency: Idempotency | None) -> dict[str, Any]:
        presented = parse_link(text)
        file = self.store.visit_file(presented.appointment_id)
        stored = next((k for k in file.links if k.link_id == presented.link_id), None)
        if stored is None:
            raise LinkNotYoursError("That is not a join link this clinic issued.")
        now = self.clock()
        check_redeemable(stored, presented, caller.subject, now)
        appointment = file.appointment
        found = file.visits.get(appointment.version) if appointment else None
        if found is None or found[0].state not in (VisitState.ADMITTED, VisitState.IN_CALL):
            raise LinkGoneError("This visit's meeting is over.")
        # The join token is fetched now, never kept: the table, its stream and its backups hold
        # only which attendee the link opens (and a replayable answer only sealed by its key).
        # Fetched before the link is spent, so the answer is kept in the spending transaction.
        info: dict[str, Any] = json.loads(file.join_info[stored.link_id])
        try:
            info["Attendee"] = self.meetings.get_attendee(info["Meeting"]["MeetingId"], stored.attendee_id)
        except MeetingGoneError as error:
            raise LinkGoneError("This visit's meeting is over.") from error
        try:
            self.store.redeem_link(
                stored,
                [
                    self.booking.audit(
                        caller, Interaction.READ, [f"Appointment/{presented.appointment_id}"], now
                    )
                ],
                claim(idempotency, info),
            )
        except VisitChangedError as error:
            raise LinkGoneError("This join link has been used; ask for a new one.") from error
        return info

    # --- Chime's events ------------------------------------------------------------------------------

    def on_meeting_event(self, detail: dict[str, Any]) -> str:
        """An attendee joined, left or dropped, or the meeting ended: the visit follows. Events
        come at least once and in any order; each is applied to the visit as it is now."""
        kind = str(detail.get("eventType", "")).removeprefix("chime:")
        appointment_id = str(detail["externalMeetingId"]).split(":", 1)[1]
        at = _event_time(detail)

        def apply() -> str:
            file = self.store.visit_file(appointment_id)
            match = [(v, r) for v, r in file.visits.values() if v.meeting_id == detail.get("meetingId")]
            if not match or file.appointment is None:
                return "not-a-current-meeting"
            visit, revision = match[0]
            return self._apply_meeting_event(file, visit, revision, kind, detail, at)

        return retrying(apply, times=3)

    def _apply_meeting_event(
        self, file: VisitFile, visit: Visit, revision: int, kind: str, detail: dict[str, Any], at: datetime
    ) -> str:
        assert file.appointment is not None
        attendee = str(detail.get("attendeeId", ""))
        role = visit.attendees.get(attendee)
        if kind == "AttendeeJoined" and role is not None:
            after = visit.attendee_joined(attendee, at)
            if after == visit:
                return "already-known"
            outbox = [self._announce(VisitParticipantJoined, visit, at, role=role.value)]
            not_waiting: list[str] = []
            if after.state is VisitState.IN_CALL and visit.state is not VisitState.IN_CALL:
                woken, not_waiting = wake(file, visit.version, ["join"], {"in_call": True}, at)
                outbox += [
                    OutboxEntry(projection.encounter(after, revision + 1), revision + 1),
                    self._announce(VisitInCall, after, at, meeting_id=after.meeting_id),
                    *woken,
                ]
            self.store.save_visit(after, revision, outbox, not_waiting=not_waiting)
            return "joined"
        if kind in ("AttendeeLeft", "AttendeeDropped") and role is not None:
            self.store.record(
                [
                    self._announce(
                        VisitParticipantLeft, visit, at, role=role.value, dropped=kind == "AttendeeDropped"
                    )
                ]
            )
            return "left"
        if kind == "MeetingEnded" and not visit.state.over:
            if visit.both_joined:
                woken, not_waiting = wake(file, visit.version, ["end", "join"], {"ended": True}, at)
                self.close(
                    visit,
                    revision,
                    file.appointment,
                    VisitState.COMPLETED,
                    "meeting-ended",
                    at,
                    None,
                    woken,
                    not_waiting,
                )
                return "completed"
            # Not everyone came: the lifecycle's attendance check decides, now rather than later.
            token = file.tokens.get(f"join#v{visit.version}")
            if token:
                self.store.record([resume(token, {"in_call": False}, at)])
            return "attendance-check"
        return "ignored"

    # --- closing a visit (also the lifecycle's steps) -----------------------------------------------

    def close(
        self,
        visit: Visit,
        revision: int,
        appointment: Appointment,
        state: VisitState,
        outcome: str,
        now: datetime,
        caller: Caller | None,
        extra: list[OutboxEntry],
        not_waiting: Sequence[str] = (),
    ) -> Visit:
        closed = visit.ended(state, outcome, now)
        status = {
            VisitState.COMPLETED: AppointmentStatus.FULFILLED,
            VisitState.NO_SHOW: AppointmentStatus.NO_SHOW
            if outcome == "patient"
            else AppointmentStatus.CANCELLED,
            VisitState.CANCELLED: AppointmentStatus.CANCELLED,
        }[state]
        after = appointment.closed(status)
        parties: dict[str, Any] = {"provider_id": visit.provider_id, "patient_id": visit.patient_id}
        fact: DomainEvent
        ids = {"appointment_id": visit.appointment_id, "version": visit.version, **parties}
        if state is VisitState.COMPLETED:
            fact = VisitCompleted.model_validate({**ids, "ended_by": outcome})
        elif state is VisitState.NO_SHOW:
            fact = VisitNoShow.model_validate({**ids, "absent": outcome})
        else:
            fact = VisitCancelled.model_validate({**ids, "reason": outcome})
        outbox = [
            OutboxEntry(projection.encounter(closed, revision + 1), revision + 1),
            OutboxEntry(
                self.booking.appointment_resource(after, slot_id(appointment.provider_id, appointment.start)),
                after.version,
            ),
            self.booking.announce(fact, now),
            *extra,
        ]
        if caller is not None:
            outbox.append(
                self.booking.audit(caller, Interaction.UPDATE, [f"Appointment/{visit.appointment_id}"], now)
            )
        self.store.save_visit(
            closed, revision, outbox, appointment=(appointment, after), not_waiting=not_waiting
        )
        return closed

    # --- helpers ---------------------------------------------------------------------------------------

    def _announce(self, kind: type[Any], visit: Visit, now: datetime, **fields: Any) -> OutboxEntry:
        return self.booking.announce(
            kind(appointment_id=visit.appointment_id, version=visit.version, **fields), now
        )

    @staticmethod
    def _issued(
        link: JoinLink, role: Role, holder: str, attendee: dict[str, Any], expires: datetime
    ) -> IssuedLink:
        return IssuedLink(
            link.appointment_id,
            link.link_id,
            role,
            holder,
            attendee["AttendeeId"],
            expires,
            LinkState.ISSUED,
            link.secret_hash,
        )

    def _patients(self, caller: Caller, file: VisitFile) -> Appointment:
        if file.appointment is None or file.appointment.patient_id != caller.subject:
            raise NotFoundError("no such appointment")
        return file.appointment

    def _provider_id(self, caller: Caller) -> str:
        # Which provider a user is never changes: remembered for the container's life.
        if caller.subject not in self._provider_of_user:
            found = self.booking.store.provider_for_user(caller.subject)
            if found is None:
                raise NotFoundError("no provider profile for this user")
            self._provider_of_user[caller.subject] = found
        return self._provider_of_user[caller.subject]

    def _providers(self, caller: Caller, file: VisitFile) -> Appointment:
        if file.appointment is None or (
            caller.actor is Actor.PROVIDER and file.appointment.provider_id != self._provider_id(caller)
        ):
            raise NotFoundError("no such appointment")
        return file.appointment

    def _participant(self, caller: Caller, file: VisitFile) -> tuple[Appointment, Role, str]:
        """Who the caller is in this visit's meeting: its patient, its provider, or a guest the
        provider invited (an interpreter, a caregiver); otherwise there is no such visit."""
        appointment = file.appointment
        if appointment is None:
            raise NotFoundError("no such appointment")
        found = file.visits.get(_visit_version(file, appointment))
        guests = found[0].guests if found else {}
        if caller.subject in guests:
            return appointment, guests[caller.subject], caller.subject
        if caller.actor is Actor.PATIENT:
            return self._patients(caller, file), Role.PATIENT, caller.subject
        if caller.actor is Actor.PROVIDER:
            return self._providers(caller, file), Role.PROVIDER, appointment.provider_id
        raise NotFoundError("no such appointment")

    def _open_visit(self, file: VisitFile, appointment: Appointment) -> tuple[Visit, int]:
        found = file.visits.get(_visit_version(file, appointment))
        if found is None:
            raise VisitRuleError("not-checked-in", "The patient has not checked in.")
        if found[0].state.over:
            raise VisitRuleError("visit-over", f"This visit is over ({found[0].state.value}).")
        return found


def _linked_appointment(text: str) -> str | None:
    """The appointment a presented join link names, if it is one this platform's links could be."""
    try:
        return parse_link(text).appointment_id
    except LinkNotYoursError:
        return None


def _visit_version(file: VisitFile, appointment: Appointment) -> int:
    """The visit of the appointment as it stands; a closed appointment's visit is the one that
    closed it (one version before)."""
    if appointment.version in file.visits or appointment.status is AppointmentStatus.BOOKED:
        return appointment.version
    return appointment.version - 1


def _event_time(detail: dict[str, Any]) -> datetime:
    from datetime import UTC

    stamp = detail.get("timestamp")
    if isinstance(stamp, int | float):
        return datetime.fromtimestamp(stamp / 1000, UTC)
    return datetime.now(UTC)
