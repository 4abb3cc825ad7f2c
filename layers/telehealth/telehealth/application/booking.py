"""Finding a slot, booking it, moving or cancelling it, and reading appointments, with licensure
checked on the server and every read or write of PHI audited.

Round trips are few and in parallel where they can be: a search is one index query, then per
provider the credentials and the booked slots together; a booking is one read of the provider
and one transaction (slot, appointment, outbox, audit event, idempotency record).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotAuthorizedError
from telehealth.application.callers import NotFoundError as NotFoundError  # where the routes import it
from telehealth.domain.appointments import (
    Actor,
    Appointment,
    AppointmentRuleError,
    AppointmentStatus,
    check_bookable,
    check_change,
    check_late_fee,
)
from telehealth.domain.clinic_settings import (
    ClinicSettings,
    check_open_bookings,
    check_service_offered,
    check_within_horizon,
    coding_of,
)
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.licensure import LicensurePolicy
from telehealth.domain.patients import MAX_MOVED_PER_WRITE, check_details_complete
from telehealth.domain.payments import Money
from telehealth.domain.scheduling import (
    Availability,
    SchedulingError,
    SlotTime,
    cells,
    check_search_window,
    offers,
    parse_slot_id,
    slot_id,
    slots,
)
from telehealth.errors import LicensureError as LicensureError
from telehealth.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentTransferred,
    DomainEvent,
    VisitCancelled,
)
from telehealth.fhir import projection
from telehealth.ports import (
    IdempotencyClaim,
    OutboxEntry,
    ProviderRecord,
    SchedulingStore,
    VisitWorkflows,
)
from telehealth.ports.admin import ClinicRulesSource

MAX_PAGE = 100


def _slot(slot: str) -> tuple[str, datetime]:
    """A slot id of the documented shape that names no instant (30 February) is no slot: a 404,
    as for any other slot that does not exist, not a refusal of the request's shape."""
    try:
        return parse_slot_id(slot)
    except SchedulingError as error:
        raise NotFoundError("no such slot") from error


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClinicRules:
    """What the deploy fixes (the tenant file). The cancellation window here is only the seed
    default: what the clinic changes at run time is in its settings (`ClinicRulesSource`)."""

    tenant_id: str
    cancellation_window: timedelta
    states: frozenset[str]


# How far ahead a slot offered starts, at the least: time for the patient to read it and tap. A
# slot listed seconds before it starts would meet "That time has already passed" when chosen.
TIME_TO_TAKE_A_SLOT = timedelta(minutes=2)


@dataclass(frozen=True)
class SlotQuery:
    state: str
    start: datetime
    end: datetime
    service_type: str = "general"
    specialty: str | None = None
    language: str | None = None
    cursor: str | None = None
    limit: int = 20
    provider_id: str | None = None  # one provider's times only (staff booking with someone named)


@dataclass(frozen=True)
class OfferedSlot:
    slot: SlotTime
    provider: ProviderRecord


@dataclass(frozen=True)
class Idempotency:
    """A POST's Idempotency-Key, scoped to its caller and route, with the hash of what it asked;
    `answer` makes the response a retry replays (status and body) from the change, so the record
    is written in the change's own transaction."""

    caller: str
    route: str
    key: str
    payload_hash: str
    answer: Callable[[Any], str]

    def claim(self, result: object) -> IdempotencyClaim:
        return IdempotencyClaim(self.caller, self.route, self.key, self.payload_hash, self.answer(result))


def claim(idempotency: Idempotency | None, result: object) -> IdempotencyClaim | None:
    return idempotency.claim(result) if idempotency else None


def _booked(kind: type[AppointmentBooked], appointment: Appointment) -> AppointmentBooked:
    return kind(
        appointment_id=appointment.appointment_id,
        version=appointment.version,
        provider_id=appointment.provider_id,
        patient_id=appointment.patient_id,
        start=appointment.start,
        end=appointment.end,
    )


def announce(event: DomainEvent, now: datetime) -> OutboxEntry:
    """A domain fact, leaving through the outbox with the change that made it true."""
    detail = event.model_dump(mode="json")
    resource = {
        "id": new_id(now),
        "source": event.source,
        "detail-type": event.detail_type,
        "detail": detail,
    }
    return OutboxEntry(resource, 1, destination="events")


def _encode_cursor(slot: SlotTime) -> str:
    return base64.urlsafe_b64encode(slot.slot_id.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        provider_id, start = parse_slot_id(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, SchedulingError) as error:
        raise SchedulingError("the cursor is not one this API gave out") from error
    return start, provider_id


class BookingService:
    def __init__(
        self,
        store: SchedulingStore,
        rules: ClinicRules,
        clock: Callable[[], datetime],
        workflows: VisitWorkflows,
        policy: LicensurePolicy | None = None,
        trail: AuditTrail | None = None,
        settings: ClinicRulesSource | None = None,
    ) -> None:
        self.store = store
        self.trail = trail or AuditTrail(store, clock)
        self.workflows = workflows
        self.rules = rules
        if settings is None:
            from telehealth.application.clinic_admin import FixedSettings

            settings = FixedSettings(ClinicSettings(cancellation_window=rules.cancellation_window))
        self.settings = settings
        self.clock = clock
        self.policy = policy or LicensurePolicy()

    # --- search ------------------------------------------------------------------------------------

    def search(self, caller: Caller, query: SlotQuery) -> tuple[list[OfferedSlot], str | None]:
        caller.require(Actor.PATIENT, Actor.STAFF)
        self.check_state(query.state)
        check_search_window(query.start, query.end, self.clock())
        if not 1 <= query.limit <= MAX_PAGE:
            raise SchedulingError(f"limit is 1 to {MAX_PAGE}")
        after = _decode_cursor(query.cursor) if query.cursor else None
        now = self.clock()
        start = max(query.start, now + TIME_TO_TAKE_A_SLOT)
        # No slot is offered that booking would refuse as beyond the clinic's horizon.
        end = min(query.end, now + self.clinic_settings().booking_horizon)
        if end <= start:
            return [], None
        listings = [
            listing
            for listing in self.store.providers_licensed_in(query.state)
            if (query.specialty is None or listing.specialty == query.specialty)
            and (query.language is None or query.language in listing.languages)
            and (query.provider_id is None or listing.provider_id == query.provider_id)
        ]

        found: list[OfferedSlot] = []
        with ThreadPoolExecutor(max_workers=16) as pool:
            # Every provider's credentials and booked slots are read side by side: one round.
            records = [pool.submit(self.store.provider, listing.provider_id) for listing in listings]
            booked = [
                pool.submit(self.store.booked_cells, listing.provider_id, start, end) for listing in listings
            ]
            for record_future, booked_future in zip(records, booked, strict=True):
                record, taken = record_future.result(), booked_future.result()
                if record is None:
                    continue
                found += [
                    OfferedSlot(s, record)
                    for s in slots(record.availability, query.service_type, start, end)
                    if taken.isdisjoint(cells(s.start, s.end))
                    and self.policy.check_visit(record.licenses, query.state, s.start, s.end) is None
                ]
        found.sort(key=lambda o: (o.slot.start, o.slot.provider_id))
        if after:
            found = [o for o in found if (o.slot.start, o.slot.provider_id) > after]
        page = found[: query.limit]
        more = len(found) > query.limit
        return page, (_encode_cursor(page[-1].slot) if more else None)

    def soonest(self, caller: Caller, query: SlotQuery) -> OfferedSlot | None:
        """The first slot the search finds, for a screen that offers one time to book (the
        symptom check's "now", a clinician's ask to see the patient); None when there is none, or
        the patient's state is one the clinic does not serve (the screen then says what to do)."""
        try:
            found, _ = self.search(caller, replace(query, limit=1))
        except (AppointmentRuleError, SchedulingError):
            return None
        return found[0] if found else None

    # --- booking ---------------------------------------------------------------------------------

    def book(
        self,
        caller: Caller,
        *,
        slot: str,
        service_type: str,
        state: str,
        patient_id: str | None,
        idempotency: Idempotency | None,
        referral_id: str | None = None,
    ) -> Appointment:
        """`referral_id`: staff booking the visit a health system's referral asked for; the
        referral leaves the worklist in the same transaction (only if still open, and only for
        its own patient)."""
        with self.trail.request(caller, Interaction.CREATE):
            return self._book(caller, slot, service_type, state, patient_id, idempotency, referral_id)

    def _book(
        self,
        caller: Caller,
        slot: str,
        service_type: str,
        state: str,
        patient_id: str | None,
        idempotency: Idempotency | None,
        referral_id: str | None = None,
    ) -> Appointment:
        caller.require(Actor.PATIENT, Actor.STAFF)
        if caller.actor is Actor.PATIENT:
            if patient_id not in (None, caller.subject):
                raise NotAuthorizedError("Patients book for themselves.")
            patient_id = caller.subject
        if patient_id is None:
            raise SchedulingError("staff must say which patient the visit is for")
        patient = self.store.patient(patient_id)
        if caller.actor is Actor.STAFF and patient is None:
            raise NotFoundError("no such patient")
        check_details_complete(patient is not None and patient.complete, own=caller.actor is Actor.PATIENT)
        self.check_state(state)
        now = self.clock()
        provider_id, start = _slot(slot)
        check_bookable(start, now)
        settings = self.clinic_settings()
        check_within_horizon(start, now, settings)
        check_service_offered(service_type, self.settings.services())
        offered = self._licensed_slot(provider_id, service_type, start, state)
        if caller.actor is Actor.PATIENT:
            # The cap binds patients booking for themselves (hoarding is done from the portal);
            # the clinic's staff may book past it. A guard rail, not an invariant: two of one
            # patient's own bookings racing may both pass.
            open_now = sum(
                1
                for a in self.store.appointments_of_patient(patient_id)
                if a.status is AppointmentStatus.BOOKED and a.end > now
            )
            check_open_bookings(open_now, settings)
        appointment = Appointment(
            appointment_id=new_id(now),
            provider_id=provider_id,
            patient_id=patient_id,
            service_type=service_type,
            start=offered.start,
            end=offered.end,
            patient_state=state,
            booked_by=caller.actor,
            booked_at=now,
            referral_id=referral_id,
        )
        referral = None
        if referral_id is not None:
            caller.require(Actor.STAFF)
            waiting = self.store.referral(referral_id)
            if waiting is None:
                raise NotFoundError("no such referral")
            referral = waiting.booked(appointment.appointment_id, patient_id)
        outbox = self._projection(appointment, now, slot_ids=[offered.slot_id])
        if referral is not None:  # each version of the table's record is projected (a rebuild's too)
            outbox.append(OutboxEntry(projection.service_request(referral), referral.version))
        outbox.append(
            self.audit(caller, Interaction.CREATE, [f"Appointment/{appointment.appointment_id}"], now)
        )
        outbox.append(self.announce(_booked(AppointmentBooked, appointment), now))
        # A retry with the key is answered before any of this (functions/api/idempotency.py);
        # a twin that committed first makes this raise its answer (IdempotentReplay).
        self.store.book(appointment, outbox, claim(idempotency, appointment), referral)
        self._after_commit(self.workflows.start, appointment, "start")
        return appointment

    def cancel(
        self,
        caller: Caller,
        appointment_id: str,
        idempotency: Idempotency | None,
        *,
        charge_late_fee: bool = False,
    ) -> Appointment:
        """`charge_late_fee`: staff cancelling, inside the window, a visit the patient asked to
        drop; the clinic's late-cancellation fee is taken from its hold (payments)."""
        with self.trail.request(caller, Interaction.UPDATE, appointment_id):
            return self._cancel(caller, appointment_id, idempotency, charge_late_fee)

    def _cancel(
        self,
        caller: Caller,
        appointment_id: str,
        idempotency: Idempotency | None,
        charge_late_fee: bool = False,
    ) -> Appointment:
        before = self.owned(caller, appointment_id)
        now = self.clock()
        window = self.clinic_settings().cancellation_window
        check_change(before, caller.actor, now, window, "cancelled")
        if charge_late_fee:
            check_late_fee(before, caller.actor, now, window)
        after = before.cancelled()
        outbox = self._projection(after, now, slot_ids=[slot_id(before.provider_id, before.start)])
        outbox.append(self.audit(caller, Interaction.UPDATE, [f"Appointment/{appointment_id}"], now))
        cancelled = AppointmentCancelled(
            appointment_id=appointment_id,
            version=after.version,
            provider_id=after.provider_id,
            patient_id=after.patient_id,
        )
        outbox.append(self.announce(cancelled, now))
        # The visit's own cancellation, for what hooks the visit (payments void a held copay).
        outbox.append(
            self.announce(
                VisitCancelled(
                    appointment_id=appointment_id,
                    version=before.version,
                    reason="cancelled",
                    provider_id=before.provider_id,
                    patient_id=before.patient_id,
                    late_fee=charge_late_fee,
                ),
                now,
            )
        )
        return self._change(caller, "cancel", before, after, outbox, idempotency)

    def reschedule(
        self, caller: Caller, appointment_id: str, slot: str, idempotency: Idempotency | None
    ) -> Appointment:
        with self.trail.request(caller, Interaction.UPDATE, appointment_id):
            return self._reschedule(caller, appointment_id, slot, idempotency)

    def _reschedule(
        self, caller: Caller, appointment_id: str, slot: str, idempotency: Idempotency | None
    ) -> Appointment:
        before = self.owned(caller, appointment_id)
        now = self.clock()
        settings = self.clinic_settings()
        check_change(before, caller.actor, now, settings.cancellation_window, "rescheduled")
        provider_id, start = _slot(slot)
        if provider_id != before.provider_id:
            raise AppointmentRuleError(
                "other-provider",
                "A visit moves to another time with the same provider; book anew to change provider.",
            )
        if start == before.start:
            raise AppointmentRuleError("same-slot", "The visit is already at that time.")
        check_bookable(start, now)
        check_within_horizon(start, now, settings)
        offered = self._licensed_slot(provider_id, before.service_type, start, before.patient_state)
        after = before.moved(offered.start, offered.end, now)
        outbox = self._projection(
            after, now, slot_ids=[slot_id(provider_id, before.start), offered.slot_id], before=before
        )
        outbox.append(self.audit(caller, Interaction.UPDATE, [f"Appointment/{appointment_id}"], now))
        outbox.append(self.announce(_booked(AppointmentRescheduled, after), now))
        return self._change(caller, "reschedule", before, after, outbox, idempotency)

    # --- reading ------------------------------------------------------------------------------------

    def appointment(self, caller: Caller, appointment_id: str) -> Appointment:
        with self.trail.request(caller, Interaction.READ, appointment_id):
            found = self.owned(caller, appointment_id)
            self.store.record(
                [self.audit(caller, Interaction.READ, [f"Appointment/{appointment_id}"], self.clock())]
            )
            return found

    def appointments(
        self,
        caller: Caller,
        *,
        provider_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Appointment]:
        """What the caller may see decides the rows; the query only narrows them: a patient's own
        (with one provider, if asked), a provider's own schedule, staff and machine clients any
        provider's in this clinic. One AuditEvent names every row."""
        with self.trail.request(caller, Interaction.SEARCH):
            return self._appointments(caller, provider_id, start, end)

    def _appointments(
        self, caller: Caller, provider_id: str | None, start: datetime | None, end: datetime | None
    ) -> list[Appointment]:
        now = self.clock()
        start, end = start or now - timedelta(days=1), end or now + timedelta(days=90)
        if caller.actor is Actor.PATIENT:
            found = [
                a
                for a in self.store.appointments_of_patient(caller.subject)
                if start <= a.start <= end and provider_id in (None, a.provider_id)
            ]
        else:
            if caller.actor is Actor.PROVIDER:
                own = self.store.provider_for_user(caller.subject)
                if own is None or provider_id not in (None, own):
                    raise NotAuthorizedError("Providers see their own schedule.")
                provider_id = own
            if provider_id is None:
                raise SchedulingError("say which provider's appointments to list (provider_id)")
            found = self.store.appointments_of_provider(provider_id, start, end)
        agent = self.trail.agent(caller)
        read = [f"Appointment/{a.appointment_id}" for a in found]
        self.store.record(self.trail.entries(agent, Interaction.SEARCH, read, now))
        return sorted(found, key=lambda a: a.start)

    # --- availability --------------------------------------------------------------------------------

    def availability(self, caller: Caller, provider_id: str) -> ProviderRecord:
        self._may_manage(caller, provider_id)
        record = self.store.provider(provider_id)
        if record is None:
            raise NotFoundError("no such provider")
        return record

    def publish_availability(
        self,
        caller: Caller,
        provider_id: str,
        hours: Callable[[str], Availability],
        expected_version: int,
    ) -> tuple[Availability, int]:
        """New weekly hours, exceptions and visit lengths, in the provider's own zone (`hours`
        builds them for it); booked visits stay booked."""
        current = self.availability(caller, provider_id)
        availability = hours(current.availability.zone)
        if availability.provider_id != provider_id:
            raise SchedulingError("the availability is for another provider")
        return availability, self.store.replace_availability(provider_id, availability, expected_version)

    def own_provider(self, caller: Caller) -> ProviderRecord | None:
        """A signed-in provider's own profile: the web dashboard learns from it whose schedule,
        queue and hours it shows, and in which zone. None for anyone the API does not treat as a
        provider, and for a provider no profile names yet."""
        if caller.actor is not Actor.PROVIDER:
            return None
        own = self.store.provider_for_user(caller.subject)
        return self.store.provider(own) if own else None

    def _may_manage(self, caller: Caller, provider_id: str) -> None:
        """A provider manages their own hours; staff manage anyone's in their tenant."""
        if caller.actor is Actor.STAFF:
            return
        if caller.actor is Actor.PROVIDER and self.store.provider_for_user(caller.subject) == provider_id:
            return
        raise NotAuthorizedError("Only the provider and the clinic's staff manage these hours.")

    # --- helpers ---------------------------------------------------------------------------------------

    def _licensed_slot(self, provider_id: str, service_type: str, start: datetime, state: str) -> SlotTime:
        """The provider's slot at `start`, if they offer it and may see a patient in `state` on
        every calendar day the visit touches there."""
        record = self.store.provider(provider_id)
        offered = offers(record.availability, service_type, start) if record else None
        if record is None or offered is None:
            raise NotFoundError("no such slot")
        refusal = self.policy.check_visit(record.licenses, state, offered.start, offered.end)
        if refusal is not None:
            raise LicensureError(refusal)
        return offered

    def _change(
        self,
        caller: Caller,
        route: str,
        before: Appointment,
        after: Appointment,
        outbox: list[OutboxEntry],
        idempotency: Idempotency | None,
    ) -> Appointment:
        self.store.change(before, after, outbox, claim(idempotency, after))
        # The old version's lifecycle ends; a moved visit gets a lifecycle of its own.
        cause = {"cancel": "cancelled", "reschedule": "rescheduled"}[route]
        self._after_commit(lambda a: self.workflows.stop(a, cause), before, "stop")
        if after.status is AppointmentStatus.BOOKED:
            self._after_commit(self.workflows.start, after, "start")
        return after

    def hand_over(self, appointments: Sequence[Appointment], patient_id: str) -> list[Appointment]:
        """Appointments given to another patient's record (a merge of two records of one person,
        or its undoing): each at its next version for `patient_id`, reprojected, a few dozen to a
        transaction. A booked one's lifecycle goes on at the new version, as after a reschedule
        (it may remind the patient again). The caller audits the change it is part of."""
        moved: list[Appointment] = []
        for first in range(0, len(appointments), MAX_MOVED_PER_WRITE):
            moves = [
                (a, a.transferred(patient_id)) for a in appointments[first : first + MAX_MOVED_PER_WRITE]
            ]
            now = self.clock()
            outbox = [
                entry
                for _, after in moves
                for entry in (
                    OutboxEntry(
                        self.appointment_resource(after, slot_id(after.provider_id, after.start)),
                        after.version,
                    ),
                    # Subscribers to appointments are told it names another patient now.
                    announce(_booked(AppointmentTransferred, after), now),
                )
            ]
            self.store.transfer(moves, outbox)
            for before, after in moves:
                if after.status is AppointmentStatus.BOOKED:
                    self._after_commit(lambda a: self.workflows.stop(a, "merged"), before, "stop")
                    self._after_commit(self.workflows.start, after, "start")
            moved += [after for _, after in moves]
        return moved

    @staticmethod
    def _after_commit(step: Callable[[Appointment], None], appointment: Appointment, what: str) -> None:
        """Starting or stopping a lifecycle once the change has committed: the change happened, so
        the caller hears that it did. A failure is logged (ids only) and left to repair itself:
        the visit reconciler starts any open visit's missing lifecycle within minutes, and an old
        version's execution that was not stopped finds its appointment moved on and ends."""
        try:
            step(appointment)
        except Exception as error:
            logger.warning(
                "lifecycle %s of %s v%d failed after the commit (%s); the visit reconciler repairs it",
                what,
                appointment.appointment_id,
                appointment.version,
                type(error).__name__,
            )

    def clinic_settings(self) -> ClinicSettings:
        """The clinic's settings as they stand (read at run time, not fixed at deploy)."""
        return self.settings.settings()

    def price_of(self, service_type: str) -> Money:
        """What a visit of this kind costs a patient who pays for it (self-pay; shown before
        booking): the clinic's price for the service, nothing where it lists none."""
        service = self.settings.services().get(service_type)
        if service is None:
            return Money(0, self.clinic_settings().currency)
        return Money(service.price_minor, service.currency)

    def appointment_resource(self, appointment: Appointment, slot: str) -> dict[str, Any]:
        """The Appointment as the record keeps it, its service coded as the clinic's services
        code it now (the same cached read as the settings; an inactive service keeps its code)."""
        coding = coding_of(appointment.service_type, self.settings.services())
        return projection.appointment(appointment, slot, coding)

    def check_state(self, state: str) -> None:
        if state not in self.rules.states:
            raise AppointmentRuleError(
                "state-not-served", "This clinic does not serve patients located in that state."
            )

    def owned(self, caller: Caller, appointment_id: str) -> Appointment:
        """The appointment, if this caller may see it (otherwise: not found)."""
        found = self.store.appointment(appointment_id)
        if found is None:
            raise NotFoundError("no such appointment")
        if caller.actor is Actor.PATIENT and found.patient_id != caller.subject:
            raise NotFoundError("no such appointment")
        if (
            caller.actor is Actor.PROVIDER
            and self.store.provider_for_user(caller.subject) != found.provider_id
        ):
            raise NotFoundError("no such appointment")
        if caller.actor is Actor.MACHINE:
            raise NotAuthorizedError("Machine clients read appointments through the integration routes.")
        return found

    @staticmethod
    def announce(event: DomainEvent, now: datetime) -> OutboxEntry:
        return announce(event, now)

    def audit(
        self, caller: Caller, interaction: Interaction, entities: Sequence[str], now: datetime
    ) -> OutboxEntry:
        """The request's AuditEvent, for the transaction of its change (or written after a read)."""
        return self.trail.entry(self.trail.agent(caller), interaction, entities, now)

    def _projection(
        self,
        appointment: Appointment,
        now: datetime,
        *,
        slot_ids: Iterable[str],
        before: Appointment | None = None,
    ) -> list[OutboxEntry]:
        """The Appointment at its version, and each Slot it touched, busy or freed."""
        version = int(now.timestamp() * 1000)  # slots outlive appointments: version them by time
        ids = list(slot_ids)
        entries = [OutboxEntry(self.appointment_resource(appointment, ids[-1]), appointment.version)]
        if before is not None:
            entries.append(OutboxEntry(projection.slot(ids[0], before.cancelled(), version), version))
            entries.append(OutboxEntry(projection.slot(ids[-1], appointment, version), version))
        else:
            entries += [OutboxEntry(projection.slot(s, appointment, version), version) for s in ids]
        return entries
