"""A stand-in for Dexcom's cloud (API v3, https://developer.dexcom.com/docs/dexcomv3): its OAuth 2.0
sign-in and token endpoint, and `GET /v3/users/self/egvs`, serving a CGM trace.

A patient links their account by signing in at `/v3/oauth2/login` (a form: their e-mail, and
"Allow"), which sends the browser back to a registered redirect URI with a code and the state; the
token endpoint (`POST /v3/oauth2/token`, form-encoded) exchanges the code for an access token (two
hours) and a refresh token, and a refresh token for a new pair. As Dexcom does, it refuses an
unknown client or a wrong secret, a redirect URI not registered or not the sign-in's, a code used
twice or older than ten minutes, and a refresh token used twice (each use rotates it).

`egvs` answers a window of at most 30 days (`startDate`/`endDate`, UTC without an offset; 400
otherwise) with the estimated glucose values of the account's trace inside it, as Dexcom's v3
records (`recordId`, `systemTime`, `displayTime`, `value`, `unit`, `transmitterId`...). The trace
is a UVA/Padova simulation (tests/fixtures/cgm, `tools.cgm_fixtures`) laid end to end up to
`DELAY` before now: Dexcom's data are retrospective, reaching its cloud hours after they were
measured. Requests past the app's rate (60,000 an hour, Dexcom's; lower with
`POST /_control/rate {"per_hour": n}`) are answered 429.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.loopback import JsonRequestHandler, LoopbackServer

CODE_LIFETIME_S = 600
ACCESS_LIFETIME_S = 7200
DELAY = timedelta(hours=3)  # how far behind now the cloud's data end
MAX_WINDOW = timedelta(days=30)
RATE_PER_HOUR = 60_000  # Dexcom's: calls per app per hour
STEP = timedelta(minutes=5)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


@dataclass
class _SignIn:
    user: str
    redirect_uri: str
    issued: float


@dataclass
class _State:
    codes: dict[str, _SignIn] = field(default_factory=dict)
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> user
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (user, expires)


class DexcomStandIn:
    def __init__(self, client_id: str, client_secret: str, trace: Path) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris: list[str] = []
        loaded = json.loads(trace.read_text())
        self.trace = [float(value) for _, value in loaded["readings"]]
        self.state = _State()
        self.calls: list[str] = []
        self.per_hour = RATE_PER_HOUR
        self._tokens, self._at = float(RATE_PER_HOUR) / 3600 * 60, time.monotonic()  # a minute's burst
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"cloud": self})
        self._server = LoopbackServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, name="dexcom", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- the rate ------------------------------------------------------------------------------------

    def within_rate(self) -> bool:
        with self._lock:
            rate = self.per_hour / 3600
            now = time.monotonic()
            self._tokens = min(rate * 60, self._tokens + (now - self._at) * rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def set_rate(self, per_hour: int) -> None:
        with self._lock:
            self.per_hour, self._tokens, self._at = per_hour, min(per_hour / 60, 1.0), time.monotonic()

    # --- OAuth -----------------------------------------------------------------------------------------

    def _login_error(self, query: dict[str, str]) -> str | None:
        if query.get("client_id") != self.client_id:
            return "Unknown client."
        if query.get("redirect_uri") not in self.redirect_uris:
            return "The redirect URI is not registered for this application."
        if query.get("response_type") != "code" or "offline_access" not in query.get("scope", "").split():
            return "Only the authorization code flow with offline_access is offered."
        if not query.get("state"):
            return "A state is required."
        return None

    def login_page(self, query: dict[str, str]) -> tuple[int, str]:
        error = self._login_error(query)
        if error:
            return (
                400,
                f"<!doctype html><title>Dexcom</title><h1>Sign-in refused</h1><p>{html.escape(error)}</p>",
            )
        kept = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        return 200, (
            '<!doctype html><html lang="en"><meta charset="utf-8"><title>Sign in to Dexcom</title>'
            "<main><h1>Sign in to Dexcom</h1>"
            f'<form method="post" action="/v3/oauth2/login">{kept}'
            '<label for="email">Email</label> <input id="email" name="email" type="email" required>'
            "<p>Your clinic asks to read your glucose data.</p>"
            '<button type="submit">Allow</button></form></main></html>'
        )

    def signed_in(self, form: dict[str, str]) -> tuple[int, str]:
        if self._login_error(form) or not form.get("email"):
            return 400, ""
        code = secrets.token_urlsafe(24)
        user = hashlib.sha256(form["email"].encode()).hexdigest()[:24]
        with self._lock:
            self.state.codes[code] = _SignIn(user, form["redirect_uri"], time.time())
        return 302, f"{form['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': form['state']})}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.calls.append("token")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        with self._lock:
            if form.get("grant_type") == "authorization_code":
                sign_in = self.state.codes.pop(form.get("code", ""), None)  # once, whatever follows
                if (
                    sign_in is None
                    or time.time() - sign_in.issued > CODE_LIFETIME_S
                    or form.get("redirect_uri") != sign_in.redirect_uri
                ):
                    return 400, {"error": "invalid_grant"}
                user = sign_in.user
            elif form.get("grant_type") == "refresh_token":
                found = self.state.refresh.pop(form.get("refresh_token", ""), None)  # rotated
                if found is None or form.get("redirect_uri") not in self.redirect_uris:
                    return 400, {"error": "invalid_grant"}
                user = found
            else:
                return 400, {"error": "unsupported_grant_type"}
            access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
            self.state.access[access] = (user, time.time() + ACCESS_LIFETIME_S)
            self.state.refresh[refresh] = user
        return 200, {
            "access_token": access,
            "expires_in": ACCESS_LIFETIME_S,
            "token_type": "Bearer",
            "refresh_token": refresh,
        }

    # --- the data ----------------------------------------------------------------------------------------

    def egvs(self, user: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.calls.append("egvs")
        start_text, end_text = query.get("startDate", ""), query.get("endDate", "")
        if not (DATE.match(start_text) and DATE.match(end_text)):
            return 400, {"error": "startDate and endDate are UTC, YYYY-MM-DDThh:mm:ss"}
        start = datetime.fromisoformat(start_text).replace(tzinfo=UTC)
        end = datetime.fromisoformat(end_text).replace(tzinfo=UTC)
        if not start < end or end - start > MAX_WINDOW:
            return 400, {"error": "The date range is at most 30 days."}
        newest = _floor(datetime.now(UTC) - DELAY)
        records = []
        at = _floor(start) + (STEP if _floor(start) < start else timedelta(0))  # the first 5-minute mark
        while at < end and at <= newest:
            # The trace, laid end to end from 2020 on: any moment has its one value.
            index = int((at - datetime(2020, 1, 1, tzinfo=UTC)) / STEP) % len(self.trace)
            value = round(self.trace[index])
            stamp = at.strftime("%Y-%m-%dT%H:%M:%S")
            records.append(
                {
                    "recordId": f"{user[:8]}-{int(at.timestamp())}",
                    "systemTime": stamp,
                    "displayTime": at.strftime("%Y-%m-%dT%H:%M:%S-00:00"),
                    "transmitterId": f"tx-{user[:8]}",
                    "transmitterTicks": int(at.timestamp()) % 10_000_000,
                    "value": max(40, min(400, value)),
                    "status": None,
                    "trend": "flat",
                    "trendRate": 0.0,
                    "unit": "mg/dL",
                    "rateUnit": "mg/dL/min",
                    "displayDevice": "iOS",
                    "transmitterGeneration": "g7",
                }
            )
            at += STEP
        records.reverse()  # Dexcom answers newest first
        return 200, {"recordType": "egv", "recordVersion": "3.0", "userId": user, "records": records}


def _floor(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


class _Handler(JsonRequestHandler):
    cloud: DexcomStandIn

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path, _, raw = self.path.partition("?")
        query = dict(urllib.parse.parse_qsl(raw))
        if path == "/v3/oauth2/login":
            self._page(*self.cloud.login_page(query))
            return
        if path != "/v3/users/self/egvs":
            self._send(404, {"error": "Not Found"})
            return
        if not self.cloud.within_rate():
            self.send_response(429)
            self.send_header("Retry-After", "60")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        held = self.cloud.state.access.get(token)
        if held is None or held[1] < time.time():
            self._send(401, {"error": "invalid_token"})
            return
        self._send(*self.cloud.egvs(held[0], query))

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.path == "/v3/oauth2/login":  # the sign-in page's form
            status, location = self.cloud.signed_in(dict(urllib.parse.parse_qsl(raw)))
            self._page(status, "", location) if status == 302 else self._page(status, "Sign-in refused.")
            return
        if self.path == "/v3/oauth2/token":
            self._send(*self.cloud.token(dict(urllib.parse.parse_qsl(raw))))
            return
        if self.path == "/_control/rate":
            self.cloud.set_rate(int(json.loads(raw or "{}").get("per_hour", RATE_PER_HOUR)))
            self._send(200, {})
            return
        self._send(404, {"error": "Not Found"})
