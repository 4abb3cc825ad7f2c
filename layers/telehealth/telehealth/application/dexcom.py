"""A patient's Dexcom account, linked for remote monitoring, and the poll that reads it.

The patient links it from the portal: the api asks the dexcom function where Dexcom's sign-in is
(with a state kept here ten minutes), Dexcom sends the browser back with a code and the state, and
the function exchanges the code for the account's refresh token, which leaves it sealed. The
dexcom-poll function then polls every linked account on a schedule, through the dexcom function
(the one that reaches Dexcom holds no grant of the clinic's data): the refresh token rotated (the
new one kept before anything else is asked), the glucose values since the last poll read a 30-day
window at a time, and handed to the readings queue as the patient's, where they are kept once
and held to the program's rules like any reading. Dexcom's data are retrospective (hours late),
so what comes this way never raises an urgent low: the portal and the docs say so.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller
from telehealth.application.monitoring import READINGS_PER_HANDOVER, Handover, ReadingsQueue, patient_entity
from telehealth.devices import dexcom
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.monitoring import Enrolment
from telehealth.domain.readings import Reading
from telehealth.errors import (
    DexcomLinkError,
    DexcomRefusedError,
    DexcomThrottledError,
    NotEnrolledError,
    StaleWriteError,
)
from telehealth.ports import OutboxEntry

LINK_WINDOW = timedelta(minutes=10)
FIRST_POLL = timedelta(days=14)  # a new link reads the CGM fortnight the rules look at
# A poll reaches back this far before where the last one ended: Dexcom's cloud takes readings in
# late (a phone offline for a while), and a reading taken twice is kept once.
OVERLAP = timedelta(hours=12)
CALLS_PER_SECOND = 15.0  # under Dexcom's 60,000 calls an hour for the app


@dataclass(frozen=True)
class DexcomAccount:
    patient_id: str
    sealed: str  # the refresh token, sealed for the dexcom function alone
    linked_at: datetime
    polled_through: datetime | None = None  # where the last poll ended
    needs_relink: bool = False  # Dexcom refused its refresh token: the patient signs in again


@dataclass(frozen=True)
class PollReport:
    accounts: int = 0
    readings: int = 0
    refused: int = 0
    calls: int = 0
    relink: int = 0
    throttled: bool = False


class DexcomAccounts(Protocol):
    """What the poll reads and writes: the linked accounts."""

    def dexcom_accounts(self) -> list[DexcomAccount]: ...

    def save_dexcom_account(
        self, account: DexcomAccount, outbox: list[OutboxEntry], *, replacing: str | None = None
    ) -> None:
        """`replacing`: the sealed token read (the write is refused if another replaced it)."""
        ...


class DexcomStore(DexcomAccounts, Protocol):
    def enrolment(self, patient_id: str) -> Enrolment | None: ...

    def begin_dexcom_link(self, state: str, patient_id: str, expires_at: datetime) -> None: ...

    def take_dexcom_link(self, state: str) -> tuple[str, datetime] | None: ...

    def dexcom_account(self, patient_id: str) -> DexcomAccount | None: ...

    def forget_dexcom_account(self, patient_id: str, outbox: list[OutboxEntry]) -> None: ...


class DexcomSignIn(Protocol):
    """The api's view of the dexcom function."""

    def authorize_url(self, state: str, redirect_uri: str) -> str: ...

    def link(self, patient_id: str, code: str, redirect_uri: str) -> str: ...


class DexcomLinks:
    def __init__(
        self,
        store: DexcomStore,
        sign_in: DexcomSignIn,
        trail: AuditTrail,
        clock: Callable[[], datetime],
        return_url: str,
    ) -> None:
        self.store, self.sign_in, self.trail, self.clock = store, sign_in, trail, clock
        self.return_url = return_url  # where Dexcom sends the browser back: registered there

    def account(self, caller: Caller) -> DexcomAccount | None:
        caller.require(Actor.PATIENT)
        return self.store.dexcom_account(caller.subject)

    def start_link(self, caller: Caller) -> tuple[str, str]:
        """Where the patient signs in at Dexcom, and the sign-in's state."""
        caller.require(Actor.PATIENT)
        if self.store.enrolment(caller.subject) is None:
            raise NotEnrolledError("You are in no monitoring program: your care team enrols you first.")
        state = secrets.token_urlsafe(32)
        self.store.begin_dexcom_link(state, caller.subject, self.clock() + LINK_WINDOW)
        return self.sign_in.authorize_url(state, self.return_url), state

    def complete_link(self, caller: Caller, state: str, code: str) -> DexcomAccount:
        """The sign-in come back: a state finishes one link, once, for its patient, within ten
        minutes; its code exchanged by the function, the account's token kept sealed. Audited."""
        caller.require(Actor.PATIENT)
        pending = self.store.take_dexcom_link(state)
        now = self.clock()
        if pending is None or pending[0] != caller.subject or pending[1] < now:
            raise DexcomLinkError("That sign-in at Dexcom expired or was already used: connect again.")
        try:
            sealed = self.sign_in.link(caller.subject, code, self.return_url)
        except DexcomRefusedError as error:
            raise DexcomLinkError(
                f"Dexcom did not accept that sign-in ({error.code}): connect again."
            ) from None
        account = DexcomAccount(caller.subject, sealed, now)
        self.store.save_dexcom_account(account, [self._audit(caller, Interaction.UPDATE)])
        return account

    def unlink(self, caller: Caller) -> None:
        """Forgotten here (Dexcom's app settings are where the patient revokes the app itself)."""
        caller.require(Actor.PATIENT)
        if self.store.dexcom_account(caller.subject) is not None:
            self.store.forget_dexcom_account(caller.subject, [self._audit(caller, Interaction.DELETE)])

    def _audit(self, caller: Caller, interaction: Interaction) -> OutboxEntry:
        return self.trail.entry(
            self.trail.agent(caller), interaction, [patient_entity(caller.subject)], self.clock()
        )


class DexcomCalls(Protocol):
    """The poll's view of the dexcom function: tokens stay sealed on this side."""

    def rotate(self, patient_id: str, sealed: str, redirect_uri: str) -> tuple[str, str]: ...

    def glucose(self, patient_id: str, access: str, start: datetime, end: datetime) -> dict[str, Any]: ...


class DexcomPoller:
    def __init__(
        self,
        store: DexcomAccounts,
        calls: DexcomCalls,
        queue: ReadingsQueue,
        *,
        sender: str,
        return_url: str,
        clock: Callable[[], datetime],
        calls_per_second: float = CALLS_PER_SECOND,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store, self.calls, self.queue = store, calls, queue
        self.sender, self.return_url, self.clock = sender, return_url, clock
        self.interval, self.sleep = 1.0 / calls_per_second, sleep
        self._last_call = 0.0

    def poll(self) -> PollReport:
        """Every linked account, one after another, until Dexcom's rate is spent (the rest wait
        for the next run; each account's cursor moves only past what was handed over)."""
        report = PollReport()
        for account in self.store.dexcom_accounts():
            if account.needs_relink:
                continue
            try:
                report = self._poll(account, replace(report, accounts=report.accounts + 1))
            except DexcomThrottledError:
                return replace(report, throttled=True)
            except DexcomRefusedError:
                # The refresh token is spent or revoked: the patient connects again (the portal asks).
                with contextlib.suppress(StaleWriteError):
                    self.store.save_dexcom_account(
                        replace(account, needs_relink=True), [], replacing=account.sealed
                    )
                report = replace(report, relink=report.relink + 1)
        return report

    def _poll(self, account: DexcomAccount, report: PollReport) -> PollReport:
        now = self.clock()
        self._pace()
        sealed, access = self.calls.rotate(account.patient_id, account.sealed, self.return_url)
        # The rotated token is kept before anything else: Dexcom has spent the old one.
        rotated = replace(account, sealed=sealed)
        try:
            self.store.save_dexcom_account(rotated, [], replacing=account.sealed)
        except StaleWriteError:
            return report  # connected again meanwhile: that link's token stands
        since = account.polled_through - OVERLAP if account.polled_through else now - FIRST_POLL
        calls, readings, refused = 1, 0, 0
        for start, end in dexcom.windows(since, now):
            self._pace()
            calls += 1
            page = self.calls.glucose(account.patient_id, access, start, end)
            taken, dropped = dexcom.readings(page, patient_id=account.patient_id)
            self._hand_over(account.patient_id, taken)
            readings, refused = readings + len(taken), refused + len(dropped)
            rotated = replace(rotated, polled_through=end)
            self.store.save_dexcom_account(rotated, [], replacing=rotated.sealed)
        return replace(
            report,
            readings=report.readings + readings,
            refused=report.refused + refused,
            calls=report.calls + calls,
        )

    def _hand_over(self, patient_id: str, taken: Sequence[Reading]) -> None:
        handovers = [
            Handover(patient_id, tuple(taken[i : i + READINGS_PER_HANDOVER]), self.sender)
            for i in range(0, len(taken), READINGS_PER_HANDOVER)
        ]
        if handovers:
            self.queue.hand_over(handovers)

    def _pace(self) -> None:
        wait = self._last_call + self.interval - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last_call = time.monotonic()
