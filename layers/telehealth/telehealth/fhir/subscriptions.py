"""Subscriptions in FHIR R4, as the Subscriptions R5 Backport IG shapes them: the `Subscription` a
health system creates (`criteria` is the topic's canonical URL; the channel a rest-hook with an
`application/fhir+json` payload of content `id-only`; an optional heartbeat period), the one the
facade answers (its status, and how many events it has been told), and the notifications: a
`history` Bundle whose first entry is the `Parameters` status (subscription, topic, status, type,
`events-since-subscription-start`, and for an event its number, time and focus), then for an event
the focus itself by id only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telehealth.domain.subscriptions import (
    NotificationKind,
    Subscription,
    SubscriptionRuleError,
    Topic,
    check_endpoint,
    check_heartbeat,
)

IG = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
PAYLOAD_CONTENT = f"{IG}backport-payload-content"
HEARTBEAT_PERIOD = f"{IG}backport-heartbeat-period"
SUBSCRIPTION_PROFILE = f"{IG}backport-subscription"
STATUS_PROFILE = f"{IG}backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{IG}backport-subscription-notification-r4"
FHIR_JSON = "application/fhir+json"
# The platform's extension on a created Subscription: its signing secret, in that answer alone.
SIGNING_SECRET_EXTENSION = "urn:telehealth:subscription-signing-secret"  # noqa: S105 (a URL)
# Where that secret is in the create's answer: what a kept answer (Idempotency-Key) holds sealed.
SIGNING_SECRET_PATH = "extension.0.valueString"  # noqa: S105 (a path)


@dataclass(frozen=True)
class SubscriptionAsked:
    """What a health system's `Subscription` asks for, checked."""

    topic: Topic
    endpoint: str
    heartbeat_s: int | None


def _extension(element: Mapping[str, Any], url: str) -> Mapping[str, Any] | None:
    return next((e for e in element.get("extension") or [] if e.get("url") == url), None)


def asked(resource: Mapping[str, Any], allowed_domains: Iterable[str]) -> SubscriptionAsked:
    """A posted `Subscription` read, or `SubscriptionRuleError` naming what the platform does not
    take (each a 422 OperationOutcome): another topic, a channel other than a rest-hook, a payload
    other than id-only JSON, an endpoint off the tenant's allow-list."""
    if resource.get("resourceType") != "Subscription":
        raise SubscriptionRuleError("subscription-resource", "The body is a Subscription resource.")
    try:
        topic = Topic(str(resource.get("criteria") or ""))
    except ValueError:
        known = ", ".join(t.value for t in Topic)
        raise SubscriptionRuleError(
            "subscription-topic", f"Subscription.criteria names a topic this server has: {known}."
        ) from None
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise SubscriptionRuleError("subscription-channel", "Subscription.channel.type is rest-hook.")
    if channel.get("payload") != FHIR_JSON:
        raise SubscriptionRuleError("subscription-payload", f"Subscription.channel.payload is {FHIR_JSON}.")
    content = _extension(channel.get("_payload") or {}, PAYLOAD_CONTENT)
    if content is not None and content.get("valueCode") != "id-only":
        raise SubscriptionRuleError(
            "subscription-payload",
            "Notifications name what changed by id only (payload content id-only): read it through "
            "this server with your token.",
        )
    heartbeat = _extension(channel, HEARTBEAT_PERIOD)
    seconds = heartbeat.get("valueUnsignedInt") if heartbeat else None
    if seconds is not None and not isinstance(seconds, int):
        raise SubscriptionRuleError(
            "subscription-heartbeat", "The heartbeat period is a whole number of seconds."
        )
    endpoint = check_endpoint(str(channel.get("endpoint") or ""), allowed_domains)
    return SubscriptionAsked(topic, endpoint, check_heartbeat(seconds))


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def subscription(s: Subscription) -> dict[str, Any]:
    """The subscription as the facade answers it: what was asked, its status, and why its last
    delivery failed (the events told so far are in its `$status`)."""
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": s.endpoint,
        "payload": FHIR_JSON,
        "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "id-only"}]},
    }
    if s.heartbeat_s is not None:
        channel["extension"] = [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": s.heartbeat_s}]
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "id": s.subscription_id,
        "meta": {"profile": [SUBSCRIPTION_PROFILE], "versionId": str(s.version)},
        "status": s.state.value,
        "reason": f"Changes to {s.topic.resource_type} resources",
        "criteria": s.topic.value,
        "channel": channel,
    }
    if s.error:
        resource["error"] = s.error
    return resource


def status(
    s: Subscription,
    base_url: str,
    kind: NotificationKind,
    events: Sequence[tuple[int, datetime, str]] = (),
) -> dict[str, Any]:
    """The backport's R4 `Parameters` status: `events` are (number, time, focus reference)."""
    parameters: list[dict[str, Any]] = [
        {
            "name": "subscription",
            "valueReference": {"reference": f"{base_url}/Subscription/{s.subscription_id}"},
        },
        {"name": "topic", "valueCanonical": s.topic.value},
        {"name": "status", "valueCode": s.state.value},
        {"name": "type", "valueCode": kind.value},
        {"name": "events-since-subscription-start", "valueString": str(s.events_since_start)},
    ]
    for number, at, focus in events:
        parameters.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "timestamp", "valueInstant": _instant(at)},
                    {"name": "focus", "valueReference": {"reference": f"{base_url}/{focus}"}},
                ],
            }
        )
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    }


def notification(
    s: Subscription,
    base_url: str,
    kind: NotificationKind,
    now: datetime,
    events: Sequence[tuple[int, datetime, str]] = (),
) -> dict[str, Any]:
    """What the rest-hook is posted: a `history` Bundle, the status first (its request the
    `$status` operation, as the IG's examples fill it), then each event's focus by id only (a
    GET of it, no resource: the subscriber reads it with its own token)."""
    state = status(s, base_url, kind, events)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{state['id']}",
            "resource": state,
            "request": {"method": "GET", "url": f"{base_url}/Subscription/{s.subscription_id}/$status"},
            "response": {"status": "200"},
        }
    ]
    for _, _, focus in events:
        entries.append(
            {
                "fullUrl": f"{base_url}/{focus}",
                "request": {"method": "GET", "url": f"{base_url}/{focus}"},
                "response": {"status": "200"},
            }
        )
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": _instant(now),
        "entry": entries,
    }
