"""Subscriptions as the R5 Backport IG defines them for R4: what a health system's Subscription
may ask (and the 422s for what it may not, the domain off the allow-list named), the life of a
subscription (handshake, events counted, failures until `error`), and the notification Bundles,
each valid R4 with the status first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth.domain.subscriptions import (
    MAX_FAILURES,
    NotificationKind,
    Subscription,
    SubscriptionRuleError,
    SubscriptionState,
    Topic,
    firewall_allows,
)
from telehealth.fhir.subscriptions import (
    HEARTBEAT_PERIOD,
    PAYLOAD_CONTENT,
    asked,
    notification,
    subscription,
)
from tests.unit.test_record_projection import valid

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
BASE = "https://api.riverside.example/fhir/r4"
ALLOWED = ("hooks.riverside-health.example", "*.interfaces.riverside-health.example")


def posted(**channel: Any) -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Appointments for the hospital's scheduling system",
        "criteria": Topic.APPOINTMENT.value,
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://hooks.riverside-health.example/fhir/notify",
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "id-only"}]},
            "extension": [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 300}],
            **channel,
        },
    }


def test_a_backport_subscription_is_read_and_what_the_platform_does_not_take_is_a_named_refusal() -> None:
    valid(posted())
    taken = asked(posted(), ALLOWED)
    assert (taken.topic, taken.endpoint, taken.heartbeat_s) == (
        Topic.APPOINTMENT,
        "https://hooks.riverside-health.example/fhir/notify",
        300,
    )
    below = asked(posted(endpoint="https://a.interfaces.riverside-health.example/n", extension=[]), ALLOWED)
    assert below.heartbeat_s is None
    refused = {
        "subscription-topic": {**posted(), "criteria": "Appointment?status=booked"},
        "subscription-channel": posted(type="websocket"),
        "subscription-payload": posted(
            _payload={"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "full-resource"}]}
        ),
        "subscription-heartbeat": posted(extension=[{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 5}]),
    }
    for kind, resource in refused.items():
        with pytest.raises(SubscriptionRuleError) as error:
            asked(resource, ALLOWED)
        assert error.value.kind == kind, (kind, error.value)
    for endpoint in (
        "http://hooks.riverside-health.example/n",  # not HTTPS
        "https://192.0.2.10/n",  # an address gets past a firewall of names
        "https://user:pw@hooks.riverside-health.example/n",
    ):
        with pytest.raises(SubscriptionRuleError) as error:
            asked(posted(endpoint=endpoint), ALLOWED)
        assert error.value.kind == "subscription-endpoint", endpoint
    with pytest.raises(SubscriptionRuleError) as off_list:
        asked(posted(endpoint="https://interfaces.riverside-health.example/n"), ALLOWED)  # *.d is not d
    assert off_list.value.kind == "subscription-domain-not-allowed"
    assert "interfaces.riverside-health.example" in str(off_list.value)


def test_the_firewalls_matching_is_a_domain_itself_below_a_star_and_everything_for_a_star() -> None:
    assert firewall_allows("API.Stripe.com.", ["api.stripe.com"])
    assert firewall_allows("a.b.example", ["*.example"]) and not firewall_allows("example", ["*.example"])
    assert firewall_allows("anything.example", ["*"]) and not firewall_allows("evil-example", ["*.example"])


def _made() -> Subscription:
    return Subscription(
        "sub-1", "ehr-client", Topic.ENCOUNTER, "https://hooks.riverside-health.example/n", None, NOW
    )


def test_a_subscription_is_active_once_its_handshake_is_delivered_and_in_error_after_failing_in_a_row() -> (
    None
):
    s = _made()
    assert s.state is SubscriptionState.REQUESTED and not s.notified
    s = s.handshaken()
    assert s.state is SubscriptionState.ACTIVE and s.notified
    s, first = s.counted()
    s, second = s.counted()
    assert (first, second, s.events_since_start) == (1, 2, 2)
    for _ in range(MAX_FAILURES - 1):
        s = s.failed("the endpoint answered 503")
    assert s.state is SubscriptionState.ACTIVE and s.failures == MAX_FAILURES - 1
    assert s.delivered(NOW).failures == 0  # one delivery through: the count starts again
    s = s.failed("the endpoint did not answer")
    assert (s.state, s.error) == (SubscriptionState.ERROR, "the endpoint did not answer")
    assert s.handshaken().state is SubscriptionState.ERROR  # only a requested one is made active
    assert _made().turned_off().handshaken().state is SubscriptionState.OFF
    off = _made().handshaken().turned_off()
    for _ in range(MAX_FAILURES):  # deliveries still under way when it was turned off
        off = off.failed("the endpoint answered 503")
    assert off.state is SubscriptionState.OFF


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_each_notification_is_a_valid_history_bundle_with_the_status_first(kind: NotificationKind) -> None:
    s, number = _made().handshaken().counted()
    events = (
        [(number, NOW - timedelta(seconds=3), "Encounter/01JENC")] if kind is NotificationKind.EVENT else []
    )
    bundle = valid(notification(s, BASE, kind, NOW, events))
    assert (bundle["type"], bundle["timestamp"]) == ("history", "2026-11-30T15:00:00.000Z")
    first = bundle["entry"][0]
    assert first["request"]["url"] == f"{BASE}/Subscription/sub-1/$status"
    parameters = {p["name"]: p for p in valid(first["resource"])["parameter"]}
    assert parameters["type"]["valueCode"] == kind.value
    assert parameters["topic"]["valueCanonical"] == Topic.ENCOUNTER.value
    assert parameters["events-since-subscription-start"]["valueString"] == "1"
    if kind is NotificationKind.EVENT:
        parts = {p["name"]: p for p in parameters["notification-event"]["part"]}
        assert parts["event-number"]["valueString"] == "1"
        assert parts["focus"]["valueReference"]["reference"] == f"{BASE}/Encounter/01JENC"
        (focus,) = bundle["entry"][1:]
        assert focus["fullUrl"] == f"{BASE}/Encounter/01JENC" and "resource" not in focus  # id only
    else:
        assert "notification-event" not in parameters and len(bundle["entry"]) == 1


def test_the_facade_answers_a_subscription_as_asked_with_its_status_and_last_error() -> None:
    s = _made().handshaken().failed("the endpoint answered 503")
    resource = valid(subscription(s))
    assert (resource["status"], resource["criteria"], resource["error"]) == (
        "active",
        Topic.ENCOUNTER.value,
        "the endpoint answered 503",
    )
    assert resource["channel"]["_payload"]["extension"][0]["valueCode"] == "id-only"
