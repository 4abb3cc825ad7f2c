"""The outbox in the clinic table: entries written with each change, until they are delivered.

Key design (access patterns in docs/architecture.md):

| item | pk | sk | gsi1 (pk / sk) |
|---|---|---|---|
| entry, pending | OUTBOX#<ref> | V#<version> | OUTBOX#PENDING#<destination>#<shard> / <due>#<ref>#<v> |
| entry, parked | OUTBOX#<ref> | V#<version> | OUTBOX#REJECTED / <parked>#<ref>#<v> |
| entry, delivered | OUTBOX#<ref> | V#<version> | (none; the item expires after 30 days) |
| lease on a FHIR resource | LEASE#<ref> | LEASE | |

The pending index is one lane per destination (the FHIR store, the bus, workflow resumptions),
each written over `SHARDS` partition keys by a stable hash of the resource, so no destination's
backlog is one hot partition and no destination's trouble sits in another's queue. `<due>` is when
the sweeper may take the entry: a new entry is the stream's for `STREAM_GRACE` first; an entry
that failed is due again after a back-off, behind the entries that have not failed, and after
`MAX_ATTEMPTS` failures it is parked (`rejected`), out of the lanes, for a person to look at.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from telehealth.adapters.dynamo import DynamoTable, stamp
from telehealth.ports import DESTINATIONS, OutboxEntry, ResourceBusyError

SHARDS = 8
STREAM_GRACE = timedelta(seconds=30)
MAX_ATTEMPTS = 5
DELIVERED_TTL = timedelta(days=30)
REJECTED = "OUTBOX#REJECTED"
LEASE_SECONDS = 30.0
LEASE_WAIT_SECONDS = 5.0


def outbox_key(entry: OutboxEntry) -> dict[str, Any]:
    return {"pk": f"OUTBOX#{entry.reference}", "sk": f"V#{entry.source_version:015d}"}


def shard_of(entry: OutboxEntry) -> int:
    """Stable across processes (unlike `hash`): every version of a resource shares a shard."""
    return zlib.crc32(entry.reference.encode()) % SHARDS


def lane_key(destination: str, shard: int) -> str:
    return f"OUTBOX#PENDING#{destination}#{shard}"


def lanes() -> Iterator[tuple[str, int]]:
    """Every (destination, shard) partition of the pending index: what a full sweep reads."""
    for destination in DESTINATIONS:
        for shard in range(SHARDS):
            yield destination, shard


def back_off(attempts: int) -> timedelta:
    """One minute after the first failure, doubling, at most half an hour."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 1800))


def entry_from_item(item: Mapping[str, Any]) -> OutboxEntry:
    """An outbox entry from a plain (deserialised) item, as the sweeper and the stream see it."""
    return OutboxEntry(
        resource=json.loads(item["resource"]),
        source_version=int(item["source_version"]),
        destination=str(item.get("destination", "fhir")),
        attempts=int(item.get("attempts", 0)),
        bundled=bool(item.get("bundled", False)),
    )


class DynamoOutbox(DynamoTable):
    shards = SHARDS

    def __init__(
        self,
        table_name: str | None = None,
        client: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(table_name, client)
        self.clock = clock
        # How long a new entry is the stream's alone: `STREAM_GRACE`, unless the environment says
        # otherwise (`OUTBOX_STREAM_GRACE_S`: the local test session's record catches up sooner).
        configured = os.environ.get("OUTBOX_STREAM_GRACE_S")
        self.stream_grace = timedelta(seconds=float(configured)) if configured else STREAM_GRACE

    def _sort_key(self, entry: OutboxEntry, due: datetime) -> str:
        return f"{stamp(due)}#{entry.reference}#{entry.source_version:015d}"

    # --- writing entries, inside the change's transaction ------------------------------------------

    def put_actions(self, entries: list[OutboxEntry], now: datetime) -> list[dict[str, Any]]:
        """The transaction's Put actions for these entries, pending in their lanes."""
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item(
                        {
                            **outbox_key(entry),
                            "resource": json.dumps(entry.resource),
                            "source_version": entry.source_version,
                            "destination": entry.destination,
                            **({"bundled": True} if entry.bundled else {}),
                            "status": "pending",
                            "gsi1pk": lane_key(entry.destination, shard_of(entry)),
                            "gsi1sk": self._sort_key(entry, now + self.stream_grace),
                        }
                    ),
                }
            }
            for entry in entries
        ]

    def latest_pending(self, reference: str) -> dict[str, Any] | None:
        """The newest version of `Type/id` still on its way to the FHIR store, or None: what a
        reader is answered with until the store has it (read-your-writes). One query of the
        resource's own partition, newest first."""
        page = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"OUTBOX#{reference}"}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        for item in page.get("Items", []):
            found = self._plain(item)
            if found.get("status") == "pending":
                resource: dict[str, Any] = json.loads(found["resource"])
                return resource
        return None

    # --- the lanes ---------------------------------------------------------------------------------

    def pending(self, destination: str, shard: int, limit: int) -> Iterator[OutboxEntry]:
        """One lane shard's entries that are due, oldest due first."""
        query = self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk < :due",
            ExpressionAttributeValues={
                ":pk": {"S": lane_key(destination, shard)},
                ":due": {"S": stamp(self.clock()) + "~"},
            },
            Limit=min(limit, 100),
        )
        for count, item in enumerate(query):
            if count >= limit:
                return
            yield entry_from_item(item)

    def _settle(
        self, entry: OutboxEntry, update: str, values: Mapping[str, Any], *, was: str = "pending"
    ) -> bool:
        """Apply `update` if the entry is still `was`; False when another deliverer got there."""
        try:
            self._client.update_item(
                TableName=self.table,
                Key=self._item(outbox_key(entry)),
                UpdateExpression=update,
                ConditionExpression="#s = :was",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self._item({":was": was, **values}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_delivered(self, entry: OutboxEntry) -> None:
        # A failed condition means the other path (stream or sweeper) delivered it first.
        self._settle(
            entry,
            "SET #s = :delivered, expires_at = :ttl REMOVE gsi1pk, gsi1sk",
            {":delivered": "delivered", ":ttl": int((self.clock() + DELIVERED_TTL).timestamp())},
        )

    def mark_rejected(self, entry: OutboxEntry, codes: tuple[str, ...]) -> None:
        """Parked: out of the lanes, kept (no TTL) with why, for a person and the redrive."""
        self._settle(
            entry,
            "SET #s = :rejected, issue_codes = :codes, gsi1pk = :parked, gsi1sk = :at",
            {
                ":rejected": "rejected",
                ":codes": list(codes) or ["unknown"],
                ":parked": REJECTED,
                ":at": self._sort_key(entry, self.clock()),
            },
        )

    def retry_later(self, entry: OutboxEntry, reason: str) -> bool:
        """The entry failed on its own account: due again after a back-off, behind the entries
        that have not failed; parked after `MAX_ATTEMPTS`. True when this parked it."""
        attempts = entry.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self.mark_rejected(entry, (f"attempts-exhausted:{reason}",))
            return True
        self._settle(
            entry,
            "SET attempts = :attempts, last_failure = :reason, gsi1sk = :due",
            {
                ":attempts": attempts,
                ":reason": reason,
                ":due": self._sort_key(entry, self.clock() + back_off(attempts)),
            },
        )
        return False

    # --- after a fix: the parked entries ----------------------------------------------------------

    def rejected(self, limit: int = 1000) -> Iterator[tuple[OutboxEntry, tuple[str, ...]]]:
        """Parked entries, oldest first, with the reasons they were parked."""
        query = self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": REJECTED}},
        )
        for count, item in enumerate(query):
            if count >= limit:
                return
            yield entry_from_item(item), tuple(item.get("issue_codes", ()))

    def redrive(self, entry: OutboxEntry) -> bool:
        """Back into its lane with no attempts counted: the stream hands it to the relay again."""
        return self._settle(
            entry,
            "SET #s = :pending, gsi1pk = :lane, gsi1sk = :due REMOVE attempts, issue_codes, last_failure",
            {
                ":pending": "pending",
                ":lane": lane_key(entry.destination, shard_of(entry)),
                ":due": self._sort_key(entry, self.clock() + self.stream_grace),
            },
            was="rejected",
        )

    # --- one writer per resource ------------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self, reference: str) -> Iterator[None]:
        """Hold the write of one FHIR resource: its read-compare-write runs alone. A lease left by
        a crashed writer lapses after `LEASE_SECONDS`. Raises ResourceBusyError after waiting."""
        key = self._item({"pk": f"LEASE#{reference}", "sk": "LEASE"})
        holder = uuid.uuid4().hex
        give_up = time.monotonic() + LEASE_WAIT_SECONDS
        while True:
            now = time.time()
            try:
                self._client.put_item(
                    TableName=self.table,
                    Item={
                        **key,
                        **self._item(
                            {
                                "holder": holder,
                                "until": int(now + LEASE_SECONDS),
                                "expires_at": int(now + 3600),
                            }
                        ),
                    },
                    ConditionExpression="attribute_not_exists(pk) OR #until < :now",
                    ExpressionAttributeNames={"#until": "until"},
                    ExpressionAttributeValues=self._item({":now": int(now)}),
                )
                break
            except self._client.exceptions.ConditionalCheckFailedException:
                if time.monotonic() > give_up:
                    raise ResourceBusyError(reference) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
                self._client.delete_item(
                    TableName=self.table,
                    Key=key,
                    ConditionExpression="holder = :me",
                    ExpressionAttributeValues=self._item({":me": holder}),
                )
