"""The scheduling store's answers to what DynamoDB says, with DynamoDB's own error shapes (stubbed:
the emulator serialises writes, so it never reports a conflict between transactions in flight)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from infra import topology
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.adapters.table_store import CONFLICT_RETRIES
from telehealth.domain.appointments import Actor, Appointment
from telehealth.ports import (
    IdempotencyClaim,
    IdempotencyMismatchError,
    IdempotentReplay,
    SlotTakenError,
    StaleWriteError,
)
from tests.integration.conftest import MotoServer


def _store() -> tuple[DynamoSchedulingStore, Stubber]:
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="stub",
        aws_secret_access_key="stub",  # noqa: S106
    )
    return DynamoSchedulingStore("telehealth-test", client=client), Stubber(client)


def _visit() -> Appointment:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    return Appointment(
        "01JTESTAPPOINTMENT000000001",
        "dr-x",
        "p-1",
        "general",
        start,
        start + timedelta(minutes=30),
        "NY",
        booked_by=Actor.PATIENT,
    )


def _cancelled(stubber: Stubber, *codes: str) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        http_status_code=400,
        expected_params={"TransactItems": ANY},
        modeled_fields={"CancellationReasons": [{"Code": c} for c in codes]},
    )


def _written(stubber: Stubber) -> None:
    stubber.add_response("transact_write_items", {}, {"TransactItems": ANY})


def test_a_transaction_conflict_is_tried_again_and_the_booking_goes_through() -> None:
    store, stubber = _store()
    _cancelled(stubber, "TransactionConflict", "None")
    _cancelled(stubber, "None", "TransactionConflict")
    _written(stubber)
    with stubber:
        store.book(_visit(), [], None)
    stubber.assert_no_pending_responses()


def test_a_conflict_that_persists_is_a_conflict_not_a_taken_slot() -> None:
    store, stubber = _store()
    for _ in range(CONFLICT_RETRIES + 1):
        _cancelled(stubber, "TransactionConflict", "None")
    with stubber, pytest.raises(StaleWriteError):
        store.book(_visit(), [], None)
    stubber.assert_no_pending_responses()


def test_a_held_cell_is_a_taken_slot_at_once() -> None:
    store, stubber = _store()
    _cancelled(stubber, "ConditionalCheckFailed", "None")
    with stubber, pytest.raises(SlotTakenError):
        store.book(_visit(), [], None)


def test_a_visit_of_any_length_touches_at_most_five_hours() -> None:
    store, _ = _store()
    start = datetime(2026, 12, 1, 13, 5, tzinfo=UTC)
    items: list[dict[str, Any]]
    items, holding = store._cells(
        "dr-x", "a-1", hold=_cells(start, 240), release=_cells(start + timedelta(hours=6), 240)
    )
    assert len(items) == 10 and len(holding) == 5
    keys = [tuple(sorted((k, v["S"]) for k, v in i["Update"]["Key"].items())) for i in items]
    assert len(set(keys)) == len(keys)  # one action per item, as DynamoDB requires


def _cells(start: datetime, minutes: int) -> list[datetime]:
    from telehealth.domain.scheduling import cells

    return cells(start, start + timedelta(minutes=minutes))


def test_a_move_within_one_hour_is_one_update_that_frees_and_takes() -> None:
    store, _ = _store()
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    items, holding = store._cells(
        "dr-x", "a-1", hold=_cells(start + timedelta(minutes=30), 15), release=_cells(start, 15)
    )
    (update,) = [i["Update"] for i in items]
    assert holding == {0}
    assert update["Key"]["sk"] == {"S": "SLOT#2026-12-01T14"}
    assert update["UpdateExpression"].startswith("SET #c30 = :a, #c35 = :a, #c40 = :a")
    assert update["UpdateExpression"].endswith("REMOVE #c00, #c05, #c10")
    assert "attribute_not_exists(#c30)" in update["ConditionExpression"]
    assert "#c00 = :a" in update["ConditionExpression"]


def test_a_visit_across_midnight_holds_cells_on_both_days_in_utc() -> None:
    from zoneinfo import ZoneInfo

    store, _ = _store()
    # 18:30 in Chicago is 00:30 UTC the next day: the cells are named in UTC, whatever the zone.
    start = datetime(2026, 12, 1, 17, 30, tzinfo=ZoneInfo("America/Chicago"))
    items, _ = store._cells("dr-x", "a-1", hold=_cells(start, 60), release=())
    assert [i["Update"]["Key"]["sk"]["S"] for i in items] == ["SLOT#2026-12-01T23", "SLOT#2026-12-02T00"]
    assert sorted(items[1]["Update"]["ExpressionAttributeNames"].values()) == [
        f"c{m:02d}" for m in range(0, 30, 5)
    ]


def test_an_hours_item_reads_back_as_the_cells_it_holds() -> None:
    from telehealth.adapters.scheduling_store import cells_held

    held = cells_held(
        {"pk": "PROVIDER#dr-x", "sk": "SLOT#2026-12-01T14", "c05": "a-1", "c10": "a-2", "expires_at": 1}
    )
    assert held == {
        datetime(2026, 12, 1, 14, 5, tzinfo=UTC): "a-1",
        datetime(2026, 12, 1, 14, 10, tzinfo=UTC): "a-2",
    }
    assert cells_held({"pk": "PROVIDER#dr-x", "sk": "PROFILE"}) == {}


def test_an_idempotency_key_answers_for_24_hours_and_then_counts_as_new(emulator: MotoServer) -> None:
    """The emulator deletes nothing by TTL (and DynamoDB may take days to): the 24 hours are the
    store's own rule, read at the time it is asked."""
    name = f"keys-{uuid.uuid4().hex[:8]}"
    client = emulator.client("dynamodb")
    client.create_table(**topology.CLINIC_TABLE.create_request(name))
    store = DynamoSchedulingStore(name, client=client)
    claim = IdempotencyClaim("p-1", "POST /v1/appointments", "key-0001", "hash-1", '{"status": 201}')
    store.book(_visit(), [], claim)
    now = datetime.now(UTC)
    with pytest.raises(IdempotentReplay) as replay:
        store.replay_if_claimed(claim, now + timedelta(hours=23, minutes=59))
    assert replay.value.response == '{"status": 201}'
    with pytest.raises(IdempotencyMismatchError):
        store.replay_if_claimed(replace(claim, payload_hash="hash-2"), now + timedelta(hours=23))
    # Past its 24 hours the key is new again, and another caller's same key always was: no replay.
    store.replay_if_claimed(claim, now + timedelta(hours=24, minutes=1))
    store.replay_if_claimed(replace(claim, caller="p-2"), now)
