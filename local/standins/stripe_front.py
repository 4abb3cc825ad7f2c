"""What Stripe does that localstripe does not, in front of it.

localstripe (GPL-3.0) runs unchanged in a process of its own (local/standins/stripe.py); this thin
HTTP layer sits between the payments function and it, speaking Stripe's API, and supplies:

- **Idempotency-key replay.** A POST with an `Idempotency-Key` is answered once: the same key with
  the same parameters gets the first answer again (`Idempotent-Replayed: true`), with other
  parameters a 400 `idempotency_error`, while the first is still running a 409. Keys are kept 24
  hours, as Stripe keeps them; `POST /_sim/forget-keys` lets tests be a day later.
- **PaymentIntent fields localstripe lacks**, as Stripe reports them: `description` (taken, and
  echoed), `amount_capturable`, `amount_received`, and on the latest charge `amount_captured`,
  `amount_refunded` (refunds asked for, not localstripe's own refund of an uncaptured remainder)
  and `payment_method_details.card.capture_before`: seven days after a hold the patient made, five
  for one the clinic made later (`off_session`).
- **An expired hold.** `POST /_sim/expire-hold` with `intent_id` puts a hold past its
  `capture_before`: Stripe cancels it, and a capture is refused with `charge_expired_for_capture`.
- **An off-session authentication failure.** A hold made `off_session` on a card that needs the
  patient to authenticate is refused with 402 `authentication_required` (localstripe would wait
  for the authentication instead), and the PaymentIntent needs a payment method again.
- **`resource_missing`**, Stripe's code for an object that does not exist (localstripe's 404 has
  none).
- **A customer's PaymentIntents** (`GET /v1/payment_intents?customer=`), which localstripe does
  not list.
- **What was sent.** `GET /_sim/requests` lists every request's method, path and parameters, for
  the test that nothing but opaque ids and amounts reaches Stripe.
- **Webhooks** localstripe does not send: each change this layer sees made to a PaymentIntent is an
  event (`payment_intent.amount_capturable_updated`, `.succeeded`, `.canceled`, `charge.captured`,
  `charge.refunded`, `refund.created`), delivered to every endpoint added (`add_endpoint`) as
  Stripe delivers it: a JSON POST signed with the endpoint's secret in `Stripe-Signature`
  (`t=<time>,v1=<HMAC-SHA256 of "<time>.<body>">`), retried with backoff on anything but a 2xx.
  `GET /_sim/events` lists them with their bodies and each delivery's status, so a test can send
  one again, late or out of order, as Stripe may.

Its own state (keys, captured amounts, deadlines) is kept in `state_file` when given, as
localstripe keeps its own, so a restart of the platform loses neither.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from local.loopback import LoopbackServer

KEY_LIFE_S = 24 * 3600  # how long Stripe keeps an idempotency key
PRESENT_HOLD_S = 7 * 24 * 3600  # a hold the patient made (card present)
LATER_HOLD_S = 5 * 24 * 3600  # a hold the clinic made later (merchant-initiated)
REQUESTS_KEPT = 5000
# Parameters Stripe takes on a PaymentIntent that localstripe refuses: taken here, echoed back.
_KEPT_HERE = ("description", "statement_descriptor_suffix")
# Stripe's test payment methods that localstripe does not know, by the card number each stands for.
_TEST_CARDS = {
    "pm_card_authenticationRequired": "4000002760003184",
    # localstripe declines this one only when it is attached; Stripe declines its charges.
    "pm_card_visa_chargeDeclined": "4000000000000341",
}
_REPLAYED = "Idempotent-Replayed"
EVENTS_KEPT = 1000
# How long stopping waits for the webhooks on their way.
STOP_GRACE_S = 10.0
DELIVERY_ATTEMPTS = 5  # Stripe tries for three days; locally five tries, a second apart and more
API_VERSION = "2024-06-20"


def signature(payload: bytes, secret: str, at: int) -> str:
    """`Stripe-Signature` as Stripe writes it for a body sent at `at` (Unix time)."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str  # the endpoint's signing secret (whsec_...)


@dataclass
class _Answer:
    status: int
    body: bytes


@dataclass
class _Intent:
    """What this layer knows of a PaymentIntent beyond localstripe."""

    description: str | None = None
    capture_before: int = 0
    captured: int = 0
    refunded: int = 0
    expired: bool = False
    authentication_failed: bool = False  # held off-session on a card that needed the patient
    customer: str | None = None
    created: float = 0.0


@dataclass
class FrontState:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # scope|key -> params hash, answer, at
    intents: dict[str, _Intent] = field(default_factory=dict)


def _error(status: int, kind: str, message: str, code: str | None = None, **more: Any) -> _Answer:
    error = {"type": kind, "message": message, **({"code": code} if code else {}), **more}
    return _Answer(status, json.dumps({"error": error}).encode())


class StripeFront:
    def __init__(
        self,
        upstream: str,
        port: int = 0,
        *,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.state_file = state_file
        self.clock = clock
        self.state = self._load()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # the state, the log
        self._in_flight: set[str] = set()
        self._intent_locks: dict[str, threading.RLock] = {}
        self.endpoints: list[Endpoint] = []
        self.events: list[dict[str, Any]] = []  # each with its body and its deliveries' statuses
        self._outgoing: queue.Queue[tuple[dict[str, Any], Endpoint]] = queue.Queue()
        self._stopped = threading.Event()
        self._delivering: set[threading.Thread] = set()
        front = self

        class Handler(_Handler):
            owner = front

        self._server = LoopbackServer(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="stripe-front", daemon=True).start()
        threading.Thread(target=self._deliver_forever, name="stripe-webhooks", daemon=True).start()

    def add_endpoint(self, url: str, secret: str) -> None:
        """A webhook endpoint, as registered in Stripe's dashboard: every event from now on."""
        with self._lock:
            self.endpoints.append(Endpoint(url, secret))

    def stop(self) -> None:
        """No webhook leaves after this, and the ones on their way are let finish (briefly): the
        platform stops its functions next, which a late one would find gone."""
        self._stopped.set()
        deadline = time.monotonic() + STOP_GRACE_S
        for delivery in list(self._delivering):
            delivery.join(timeout=max(deadline - time.monotonic(), 0))
        self._server.shutdown()
        self._server.server_close()

    # --- state ----------------------------------------------------------------------------------

    def _load(self) -> FrontState:
        if self.state_file is None or not self.state_file.exists():
            return FrontState()
        saved = json.loads(self.state_file.read_text())
        return FrontState(keys=saved["keys"], intents={k: _Intent(**v) for k, v in saved["intents"].items()})

    def _save(self) -> None:
        """Under the lock; before the answer leaves, as localstripe saves its own."""
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        saved = {"keys": self.state.keys, "intents": {k: asdict(v) for k, v in self.state.intents.items()}}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(saved))
        temporary.replace(self.state_file)

    def intent(self, intent_id: str) -> _Intent:
        return self.state.intents.setdefault(intent_id, _Intent())

    # --- a request ------------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> tuple[_Answer, bool]:
        """The answer to one request, and whether it is a replay."""
        params = urllib.parse.parse_qsl(body.decode() or query, keep_blank_values=True)
        with self._lock:
            self.requests.append({"method": method, "path": path, "params": params})
            del self.requests[:-REQUESTS_KEPT]
        key = headers.get("idempotency-key") if method == "POST" else None
        if key is None:
            return self._forward(method, path, query, params, headers), False
        scope = hashlib.sha256(f"{headers.get('authorization', '')}|{key}".encode()).hexdigest()
        digest = hashlib.sha256(f"{method} {path} {sorted(params)}".encode()).hexdigest()
        with self._lock:
            kept = self.state.keys.get(scope)
            if kept is not None and self.clock() - kept["at"] > KEY_LIFE_S:
                kept = None
            if kept is not None:
                if kept["digest"] != digest:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they "
                        "were first used with.",
                    ), False
                return _Answer(kept["status"], kept["body"].encode()), True
            if scope in self._in_flight:
                return _error(
                    409,
                    "idempotency_error",
                    "There is currently another in-progress request using this idempotency key.",
                ), False
            self._in_flight.add(scope)
        try:
            answer = self._forward(method, path, query, params, headers)
            with self._lock:
                # Stripe keeps the result once the request began executing: not a 5xx of its own.
                if answer.status < 500:
                    self.state.keys[scope] = {
                        "digest": digest,
                        "status": answer.status,
                        "body": answer.body.decode(),
                        "at": self.clock(),
                    }
                    self._save()
            return answer, False
        finally:
            with self._lock:
                self._in_flight.discard(scope)

    def _forward(
        self, method: str, path: str, query: str, params: list[tuple[str, str]], headers: dict[str, str]
    ) -> _Answer:
        parts = path.strip("/").split("/")
        creating = method == "POST" and parts == ["v1", "payment_intents"]
        kept = {k: v for k, v in params if k in _KEPT_HERE} if creating else {}
        sent = [(k, self._test_card(v, headers)) for k, v in params if k not in kept]
        intent_id = parts[2] if len(parts) >= 3 and parts[1] == "payment_intents" else None
        if intent_id and parts[3:] == ["capture"] and method == "POST":
            with self._lock:
                expired = self.intent(intent_id).expired
            if expired:
                return _error(
                    400,
                    "invalid_request_error",
                    "This PaymentIntent could not be captured because it has expired.",
                    "charge_expired_for_capture",
                )
        if method == "GET" and parts == ["v1", "payment_intents"]:
            return self._list_intents(dict(params), headers)
        subject = intent_id or dict(params).get("payment_intent")
        if subject is None:
            return self._answered(method, path, query, params, headers, sent, kept, creating, parts)
        # One request at a time per PaymentIntent, as Stripe answers them: a read while a capture
        # is on its way sees it whole (localstripe's status with this layer's captured amount),
        # never half (captured there, its amount not yet recorded here).
        with self._intent_lock(subject):
            return self._answered(method, path, query, params, headers, sent, kept, creating, parts)

    def _intent_lock(self, intent_id: str) -> threading.RLock:
        with self._lock:
            return self._intent_locks.setdefault(intent_id, threading.RLock())

    def _answered(
        self,
        method: str,
        path: str,
        query: str,
        params: list[tuple[str, str]],
        headers: dict[str, str],
        sent: list[tuple[str, str]],
        kept: dict[str, str],
        creating: bool,
        parts: list[str],
    ) -> _Answer:
        answer = self._upstream(method, path, query if method == "GET" else "", sent, headers)
        if answer.status == 404:
            # Stripe names a missing object's error `resource_missing`; localstripe names none.
            return _error(404, "invalid_request_error", "No such object.", "resource_missing")
        if answer.status >= 400:
            return answer
        found = json.loads(answer.body)
        with self._lock:
            if found.get("object") == "payment_intent":
                found = self._intent_answer(found, dict(params), kept, creating, parts)
                if isinstance(found, _Answer):
                    return found
                if method == "POST":
                    self._intent_events(found, creating, parts)
            elif found.get("object") == "refund" and found.get("payment_intent"):
                self.intent(found["payment_intent"]).refunded += int(found.get("amount") or 0)
                self._refund_events(found)
            self._save()
        return _Answer(answer.status, json.dumps(found).encode())

    def _intent_answer(
        self,
        found: dict[str, Any],
        params: dict[str, str],
        kept: dict[str, str],
        creating: bool,
        parts: list[str],
    ) -> dict[str, Any] | _Answer:
        """A PaymentIntent as Stripe would report it. Under the lock."""
        mine = self.intent(found["id"])
        if creating:
            mine.description = kept.get("description")
            mine.customer, mine.created = found.get("customer"), self.clock()
            off_session = params.get("off_session") == "true"
            if off_session and found.get("status") == "requires_action":
                # Stripe does not wait for a patient who is not there: 402, and the intent needs
                # another payment method.
                mine.authentication_failed = True
                self._save()
                return _error(
                    402,
                    "card_error",
                    "This payment requires the customer to authenticate.",
                    "authentication_required",
                    payment_intent={"id": found["id"], "status": "requires_payment_method"},
                )
            if found.get("status") == "requires_capture":
                life = LATER_HOLD_S if off_session else PRESENT_HOLD_S
                mine.capture_before = int(self.clock()) + life
        if parts[3:] == ["capture"]:
            amount = params.get("amount_to_capture")
            mine.captured = int(amount) if amount else int(found.get("amount") or 0)
        status = found.get("status")
        if mine.expired:
            status = "canceled"
        elif mine.authentication_failed and status == "requires_action":
            status = "requires_payment_method"

        found["status"] = status
        found["description"] = mine.description
        found["amount_capturable"] = int(found.get("amount") or 0) if status == "requires_capture" else 0
        found["amount_received"] = mine.captured if status == "succeeded" else 0
        charge = found.get("latest_charge")
        if isinstance(charge, dict):
            charge["amount_captured"] = mine.captured
            charge["amount_refunded"] = mine.refunded
            charge["refunded"] = bool(mine.captured) and mine.refunded >= mine.captured
            details = charge.setdefault("payment_method_details", {"type": "card"})
            card = details.setdefault("card", {})
            card["capture_before"] = mine.capture_before or None
        return found

    def _list_intents(self, params: dict[str, str], headers: dict[str, str]) -> _Answer:
        """`GET /v1/payment_intents?customer=`: a customer's PaymentIntents, newest first (localstripe
        lists none by customer)."""
        customer, limit = params.get("customer"), int(params.get("limit") or 10)
        with self._lock:
            mine = sorted(
                (
                    i
                    for i, known in self.state.intents.items()
                    if customer is None or known.customer == customer
                ),
                key=lambda i: -self.state.intents[i].created,
            )
        data = []
        for intent_id in mine[:limit]:
            answer = self._forward("GET", f"/v1/payment_intents/{intent_id}", "", [], headers)
            if answer.status == 200:
                data.append(json.loads(answer.body))
        listed = {"object": "list", "data": data, "has_more": len(mine) > limit, "url": "/v1/payment_intents"}
        return _Answer(200, json.dumps(listed).encode())

    def _upstream(
        self, method: str, path: str, query: str, params: list[tuple[str, str]], headers: dict[str, str]
    ) -> _Answer:
        url = f"{self.upstream}{path}" + (f"?{query}" if query else "")
        data = urllib.parse.urlencode(params).encode() if method != "GET" else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback http)
        for name in ("authorization", "stripe-version"):
            if name in headers:
                request.add_header(name, headers[name])
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
                return _Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            return _Answer(error.code, error.read())

    def _test_card(self, value: str, headers: dict[str, str]) -> str:
        """Stripe's test payment method ids localstripe lacks, made there as the card they stand
        for (a new one each time, as Stripe makes them)."""
        number = _TEST_CARDS.get(value)
        if number is None:
            return value
        card = [
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ]
        # Stripe resolves its test cards itself, whoever asks (Stripe.js, with the publishable key
        # in the body, too); localstripe makes payment methods for a secret key only.
        made = self._upstream(
            "POST", "/v1/payment_methods", "", card, {"authorization": "Bearer sk_test_front"}
        )
        return str(json.loads(made.body)["id"])

    # --- webhooks ------------------------------------------------------------------------------

    def _intent_events(self, intent: dict[str, Any], creating: bool, parts: list[str]) -> None:
        """What Stripe announces of a PaymentIntent a POST changed. Under the lock."""
        status, action = intent.get("status"), parts[3] if len(parts) > 3 else None
        if creating and status == "requires_capture":
            self._emit("payment_intent.amount_capturable_updated", intent)
        elif action == "capture" and status == "succeeded":
            self._emit("payment_intent.succeeded", intent)
            if isinstance(intent.get("latest_charge"), dict):
                self._emit("charge.captured", intent["latest_charge"])
        elif action == "cancel" and status == "canceled":
            self._emit("payment_intent.canceled", intent)

    def _refund_events(self, refund: dict[str, Any]) -> None:
        """A refund: the refund itself, and its charge as refunded (as much as Stripe's own event
        carries that the platform could read; it re-reads the PaymentIntent). Under the lock."""
        self._emit("refund.created", refund)
        mine = self.intent(refund["payment_intent"])
        charge = {
            "id": refund.get("charge"),
            "object": "charge",
            "payment_intent": refund["payment_intent"],
            "amount_captured": mine.captured,
            "amount_refunded": mine.refunded,
            "refunded": bool(mine.captured) and mine.refunded >= mine.captured,
        }
        self._emit("charge.refunded", charge)

    def _emit(self, kind: str, subject: dict[str, Any]) -> None:
        """An event of `kind` about `subject` (a snapshot, as Stripe's are), queued for every
        endpoint. Under the lock."""
        event = {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(self.clock()),
            "livemode": False,
            "type": kind,
            "data": {"object": json.loads(json.dumps(subject))},
            "pending_webhooks": len(self.endpoints),
            "request": {"id": None, "idempotency_key": None},
        }
        self.events.append({"event": event, "deliveries": []})
        del self.events[:-EVENTS_KEPT]
        for endpoint in self.endpoints:
            self._outgoing.put((event, endpoint))

    def _deliver_forever(self) -> None:
        while not self._stopped.is_set():
            event, endpoint = self._outgoing.get()
            if self._stopped.is_set():
                return
            delivery = threading.Thread(target=self._deliver, args=(event, endpoint), daemon=True)
            self._delivering.add(delivery)
            delivery.start()

    def _deliver(self, event: dict[str, Any], endpoint: Endpoint) -> None:
        """One event to one endpoint, tried again after 1, 2, 4, 8 s while it is not taken (a 2xx)."""
        body = json.dumps(event).encode()
        try:
            for attempt in range(DELIVERY_ATTEMPTS):
                if attempt and self._stopped.is_set():
                    return  # a retry after stop: Stripe would send it again later, to a live endpoint
                status = self.post_event(endpoint, body)
                with self._lock:
                    for kept in self.events:
                        if kept["event"]["id"] == event["id"]:
                            kept["deliveries"].append(status)
                if 200 <= status < 300:
                    return
                time.sleep(2**attempt)
        finally:
            self._delivering.discard(threading.current_thread())

    def post_event(self, endpoint: Endpoint, body: bytes, at: int | None = None) -> int:
        """POST a signed event body to an endpoint; its status (0: it did not answer)."""
        request = urllib.request.Request(endpoint.url, data=body, method="POST")  # noqa: S310 (loopback)
        request.add_header("Content-Type", "application/json; charset=utf-8")
        request.add_header("Stripe-Signature", signature(body, endpoint.secret, at or int(self.clock())))
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return 0

    # --- simulations ----------------------------------------------------------------------------

    def expire_hold(self, intent_id: str) -> None:
        """The hold's `capture_before` has passed: Stripe cancels it. Marked first, so no request
        in between sees it cancelled without the reason."""
        with self._lock:
            self.intent(intent_id).expired = True
            self._save()
        self._upstream(
            "POST", f"/v1/payment_intents/{intent_id}/cancel", "", [], {"authorization": "Bearer sk_test_sim"}
        )
        found = self._forward(
            "GET", f"/v1/payment_intents/{intent_id}", "", [], {"authorization": "Bearer sk_test_sim"}
        )
        if found.status == 200:
            with self._lock:
                self._emit(
                    "payment_intent.canceled", json.loads(found.body) | {"cancellation_reason": "automatic"}
                )

    def forget_keys(self) -> None:
        """A day later: every idempotency key is gone."""
        with self._lock:
            self.state.keys.clear()
            self._save()


class _Handler(BaseHTTPRequestHandler):
    owner: StripeFront
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, answer: _Answer, extra: dict[str, str] | None = None) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self._body()
        if url.path.startswith("/_sim/"):
            self._simulation(url.path, body)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer, replayed = self.owner.answer(self.command, url.path, url.query, body, headers)
        self._send(answer, {_REPLAYED: "true"} if replayed else None)

    def _simulation(self, path: str, body: bytes) -> None:
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if path == "/_sim/requests" and self.command == "GET":
            with self.owner._lock:
                listed = list(self.owner.requests)
            self._send(_Answer(200, json.dumps(listed).encode()))
        elif path == "/_sim/expire-hold" and self.command == "POST" and "intent_id" in form:
            self.owner.expire_hold(form["intent_id"])
            self._send(_Answer(204, b""))
        elif path == "/_sim/events" and self.command == "GET":
            with self.owner._lock:
                listed = json.loads(json.dumps(self.owner.events))
            self._send(_Answer(200, json.dumps(listed).encode()))
        elif path == "/_sim/forget-keys" and self.command == "POST":
            self.owner.forget_keys()
            self._send(_Answer(204, b""))
        else:
            self._send(_error(404, "invalid_request_error", "Unrecognized request URL."))

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()
