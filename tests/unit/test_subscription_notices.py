"""The notices' side of subscriptions over fakes, with a clock we move: the handshake makes a
subscription active; events are numbered once each; a refused delivery is tried again after 1, 2,
4 and 8 minutes, then set aside on the dead-letter queue and counted; five failed deliveries in a
row set the subscription to `error`; heartbeats go out when nothing else has for a period; a
subscription turned off is told nothing more. Every id is synthetic."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth.api_conventions import SUBSCRIBED_EVENTS, SUBSCRIPTION_REQUESTED
from telehealth.application.callers import Caller, NotFoundError
from telehealth.application.subscriptions import (
    TOLD,
    KeptSubscription,
    SubscriptionDesk,
    SubscriptionNotices,
)
from telehealth.domain.appointments import Actor
from telehealth.domain.subscriptions import (
    MAX_ATTEMPTS,
    MAX_FAILURES,
    Delivered,
    Delivery,
    SubscriptionRuleError,
    SubscriptionState,
)
from telehealth.events import SubscriptionRequested
from telehealth.ports import OutboxEntry, StaleWriteError

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BASE = "https://api.example/fhir/r4"
CLIENT = Caller(Actor.MACHINE, "ehr", frozenset({"system/Subscription.cruds"}), frozenset())
OTHER = Caller(Actor.MACHINE, "ehr-2", frozenset({"system/Subscription.cruds"}), frozenset())
HOOK = "https://hooks.hs.example/notify"


class Store:
    def __init__(self) -> None:
        self.kept: dict[str, KeptSubscription] = {}
        self.owed: dict[str, Delivery] = {}
        self.outbox: list[OutboxEntry] = []

    def create(self, kept: KeptSubscription, outbox: list[OutboxEntry], claim: object = None) -> None:
        self.kept[kept.subscription.subscription_id] = kept
        self.outbox += outbox

    def subscription(self, subscription_id: str) -> KeptSubscription | None:
        return self.kept.get(subscription_id)

    def subscriptions(self) -> list[KeptSubscription]:
        return list(self.kept.values())

    def save(self, subscription: Any) -> None:
        on_file = self.kept[subscription.subscription_id]
        if on_file.subscription.version != subscription.version - 1:
            raise StaleWriteError("changed")
        self.kept[subscription.subscription_id] = replace(on_file, subscription=subscription)

    def count(self, subscription_id: str) -> Any:
        kept = self.kept[subscription_id]
        if kept.subscription.state is not SubscriptionState.ACTIVE:
            return None
        counted, _ = kept.subscription.counted()
        self.kept[subscription_id] = replace(kept, subscription=counted)
        return counted

    def owe(self, delivery: Delivery) -> None:
        self.owed[delivery.delivery_id] = delivery

    def due(self, now: datetime) -> list[Delivery]:
        return [d for d in self.owed.values() if d.due <= now]

    def settle(self, delivery: Delivery) -> None:
        self.owed.pop(delivery.delivery_id, None)

    def record(self, outbox: list[OutboxEntry]) -> None:
        self.outbox += outbox


class Subscriber:
    """The delivery function as the notices see it: answers as the endpoint is set to."""

    def __init__(self) -> None:
        self.up = True
        self.posted: list[Mapping[str, Any]] = []

    def issue(self, subscription_id: str) -> tuple[str, str]:
        return f"secret-{subscription_id}", f"sealed-{subscription_id}"

    def deliver(self, subscription_id: str, endpoint: str, sealed: str, body: Mapping[str, Any]) -> Delivered:
        assert sealed == f"sealed-{subscription_id}" and endpoint == HOOK
        if not self.up:
            return Delivered(False, "The endpoint answered HTTP 503.")
        self.posted.append(body)
        return Delivered(True)


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[Delivery, str]] = []

    def set_aside(self, delivery: Delivery, reason: str) -> None:
        self.letters.append((delivery, reason))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _resource(heartbeat: int | None = None, endpoint: str = HOOK) -> dict[str, Any]:
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"}
    if heartbeat:
        channel["extension"] = [
            {
                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period",
                "valueUnsignedInt": heartbeat,
            }
        ]
    return {
        "resourceType": "Subscription",
        "criteria": "urn:telehealth:subscription-topic:appointment",
        "channel": channel,
    }


def _kind(body: Mapping[str, Any]) -> str:
    status = body["entry"][0]["resource"]
    return str(next(p["valueCode"] for p in status["parameter"] if p["name"] == "type"))


def _events(body: Mapping[str, Any]) -> str:
    status = body["entry"][0]["resource"]
    return str(
        next(p["valueString"] for p in status["parameter"] if p["name"] == "events-since-subscription-start")
    )


@pytest.fixture
def setup() -> tuple[Store, Subscriber, DeadLetters, Clock, SubscriptionDesk, SubscriptionNotices]:
    store, subscriber, dead, clock = Store(), Subscriber(), DeadLetters(), Clock()
    desk = SubscriptionDesk(store, subscriber, clock)
    notices = SubscriptionNotices(store, subscriber, dead, clock)
    return store, subscriber, dead, clock, desk, notices


BOOKED = {"appointment_id": "appt-1", "version": 1, "provider_id": "dr-a", "patient_id": "p-1"}


def test_the_handshake_activates_and_each_event_is_numbered_once(setup: Any) -> None:
    store, subscriber, _, _, desk, notices = setup
    made, secret = desk.create(CLIENT, _resource(), BASE, ["hooks.hs.example"])
    assert secret == f"secret-{made.subscription_id}" and made.state is SubscriptionState.REQUESTED
    (announced,) = store.outbox
    assert announced.resource["detail-type"] == SubscriptionRequested.detail_type
    assert (
        notices.on_event(SubscriptionRequested.detail_type, {"subscription_id": made.subscription_id}, NOW)
        == 1
    )
    assert [_kind(b) for b in subscriber.posted] == ["handshake"]
    assert desk.read(CLIENT, made.subscription_id).state is SubscriptionState.ACTIVE
    for n in (1, 2):
        assert notices.on_event("Appointment.Booked", BOOKED, NOW) == 1
        assert _events(subscriber.posted[-1]) == str(n)
    focus = subscriber.posted[-1]["entry"][1]["fullUrl"]
    assert focus == f"{BASE}/Appointment/appt-1"
    # Events of no topic tell nobody; a subscriber to encounters is not told of bookings.
    assert notices.on_event("Visit.ReminderSent", BOOKED, NOW) == 0
    encounters, _ = desk.create(
        CLIENT,
        {**_resource(), "criteria": "urn:telehealth:subscription-topic:encounter"},
        BASE,
        ["hooks.hs.example"],
    )
    notices.handshake(encounters.subscription_id)
    assert notices.on_event("Appointment.Booked", BOOKED, NOW) == 1  # the appointment's subscriber only
    assert notices.on_event("Visit.CheckedIn", BOOKED, NOW) == 1  # the encounter's only
    assert subscriber.posted[-1]["entry"][1]["fullUrl"] == f"{BASE}/Encounter/appt-1-v1"
    # Another client's subscription is not found; the owner's $status counts the two events.
    with pytest.raises(NotFoundError):
        desk.read(OTHER, made.subscription_id)
    status = desk.status(CLIENT, made.subscription_id, BASE)["entry"][0]["resource"]
    assert (
        next(p for p in status["parameter"] if p["name"] == "events-since-subscription-start")["valueString"]
        == "3"
    )


def test_a_refused_delivery_is_retried_later_each_time_then_set_aside_and_counted(setup: Any) -> None:
    store, subscriber, dead, clock, desk, notices = setup
    made, _ = desk.create(CLIENT, _resource(), BASE, ["hooks.hs.example"])
    notices.handshake(made.subscription_id)
    subscriber.up = False
    notices.on_event("Appointment.Cancelled", BOOKED, NOW)
    (owed,) = store.owed.values()
    assert (owed.attempts, owed.due) == (1, NOW + timedelta(minutes=1))
    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        assert notices.tick() == (0, 0)  # not due yet
        (owed,) = store.owed.values()
        waits.append(owed.due - clock.now)
        clock.now = owed.due
        assert notices.tick()[1] == 1
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert store.owed == {} and len(dead.letters) == 1
    letter, reason = dead.letters[0]
    assert letter.events[0][0] == 1 and "503" in reason
    after = desk.read(CLIENT, made.subscription_id)
    assert (after.state, after.failures) == (SubscriptionState.ACTIVE, 1) and "503" in after.error
    # A delivery through again clears the count.
    subscriber.up = True
    notices.on_event("Appointment.Booked", BOOKED, clock.now)
    assert desk.read(CLIENT, made.subscription_id).failures == 0


def test_five_failed_deliveries_in_a_row_set_error_and_nothing_more_is_told(setup: Any) -> None:
    _, subscriber, dead, clock, desk, notices = setup
    made, _ = desk.create(CLIENT, _resource(), BASE, ["hooks.hs.example"])
    notices.handshake(made.subscription_id)
    subscriber.up = False
    for _ in range(MAX_FAILURES):
        notices.on_event("Appointment.Booked", BOOKED, clock.now)
    for _ in range(MAX_ATTEMPTS):
        clock.now += timedelta(minutes=10)
        notices.tick()
    assert len(dead.letters) == MAX_FAILURES
    assert desk.read(CLIENT, made.subscription_id).state is SubscriptionState.ERROR
    subscriber.up = True
    assert notices.on_event("Appointment.Booked", BOOKED, clock.now) == 0


def test_a_handshake_never_answered_sets_error_at_once(setup: Any) -> None:
    _, subscriber, dead, clock, desk, notices = setup
    subscriber.up = False
    made, _ = desk.create(CLIENT, _resource(), BASE, ["hooks.hs.example"])
    notices.handshake(made.subscription_id)
    for _ in range(MAX_ATTEMPTS):
        clock.now += timedelta(minutes=10)
        notices.tick()
    assert desk.read(CLIENT, made.subscription_id).state is SubscriptionState.ERROR
    assert [d.kind.value for d, _ in dead.letters] == ["handshake"]


def test_heartbeats_go_when_nothing_else_did_for_the_period_and_stop_when_turned_off(setup: Any) -> None:
    _, subscriber, _, clock, desk, notices = setup
    made, _ = desk.create(CLIENT, _resource(heartbeat=120), BASE, ["hooks.hs.example"])
    notices.handshake(made.subscription_id)
    clock.now += timedelta(seconds=119)
    assert notices.tick() == (0, 0)
    clock.now += timedelta(seconds=1)
    assert notices.tick() == (1, 0) and _kind(subscriber.posted[-1]) == "heartbeat"
    clock.now += timedelta(seconds=60)
    notices.on_event("Appointment.Booked", BOOKED, clock.now)  # an event resets the period
    clock.now += timedelta(seconds=90)
    assert notices.tick() == (0, 0)
    desk.turn_off(CLIENT, made.subscription_id)
    clock.now += timedelta(hours=1)
    posted = len(subscriber.posted)
    assert notices.tick() == (0, 0) and notices.on_event("Appointment.Booked", BOOKED, clock.now) == 0
    assert len(subscriber.posted) == posted


def test_an_endpoint_off_the_allow_list_is_refused_at_creation(setup: Any) -> None:
    store, _, _, _, desk, _ = setup
    with pytest.raises(SubscriptionRuleError) as refused:
        desk.create(
            CLIENT, _resource(endpoint="https://hooks.elsewhere.example/x"), BASE, ["hooks.hs.example"]
        )
    assert "hooks.elsewhere.example" in str(refused.value) and store.kept == {}


def test_the_topics_events_are_the_ones_the_rule_sends_and_the_catalogue_has() -> None:
    from telehealth.events import CATALOGUE

    assert set(TOLD) | {SUBSCRIPTION_REQUESTED} == set(SUBSCRIBED_EVENTS)
    assert set(SUBSCRIBED_EVENTS) <= {e.detail_type for e in CATALOGUE}
    assert SubscriptionRequested.detail_type == SUBSCRIPTION_REQUESTED


def test_a_notification_signature_verifies_only_for_its_secret_body_and_time() -> None:
    from telehealth.adapters.subscriber_delivery import SubscriberHttp, signature, verify

    body, at = b'{"resourceType":"Bundle"}', 1_800_000_000
    header = signature("s3cret", body, at)
    assert verify("s3cret", body, header, now=at + 10)
    assert not verify("s3cret", body + b" ", header, now=at)
    assert not verify("other", body, header, now=at)
    assert not verify("s3cret", body, header, now=at + 301)  # replayed later
    assert not verify("s3cret", body, "v1=abc", now=at)
    # The local stand-in for DNS sends a subscriber's host elsewhere, path and query kept.
    routed = SubscriberHttp(seal=object(), routes={"hooks.hs.example": "http://127.0.0.1:9"})  # type: ignore[arg-type]
    assert routed._url("https://hooks.hs.example/fhir/x?y=1") == "http://127.0.0.1:9/fhir/x?y=1"
    assert routed._url("https://other.example/x") == "https://other.example/x"


def test_a_kept_create_answer_holds_the_secret_sealed_by_the_key_and_gives_it_back() -> None:
    from aws_lambda_powertools.event_handler import Response

    from functions.api.idempotent import SEALED, KeyedRequest
    from telehealth.fhir.subscriptions import SIGNING_SECRET_PATH

    answer = {
        "resourceType": "Subscription",
        "id": "s-1",
        "extension": [{"url": "u", "valueString": "s3cret"}],
    }
    request = KeyedRequest(
        caller="ehr",
        route="POST /fhir/{proxy+}",
        key="k" * 12,
        payload_hash="h",
        sealed=(SIGNING_SECRET_PATH,),
    )
    kept = request.kept(
        Response(status_code=201, content_type="application/fhir+json", body=json.dumps(answer))
    )
    assert "s3cret" not in kept and SEALED in kept
    assert json.loads(str(request.replayed(kept).body)) == answer
