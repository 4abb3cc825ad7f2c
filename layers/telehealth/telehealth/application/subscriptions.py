"""Subscriptions (the R5 Backport on R4): the facade's side, where a health system's software
creates, reads, turns off and asks the `$status` of its subscriptions; and the notices' side,
where the tenant's bus events become notifications delivered to the subscribers, with the
handshake, heartbeats and retries the backport describes.

Subscriptions live in the clinic table, never in HealthLake (it has none). Each has a signing
secret of its own, made and sealed by the delivery function (the one on the egress path, the only
one that opens it): the health system is told it once, in the answer to its create, and checks
every notification's `X-Telehealth-Signature` with it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from telehealth.api_conventions import APPOINTMENT_EVENTS, ENCOUNTER_EVENTS, SUBSCRIPTION_REQUESTED
from telehealth.application.callers import Caller, NotFoundError
from telehealth.domain.appointments import Actor
from telehealth.domain.subscriptions import (
    Delivered,
    Delivery,
    NotificationKind,
    Subscription,
    SubscriptionState,
    Topic,
)
from telehealth.fhir import subscriptions as fhir
from telehealth.fhir.projection import encounter_id
from telehealth.ports import IdempotencyClaim, OutboxEntry, StaleWriteError

logger = logging.getLogger(__name__)

MAX_LISTED = 100  # a health system's subscriptions, all on one page


@dataclass(frozen=True)
class KeptSubscription:
    """A subscription as the table keeps it: its sealed signing secret, and the facade's base URL
    as its client addressed it (notifications name the subscription and the focus there)."""

    subscription: Subscription
    sealed_secret: str
    base_url: str


class SubscriptionStore(Protocol):
    def create(
        self, kept: KeptSubscription, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        """With the request's Idempotency-Key record in the same transaction (a twin that
        committed first: IdempotentReplay)."""
        ...

    def subscription(self, subscription_id: str) -> KeptSubscription | None: ...

    def subscriptions(self) -> list[KeptSubscription]:
        """Every subscription of the tenant (they are few: a health system's handful)."""
        ...

    def save(self, subscription: Subscription) -> None:
        """At its version, on the one before (StaleWriteError otherwise)."""
        ...

    def count(self, subscription_id: str) -> Subscription | None:
        """One more event told: the subscription with its count moved on, atomically, if it is
        active; None otherwise."""
        ...

    def owe(self, delivery: Delivery) -> None: ...

    def due(self, now: datetime) -> list[Delivery]: ...

    def settle(self, delivery: Delivery) -> None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


class SubscriberDelivery(Protocol):
    def issue(self, subscription_id: str) -> tuple[str, str]:
        """A new signing secret: (the secret, told to the subscriber once; its sealed form)."""
        ...

    def deliver(
        self, subscription_id: str, endpoint: str, sealed_secret: str, body: Mapping[str, Any]
    ) -> Delivered:
        """One signed POST of `body` to the endpoint."""
        ...


class DeadLetters(Protocol):
    def set_aside(self, delivery: Delivery, reason: str) -> None:
        """A notification whose attempts ran out, kept on the dead-letter queue (ids only)."""
        ...


# --- the facade's side ------------------------------------------------------------------------------


class SubscriptionDesk:
    def __init__(
        self, store: SubscriptionStore, delivery: SubscriberDelivery, clock: Callable[[], datetime]
    ) -> None:
        self.store, self.delivery, self.clock = store, delivery, clock

    def create(
        self,
        caller: Caller,
        resource: Mapping[str, Any],
        base_url: str,
        allowed_domains: Sequence[str],
        claim_of: Callable[[Subscription, str], IdempotencyClaim | None] = lambda *_: None,
    ) -> tuple[Subscription, str]:
        """A subscription `requested`, its handshake on its way (through the bus, so it leaves
        only once the subscription is committed); and its signing secret, which is not kept in
        the clear anywhere and is told this once (a retry with the same Idempotency-Key gets the
        same answer back, kept sealed by that key: `claim_of`). SubscriptionRuleError: what is not
        taken."""
        caller.require(Actor.MACHINE)
        wanted = fhir.asked(resource, allowed_domains)
        now = self.clock()
        subscription = Subscription(
            str(uuid.uuid4()), caller.subject, wanted.topic, wanted.endpoint, wanted.heartbeat_s, now
        )
        from telehealth.application.booking import announce  # the api's, loaded already
        from telehealth.events import SubscriptionRequested

        secret, sealed = self.delivery.issue(subscription.subscription_id)
        requested = SubscriptionRequested(subscription_id=subscription.subscription_id)
        self.store.create(
            KeptSubscription(subscription, sealed, base_url),
            [announce(requested, now)],
            claim_of(subscription, secret),
        )
        return subscription, secret

    def read(self, caller: Caller, subscription_id: str) -> Subscription:
        return self._own(caller, subscription_id).subscription

    def search(self, caller: Caller) -> list[Subscription]:
        caller.require(Actor.MACHINE)
        mine = [k.subscription for k in self.store.subscriptions() if k.subscription.owner == caller.subject]
        return sorted(mine, key=lambda s: s.created_at)[:MAX_LISTED]

    def turn_off(self, caller: Caller, subscription_id: str) -> Subscription:
        """Its owner's delete: nothing more is delivered; it reads as `off` from then on."""
        found = self._own(caller, subscription_id).subscription
        if found.state is not SubscriptionState.OFF:
            # Events' counts move its version on meanwhile: read again and retried, as any change.
            changed(self.store, subscription_id, lambda s: s.turned_off())
        return replace(found, state=SubscriptionState.OFF)

    def status(self, caller: Caller, subscription_id: str, base_url: str) -> dict[str, Any]:
        """`$status`: a searchset Bundle of the backport's status Parameters."""
        found = self._own(caller, subscription_id).subscription
        state = fhir.status(found, base_url, NotificationKind.QUERY_STATUS)
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 1,
            "entry": [{"fullUrl": f"urn:uuid:{state['id']}", "resource": state, "search": {"mode": "match"}}],
        }

    def _own(self, caller: Caller, subscription_id: str) -> KeptSubscription:
        caller.require(Actor.MACHINE)
        found = self.store.subscription(subscription_id)
        # Another client's is as absent as one that never was.
        if found is None or found.subscription.owner != caller.subject:
            raise NotFoundError("No such subscription.")
        return found


# --- the notices' side --------------------------------------------------------------------------------

# The bus events each topic tells of (by detail-type: the notices function need not load the
# events' models); a unit test holds them to the catalogue.
TOLD: dict[str, tuple[Topic, ...]] = {
    kind: tuple(
        topic
        for topic, told in ((Topic.APPOINTMENT, APPOINTMENT_EVENTS), (Topic.ENCOUNTER, ENCOUNTER_EVENTS))
        if kind in told
    )
    for kind in (*APPOINTMENT_EVENTS, *ENCOUNTER_EVENTS)
}


def focus_of(topic: Topic, detail: Mapping[str, Any]) -> str:
    """The resource an event changed, for a topic: the appointment, or the encounter of its
    version (a moved visit is a new encounter)."""
    appointment_id = str(detail["appointment_id"])
    if topic is Topic.APPOINTMENT:
        return f"Appointment/{appointment_id}"
    return f"Encounter/{encounter_id(appointment_id, int(detail['version']))}"


class SubscriptionNotices:
    def __init__(
        self,
        store: SubscriptionStore,
        delivery: SubscriberDelivery,
        dead_letters: DeadLetters,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.delivery, self.dead_letters, self.clock = store, delivery, dead_letters, clock

    def on_event(self, detail_type: str, detail: Mapping[str, Any], at: datetime) -> int:
        """Each active subscription of the topics the event tells of, told (its count moved on
        first, so numbers are never given twice); how many were told."""
        if detail_type == SUBSCRIPTION_REQUESTED:
            return self.handshake(str(detail["subscription_id"]))
        topics = TOLD.get(detail_type, ())
        told = 0
        for kept in self.store.subscriptions():
            s = kept.subscription
            if s.topic not in topics or not s.notified:
                continue
            counted = self.store.count(s.subscription_id)
            if counted is None:  # turned off or failed meanwhile
                continue
            event = (counted.events_since_start, at, focus_of(s.topic, detail))
            delivery = Delivery(str(uuid.uuid4()), s.subscription_id, NotificationKind.EVENT, at, (event,))
            self._attempt(replace(kept, subscription=counted), delivery)
            told += 1
        return told

    def handshake(self, subscription_id: str) -> int:
        kept = self.store.subscription(subscription_id)
        if kept is None or kept.subscription.state is not SubscriptionState.REQUESTED:
            return 0
        now = self.clock()
        self._attempt(kept, Delivery(str(uuid.uuid4()), subscription_id, NotificationKind.HANDSHAKE, now))
        return 1

    def tick(self) -> tuple[int, int]:
        """The minute's work: heartbeats due, and retries due. (heartbeats sent, retries made)."""
        now = self.clock()
        beats = 0
        for kept in self.store.subscriptions():
            if kept.subscription.heartbeat_due(now):
                beat = Delivery(
                    str(uuid.uuid4()), kept.subscription.subscription_id, NotificationKind.HEARTBEAT, now
                )
                self._attempt(kept, beat)
                beats += 1
        retried = 0
        for owed in self.store.due(now):
            target = self.store.subscription(owed.subscription_id)
            if target is None or target.subscription.state is SubscriptionState.OFF:
                self.store.settle(owed)  # nobody to tell any more
                continue
            self._attempt(target, owed)
            retried += 1
        return beats, retried

    def _attempt(self, kept: KeptSubscription, delivery: Delivery) -> None:
        """One attempt; on success the subscription is `delivered` (and `active` after its
        handshake); on failure, a retry owed later, or after the last, one failed delivery and
        the notification on the dead-letter queue."""
        s = kept.subscription
        kind = delivery.kind
        body = fhir.notification(s, kept.base_url, kind, self.clock(), delivery.events)
        outcome = self.delivery.deliver(s.subscription_id, s.endpoint, kept.sealed_secret, body)
        now = self.clock()
        if outcome.ok:
            if delivery.attempts:
                self.store.settle(delivery)
            handshaken = kind is NotificationKind.HANDSHAKE
            self._saved(
                s.subscription_id, lambda c: c.delivered(now).handshaken() if handshaken else c.delivered(now)
            )
            return
        logger.info(
            "notification %s of subscription %s not delivered (%s)",
            kind.value,
            s.subscription_id,
            outcome.reason,
        )
        later = delivery.retried(now)
        if later is not None:
            self.store.owe(later)
            return
        if delivery.attempts:
            self.store.settle(delivery)
        self.dead_letters.set_aside(delivery, outcome.reason)
        handshake = kind is NotificationKind.HANDSHAKE
        self._saved(s.subscription_id, lambda c: c.failed(outcome.reason, handshake=handshake))

    def _saved(self, subscription_id: str, change: Callable[[Subscription], Subscription]) -> None:
        try:
            changed(self.store, subscription_id, change)
        except StaleWriteError:  # the delivery happened: its record is what is lost, not the event
            logger.warning(
                "subscription %s changed under five attempts to record a delivery", subscription_id
            )


def changed(
    store: SubscriptionStore, subscription_id: str, change: Callable[[Subscription], Subscription]
) -> None:
    """The change made to the subscription as it is now, at its next version: an event's count
    may move it on meanwhile, so it is read again and retried."""
    for _ in range(5):
        kept = store.subscription(subscription_id)
        if kept is None:
            return
        before = kept.subscription
        try:
            store.save(replace(change(before), version=before.version + 1))
            return
        except StaleWriteError:
            continue
    raise StaleWriteError(f"subscription {subscription_id} kept changing under five attempts")
