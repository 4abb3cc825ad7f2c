"""What every context's store over the clinic table shares: its writes' idioms.

A change is one transaction: the items it writes, the outbox entries it owes (FHIR resources,
its audit event, its domain events) and, for a POST with an `Idempotency-Key`, the idempotency
record, so the change and what it owes commit together or not at all.

| item | pk | sk |
|---|---|---|
| idempotency record, in a change's transaction | IDEMPOTENCY#<caller>#<route>#<key> | IDEMPOTENCY |
| idempotency record, Powertools' (several writes) | IDEMPOTENCY#<caller> | api#<hash of route, key> |

Both expire by the table's TTL attribute (`expires_at`) after 24 hours; DynamoDB deletes expired
items only within a day or two, so an expired record is treated as absent, and overwritten.

The outbox's own items are `outbox_store.py`'s; the contexts' items are their store modules'
(`scheduling_store.py`, `visits_store.py`, `vitals_store.py`).
"""

from __future__ import annotations

import random
import time as clock
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from telehealth.adapters.dynamo import DynamoTable
from telehealth.adapters.outbox_store import DynamoOutbox
from telehealth.ports import (
    IdempotencyClaim,
    IdempotencyMismatchError,
    IdempotentReplay,
    OutboxEntry,
    SlotTakenError,
    StaleWriteError,
)

IDEMPOTENCY_TTL = timedelta(hours=24)
# A transaction that lost a race for an item to another one in flight (TransactionConflict) is
# tried again this many times, with jittered back-off, before the caller hears "conflict".
CONFLICT_RETRIES = 4


class TableStore(DynamoTable):
    def __init__(self, table_name: str | None = None, client: Any = None) -> None:
        super().__init__(table_name, client)
        self._outbox = DynamoOutbox(self.table, self._client)

    def _outbox_items(self, outbox: list[OutboxEntry], now: datetime) -> list[dict[str, Any]]:
        return self._outbox.put_actions(outbox, now)

    def _versioned_put(self, item: Mapping[str, Any], *, counter: str, value: int) -> dict[str, Any]:
        """A Put of a record at `value` of its `counter`, on the value before it (on there being
        none, for the first): a write made on a stale read is refused."""
        put: dict[str, Any] = {"TableName": self.table, "Item": self._item({**item, counter: value})}
        if value == 1:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#counter = :before"
            put["ExpressionAttributeNames"] = {"#counter": counter}
            put["ExpressionAttributeValues"] = self._item({":before": value - 1})
        return {"Put": put}

    def _commit(
        self,
        writes: list[dict[str, Any]],
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None,
        stale: Exception,
    ) -> None:
        """One transaction: the writes, their outbox entries and the idempotency claim. A twin
        request that won is replayed; any other refused condition raises `stale`."""
        now = datetime.now(UTC)
        items = [*writes, *self._outbox_items(outbox, now)]
        if claim is not None:
            items.append(self._claim_item(claim, now))
        try:
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as error:
            self._claimed(claim, items, self._failed(error))
            raise stale from error

    def _claim_item(self, claim: IdempotencyClaim, now: datetime) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": f"IDEMPOTENCY#{claim.caller}#{claim.route}#{claim.key}",
                        "sk": "IDEMPOTENCY",
                        "payload_hash": claim.payload_hash,
                        "response": claim.response,
                        "expires_at": int((now + IDEMPOTENCY_TTL).timestamp()),
                    }
                ),
                # A record past its 24 hours counts as none, whether or not TTL has deleted it.
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": {"N": str(int(now.timestamp()))}},
            }
        }

    def _transact(self, items: list[dict[str, Any]], claim: IdempotencyClaim | None, taken: set[int]) -> None:
        """Run the transaction; map a failed condition to what it means for the caller."""
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except self._client.exceptions.TransactionCanceledException as error:
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                failed = {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
                self._claimed(claim, items, failed)
                if failed & taken and not failed - taken:
                    raise SlotTakenError("slot is taken") from error
                if not failed and "TransactionConflict" in reasons and attempt < CONFLICT_RETRIES:
                    # Another transaction in flight held one of these items; nothing was decided.
                    clock.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 (jitter, not secrets)
                    continue
                raise StaleWriteError("the record changed meanwhile") from error

    def _claimed(self, claim: IdempotencyClaim | None, items: list[dict[str, Any]], failed: set[int]) -> None:
        """When a transaction failed on its idempotency record (always its last item), a twin
        request committed first: raise its answer (or the mismatch)."""
        if claim is not None and len(items) - 1 in failed:
            self._replay(claim)

    @staticmethod
    def _failed(error: Any) -> set[int]:
        reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
        return {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}

    def replay_if_claimed(self, claim: IdempotencyClaim, now: datetime) -> None:
        """Raise the replay (or the mismatch) when this key was used before; return otherwise.
        Asked before a change's rules, so a retry of a change that went through replays its
        answer instead of meeting the rule the change itself made true (cancelled twice)."""
        try:
            self._replay(claim, now)
        except StaleWriteError:  # no such claim, or one past its 24 hours: a first attempt
            return

    def _replay(self, claim: IdempotencyClaim, now: datetime | None = None) -> None:
        item = self._client.get_item(
            TableName=self.table,
            Key={
                "pk": {"S": f"IDEMPOTENCY#{claim.caller}#{claim.route}#{claim.key}"},
                "sk": {"S": "IDEMPOTENCY"},
            },
            ConsistentRead=True,
        ).get("Item")
        if item is None:  # expired between the attempt and this read: let the caller retry
            raise StaleWriteError("idempotency record vanished")
        stored = self._plain(item)
        if now is not None and int(stored["expires_at"]) < now.timestamp():
            raise StaleWriteError("idempotency record expired")
        if stored["payload_hash"] != claim.payload_hash:
            raise IdempotencyMismatchError("key reused with another request")
        raise IdempotentReplay(stored["response"])

    def write(self, items: list[dict[str, Any]]) -> None:
        """Seed and admin writes (a provider, a patient) with their outbox entries."""
        for chunk in range(0, len(items), 100):
            self._client.transact_write_items(TransactItems=items[chunk : chunk + 100])

    def outbox_items(self, outbox: list[OutboxEntry]) -> list[dict[str, Any]]:
        return self._outbox_items(outbox, datetime.now(UTC))

    def record(self, outbox: list[OutboxEntry]) -> None:
        """Read audits and other facts that change no record: outbox entries on their own, in
        transactions of at most 100 items (DynamoDB's limit)."""
        items = self._outbox_items(outbox, datetime.now(UTC))
        for chunk in range(0, len(items), 100):
            self._client.transact_write_items(TransactItems=items[chunk : chunk + 100])
