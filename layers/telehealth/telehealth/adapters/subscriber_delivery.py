"""Notifications to subscribers' rest-hook endpoints: the subscription-delivery function's side
(`SubscriberHttp`: make and seal a signing secret, sign and POST a notification) and its callers'
(`DeliveryFunction`: the api and the notices function ask it by Lambda Invoke, since only it is on
the egress path and only it opens a signing secret).

A notification is signed as Stripe signs its webhooks, so a subscriber's code is familiar:
`X-Telehealth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`.
A subscriber checks the HMAC in constant time and that `t` is recent. The secret is 32 random
bytes, URL-safe base64; it is sealed under the subscription-secrets key with the subscription's id
as encryption context, and opened nowhere but here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from telehealth.adapters.sealing import Seal
from telehealth.api_conventions import SUBSCRIPTION_SEAL_PURPOSE
from telehealth.domain.subscriptions import Delivered, Delivery

SIGNATURE_HEADER = "X-Telehealth-Signature"
TIMEOUT_S = 10.0  # a subscriber that takes longer is retried later, as one that refused
MAX_BODY = 256 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: it could lead past the endpoint's check and the firewall (to
    plain http, or an address), so a 3xx is a refused delivery like any other."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class SecretRefusedError(Exception):
    """A sealed secret that does not open for its subscription."""


def signature(secret: str, body: bytes, at: int) -> str:
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now: int, tolerance_s: int = 300) -> bool:
    """What a subscriber does with the header (its reference implementation, tested here)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        at = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, body, at).split("v1=", 1)[1]
    return abs(now - at) <= tolerance_s and hmac.compare_digest(expected, parts.get("v1", ""))


class SubscriberHttp:
    """Inside the delivery function: the endpoint called directly over HTTPS. `routes` maps a host
    to where it is reached instead (`SUBSCRIBER_HOSTS`, JSON): the local platform's stand-in for
    public DNS, which sends a subscriber's host to a receiver on loopback; empty in AWS."""

    def __init__(self, seal: Seal | None = None, routes: Mapping[str, str] | None = None) -> None:
        self.seal = seal or Seal(
            os.environ["SUBSCRIPTION_KEY_ARN"],
            SUBSCRIPTION_SEAL_PURPOSE,
            "telehealth:subscription",
            lambda: SecretRefusedError("subscription-secret"),
        )
        self.routes = dict(
            routes if routes is not None else json.loads(os.environ.get("SUBSCRIBER_HOSTS", "{}"))
        )

    def issue(self, subscription_id: str) -> tuple[str, str]:
        secret = secrets.token_urlsafe(32)
        return secret, self.seal.seal(subscription_id, secret)

    def _url(self, endpoint: str) -> str:
        parts = urllib.parse.urlsplit(endpoint)
        routed = self.routes.get(parts.hostname or "")
        if routed is None:
            return endpoint
        base = urllib.parse.urlsplit(routed)
        return urllib.parse.urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def deliver(
        self, subscription_id: str, endpoint: str, sealed_secret: str, body: Mapping[str, Any]
    ) -> Delivered:
        secret = self.seal.open(subscription_id, sealed_secret)
        data = json.dumps(body, separators=(",", ":")).encode()
        request = urllib.request.Request(  # noqa: S310 (https, checked at registration)
            self._url(endpoint),
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/fhir+json",
                SIGNATURE_HEADER: signature(secret, data, int(time.time())),
                "User-Agent": "telehealth-subscriptions/1",
            },
        )
        try:
            with _OPENER.open(request, timeout=TIMEOUT_S) as answer:
                answer.read(MAX_BODY)  # drained, never kept or logged
                return Delivered(True)
        except urllib.error.HTTPError as error:
            return Delivered(False, f"The endpoint answered HTTP {error.code}.")
        except TimeoutError:
            return Delivered(False, f"The endpoint did not answer within {TIMEOUT_S:.0f} seconds.")
        except (urllib.error.URLError, OSError) as error:
            if isinstance(getattr(error, "reason", None), TimeoutError):
                return Delivered(False, f"The endpoint did not answer within {TIMEOUT_S:.0f} seconds.")
            return Delivered(False, "The endpoint could not be reached.")


class DeliveryFunction:
    """The way to subscribers for the functions in the isolated subnets: the delivery function."""

    def __init__(self, function_name: str | None = None, *, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.function_name = function_name or os.environ["SUBSCRIPTION_DELIVERY_FUNCTION"]
        # One try: a failed delivery is retried by the notices' own schedule, not by the SDK.
        self._lambda = client or boto3.client(
            "lambda",
            config=Config(
                connect_timeout=2, read_timeout=20, retries={"mode": "standard", "max_attempts": 1}
            ),
        )

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        response = self._lambda.invoke(FunctionName=self.function_name, Payload=json.dumps(request).encode())
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise RuntimeError(f"{self.function_name} failed")
        answer: dict[str, Any] = json.loads(body)
        return answer

    def issue(self, subscription_id: str) -> tuple[str, str]:
        answer = self._ask({"operation": "issue", "subscription_id": subscription_id})
        return str(answer["secret"]), str(answer["sealed"])

    def deliver(
        self, subscription_id: str, endpoint: str, sealed_secret: str, body: Mapping[str, Any]
    ) -> Delivered:
        try:
            answer = self._ask(
                {
                    "operation": "deliver",
                    "subscription_id": subscription_id,
                    "endpoint": endpoint,
                    "sealed": sealed_secret,
                    "body": body,
                }
            )
        except Exception as error:  # the delivery function itself failed: retried like a refusal
            return Delivered(False, f"The delivery could not be made ({type(error).__name__}).")
        return Delivered(bool(answer.get("ok")), str(answer.get("reason", "")))


class QueuedDeadLetters:
    """Notifications whose attempts ran out, on the notices function's DLQ (with the invocations
    Lambda gave up on): ids, kinds and the reason only, for an operator to look into and redrive."""

    def __init__(self, queue_url: str | None = None, *, client: Any = None) -> None:
        import boto3

        self.queue_url = queue_url or os.environ["SUBSCRIPTION_DLQ_URL"]
        self._sqs = client or boto3.client("sqs")

    def set_aside(self, delivery: Delivery, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(
                {
                    "subscription_id": delivery.subscription_id,
                    "kind": delivery.kind.value,
                    "events": [n for n, _, _ in delivery.events],
                    "attempts": delivery.attempts + 1,
                    "reason": reason,
                }
            ),
        )
