"""Subscriptions and the notifications owed to them, in the clinic table.

| item | pk | sk | gsi1 (pk / sk) |
|---|---|---|---|
| subscription | SUBSCRIPTION#<id> | SUBSCRIPTION | SUBSCRIPTIONS / <id> |
| notification owed (a retry) | DELIVERY#<delivery id> | DELIVERY | DELIVERIES / <due>#<delivery id> |

A tenant has a health system's handful of subscriptions: the notices read them all, one query of
one partition, at each event. A retry owed sits in the `DELIVERIES` partition by when it is due,
so the minute's tick reads those due with one query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.table_store import TableStore
from telehealth.application.subscriptions import KeptSubscription
from telehealth.domain.subscriptions import Delivery, NotificationKind, Subscription, SubscriptionState, Topic
from telehealth.ports import IdempotencyClaim, OutboxEntry, StaleWriteError

SUBSCRIPTIONS, DELIVERIES = "SUBSCRIPTIONS", "DELIVERIES"


def _kept(p: Mapping[str, Any]) -> KeptSubscription:
    subscription = Subscription(
        subscription_id=str(p["pk"]).removeprefix("SUBSCRIPTION#"),
        owner=str(p["owner"]),
        topic=Topic(p["topic"]),
        endpoint=str(p["endpoint"]),
        heartbeat_s=int(p["heartbeat_s"]) if "heartbeat_s" in p else None,
        created_at=from_stamp(str(p["created_at"])),
        state=SubscriptionState(p["state"]),
        events_since_start=int(p.get("events", 0)),
        failures=int(p.get("failures", 0)),
        error=str(p.get("error", "")),
        version=int(p["version"]),
        last_sent_at=from_stamp(str(p["last_sent_at"])) if "last_sent_at" in p else None,
    )
    return KeptSubscription(subscription, str(p["sealed_secret"]), str(p["base_url"]))


def _delivery(p: Mapping[str, Any]) -> Delivery:
    events = tuple((int(n), from_stamp(at), str(focus)) for n, at, focus in json.loads(str(p["events"])))
    return Delivery(
        delivery_id=str(p["pk"]).removeprefix("DELIVERY#"),
        subscription_id=str(p["subscription_id"]),
        kind=NotificationKind(p["kind"]),
        due=from_stamp(str(p["due"])),
        events=events,
        attempts=int(p["attempts"]),
    )


class DynamoSubscriptionStore(TableStore):
    def _state(self, s: Subscription) -> dict[str, Any]:
        return {
            "state": s.state.value,
            "events": s.events_since_start,
            "failures": s.failures,
            "error": s.error or None,
            "version": s.version,
            "last_sent_at": stamp(s.last_sent_at) if s.last_sent_at else None,
        }

    def create(
        self, kept: KeptSubscription, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        s = kept.subscription
        item = self._item(
            {
                "pk": f"SUBSCRIPTION#{s.subscription_id}",
                "sk": "SUBSCRIPTION",
                "owner": s.owner,
                "topic": s.topic.value,
                "endpoint": s.endpoint,
                "heartbeat_s": s.heartbeat_s,
                "created_at": stamp(s.created_at),
                "sealed_secret": kept.sealed_secret,
                "base_url": kept.base_url,
                "gsi1pk": SUBSCRIPTIONS,
                "gsi1sk": s.subscription_id,
                **self._state(s),
            }
        )
        put = {
            "Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }
        now = datetime.now(UTC)
        items = [put, *self._outbox_items(outbox, now), *([self._claim_item(claim, now)] if claim else [])]
        self._transact(items, claim, taken=set())

    def subscription(self, subscription_id: str) -> KeptSubscription | None:
        found = self._get(f"SUBSCRIPTION#{subscription_id}", "SUBSCRIPTION")
        return _kept(found) if found else None

    def subscriptions(self) -> list[KeptSubscription]:
        # The index is eventually consistent: a subscription created a moment ago may be missed by
        # an event told at once (its handshake has not made it active yet anyway).
        return [
            _kept(p)
            for p in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": SUBSCRIPTIONS}},
            )
        ]

    def save(self, subscription: Subscription) -> None:
        state = self._state(subscription)
        names = {f"#{k}": k for k in state}
        present = {k: v for k, v in state.items() if v is not None}
        absent = [k for k, v in state.items() if v is None]
        update = "SET " + ", ".join(f"#{k} = :{k}" for k in present)
        if absent:
            update += " REMOVE " + ", ".join(f"#{k}" for k in absent)
        try:
            self._client.update_item(
                TableName=self.table,
                Key={
                    "pk": {"S": f"SUBSCRIPTION#{subscription.subscription_id}"},
                    "sk": {"S": "SUBSCRIPTION"},
                },
                UpdateExpression=update,
                ConditionExpression="#version = :before",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=self._item(
                    {**{f":{k}": v for k, v in present.items()}, ":before": subscription.version - 1}
                ),
            )
        except self._client.exceptions.ConditionalCheckFailedException as error:
            raise StaleWriteError("the subscription changed meanwhile") from error

    def count(self, subscription_id: str) -> Subscription | None:
        try:
            found = self._client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"SUBSCRIPTION#{subscription_id}"}, "sk": {"S": "SUBSCRIPTION"}},
                UpdateExpression="ADD events :one, version :one",
                ConditionExpression="#state = :active",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":active": {"S": SubscriptionState.ACTIVE.value},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return _kept(self._plain(found)).subscription

    def owe(self, delivery: Delivery) -> None:
        self._client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": f"DELIVERY#{delivery.delivery_id}",
                    "sk": "DELIVERY",
                    "subscription_id": delivery.subscription_id,
                    "kind": delivery.kind.value,
                    "due": stamp(delivery.due),
                    "attempts": delivery.attempts,
                    "events": json.dumps([[n, stamp(at), focus] for n, at, focus in delivery.events]),
                    "gsi1pk": DELIVERIES,
                    "gsi1sk": f"{stamp(delivery.due)}#{delivery.delivery_id}",
                }
            ),
        )

    def due(self, now: datetime) -> list[Delivery]:
        return [
            _delivery(p)
            for p in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk <= :now",
                ExpressionAttributeValues={":pk": {"S": DELIVERIES}, ":now": {"S": f"{stamp(now)}#~"}},
            )
        ]

    def settle(self, delivery: Delivery) -> None:
        self._client.delete_item(
            TableName=self.table,
            Key={"pk": {"S": f"DELIVERY#{delivery.delivery_id}"}, "sk": {"S": "DELIVERY"}},
        )
