"""The Dexcom poll over in-memory fakes: a linked account's refresh token rotated and kept before
its glucose is read, the fortnight on a first poll and the overlap after, Dexcom's rate stopping
the run with the cursor where it was, a refused token asking the patient to connect again, and a
link made meanwhile standing. Every value is synthetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth.application.dexcom import FIRST_POLL, OVERLAP, DexcomAccount, DexcomPoller
from telehealth.application.monitoring import Handover
from telehealth.errors import DexcomRefusedError, DexcomThrottledError, StaleWriteError

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Store:
    def __init__(self, *accounts: DexcomAccount) -> None:
        self.accounts = {a.patient_id: a for a in accounts}
        self.saved: list[str] = []  # what happened, in order

    def dexcom_accounts(self) -> list[DexcomAccount]:
        return list(self.accounts.values())

    def save_dexcom_account(
        self, account: DexcomAccount, outbox: Any, *, replacing: str | None = None
    ) -> None:
        if replacing is not None and self.accounts[account.patient_id].sealed != replacing:
            raise StaleWriteError("linked again")
        self.accounts[account.patient_id] = account
        self.saved.append(f"saved {account.sealed}")


class Calls:
    def __init__(self, store: Store) -> None:
        self.store, self.windows = store, []  # type: ignore[var-annotated]
        self.failing: dict[str, Exception] = {}

    def rotate(self, patient_id: str, sealed: str, redirect_uri: str) -> tuple[str, str]:
        if patient_id in self.failing:
            raise self.failing[patient_id]
        return f"{sealed}+", "access"

    def glucose(self, patient_id: str, access: str, start: datetime, end: datetime) -> dict[str, Any]:
        self.store.saved.append("read")
        self.windows.append((start, end))
        at = end - timedelta(hours=3)
        record = {
            "recordId": f"r-{at:%H%M}",
            "systemTime": at.strftime("%Y-%m-%dT%H:%M:%S"),
            "value": 120,
            "unit": "mg/dL",
        }
        return {"recordType": "egv", "records": [record]}


class Queue:
    def __init__(self) -> None:
        self.handed: list[Handover] = []

    def hand_over(self, handovers: Any) -> None:
        self.handed += handovers


def poller(store: Store, calls: Calls, queue: Queue) -> DexcomPoller:
    return DexcomPoller(
        store,
        calls,
        queue,
        sender="Device/poller-dexcom",
        return_url="https://care.example/",
        clock=lambda: NOW,
        calls_per_second=1e6,
    )


def test_a_first_poll_reads_the_fortnight_and_the_next_reaches_back_by_the_overlap() -> None:
    store = Store(DexcomAccount("p1", "sealed-1", NOW - timedelta(days=1)))
    calls, queue = Calls(store), Queue()
    report = poller(store, calls, queue).poll()
    assert (report.accounts, report.readings, report.calls) == (1, 1, 2)
    assert store.saved[:2] == ["saved sealed-1+", "read"]  # the rotated token kept first
    assert calls.windows == [(NOW - FIRST_POLL, NOW)]
    assert store.accounts["p1"].polled_through == NOW and store.accounts["p1"].sealed == "sealed-1+"
    assert [r.identifier for h in queue.handed for r in h.readings] == ["r-0900"]
    assert queue.handed[0].sender == "Device/poller-dexcom"
    poller(store, calls, queue).poll()
    assert calls.windows[-1] == (NOW - OVERLAP, NOW)


def test_dexcoms_rate_stops_the_run_and_a_refused_token_asks_for_a_new_link() -> None:
    store = Store(
        DexcomAccount("p1", "s1", NOW, polled_through=NOW - timedelta(hours=1)),
        DexcomAccount("p2", "s2", NOW, polled_through=NOW - timedelta(hours=1)),
        DexcomAccount("p3", "s3", NOW, needs_relink=True),
    )
    calls, queue = Calls(store), Queue()
    calls.failing["p1"] = DexcomRefusedError("invalid_grant")
    calls.failing["p2"] = DexcomThrottledError("rate")
    report = poller(store, calls, queue).poll()
    assert (report.relink, report.throttled, report.readings) == (1, True, 0)
    assert store.accounts["p1"].needs_relink  # the portal asks the patient to connect again
    assert store.accounts["p2"].polled_through == NOW - timedelta(hours=1)  # where it was
    assert not queue.handed


def test_an_account_linked_again_meanwhile_keeps_its_new_token() -> None:
    store = Store(DexcomAccount("p1", "old", NOW))
    calls, queue = Calls(store), Queue()
    real = calls.rotate

    def relinked(patient_id: str, sealed: str, redirect_uri: str) -> tuple[str, str]:
        store.accounts["p1"] = replace(store.accounts["p1"], sealed="new-link")
        return real(patient_id, sealed, redirect_uri)

    calls.rotate = relinked  # type: ignore[method-assign]
    assert poller(store, calls, queue).poll().readings == 0
    assert store.accounts["p1"].sealed == "new-link"


@pytest.mark.parametrize("hours", [1, 24 * 45])
def test_a_long_gap_is_read_in_windows_of_thirty_days_at_most(hours: int) -> None:
    store = Store(DexcomAccount("p1", "s", NOW, polled_through=NOW - timedelta(hours=hours)))
    calls = Calls(store)
    poller(store, calls, Queue()).poll()
    assert all(end - start <= timedelta(days=30) for start, end in calls.windows)
    assert calls.windows[0][0] == NOW - timedelta(hours=hours) - OVERLAP and calls.windows[-1][1] == NOW
