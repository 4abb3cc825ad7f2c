"""Subscriptions: a health system told when the clinic's appointments and encounters change, as
the FHIR Subscriptions R5 Backport IG defines it for R4: topic-based, a rest-hook channel, `id-only`
payloads (the notification names what changed; the subscriber reads it through the facade with
its own token). The rules here are pure; the FHIR shapes are in `telehealth/fhir/subscriptions.py`.

A subscription starts `requested`; the handshake delivered makes it `active`; deliveries that
keep failing set it to `error` (a subscriber is never retried without end); its owner can turn it
`off`. Each event it is told of has the next number of its `eventsSinceSubscriptionStart`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

# The topics' canonical URLs: the platform's own, the same in every tenant.
TOPIC_BASE = "urn:telehealth:subscription-topic:"
MAX_FAILURES = 5  # deliveries failed in a row (each after its own retries) before `error`
HEARTBEAT_S = (60, 86_400)  # the heartbeat periods a subscriber may ask for, in seconds
MAX_ENDPOINT = 500
# A notification is tried this many times, waiting longer before each retry, before it counts as
# one failed delivery and is set aside on the dead-letter queue.
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8))
MAX_ATTEMPTS = len(RETRY_AFTER) + 1


class Topic(StrEnum):
    APPOINTMENT = f"{TOPIC_BASE}appointment"
    ENCOUNTER = f"{TOPIC_BASE}encounter"

    @property
    def resource_type(self) -> str:
        """The resource whose changes the topic tells of (a notification's focus)."""
        return "Appointment" if self is Topic.APPOINTMENT else "Encounter"


class SubscriptionState(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    ERROR = "error"
    OFF = "off"


class NotificationKind(StrEnum):
    HANDSHAKE = "handshake"
    HEARTBEAT = "heartbeat"
    EVENT = "event-notification"
    QUERY_STATUS = "query-status"  # the status a client asks for ($status): nothing was sent


class SubscriptionRuleError(Exception):
    """A subscription the platform does not take, in words a developer can act on (422)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def firewall_allows(host: str, domains: Iterable[str]) -> bool:
    """Route 53 DNS Firewall's matching, which decides what the egress path may resolve: a domain
    matches itself, `*.d` any name below d (not d itself), and `*` everything."""
    host = host.lower().rstrip(".")
    for domain in domains:
        domain = domain.lower().rstrip(".")
        if domain == "*" or host == domain:
            return True
        if domain.startswith("*.") and host.endswith(domain[1:]):
            return True
    return False


def check_endpoint(endpoint: str, allowed_domains: Iterable[str]) -> str:
    """The rest-hook endpoint as it will be called, or `SubscriptionRuleError`: HTTPS, a DNS name
    (the firewall filters names, so an address would get past it), on the tenant's allow-list
    (else the firewall drops every delivery: refused now, naming the domain)."""
    if len(endpoint) > MAX_ENDPOINT:
        raise SubscriptionRuleError(
            "subscription-endpoint", f"An endpoint is at most {MAX_ENDPOINT} characters."
        )
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not parts.hostname:
        raise SubscriptionRuleError("subscription-endpoint", "A rest-hook endpoint is an https:// URL.")
    if parts.username or parts.password:
        raise SubscriptionRuleError("subscription-endpoint", "An endpoint carries no credentials in its URL.")
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise SubscriptionRuleError(
            "subscription-endpoint", "An endpoint is named by its domain, not an address."
        )
    if not firewall_allows(host, allowed_domains):
        raise SubscriptionRuleError(
            "subscription-domain-not-allowed",
            f"{host} is not on this clinic's list of domains its platform may reach; ask the clinic "
            "to add it (the network's firewall would drop every notification).",
        )
    return endpoint


def check_heartbeat(seconds: int | None) -> int | None:
    low, high = HEARTBEAT_S
    if seconds is not None and not low <= seconds <= high:
        raise SubscriptionRuleError(
            "subscription-heartbeat", f"A heartbeat period is {low} to {high} seconds, or none."
        )
    return seconds


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    owner: str  # the machine client that made it: the only one that reads or changes it
    topic: Topic
    endpoint: str
    heartbeat_s: int | None
    created_at: datetime
    state: SubscriptionState = SubscriptionState.REQUESTED
    events_since_start: int = 0
    failures: int = 0  # deliveries failed in a row
    error: str = ""  # why the last delivery failed, in the platform's words (never the answer's body)
    version: int = 1
    last_sent_at: datetime | None = None  # the last notification delivered (heartbeats count from it)

    def handshaken(self) -> Subscription:
        """The handshake was delivered: it is `active` (a subscription turned off stays off)."""
        if self.state is not SubscriptionState.REQUESTED:
            return self
        return replace(self, state=SubscriptionState.ACTIVE, failures=0, error="", version=self.version + 1)

    def counted(self) -> tuple[Subscription, int]:
        """One more event to tell: the subscription after it, and the event's number."""
        number = self.events_since_start + 1
        return replace(self, events_since_start=number, version=self.version + 1), number

    def delivered(self, at: datetime) -> Subscription:
        return replace(self, failures=0, error="", last_sent_at=at, version=self.version + 1)

    def heartbeat_due(self, now: datetime) -> bool:
        """Active with a heartbeat period, and nothing delivered for that long."""
        if not self.notified or self.heartbeat_s is None:
            return False
        since = self.last_sent_at or self.created_at
        return now - since >= timedelta(seconds=self.heartbeat_s)

    def failed(self, reason: str, *, handshake: bool = False) -> Subscription:
        """A delivery that failed after its retries; `MAX_FAILURES` in a row set it to `error`, as
        does a handshake that never got through (the endpoint never answered at all)."""
        failures = self.failures + 1
        # One turned off stays off, whatever deliveries were still under way.
        failing = (failures >= MAX_FAILURES or handshake) and self.state is not SubscriptionState.OFF
        state = SubscriptionState.ERROR if failing else self.state
        return replace(self, failures=failures, error=reason[:200], state=state, version=self.version + 1)

    def turned_off(self) -> Subscription:
        return replace(self, state=SubscriptionState.OFF, version=self.version + 1)

    @property
    def notified(self) -> bool:
        """Whether events are told to it: once active, until turned off or failed for good."""
        return self.state is SubscriptionState.ACTIVE


@dataclass(frozen=True)
class Delivery:
    """One notification owed to one subscriber, kept until it is delivered or its attempts run
    out: `events` are (number, time, focus reference), none for a handshake or a heartbeat."""

    delivery_id: str
    subscription_id: str
    kind: NotificationKind
    due: datetime
    events: tuple[tuple[int, datetime, str], ...] = ()
    attempts: int = 0

    def retried(self, now: datetime) -> Delivery | None:
        """After a failed attempt: the next, later each time, or None when none is left."""
        attempts = self.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            return None
        return replace(self, attempts=attempts, due=now + RETRY_AFTER[attempts - 1])


@dataclass(frozen=True)
class Delivered:
    """What became of one attempt: through, or why not (a status, a timeout; never the body)."""

    ok: bool
    reason: str = ""
