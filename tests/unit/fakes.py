"""In-memory fakes of the ports, for unit tests of the application layer: no AWS, no sockets.

They honour the DynamoDB stores' contract, not just their signatures: a write is all or nothing,
its conditions are those the store's transaction carries, and a failed condition raises the error
the store raises (SlotTakenError, StaleWriteError, VisitChangedError, AlreadyCheckedInError, an
idempotent replay or mismatch). A race is staged with `Table.meanwhile`: a change that lands
between the service's read and its write, run just before the next write's conditions are checked.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from telehealth.adapters.outbox_store import MAX_ATTEMPTS
from telehealth.application.booking import BookingService, ClinicRules
from telehealth.application.callers import Caller
from telehealth.application.visits import VideoSettings, VisitService
from telehealth.domain.appointments import Actor, Appointment, AppointmentStatus
from telehealth.domain.join_links import IssuedLink, LinkState
from telehealth.domain.licensure import License
from telehealth.domain.patients import PatientMerge, lookup_key
from telehealth.domain.reconciliation import LifecycleRun
from telehealth.domain.referrals import Referral
from telehealth.domain.scheduling import Availability, Interval, cells, slot_id
from telehealth.domain.visits import CheckIn, Visit, VisitTimings
from telehealth.domain.vitals import VisitVitals
from telehealth.fhir.projection import PatientProfile, PractitionerProfile
from telehealth.ports import (
    AlreadyCheckedInError,
    IdempotencyClaim,
    IdempotencyMismatchError,
    IdempotentReplay,
    MeetingGoneError,
    MrnTakenError,
    Notice,
    OutboxEntry,
    ProviderListing,
    ProviderRecord,
    ResourceBusyError,
    SlotTakenError,
    StaleWriteError,
    VisitChangedError,
    VisitFile,
)

# A Monday in winter (no DST nearby): every test's "now" unless it moves the clock.
NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
TENANT = "riverside"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


# --- the table ------------------------------------------------------------------------------------


@dataclass
class Table:
    """The clinic table's items, by what the stores key them on."""

    providers: dict[str, ProviderRecord] = field(default_factory=dict)
    patients: dict[str, PatientProfile] = field(default_factory=dict)
    merges: dict[str, PatientMerge] = field(default_factory=dict)
    acknowledgments: dict[str, tuple[str, str]] = field(default_factory=dict)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    cells: dict[tuple[str, datetime], str] = field(default_factory=dict)  # (provider, cell) -> appt
    referrals: dict[str, Referral] = field(default_factory=dict)
    claims: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)  # -> hash, response
    check_ins: dict[tuple[str, int], CheckIn] = field(default_factory=dict)
    visits: dict[tuple[str, int], tuple[Visit, int]] = field(default_factory=dict)
    links: dict[tuple[str, str], tuple[IssuedLink, str]] = field(default_factory=dict)  # -> attendee JSON
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    reminders: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    vitals: dict[tuple[str, int], tuple[VisitVitals, int]] = field(default_factory=dict)
    outbox: list[OutboxEntry] = field(default_factory=list)  # every entry committed, in order
    # Index entries the open-visits index still lists (it is eventually consistent).
    lagging_index: list[Appointment] = field(default_factory=list)
    _meanwhile: list[Callable[[], object]] = field(default_factory=list)
    writes: int = 0  # transactions attempted, committed or not
    # Entries written on their own, outside any change (read audits, a failure's audit, its agent).
    recorded: list[OutboxEntry] = field(default_factory=list)
    _staging: bool = False

    def meanwhile(self, *changes: Callable[[], object]) -> None:
        """Changes that land before the next writes: one before each, in order."""
        self._meanwhile.extend(changes)

    def _before_write(self) -> None:
        self.writes += 1
        if self._meanwhile and not self._staging:
            self._staging = True  # the change's own writes are not the service's
            try:
                self._meanwhile.pop(0)()
            finally:
                self._staging = False

    def entries(self, destination: str | None = None, kind: str | None = None) -> list[OutboxEntry]:
        return [
            e
            for e in self.outbox
            if (destination is None or e.destination == destination)
            and (kind is None or e.reference.startswith(f"{kind}/"))
        ]

    def refusals(self) -> list[dict[str, Any]]:
        """The audit events of failed requests (outcome not 0): a failure writes its own."""
        return [dict(e.resource) for e in self.entries(kind="AuditEvent") if e.resource.get("outcome") != "0"]

    def changes(self) -> list[OutboxEntry]:
        """What changes wrote: every entry but those a failed request writes on its own (its
        audit event, and the agent that event names the first time)."""
        failed = {
            id(e)
            for e in self.outbox
            if e.reference.startswith("AuditEvent/") and e.resource.get("outcome") != "0"
        }
        agents = {id(e) for e in self.recorded if e.reference.split("/")[0] in ("Practitioner", "Device")}
        return [e for e in self.outbox if id(e) not in failed | agents]

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        return [
            dict(e.resource)
            for e in self.entries("events")
            if detail_type is None or e.resource["detail-type"] == detail_type
        ]

    def resumptions(self) -> list[tuple[str, dict[str, Any]]]:
        return [(str(e.resource["task_token"]), dict(e.resource["output"])) for e in self.entries("workflow")]


class _Writes:
    def __init__(self, table: Table) -> None:
        self.table = table

    def record(self, outbox: list[OutboxEntry]) -> None:
        self.table._before_write()
        self.table.outbox += outbox
        self.table.recorded += outbox

    def _claim_fails(self, claim: IdempotencyClaim | None) -> bool:
        return claim is not None and (claim.caller, claim.route, claim.key) in self.table.claims

    def _replay(self, claim: IdempotencyClaim) -> None:
        found = self.table.claims.get((claim.caller, claim.route, claim.key))
        if found is None:
            raise StaleWriteError("idempotency record vanished")
        payload_hash, response = found
        if payload_hash != claim.payload_hash:
            raise IdempotencyMismatchError("key reused with another request")
        raise IdempotentReplay(response)

    def _replay_first(self, claim: IdempotencyClaim | None) -> None:
        """A claim's condition fails before any other: a twin that committed first is answered."""
        if claim is not None and self._claim_fails(claim):
            self._replay(claim)

    def _commit_claim(self, claim: IdempotencyClaim | None) -> None:
        if claim is not None:
            self.table.claims[(claim.caller, claim.route, claim.key)] = (claim.payload_hash, claim.response)

    def _still_booked(self, before: Appointment) -> bool:
        now = self.table.appointments.get(before.appointment_id)
        return now is not None and now.version == before.version and now.status is AppointmentStatus.BOOKED


class FakeSchedulingStore(_Writes):
    """SchedulingStore, as DynamoSchedulingStore behaves."""

    def providers_licensed_in(self, state: str) -> list[ProviderListing]:
        return [
            ProviderListing(p.profile.provider_id, p.profile.specialty, p.profile.languages)
            for p in self.table.providers.values()
            if any(lic.state == state for lic in p.licenses)
        ]

    def provider(self, provider_id: str) -> ProviderRecord | None:
        return self.table.providers.get(provider_id)

    def provider_for_user(self, user_sub: str) -> str | None:
        return next((p for p, r in self.table.providers.items() if r.user_sub == user_sub), None)

    def booked_cells(self, provider_id: str, start: datetime, end: datetime) -> set[datetime]:
        return {
            c for (p, c) in self.table.cells if p == provider_id and start - timedelta(hours=5) <= c <= end
        }

    def appointment(self, appointment_id: str) -> Appointment | None:
        return self.table.appointments.get(appointment_id)

    def appointments_of_patient(self, patient_id: str) -> list[Appointment]:
        return [a for a in self.table.appointments.values() if a.patient_id == patient_id]

    def appointments_of_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Appointment]:
        return [
            a
            for a in self.table.appointments.values()
            if a.provider_id == provider_id and start <= a.start <= end
        ]

    def patient(self, patient_id: str) -> PatientProfile | None:
        return self.table.patients.get(patient_id)

    def patients_named(self, family_name: str, birth_date: date) -> list[PatientProfile]:
        key = lookup_key(family_name, birth_date)
        return [
            p
            for p in self.table.patients.values()
            if p.family_name
            and p.birth_date
            and not p.merged_into
            and lookup_key(p.family_name, p.birth_date) == key
        ]

    def save_patient(self, profile: PatientProfile, outbox: list[OutboxEntry]) -> None:
        self.table._before_write()
        on_file = self.table.patients.get(profile.patient_id)
        if (on_file.version if on_file else 0) != profile.version - 1:
            raise StaleWriteError("the patient's record changed meanwhile")
        self.table.patients[profile.patient_id] = profile
        self.table.outbox += outbox

    def patient_by_mrn(self, system: str, mrn: str) -> PatientProfile | None:
        return next((p for p in self.table.patients.values() if (p.mrn_system, p.mrn) == (system, mrn)), None)

    def acknowledgment(self, message_key: str) -> tuple[str, str] | None:
        return self.table.acknowledgments.get(message_key)

    def keep_acknowledgment(self, message_key: str, code: str, ack: str) -> None:
        self.table.acknowledgments[message_key] = (code, ack)

    def merged_into(self, patient_id: str) -> str | None:
        found = self.table.patients.get(patient_id)
        return found.merged_into if found else None

    def _both_at(self, *profiles: PatientProfile) -> None:
        for profile in profiles:
            on_file = self.table.patients.get(profile.patient_id)
            if on_file is None or on_file.version != profile.version - 1:
                raise StaleWriteError("the patient's record changed meanwhile")

    def merge_patients(
        self,
        retired: PatientProfile,
        survivor: PatientProfile,
        merge: PatientMerge,
        outbox: list[OutboxEntry],
    ) -> None:
        self.table._before_write()
        self._both_at(retired, survivor)
        if merge.retired_id in self.table.merges:
            raise StaleWriteError("merged already")
        self.table.patients.update({retired.patient_id: retired, survivor.patient_id: survivor})
        self.table.merges[merge.retired_id] = merge
        self.table.outbox += outbox

    def undo_merge(
        self,
        retired: PatientProfile,
        survivor: PatientProfile,
        merge: PatientMerge,
        outbox: list[OutboxEntry],
    ) -> None:
        self.table._before_write()
        self._both_at(retired, survivor)
        if merge.retired_id not in self.table.merges:
            raise StaleWriteError("undone already")
        self.table.patients.update({retired.patient_id: retired, survivor.patient_id: survivor})
        del self.table.merges[merge.retired_id]
        self.table.outbox += outbox

    def merge(self, retired_id: str) -> PatientMerge | None:
        return self.table.merges.get(retired_id)

    def merges(self, limit: int) -> list[PatientMerge]:
        return sorted(self.table.merges.values(), key=lambda m: m.merged_at, reverse=True)[:limit]

    def transfer(self, moves: Sequence[tuple[Appointment, Appointment]], outbox: list[OutboxEntry]) -> None:
        self.table._before_write()
        for before, _ in moves:
            on_file = self.table.appointments.get(before.appointment_id)
            if on_file is None or on_file.version != before.version:
                raise StaleWriteError("the record changed meanwhile")
        for _, after in moves:
            self.table.appointments[after.appointment_id] = after
        self.table.outbox += outbox

    def save_registered_patient(
        self, profile: PatientProfile, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        holder = self.patient_by_mrn(str(profile.mrn_system), str(profile.mrn))
        if holder is not None and holder.patient_id != profile.patient_id:
            raise MrnTakenError("another patient holds this MRN")
        self._replay_first(claim)
        self.save_patient(profile, outbox)
        self._commit_claim(claim)

    def replace_availability(
        self, provider_id: str, availability: Availability, expected_version: int
    ) -> int:
        self.table._before_write()
        record = self.table.providers[provider_id]
        if record.profile.version != expected_version:
            raise StaleWriteError("availability changed meanwhile")
        profile = replace(record.profile, version=expected_version + 1)
        self.table.providers[provider_id] = replace(record, profile=profile, availability=availability)
        return expected_version + 1

    def book(
        self,
        appointment: Appointment,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None,
        referral: Referral | None = None,
    ) -> None:
        self.table._before_write()
        if referral is not None:
            on_file = self.table.referrals.get(referral.referral_id)
            if on_file is None or on_file.version != referral.version - 1:
                raise StaleWriteError("the referral changed meanwhile")
        held = [(appointment.provider_id, c) for c in cells(appointment.start, appointment.end)]
        taken = any(k in self.table.cells for k in held)
        exists = appointment.appointment_id in self.table.appointments
        self._replay_first(claim)
        if taken and not exists:
            raise SlotTakenError("slot is taken")
        if exists:
            raise StaleWriteError("the record changed meanwhile")
        for k in held:
            self.table.cells[k] = appointment.appointment_id
        self.table.appointments[appointment.appointment_id] = appointment
        if referral is not None:
            self.table.referrals[referral.referral_id] = referral
        self.table.outbox += outbox
        self._commit_claim(claim)

    def referral(self, referral_id: str) -> Referral | None:
        return self.table.referrals.get(referral_id)

    def change(
        self,
        before: Appointment,
        after: Appointment,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None,
    ) -> None:
        self.table._before_write()
        was = set(cells(before.start, before.end))
        will = set(cells(after.start, after.end)) if after.status is AppointmentStatus.BOOKED else set()
        p, a = before.provider_id, before.appointment_id
        taken = any((p, c) in self.table.cells for c in will - was)
        released_ours = all(self.table.cells.get((p, c)) == a for c in was - will)
        self._replay_first(claim)
        if taken and self._still_booked(before) and released_ours:
            raise SlotTakenError("slot is taken")
        if taken or not self._still_booked(before) or not released_ours:
            raise StaleWriteError("the record changed meanwhile")
        for c in was - will:
            del self.table.cells[(p, c)]
        for c in will - was:
            self.table.cells[(p, c)] = a
        self.table.appointments[a] = after
        self.table.outbox += outbox
        self._commit_claim(claim)

    def replay_if_claimed(self, claim: IdempotencyClaim, now: datetime) -> None:
        self._replay_first(claim)

    # OpenVisits
    def open_appointments(self, starting_before: datetime | None = None) -> Iterator[Appointment]:
        yield from self.table.lagging_index
        yield from [a for a in self.table.appointments.values() if a.status is AppointmentStatus.BOOKED]


class FakeVisitStore(_Writes):
    """VisitStore, as DynamoVisitStore behaves."""

    def visit_file(self, appointment_id: str) -> VisitFile:
        t = self.table
        found = VisitFile(appointment_id, appointment=t.appointments.get(appointment_id))
        found.check_ins = {v: c for (a, v), c in t.check_ins.items() if a == appointment_id}
        found.visits = {v: vr for (a, v), vr in t.visits.items() if a == appointment_id}
        found.tokens = {s: tok for (a, s), tok in t.tokens.items() if a == appointment_id}
        found.reminders_sent = {v: set(r) for (a, v), r in t.reminders.items() if a == appointment_id}
        for (a, link_id), (link, info) in t.links.items():
            if a == appointment_id:
                found.links.append(link)
                found.join_info[link_id] = info
        return found

    def put_task_token(self, appointment_id: str, step: str, token: str, expires_at: int) -> None:
        self.table.tokens[(appointment_id, step)] = token

    def record_reminder(
        self, appointment_id: str, version: int, reminder: str, at: datetime, outbox: list[OutboxEntry]
    ) -> bool:
        self.table._before_write()
        sent = self.table.reminders.setdefault((appointment_id, version), set())
        if reminder in sent:
            return False
        sent.add(reminder)
        self.table.outbox += outbox
        return True

    def record_check_in(
        self,
        check_in: CheckIn,
        appointment: Appointment,
        visit: Visit,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None = None,
    ) -> None:
        self.table._before_write()
        self._replay_first(claim)
        key = (check_in.appointment_id, appointment.version)
        if key in self.table.check_ins:
            raise AlreadyCheckedInError("checked in already")
        if not self._still_booked(appointment):
            raise StaleWriteError("the check-in could not be written; retry")
        self.table.check_ins[key] = check_in
        self.table.visits[(visit.appointment_id, visit.version)] = (visit, 1)
        self.table.outbox += outbox
        self._commit_claim(claim)

    def save_visit(
        self,
        visit: Visit,
        revision: int,
        outbox: list[OutboxEntry],
        *,
        links: Sequence[tuple[IssuedLink, Mapping[str, Any]]] = (),
        revoked: Sequence[IssuedLink] = (),
        appointment: tuple[Appointment, Appointment] | None = None,
        not_waiting: Sequence[str] = (),
    ) -> int:
        self.table._before_write()
        key = (visit.appointment_id, visit.version)
        current = self.table.visits.get(key)
        if (
            current is None
            or current[1] != revision
            or any((visit.appointment_id, s) in self.table.tokens for s in not_waiting)
            or (appointment is not None and not self._still_booked(appointment[0]))
        ):
            raise VisitChangedError("the visit changed meanwhile")
        self.table.visits[key] = (visit, revision + 1)
        for link, attendee in links:
            self.table.links[(link.appointment_id, link.link_id)] = (link, json.dumps(attendee))
        for link in revoked:
            old, info = self.table.links[(link.appointment_id, link.link_id)]
            self.table.links[(link.appointment_id, link.link_id)] = (
                replace(old, state=LinkState.REVOKED),
                info,
            )
        if appointment is not None:
            self.table.appointments[visit.appointment_id] = appointment[1]
        self.table.outbox += outbox
        return revision + 1

    def redeem_link(
        self, link: IssuedLink, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        self.table._before_write()
        self._replay_first(claim)
        key = (link.appointment_id, link.link_id)
        stored, info = self.table.links[key]
        if stored.state is not LinkState.ISSUED:
            raise VisitChangedError("the link was spent meanwhile")
        self.table.links[key] = (replace(stored, state=LinkState.REDEEMED), info)
        self.table.outbox += outbox
        self._commit_claim(claim)

    def close_appointment(self, before: Appointment, after: Appointment, outbox: list[OutboxEntry]) -> None:
        self.table._before_write()
        if not self._still_booked(before):
            raise StaleWriteError("the appointment changed meanwhile")
        self.table.appointments[before.appointment_id] = after
        self.table.outbox += outbox

    def visits_of_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Visit]:
        return [
            v
            for v, _ in self.table.visits.values()
            if v.provider_id == provider_id and start <= v.start <= end
        ]


class FakeVitalsStore(_Writes):
    """VitalsStore, as DynamoVitalsStore behaves."""

    def vitals(self, appointment_id: str, version: int) -> tuple[VisitVitals, int] | None:
        return self.table.vitals.get((appointment_id, version))

    def save_vitals(
        self,
        vitals: VisitVitals,
        revision: int,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None = None,
    ) -> int:
        self.table._before_write()
        self._replay_first(claim)
        key = (vitals.appointment_id, vitals.version)
        current = self.table.vitals.get(key)
        if (revision == 0 and current is not None) or (
            revision and (current is None or current[1] != revision)
        ):
            raise VisitChangedError("the estimates changed meanwhile")
        self.table.vitals[key] = (vitals, revision + 1)
        self.table.outbox += outbox
        self._commit_claim(claim)
        return revision + 1


# --- the outside world ----------------------------------------------------------------------------


class FakeWorkflows:
    """VisitWorkflows and LifecycleRuns: executions by (appointment, version)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int, int]] = []  # appointment, version, attempt
        self.stopped: list[tuple[str, int, str]] = []
        self.failing: list[Exception] = []  # raised by the next starts, one each
        self.running_now: set[tuple[str, int]] = set()
        self.runs: dict[tuple[str, int], LifecycleRun] = {}

    def start(self, appointment: Appointment, attempt: int = 0) -> None:
        if self.failing:
            raise self.failing.pop(0)
        self.started.append((appointment.appointment_id, appointment.version, attempt))
        self.running_now.add((appointment.appointment_id, appointment.version))

    def stop(self, appointment: Appointment, cause: str) -> None:
        self.stopped.append((appointment.appointment_id, appointment.version, cause))
        self.running_now.discard((appointment.appointment_id, appointment.version))

    def running(self) -> set[tuple[str, int]]:
        return set(self.running_now)

    def latest_run(self, appointment: Appointment) -> LifecycleRun | None:
        return self.runs.get((appointment.appointment_id, appointment.version))


class FakeMeetings:
    """Chime SDK meetings as the adapter presents them: a retried create with the same key gets
    the same meeting; a deleted meeting's attendees are gone with it."""

    def __init__(self) -> None:
        self.meetings: dict[str, dict[str, Any]] = {}
        self.attendees: dict[str, dict[str, dict[str, Any]]] = {}
        self.by_key: dict[str, str] = {}
        self.created = 0
        self.captures: list[str] = []
        self.concatenations: list[str] = []

    def create_meeting_with_attendees(
        self,
        *,
        external_meeting_id: str,
        media_region: str,
        external_user_ids: list[str],
        idempotency_key: str,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if idempotency_key not in self.by_key:
            self.created += 1
            meeting_id = f"meeting-{self.created}"
            self.meetings[meeting_id] = {
                "MeetingId": meeting_id,
                "MeetingArn": f"arn:aws:chime:us-east-1:123456789012:meeting/{meeting_id}",
                "ExternalMeetingId": external_meeting_id,
            }
            self.attendees[meeting_id] = {}
            for user in external_user_ids:
                self.create_attendee(meeting_id, user)
            self.by_key[idempotency_key] = meeting_id
        meeting_id = self.by_key[idempotency_key]
        return dict(self.meetings[meeting_id]), [self._public(a) for a in self.attendees[meeting_id].values()]

    def create_attendee(self, meeting_id: str, external_user_id: str) -> dict[str, Any]:
        if meeting_id not in self.meetings:
            raise MeetingGoneError(meeting_id)
        attendee_id = f"{meeting_id}-attendee-{len(self.attendees[meeting_id]) + 1}"
        attendee = {
            "AttendeeId": attendee_id,
            "ExternalUserId": external_user_id,
            "JoinToken": f"token-{attendee_id}",
        }
        self.attendees[meeting_id][attendee_id] = attendee
        return dict(attendee)

    def get_attendee(self, meeting_id: str, attendee_id: str) -> dict[str, Any]:
        if attendee_id not in self.attendees.get(meeting_id, {}):
            raise MeetingGoneError(meeting_id)
        return dict(self.attendees[meeting_id][attendee_id])

    def delete_attendee(self, meeting_id: str, attendee_id: str) -> None:
        self.attendees.get(meeting_id, {}).pop(attendee_id, None)

    def delete_meeting(self, meeting_id: str) -> None:
        self.meetings.pop(meeting_id, None)
        self.attendees.pop(meeting_id, None)

    def get_meeting(self, meeting_id: str) -> dict[str, Any]:
        if meeting_id not in self.meetings:
            raise MeetingGoneError(meeting_id)
        return dict(self.meetings[meeting_id])

    def list_attendees(self, meeting_id: str) -> list[dict[str, Any]]:
        if meeting_id not in self.meetings:
            raise MeetingGoneError(meeting_id)
        return [self._public(a) for a in self.attendees[meeting_id].values()]

    def start_capture(self, *, request_token: str, **request: Any) -> dict[str, Any]:
        self.captures.append(request_token)
        return {"MediaPipelineArn": f"arn:aws:chime:us-east-1:123456789012:media-pipeline/{request_token}"}

    def concatenate(self, *, request_token: str, **request: Any) -> dict[str, Any]:
        self.concatenations.append(request_token)
        return {"MediaPipelineId": f"concat-{request_token}"}

    @staticmethod
    def _public(attendee: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in attendee.items() if k != "JoinToken"} | {"JoinToken": attendee["JoinToken"]}


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[Notice] = []

    def send(self, notice: Notice) -> list[str]:
        self.sent.append(notice)
        return [c for c, to in (("email", notice.email), ("sms", notice.phone)) if to]


class FakeRecordingFiles:
    def __init__(self) -> None:
        self.objects: dict[str, set[str]] = {}

    def keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for k in self.objects.get(bucket, set()) if k.startswith(prefix))


# --- the outbox's deliveries ----------------------------------------------------------------------


class FakeOutbox:
    """The projector's Outbox over the table's committed entries, with DynamoOutbox's statuses:
    pending until delivered; an entry failing on its own is due again later and parked after
    MAX_ATTEMPTS; a lease is one holder's at a time."""

    shards = 1

    def __init__(self, entries: Sequence[OutboxEntry] = ()) -> None:
        self.status: dict[str, str] = {}
        self.entries: dict[str, OutboxEntry] = {}
        self.codes: dict[str, tuple[str, ...]] = {}
        self.held: set[str] = set()
        for entry in entries:
            self.add(entry)

    def add(self, entry: OutboxEntry) -> None:
        self.entries[entry.outbox_id] = entry
        self.status[entry.outbox_id] = "pending"

    def pending(self, destination: str, shard: int, limit: int) -> Iterator[OutboxEntry]:
        due = [
            e for k, e in self.entries.items() if self.status[k] == "pending" and e.destination == destination
        ]
        yield from due[:limit]

    def mark_delivered(self, entry: OutboxEntry) -> None:
        if self.status[entry.outbox_id] == "pending":
            self.status[entry.outbox_id] = "delivered"

    def mark_rejected(self, entry: OutboxEntry, codes: tuple[str, ...]) -> None:
        if self.status[entry.outbox_id] == "pending":
            self.status[entry.outbox_id] = "rejected"
            self.codes[entry.outbox_id] = codes or ("unknown",)

    def retry_later(self, entry: OutboxEntry, reason: str) -> bool:
        attempts = entry.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self.mark_rejected(entry, (f"attempts-exhausted:{reason}",))
            return True
        # Due again later: the fake hands it out again at once, with its attempts counted.
        self.entries[entry.outbox_id] = replace(entry, attempts=attempts)
        return False

    @contextlib.contextmanager
    def lease(self, reference: str) -> Iterator[None]:
        if reference in self.held:
            raise ResourceBusyError(reference)
        self.held.add(reference)
        try:
            yield
        finally:
            self.held.discard(reference)


class FakeFhirStore:
    """Resources by (type, id) with a version id; `failing` says how the next calls go."""

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.failing: list[Exception | None] = []  # None: that call goes through
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if self.failing and (error := self.failing.pop(0)) is not None:
            raise error

    def read_if_present(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        self._call()
        return self.resources.get((resource_type, resource_id))

    def put(self, resource: Any, *, if_match: str | None = None) -> dict[str, Any]:
        self._call()
        key = (str(resource["resourceType"]), str(resource["id"]))
        current = self.resources.get(key)
        version = int(current["meta"]["versionId"]) + 1 if current else 1
        stored = {**resource, "meta": {**resource.get("meta", {}), "versionId": str(version)}}
        self.resources[key] = stored
        return stored

    def batch(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A batch bundle, as HealthLake answers one: each GET or conditional PUT on its own."""
        self._call()
        self.bundles = getattr(self, "bundles", 0) + 1
        answers = []
        for entry in entries:
            request = entry["request"]
            kind, _, resource_id = str(request["url"]).partition("/")
            current = self.resources.get((kind, resource_id))
            if request["method"] == "GET":
                answers.append(
                    {"response": {"status": "200 OK"}, "resource": current}
                    if current
                    else {"response": {"status": "404 Not Found"}}
                )
                continue
            if ("ifNoneMatch" in request and current) or (
                "ifMatch" in request
                and (not current or request["ifMatch"] != f'W/"{current["meta"]["versionId"]}"')
            ):
                answers.append({"response": {"status": "412 Precondition Failed"}})
                continue
            stored = self.put(entry["resource"])
            self.calls -= 1  # one request: the bundle
            answers.append(
                {"response": {"status": "201 Created" if not current else "200 OK"}, "resource": stored}
            )
        return answers


class FakeArchive:
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    def keep(self, audit_event: dict[str, Any]) -> None:
        self.kept.append(audit_event)


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []
        self.failing: list[Exception] = []

    def publish(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        if self.failing:
            raise self.failing.pop(0)
        self.published.append((source, detail_type, detail))


class FakeResumer:
    def __init__(self) -> None:
        self.resumed: list[tuple[str, dict[str, Any]]] = []
        self.started: list[tuple[str, str, dict[str, Any]]] = []

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        self.resumed.append((task_token, output))
        return True

    def start_workflow(self, state_machine: str, name: str, input: dict[str, Any]) -> bool:
        started = (state_machine, name) in {(m, n) for m, n, _ in self.started}
        self.started.append((state_machine, name, input))
        return not started


# --- a clinic: one provider, one patient, and the services over the fakes ---------------------------

PROVIDER_ID, PROVIDER_SUB = "dr-a", "sub-dr-a"
PATIENT_ID = "patient-1"
PATIENT = Caller(Actor.PATIENT, PATIENT_ID, frozenset(), frozenset())
OTHER_PATIENT = Caller(Actor.PATIENT, "patient-2", frozenset(), frozenset())
PROVIDER = Caller(Actor.PROVIDER, PROVIDER_SUB, frozenset(), frozenset({"providers"}))
STAFF = Caller(Actor.STAFF, "sub-staff", frozenset(), frozenset({"staff"}))


def provider_record(provider_id: str = PROVIDER_ID, user_sub: str = PROVIDER_SUB) -> ProviderRecord:
    """Around the clock every day in UTC, 30-minute general visits, licensed in NY."""
    return ProviderRecord(
        PractitionerProfile(provider_id, "Ada", "Synthetic", "general", ("en",), "UTC"),
        Availability(
            provider_id,
            "UTC",
            {d: (Interval(time(0, 0), time(23, 55)),) for d in range(1, 8)},
            {"general": 30},
        ),
        (License("NY", "NY-0001", date(2020, 1, 1), date(2030, 1, 1)),),
        user_sub,
    )


@dataclass
class Clinic:
    table: Table
    clock: Clock
    scheduling: FakeSchedulingStore
    visit_store: FakeVisitStore
    vitals_store: FakeVitalsStore
    workflows: FakeWorkflows
    meetings: FakeMeetings
    booking: BookingService
    visits: VisitService


def clinic(now: datetime = NOW, *, recording: bool = True) -> Clinic:
    table, clock = Table(), Clock(now)
    table.providers[PROVIDER_ID] = provider_record()
    table.patients[PATIENT_ID] = PatientProfile(
        PATIENT_ID, "Sam", "Synthetic", date(1980, 1, 1), "NY", "America/New_York", email="sam@example.test"
    )
    scheduling, visit_store = FakeSchedulingStore(table), FakeVisitStore(table)
    workflows, meetings = FakeWorkflows(), FakeMeetings()
    rules = ClinicRules(TENANT, timedelta(hours=24), frozenset({"NY", "NJ"}))
    booking = BookingService(scheduling, rules, clock, workflows)
    video = VideoSettings(TENANT, "us-east-1", recording, "recordings-bucket" if recording else None)
    visits = VisitService(booking, visit_store, meetings, clock, video, VisitTimings())
    return Clinic(
        table, clock, scheduling, visit_store, FakeVitalsStore(table), workflows, meetings, booking, visits
    )


START = NOW + timedelta(minutes=30)  # 14:30, booked at 14:00; check-in opens 14:15


def booked_soon(c: Clinic) -> str:
    """Booked for half an hour from now, its lifecycle waiting for the check-in, which is open."""
    booked = c.booking.book(
        PATIENT,
        slot=slot_id(PROVIDER_ID, START),
        service_type="general",
        state="NY",
        patient_id=None,
        idempotency=None,
    )
    # The lifecycle waits for the check-in, as its step leaves its token.
    c.visit_store.put_task_token(booked.appointment_id, "check-in#v1", "token-check-in", 0)
    c.clock.now = START - timedelta(minutes=10)
    return booked.appointment_id


def check_in(c: Clinic, appointment_id: str) -> CheckIn:
    return c.visits.check_in(
        PATIENT,
        appointment_id,
        state="NY",
        emergency_contact="+1 555 0100",
        consents_to_telehealth=True,
        consents_to_recording=True,
    )


def checked_in(c: Clinic) -> str:
    appointment_id = booked_soon(c)
    check_in(c, appointment_id)
    return appointment_id
