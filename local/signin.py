"""Cognito's managed login, locally: what a tenant's user-pool domain serves, under
`BASE/auth/<pool>/` on the gateway (moto has no hosted UI and no `/oauth2/authorize`).

Authorization code with PKCE (S256 only), the sign-in form, the workforce's TOTP step, a session
cookie that makes the next authorization password-free, single-use codes that live five minutes,
the token endpoint (authorization code and refresh token, with Cognito's error answers and CORS for
the tenant's web origins), sign-up with e-mail verification, forgotten passwords and logout.

The pool itself stays moto's: passwords are checked and tokens issued by it (initiate_auth,
sign_up, confirm_sign_up, forgot_password, confirm_forgot_password, REFRESH_TOKEN_AUTH), so the
tokens are the pool's own, signed with the key the gateway's authorizer verifies. What moto does
not check, the stand-in does: the TOTP (moto knows one fixed secret, verified only behind a flag),
the sign-up verification code (moto confirms any), the password policy on a reset, the client's
registered URLs. E-mail goes to an outbox (`BASE/_sim/mail?to=`) instead of SES.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError

from local.tokens import with_claims

POOLS = ("patients", "workforce")
COOKIE = "cognito"  # the managed login's session cookie, as Cognito names it
CODE_LIFETIME_S = 5 * 60  # an authorization code (Cognito: five minutes)
SESSION_LIFETIME_S = 60 * 60  # the managed login's session cookie (Cognito: one hour)
CHALLENGE_LIFETIME_S = 3 * 60  # between the password and the MFA code (Cognito's auth session)
CHALLENGE_ATTEMPTS = 5
VERIFICATION_LIFETIME_S = 24 * 60 * 60  # a sign-up's e-mailed code (Cognito: 24 hours)
RESET_LIFETIME_S = 60 * 60  # a forgotten password's code (Cognito: one hour)
# moto checks a forgotten password's code only when it carries this prefix (the rest it accepts).
MOTO_CODE_PREFIX = "moto-confirmation-code:"
TOTP_STEP_S = 30
PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of a SHA-256, unpadded

# What Cognito says, word for word where it says something.
WRONG_PASSWORD = "Incorrect username or password."  # noqa: S105 (a message)
PASSWORD_ATTEMPTS_EXCEEDED = "Password attempts exceeded"  # noqa: S105 (Cognito's lockout)
WRONG_CODE = "Invalid code received for user"
WRONG_VERIFICATION = "Invalid verification code provided, please try again."
EXPIRED_VERIFICATION = "Invalid code provided, please request a code again."
ACCOUNT_EXISTS = "An account with the given email already exists."
SESSION_EXPIRED = "Your session has expired. Sign in again."

STYLESHEET = b"""\
:root { font-family: system-ui, sans-serif; color: #1b1b1b; background: #f4f6f8; }
body { margin: 0; }
main { max-width: 26rem; margin: 2rem auto; padding: 1.5rem; background: #fff; border-radius: 8px; }
h1 { font-size: 1.5rem; margin-top: 0; }
label { display: block; margin-top: 1rem; font-weight: 600; }
input { display: block; width: 100%; box-sizing: border-box; font-size: 1rem; padding: 0.6rem;
  margin-top: 0.25rem; border: 1px solid #5c6670; border-radius: 4px; }
button { margin-top: 1.5rem; width: 100%; font-size: 1rem; padding: 0.75rem; border: 0;
  border-radius: 4px; background: #0b5cad; color: #fff; cursor: pointer; }
button:focus, input:focus, a:focus { outline: 3px solid #f2a900; outline-offset: 2px; }
[role="alert"] { color: #a4001d; font-weight: 600; }
.notice { color: #1f5f2a; }
.secret { font-family: monospace; font-size: 1.1rem; word-break: break-all; }
nav { margin-top: 1.5rem; display: flex; flex-direction: column; gap: 0.5rem; }
a { color: #0b5cad; }
@media (max-width: 30rem) { main { margin: 0; border-radius: 0; min-height: 100vh; } }
"""

# The stand-in's pages load their stylesheet and nothing else.
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# --- TOTP (RFC 6238 over RFC 4226: HMAC-SHA1, 30-second steps, six digits) ----------------------


def new_totp_secret() -> str:
    """160 random bits in base32, as an authenticator app takes them (Cognito's are 32 characters)."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def totp(secret: str, at: float, *, digits: int = 6, step: int = TOTP_STEP_S) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at // step)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp_matches(secret: str, code: str, at: float) -> bool:
    """The code of this step or the one either side (a phone's clock is allowed to drift)."""
    code = code.strip()
    return any(hmac.compare_digest(totp(secret, at + drift * TOTP_STEP_S), code) for drift in (-1, 0, 1))


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


# --- requests and answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below BASE: /auth/<pool>/..., /auth/static/login.css or /_sim/mail
    query: str
    body: bytes
    headers: Mapping[str, str]
    base: str  # "" or /tenants/<id>
    web_origins: tuple[str, ...]  # whose calls to the token endpoint CORS lets through

    @property
    def params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in urllib.parse.parse_qs(self.query, keep_blank_values=True).items()}

    @property
    def form(self) -> dict[str, str]:
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return {}
        text = self.body.decode(errors="replace")
        return {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}

    @property
    def session_id(self) -> str | None:
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value:
                return value
        return None


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


_UNIT_S = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def token_validity_s(client: Mapping[str, Any], kind: str) -> int:
    """How long a client's access or ID tokens (`kind`) live, in seconds, as Cognito reads the
    client: an hour when it names none, its amount in hours when it names no unit."""
    amount = client.get(f"{kind}Validity")
    if not amount:
        return 3600
    return int(amount) * _UNIT_S[(client.get("TokenValidityUnits") or {}).get(kind, "hours")]


def _redirect(location: str, **headers: str) -> Answer:
    return Answer(302, {"Location": location, "Cache-Control": "no-store", **headers})


def _json(status: int, body: Any, headers: Mapping[str, str] = {}) -> Answer:
    return Answer(
        status,
        {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache", **headers},
        json.dumps(body).encode(),
    )


def _with_query(url: str, params: Mapping[str, str]) -> str:
    present = {k: v for k, v in params.items() if v}
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(present)


# --- what the stand-in keeps (in memory: a restart signs everyone out, as a new session would) ---


@dataclass(frozen=True)
class Authorization:
    """A checked authorization request (the query string the login pages carry along)."""

    client_id: str
    redirect_uri: str
    state: str
    challenge: str
    scope: str
    nonce: str
    prompt: str
    query: str


@dataclass(frozen=True)
class Session:
    username: str
    refresh_token: str
    expires_at: float


@dataclass(frozen=True)
class Grant:
    """An authorization code's promise, redeemed once at the token endpoint."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    refresh_token: str
    expires_at: float


class Expiring(Protocol):
    @property
    def expires_at(self) -> float: ...


Step = TypeVar("Step", bound=Expiring)


@dataclass
class NewPassword:
    """Between a temporary password (an account an admin made) and the user's own."""

    username: str
    session: str  # Cognito's, for RespondToAuthChallenge
    client_id: str
    expires_at: float


@dataclass
class Challenge:
    """Between a workforce user's password and their TOTP code."""

    username: str
    refresh_token: str
    expires_at: float
    secret: str | None = None  # a secret being enrolled (no secret yet for this user)
    attempts: int = 0


@dataclass(frozen=True)
class PendingSignUp:
    username: str
    password: str  # kept in memory until the code is confirmed, to sign the person in then
    expires_at: float


@dataclass
class Mail:
    to: str
    subject: str
    body: str
    code: str
    at: str


@dataclass
class SignIn:
    """One tenant's two managed-login domains."""

    tenant_id: str
    idp: Any  # a cognito-idp client of the emulator
    user_pools: Mapping[str, str]  # patients|workforce -> pool id
    # Seeded workforce users' TOTP secrets by e-mail; enrolments at run time are added here.
    totp_secrets: MutableMapping[str, str]
    clock: Callable[[], float] = time.time
    outbox: list[Mail] = field(default_factory=list)
    _sessions: dict[tuple[str, str], Session] = field(default_factory=dict)
    _grants: dict[str, tuple[str, Grant]] = field(default_factory=dict)
    _challenges: dict[str, Challenge] = field(default_factory=dict)
    _new_passwords: dict[str, NewPassword] = field(default_factory=dict)
    _sign_ups: dict[str, PendingSignUp] = field(default_factory=dict)
    _verification: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    _resets: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- dispatch --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Answer:
        if request.path == "/_sim/mail" and request.method == "GET":
            to = request.params.get("to", "").lower()
            return _json(200, [vars(m) for m in self.outbox if m.to == to])
        if request.path == "/auth/static/login.css" and request.method in ("GET", "HEAD"):
            return Answer(
                200, {"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=300"}, STYLESHEET
            )
        parts = request.path.removeprefix("/auth/").split("/", 1)
        if len(parts) != 2 or parts[0] not in self.user_pools:
            return self._not_found(request)
        pool, endpoint = parts
        route = {
            ("oauth2/authorize", "GET"): self._authorize,
            ("oauth2/token", "POST"): self._token,
            ("oauth2/token", "OPTIONS"): self._preflight,
            ("login", "GET"): self._login_page,
            ("login", "POST"): self._login,
            ("mfa", "POST"): self._mfa,
            ("new-password", "POST"): self._new_password,
            ("logout", "GET"): self._logout,
            ("forgot-password", "GET"): self._forgot_page,
            ("forgot-password", "POST"): self._forgot,
            ("reset-password", "POST"): self._reset,
            **(
                {
                    ("signup", "GET"): self._sign_up_page,
                    ("signup", "POST"): self._sign_up,
                    ("confirm", "POST"): self._confirm,
                }
                if pool == "patients"  # the workforce's accounts are made by admins only
                else {}
            ),
        }.get((endpoint, request.method))
        if route is None:
            return self._not_found(request)
        return route(pool, request)

    # --- the authorization request ---------------------------------------------------------------

    def _client(self, pool: str, client_id: str) -> dict[str, Any] | None:
        if not client_id:
            return None
        try:
            client: dict[str, Any] = self.idp.describe_user_pool_client(
                UserPoolId=self.user_pools[pool], ClientId=client_id
            )["UserPoolClient"]
        except ClientError:
            return None
        return client

    def _authorization(self, pool: str, request: Request) -> Authorization | Answer:
        """The request checked as Cognito checks it: an unknown client or an unregistered
        redirect_uri gets an error page (never a redirect to a URL nobody registered); anything
        else wrong goes back to the registered redirect_uri with `error=`."""
        params = request.params
        client = self._client(pool, params.get("client_id", ""))
        if client is None:
            return self._error_page(request, 400, "The client is not known to this user pool.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.get("CallbackURLs", []):
            return self._error_page(request, 400, "The redirect_uri is not registered for this client.")

        def refused(error: str, description: str) -> Answer:
            return _redirect(
                _with_query(
                    redirect_uri,
                    {"error": error, "error_description": description, "state": params.get("state", "")},
                )
            )

        if not client.get("AllowedOAuthFlowsUserPoolClient") or "code" not in client.get(
            "AllowedOAuthFlows", []
        ):
            return refused("unauthorized_client", "The client may not use the authorization code grant.")
        if params.get("response_type") != "code":
            return refused("unsupported_response_type", "Only response_type=code is supported.")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not PKCE_CHALLENGE.match(challenge):
            return refused(
                "invalid_request", "A PKCE code_challenge with code_challenge_method=S256 is required."
            )
        scope = params.get("scope", "")
        allowed = set(client.get("AllowedOAuthScopes", []))
        if not set(scope.split()) <= allowed:
            return refused("invalid_scope", "A requested scope is not allowed for this client.")
        prompt = params.get("prompt", "")
        if prompt not in ("", "login", "none"):
            return refused("invalid_request", "prompt must be login or none.")
        return Authorization(
            client_id=client["ClientId"],
            redirect_uri=redirect_uri,
            state=params.get("state", ""),
            challenge=challenge,
            scope=scope or " ".join(sorted(allowed)),
            nonce=params.get("nonce", ""),
            prompt=prompt,
            query=request.query,
        )

    def _authorize(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        session = self._session(pool, request)
        if session is not None and checked.prompt != "login":
            return self._issue_code(pool, checked, session.refresh_token)
        if checked.prompt == "none":
            return _redirect(
                _with_query(checked.redirect_uri, {"error": "login_required", "state": checked.state})
            )
        return _redirect(f"{request.base}/auth/{pool}/login?{request.query}")

    def _session(self, pool: str, request: Request) -> Session | None:
        session_id = request.session_id
        if session_id is None:
            return None
        with self._lock:
            session = self._sessions.get((pool, session_id))
            if session is not None and session.expires_at <= self.clock():
                del self._sessions[(pool, session_id)]
                return None
        return session

    def _issue_code(
        self, pool: str, authorization: Authorization, refresh_token: str, **headers: str
    ) -> Answer:
        code = secrets.token_urlsafe(24)
        grant = Grant(
            client_id=authorization.client_id,
            redirect_uri=authorization.redirect_uri,
            challenge=authorization.challenge,
            nonce=authorization.nonce,
            refresh_token=refresh_token,
            expires_at=self.clock() + CODE_LIFETIME_S,
        )
        with self._lock:
            self._grants[code] = (pool, grant)
        return _redirect(
            _with_query(authorization.redirect_uri, {"code": code, "state": authorization.state}), **headers
        )

    def _signed_in(
        self, pool: str, request: Request, authorization: Authorization, username: str, refresh_token: str
    ) -> Answer:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[(pool, session_id)] = Session(
                username, refresh_token, self.clock() + SESSION_LIFETIME_S
            )
        cookie = f"{COOKIE}={session_id}; HttpOnly; SameSite=Lax; Path={request.base}/auth/{pool}"
        return self._issue_code(pool, authorization, refresh_token, **{"Set-Cookie": cookie})

    # --- sign-in ---------------------------------------------------------------------------------

    def _login_page(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        return self._login_form(pool, request)

    def _login(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        form = request.form
        username, password = form.get("email", "").strip().lower(), form.get("password", "")
        try:
            result = self.idp.initiate_auth(
                ClientId=checked.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as error:
            kind = error.response["Error"]["Code"]
            if kind == "UserNotConfirmedException" and pool == "patients":
                return self._confirm_form(request, self._start_verification(pool, username, password))
            # No word on whether the account exists (the clients prevent user-existence errors);
            # a lockout (too many wrong passwords) says so, as the managed login does.
            said = error.response["Error"]["Message"]
            shown = said if said == PASSWORD_ATTEMPTS_EXCEEDED else WRONG_PASSWORD
            return self._login_form(pool, request, error=shown, email=username)
        if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":  # an admin made the account
            pending = secrets.token_urlsafe(24)
            with self._lock:
                self._new_passwords[pending] = NewPassword(
                    username, result["Session"], checked.client_id, self.clock() + CHALLENGE_LIFETIME_S
                )
            return self._new_password_form(pool, request, pending)
        return self._after_password(pool, request, checked, username, result)

    def _live(
        self, steps: dict[str, Step], step_id: str, usable: Callable[[Step], bool] = lambda _: True
    ) -> Step | None:
        """A step in progress (a sign-up to confirm, a password to change, a code to give) by the
        id its form carried, unless it has expired or is used up: then it is forgotten."""
        with self._lock:
            step = steps.get(step_id)
            if step is not None and (step.expires_at <= self.clock() or not usable(step)):
                del steps[step_id]
                step = None
        return step

    def _new_password(self, pool: str, request: Request) -> Answer:
        """The managed login's "Change password" step: the new password twice, held to the pool's
        policy, then on as after any password (the workforce to their TOTP)."""
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        form = request.form
        pending_id = form.get("session", "")
        pending = self._live(self._new_passwords, pending_id)
        if pending is None or pending.client_id != checked.client_id:
            return self._login_form(pool, request, error=SESSION_EXPIRED)
        password = form.get("password", "")
        problem = self._password_problem(pool, password)
        if password != form.get("confirm", ""):
            problem = "Passwords do not match."
        if problem is not None:
            return self._new_password_form(pool, request, pending_id, error=problem)
        result = self.idp.respond_to_auth_challenge(
            ClientId=checked.client_id,
            ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=pending.session,
            ChallengeResponses={"USERNAME": pending.username, "NEW_PASSWORD": password},
        )
        with self._lock:
            self._new_passwords.pop(pending_id, None)
        return self._after_password(pool, request, checked, pending.username, result)

    def _after_password(
        self, pool: str, request: Request, checked: Authorization, username: str, result: Mapping[str, Any]
    ) -> Answer:
        refresh_token = result["AuthenticationResult"]["RefreshToken"]
        if pool != "workforce":
            return self._signed_in(pool, request, checked, username, refresh_token)
        # The workforce pool requires TOTP (MFA_REQUIRED, software token only).
        known = self.totp_secrets.get(username)
        challenge = Challenge(
            username,
            refresh_token,
            self.clock() + CHALLENGE_LIFETIME_S,
            secret=None if known else new_totp_secret(),
        )
        challenge_id = secrets.token_urlsafe(24)
        with self._lock:
            self._challenges[challenge_id] = challenge
        return self._mfa_form(request, challenge_id, challenge)

    def _mfa(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        form = request.form
        challenge_id = form.get("session", "")
        challenge = self._live(self._challenges, challenge_id, lambda c: c.attempts < CHALLENGE_ATTEMPTS)
        if challenge is None:
            return self._login_form(pool, request, error=SESSION_EXPIRED)
        secret = challenge.secret or self.totp_secrets.get(challenge.username, "")
        if not secret or not totp_matches(secret, form.get("code", ""), self.clock()):
            challenge.attempts += 1
            return self._mfa_form(request, challenge_id, challenge, error=WRONG_CODE)
        with self._lock:
            self._challenges.pop(challenge_id, None)
            if challenge.secret:
                self.totp_secrets[challenge.username] = challenge.secret
        return self._signed_in(pool, request, checked, challenge.username, challenge.refresh_token)

    def _logout(self, pool: str, request: Request) -> Answer:
        """`logout?client_id&logout_uri`: the session ends, back to a registered sign-out URL.
        `logout?client_id&redirect_uri&response_type...`: ends it and starts a new sign-in."""
        params = request.params
        client = self._client(pool, params.get("client_id", ""))
        if client is None:
            return self._error_page(request, 400, "The client is not known to this user pool.")
        logout_uri = params.get("logout_uri")
        if logout_uri is not None and logout_uri not in client.get("LogoutURLs", []):
            return self._error_page(request, 400, "The logout_uri is not registered for this client.")
        if logout_uri is None and params.get("redirect_uri") not in client.get("CallbackURLs", []):
            return self._error_page(request, 400, "The redirect_uri is not registered for this client.")
        session_id = request.session_id
        if session_id:
            with self._lock:
                self._sessions.pop((pool, session_id), None)
        clear = f"{COOKIE}=; Max-Age=0; HttpOnly; SameSite=Lax; Path={request.base}/auth/{pool}"
        if logout_uri is not None:
            return _redirect(logout_uri, **{"Set-Cookie": clear})
        again = urllib.parse.urlencode({k: v for k, v in params.items() if k != "logout_uri"})
        return _redirect(f"{request.base}/auth/{pool}/login?{again}", **{"Set-Cookie": clear})

    # --- the token endpoint ----------------------------------------------------------------------

    def _cors(self, request: Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin and origin in request.web_origins:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    def _preflight(self, pool: str, request: Request) -> Answer:
        return Answer(
            204,
            {
                **self._cors(request),
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Authorization,Content-Type",
                "Access-Control-Max-Age": "600",
            },
        )

    def _token(self, pool: str, request: Request) -> Answer:
        cors = self._cors(request)
        if not request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return _json(400, {"error": "invalid_request"}, cors)
        form = request.form
        client = self._client(pool, form.get("client_id", ""))
        if client is None or client.get("ClientSecret"):  # a confidential client must authenticate
            return _json(400, {"error": "invalid_client"}, cors)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._redeem(pool, client, form, cors)
        if grant_type == "refresh_token":
            if not form.get("refresh_token"):
                return _json(400, {"error": "invalid_request"}, cors)
            try:
                result = self.idp.initiate_auth(
                    ClientId=client["ClientId"],
                    AuthFlow="REFRESH_TOKEN_AUTH",
                    AuthParameters={"REFRESH_TOKEN": form.get("refresh_token", "")},
                )["AuthenticationResult"]
            except ClientError:
                return _json(400, {"error": "invalid_grant"}, cors)
            # Cognito gives no new refresh token on a refresh (rotation is off for these clients).
            return _json(200, self._tokens(client, result, nonce=""), cors)
        return _json(400, {"error": "unsupported_grant_type"}, cors)

    def _redeem(
        self, pool: str, client: dict[str, Any], form: Mapping[str, str], cors: dict[str, str]
    ) -> Answer:
        with self._lock:  # single use: the first try spends the code, whatever it brings
            found = self._grants.pop(form.get("code", ""), None)
        if found is None or found[0] != pool:
            return _json(400, {"error": "invalid_grant"}, cors)
        grant = found[1]
        if (
            grant.expires_at <= self.clock()
            or grant.client_id != client["ClientId"]
            or grant.redirect_uri != form.get("redirect_uri")
            or not hmac.compare_digest(s256(form.get("code_verifier", "")), grant.challenge)
        ):
            return _json(400, {"error": "invalid_grant"}, cors)
        try:
            result = self.idp.initiate_auth(
                ClientId=client["ClientId"],
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": grant.refresh_token},
            )["AuthenticationResult"]
        except ClientError:  # signed out everywhere since the code was issued
            return _json(400, {"error": "invalid_grant"}, cors)
        return _json(
            200,
            {**self._tokens(client, result, nonce=grant.nonce), "refresh_token": grant.refresh_token},
            cors,
        )

    @staticmethod
    def _tokens(client: Mapping[str, Any], result: Mapping[str, Any], *, nonce: str) -> dict[str, Any]:
        """moto's tokens, living as long as the client says (moto's last an hour whatever it
        says; the portals' clients say 15 minutes, so the apps refresh as they will in AWS)."""
        access_s, id_s = (token_validity_s(client, kind) for kind in ("AccessToken", "IdToken"))
        access = with_claims(result["AccessToken"], {}, lifetime_s=access_s)
        claims = {"nonce": nonce} if nonce else {}
        return {
            "access_token": access,
            "id_token": with_claims(result["IdToken"], claims, lifetime_s=id_s),
            "expires_in": access_s,
            "token_type": "Bearer",
        }

    # --- sign-up and e-mail verification (patients) ----------------------------------------------

    def _sign_up_page(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        return self._sign_up_form(pool, request)

    def _sign_up(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        form = request.form
        username, password = form.get("email", "").strip().lower(), form.get("password", "")
        problem = self._password_problem(pool, password)
        if not username:
            problem = "Fill in every field."
        if problem is None:
            try:
                # The pool requires no attribute but the e-mail, so the managed login asks for no
                # other: a patient's name and the rest are the clinic's record, not Cognito's.
                self.idp.sign_up(
                    ClientId=checked.client_id,
                    Username=username,
                    Password=password,
                    UserAttributes=[{"Name": "email", "Value": username}],
                )
            except ClientError as error:
                kind = error.response["Error"]["Code"]
                problem = {
                    "UsernameExistsException": ACCOUNT_EXISTS,
                    "InvalidPasswordException": "Password does not conform to policy.",
                }.get(kind, "Username should be an email.")
        if problem is not None:
            return self._sign_up_form(pool, request, error=problem, values=form)
        return self._confirm_form(request, self._start_verification(pool, username, password))

    def _start_verification(self, pool: str, username: str, password: str) -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        pending = secrets.token_urlsafe(24)
        now = self.clock()
        with self._lock:
            self._verification[(pool, username)] = (code, now + VERIFICATION_LIFETIME_S)
            self._sign_ups[pending] = PendingSignUp(username, password, now + RESET_LIFETIME_S)
        self._mail(username, "Your verification code", f"Your verification code is {code}.", code)
        return pending

    def _confirm(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        form = request.form
        pending_id = form.get("session", "")
        now = self.clock()
        pending = self._live(self._sign_ups, pending_id)
        with self._lock:
            expected = self._verification.get((pool, pending.username)) if pending else None
        if pending is None or expected is None:
            return self._login_form(pool, request, error=SESSION_EXPIRED)
        code, until = expected
        if until <= now:
            return self._confirm_form(request, pending_id, error=EXPIRED_VERIFICATION)
        if not hmac.compare_digest(form.get("code", "").strip(), code):
            return self._confirm_form(request, pending_id, error=WRONG_VERIFICATION)
        try:
            self.idp.confirm_sign_up(
                ClientId=checked.client_id, Username=pending.username, ConfirmationCode=code
            )
            failed = None
        except ClientError as error:  # a trigger that failed: confirmed all the same, not signed in
            if error.response["Error"]["Code"] != "UserLambdaValidationException":
                raise
            failed = error.response["Error"]["Message"]
        with self._lock:
            self._sign_ups.pop(pending_id, None)
            self._verification.pop((pool, pending.username), None)
        if failed is not None:
            return self._login_form(pool, request, error=failed)
        result = self.idp.initiate_auth(
            ClientId=checked.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": pending.username, "PASSWORD": pending.password},
        )["AuthenticationResult"]
        return self._signed_in(pool, request, checked, pending.username, result["RefreshToken"])

    # --- a forgotten password --------------------------------------------------------------------

    def _forgot_page(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        return self._forgot_form(request)

    def _forgot(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        username = request.form.get("email", "").strip().lower()
        if not username:
            return self._forgot_form(request, error="Enter your email address.")
        try:
            answer = self.idp.forgot_password(ClientId=checked.client_id, Username=username)
            moto_code = answer["ResponseMetadata"]["HTTPHeaders"].get(
                "x-moto-forgot-password-confirmation-code", ""
            )
        except ClientError:
            moto_code = ""
        if moto_code.startswith(MOTO_CODE_PREFIX):  # else no such user: nothing is sent, nothing is said
            code = moto_code.removeprefix(MOTO_CODE_PREFIX)
            with self._lock:
                self._resets[(pool, username)] = self.clock() + RESET_LIFETIME_S
            self._mail(username, "Your password reset code", f"Your password reset code is {code}.", code)
        return self._reset_form(request, username)

    def _reset(self, pool: str, request: Request) -> Answer:
        checked = self._authorization(pool, request)
        if isinstance(checked, Answer):
            return checked
        form = request.form
        username, code, password = (
            form.get("email", ""),
            form.get("code", "").strip(),
            form.get("password", ""),
        )
        problem = self._password_problem(pool, password)
        if problem is not None:
            return self._reset_form(request, username, error=problem)
        with self._lock:
            until = self._resets.get((pool, username), 0.0)
        if until <= self.clock():
            return self._reset_form(
                request, username, error=EXPIRED_VERIFICATION if until else WRONG_VERIFICATION
            )
        try:
            # moto compares a code with its prefix to the one it issued.
            self.idp.confirm_forgot_password(
                ClientId=checked.client_id,
                Username=username,
                ConfirmationCode=MOTO_CODE_PREFIX + code,
                Password=password,
            )
        except ClientError:
            return self._reset_form(request, username, error=WRONG_VERIFICATION)
        with self._lock:
            self._resets.pop((pool, username), None)
        return self._login_form(
            pool, request, notice="Your password has been reset. Sign in with the new one."
        )

    def _policy(self, pool: str) -> dict[str, Any]:
        described = self.idp.describe_user_pool(UserPoolId=self.user_pools[pool])["UserPool"]
        policy: dict[str, Any] = described.get("Policies", {}).get("PasswordPolicy", {})
        return policy

    def _password_rules(self, pool: str) -> str:
        policy = self._policy(pool)
        kinds = [
            words
            for key, words in (
                ("RequireUppercase", "an upper case letter"),
                ("RequireLowercase", "a lower case letter"),
                ("RequireNumbers", "a number"),
                ("RequireSymbols", "a symbol"),
            )
            if policy.get(key)
        ]
        rules = f"At least {policy.get('MinimumLength', 8)} characters"
        return rules + (f", with {', '.join(kinds)}." if kinds else ".")

    def _password_problem(self, pool: str, password: str) -> str | None:
        """The pool's password policy, as Cognito words what is missing (moto does not check it
        on a reset)."""
        policy = self._policy(pool)
        checks = (
            (len(password) >= policy.get("MinimumLength", 8), "Password not long enough"),
            (
                not policy.get("RequireUppercase") or re.search(r"[A-Z]", password),
                "Password must have uppercase characters",
            ),
            (
                not policy.get("RequireLowercase") or re.search(r"[a-z]", password),
                "Password must have lowercase characters",
            ),
            (
                not policy.get("RequireNumbers") or re.search(r"\d", password),
                "Password must have numeric characters",
            ),
            (
                not policy.get("RequireSymbols") or re.search(r"[^A-Za-z0-9 ]", password),
                "Password must have symbol characters",
            ),
        )
        for ok, words in checks:
            if not ok:
                return f"Password does not conform to policy: {words}"
        return None

    def _mail(self, to: str, subject: str, body: str, code: str) -> None:
        with self._lock:
            self.outbox.append(Mail(to, subject, body, code, datetime.now(UTC).isoformat(timespec="seconds")))
            del self.outbox[:-1000]

    # --- pages -----------------------------------------------------------------------------------

    def _page(self, request: Request, title: str, content: str, *, status: int = 200) -> Answer:
        page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{html.escape(request.base)}/auth/static/login.css">
</head>
<body>
<main>
<h1>{html.escape(title)}</h1>
{content}
</main>
</body>
</html>
"""
        return Answer(status, dict(PAGE_HEADERS), page.encode())

    @staticmethod
    def _alert(error: str | None, notice: str | None = None) -> str:
        if error:
            return f'<p role="alert">{html.escape(error)}</p>'
        if notice:
            return f'<p class="notice" role="status">{html.escape(notice)}</p>'
        return ""

    @staticmethod
    def _action(request: Request, endpoint: str) -> str:
        pool = request.path.removeprefix("/auth/").split("/", 1)[0]
        return html.escape(f"{request.base}/auth/{pool}/{endpoint}?{request.query}")

    def _login_form(
        self,
        pool: str,
        request: Request,
        *,
        error: str | None = None,
        notice: str | None = None,
        email: str = "",
    ) -> Answer:
        links = [f'<a href="{self._action(request, "forgot-password")}">Forgot your password?</a>']
        if pool == "patients":
            links.insert(0, f'<a href="{self._action(request, "signup")}">Create an account</a>')
        content = f"""{self._alert(error, notice)}
<form method="post" action="{self._action(request, "login")}">
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{html.escape(email)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<nav aria-label="Account">{"".join(links)}</nav>"""
        return self._page(request, "Sign in", content)

    def _mfa_form(
        self, request: Request, challenge_id: str, challenge: Challenge, *, error: str | None = None
    ) -> Answer:
        setup = ""
        if challenge.secret:  # Cognito's MFA setup: the secret to add to an authenticator app
            setup = (
                "<p>Add this secret key to your authenticator app, then enter the code it shows.</p>"
                f'<p class="secret">{html.escape(challenge.secret)}</p>'
            )
        content = f"""{self._alert(error)}
{setup}<p>Enter the 6-digit code from your authenticator app.</p>
<form method="post" action="{self._action(request, "mfa")}">
<input type="hidden" name="session" value="{html.escape(challenge_id)}">
<label for="code">Code</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code"
 pattern="[0-9]{{6}}" maxlength="6" required>
<button type="submit">Verify</button>
</form>"""
        return self._page(request, "Multi-factor authentication", content)

    def _new_password_form(
        self, pool: str, request: Request, pending_id: str, *, error: str | None = None
    ) -> Answer:
        content = f"""{self._alert(error)}
<p>Your account was made with a temporary password. Choose your own to continue.</p>
<form method="post" action="{self._action(request, "new-password")}">
<input type="hidden" name="session" value="{html.escape(pending_id)}">
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required
 aria-describedby="password-rules">
<p id="password-rules">{html.escape(self._password_rules(pool))}</p>
<label for="confirm">Confirm new password</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
<button type="submit">Change password</button>
</form>"""
        return self._page(request, "Change your password", content)

    def _sign_up_form(
        self, pool: str, request: Request, *, error: str | None = None, values: Mapping[str, str] = {}
    ) -> Answer:
        def value(name: str) -> str:
            return html.escape(values.get(name, ""))

        content = f"""{self._alert(error)}
<form method="post" action="{self._action(request, "signup")}">
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{value("email")}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required
 aria-describedby="password-rules">
<p id="password-rules">{html.escape(self._password_rules(pool))}</p>
<button type="submit">Sign up</button>
</form>
<nav aria-label="Account"><a href="{self._action(request, "login")}">Sign in</a></nav>"""
        return self._page(request, "Create an account", content)

    def _confirm_form(self, request: Request, pending_id: str, *, error: str | None = None) -> Answer:
        content = f"""{self._alert(error)}
<p>We have sent a code by email. Enter it below to confirm your account.</p>
<form method="post" action="{self._action(request, "confirm")}">
<input type="hidden" name="session" value="{html.escape(pending_id)}">
<label for="code">Code</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
<button type="submit">Confirm account</button>
</form>"""
        return self._page(request, "Confirm your account", content)

    def _forgot_form(self, request: Request, *, error: str | None = None) -> Answer:
        content = f"""{self._alert(error)}
<p>Enter your email address and we will send you a code to reset your password.</p>
<form method="post" action="{self._action(request, "forgot-password")}">
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="username" required>
<button type="submit">Reset my password</button>
</form>
<nav aria-label="Account"><a href="{self._action(request, "login")}">Sign in</a></nav>"""
        return self._page(request, "Forgot your password?", content)

    def _reset_form(self, request: Request, username: str, *, error: str | None = None) -> Answer:
        content = f"""{self._alert(error)}
<p>If an account exists for that address, we have sent it a code by email.</p>
<form method="post" action="{self._action(request, "reset-password")}">
<input type="hidden" name="email" value="{html.escape(username)}">
<label for="code">Code</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required>
<button type="submit">Change password</button>
</form>"""
        return self._page(request, "Reset your password", content)

    def _error_page(self, request: Request, status: int, message: str) -> Answer:
        return self._page(
            request, "Something went wrong", f'<p role="alert">{html.escape(message)}</p>', status=status
        )

    def _not_found(self, request: Request) -> Answer:
        return self._error_page(request, 404, "There is no such page.")
