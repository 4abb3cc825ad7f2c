"""The audit trail: one AuditEvent per request that touches PHI, whoever asked and however it
ended, naming an agent and records that exist in the clinical record.

A use case puts its success's AuditEvent in the transaction of its change (or, for a read, writes
it through the outbox after the read): `entry`. A request that fails (a refusal, a clinic rule, a
conflict, or the platform's own failure) writes instead one AuditEvent of the attempt with its
outcome, through the outbox on its own (`request`): another patient's appointment asked for is an
audited event, though nothing was read. Use cases called inside another's request (a visit's
cancellation is the booking's) leave the failure to the outermost.

Agents: a patient is `Patient/<id>`; a provider `Practitioner/<provider id>` (their Cognito sub
mapped to it); staff and admins `Practitioner/user-<sub>`; machine clients `Device/client-<id>`;
media workers `Device/media-worker-<name>`. The last three have no record to be projected from,
so the trail writes their resource (derived from the reference) once per container, in a write of
its own committed before the first AuditEvent that names it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

from telehealth.application.callers import Caller, NotAuthorizedError, NotFoundError
from telehealth.domain.appointments import Actor, Appointment, AppointmentRuleError
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.join_links import LinkNotYoursError
from telehealth.domain.scheduling import SchedulingError
from telehealth.fhir import audit
from telehealth.fhir.audit import AuditFact, Outcome
from telehealth.ports import (
    IdempotencyMismatchError,
    IdempotentReplay,
    OutboxEntry,
    SlotTakenError,
    StaleWriteError,
    VisitChangedError,
)

logger = logging.getLogger(__name__)

PURPOSE = "TREAT"  # v3 ActReason: every access the platform serves is for treatment today
_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")  # what an appointment id looks like (a ULID)


class AuditStore(Protocol):
    def provider_for_user(self, user_sub: str) -> str | None: ...

    def appointment(self, appointment_id: str) -> Appointment | None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


def failure_of(error: BaseException) -> tuple[Outcome, str]:
    """How a failed request ends in the trail: a minor failure (the answer was a 4xx) or a serious
    one (5xx), and a stable code for it (a problem type or a class name, never a message)."""
    if isinstance(error, AppointmentRuleError):
        return Outcome.MINOR_FAILURE, error.kind
    minor = {
        NotFoundError: "not-found",
        NotAuthorizedError: "forbidden",
        LinkNotYoursError: "link-not-yours",
        SchedulingError: "invalid-request",
        SlotTakenError: "slot-taken",
        StaleWriteError: "conflict",
        VisitChangedError: "conflict",
        IdempotencyMismatchError: "idempotency-key-reused",
    }
    for kind, code in minor.items():
        if isinstance(error, kind):
            return Outcome.MINOR_FAILURE, code
    refusal = getattr(error, "refusal", None)  # a licensure refusal (its own problem type)
    if refusal is not None:
        return Outcome.MINOR_FAILURE, "provider-not-licensed"
    # An answer in its interface's own words (the FHIR facade's: an HTTP status and an issue code).
    status, said = getattr(error, "status", None), getattr(error, "code", None)
    if isinstance(status, int) and isinstance(said, str):
        return (Outcome.MINOR_FAILURE if status < 500 else Outcome.SERIOUS_FAILURE), said
    return Outcome.SERIOUS_FAILURE, type(error).__name__


class AuditTrail:
    def __init__(self, store: AuditStore, clock: Callable[[], datetime]) -> None:
        self.store, self.clock = store, clock
        self._kept: set[str] = set()  # agents whose resource this container has written
        self._providers: dict[str, str] = {}  # Cognito sub -> provider id, which never changes
        self._depth = threading.local()

    # --- who ---------------------------------------------------------------------------------------

    def agent(self, caller: Caller) -> str:
        """The caller as the record knows them, its resource written first where the trail keeps it."""
        if caller.actor is Actor.PATIENT:
            return f"Patient/{caller.subject}"
        if caller.actor is Actor.MACHINE:
            return self.kept(audit.client_agent(caller.subject))
        if caller.actor is Actor.PROVIDER:
            provider_id = self._providers.get(caller.subject) or self.store.provider_for_user(caller.subject)
            if provider_id is not None:  # remembered once found: a profile may still be on its way
                self._providers[caller.subject] = provider_id
                return f"Practitioner/{provider_id}"
        # Staff, admins, and a provider user whose profile is not (yet) on file.
        return self.kept(audit.user_agent(caller.subject))

    def kept(self, reference: str) -> str:
        """`reference`, once its resource is committed to the outbox (by this container, or by an
        earlier one: writing it again changes nothing)."""
        if reference not in self._kept:
            resource = audit.agent_resource(reference)
            if resource is not None:
                self.store.record([OutboxEntry(resource, 1)])
            self._kept.add(reference)
        return reference

    # --- what ------------------------------------------------------------------------------------

    def entry(
        self,
        agent: str,
        interaction: Interaction,
        entities: Sequence[str],
        now: datetime,
        *,
        outcome: Outcome = Outcome.SUCCESS,
        failure: str | None = None,
        unknown_appointment: str | None = None,
    ) -> OutboxEntry:
        """One AuditEvent, as an outbox entry: `entities` are every record the request touched."""
        fact = AuditFact(
            new_id(now),
            now,
            agent,
            interaction,
            tuple(entities),
            PURPOSE,
            outcome,
            failure,
            unknown_appointment,
        )
        return OutboxEntry(audit.audit_event(fact), 1)

    def entries(
        self, agent: str, interaction: Interaction, entities: Sequence[str], now: datetime
    ) -> list[OutboxEntry]:
        """A read of many records: one AuditEvent naming them all (several only past
        `MAX_ENTITIES`, which keeps each within an item's size)."""
        chunks = [entities[i : i + audit.MAX_ENTITIES] for i in range(0, len(entities), audit.MAX_ENTITIES)]
        return [self.entry(agent, interaction, chunk, now) for chunk in chunks or [()]]

    # --- a request that fails ------------------------------------------------------------------------

    @contextmanager
    def request(
        self, caller: Caller, interaction: Interaction, appointment_id: str | None = None
    ) -> Iterator[list[str]]:
        """Audit the attempt if the request fails: one AuditEvent with its outcome, naming the
        appointment where there is one (by reference when it exists, else by identifier), and
        each record the request appended to the list it is given once it found that record (a
        case of photos' QuestionnaireResponse)."""
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        named: list[str] = []
        try:
            yield named
        except IdempotentReplay:  # a twin request's answer: the first one was audited
            raise
        except Exception as error:
            if depth == 0:
                self._failed(caller, interaction, appointment_id, error, named)
            raise
        finally:
            self._depth.value = depth

    def _failed(
        self,
        caller: Caller,
        interaction: Interaction,
        appointment_id: str | None,
        error: Exception,
        named: Sequence[str] = (),
    ) -> None:
        try:
            entities: list[str] = list(named)
            unknown = None
            if appointment_id is not None and _ID.match(appointment_id):
                if self.store.appointment(appointment_id) is not None:
                    entities.append(f"Appointment/{appointment_id}")
                else:
                    unknown = appointment_id
        except Exception as trouble:  # the request's own error is what the caller must hear
            self._unwritten(interaction, trouble)
            return
        self.failed(caller, interaction, error, entities, unknown_appointment=unknown)

    def failed(
        self,
        caller: Caller,
        interaction: Interaction,
        error: Exception,
        entities: Sequence[str] = (),
        *,
        unknown_appointment: str | None = None,
    ) -> None:
        """One AuditEvent of a failed attempt, naming `entities` (records that exist), written on
        its own. Its own failure is logged, never raised: the request's error is what the caller
        must hear."""
        outcome, code = failure_of(error)
        try:
            self.store.record(
                [
                    self.entry(
                        self.agent(caller),
                        interaction,
                        entities,
                        self.clock(),
                        outcome=outcome,
                        failure=code,
                        unknown_appointment=unknown_appointment,
                    )
                ]
            )
        except Exception as trouble:
            self._unwritten(interaction, trouble)

    @staticmethod
    def _unwritten(interaction: Interaction, trouble: Exception) -> None:
        logger.warning(
            "the audit of a failed %s could not be written (%s)", interaction.code, type(trouble).__name__
        )
