"""Signing in to the portals through the managed-login stand-in, as a browser would: authorization
code with PKCE, the workforce's TOTP step, the session that makes a reload password-free, refresh,
sign-up with a mailed code, a forgotten password, logout; and what Cognito refuses."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.topology import USER_SCOPE
from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD
from local.signin import CODE_LIFETIME_S, Request, SignIn, totp
from local.tokens import Authorizer
from tests.conftest import Reply
from tests.conftest import http as request_http

TENANT = "riverside"
PROVIDER = f"dr.okafor@{TENANT}.example"
PATIENT = f"patient.two@{TENANT}.example"
NEW_PASSWORD = "Fresh-Passw0rd-42"  # noqa: S105 (synthetic)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@dataclass
class Browser:
    """Follows nothing by itself and keeps its cookies (name -> value, path), as a test needs."""

    origin: str
    cookies: dict[str, tuple[str, str]] = field(default_factory=dict)

    def request(self, method: str, url: str, form: dict[str, str] | None = None, **headers: str) -> Reply:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(self.origin + "/", url))
        sent = dict(headers)
        jar = "; ".join(f"{n}={v}" for n, (v, path) in self.cookies.items() if parts.path.startswith(path))
        if jar:
            sent["Cookie"] = jar
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(parts.netloc, timeout=30)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=body, headers=sent)
            response = connection.getresponse()
            reply = Reply(response.status, dict(response.getheaders()), response.read())
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    self._keep(value)
            return reply
        finally:
            connection.close()

    def _keep(self, header: str) -> None:
        first, *attributes = [p.strip() for p in header.split(";")]
        name, _, value = first.partition("=")
        flags = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attributes}
        if flags.get("max-age") == "0":
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = (value, flags.get("path", "/"))


def form_fields(page: bytes) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.decode()))


def form_action(page: bytes, endpoint: str) -> str:
    found = re.search(rf'<form method="post" action="([^"]*/{endpoint}\?[^"]*)"', page.decode())
    assert found, page.decode()
    return found.group(1).replace("&amp;", "&")


def alert(page: bytes) -> str | None:
    found = re.search(r'<p role="alert">([^<]*)</p>', page.decode())
    return found.group(1).replace("&#x27;", "'") if found else None


@dataclass
class Portal:
    """One pool's portal client at the default tenant's web base."""

    gateway: str
    pool: str
    client_id: str

    @property
    def redirect_uri(self) -> str:
        return self.gateway + ("/" if self.pool == "patients" else "/dashboard/")

    def authorize_url(self, challenge: str, **extra: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": "s-" + secrets.token_hex(4),
            "scope": "openid email profile aws.cognito.signin.user.admin",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"/auth/{self.pool}/oauth2/authorize?{urllib.parse.urlencode(query)}"

    def redeem(self, browser: Browser, code: str, verifier: str, **overrides: str) -> Reply:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": verifier,
            **overrides,
        }
        return browser.request("POST", f"/auth/{self.pool}/oauth2/token", form, Origin=self.gateway)


def code_of(reply: Reply, portal: Portal) -> str:
    assert reply.status == 302, reply.body
    location = reply.headers["Location"]
    assert location.startswith(portal.redirect_uri + "?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert "error" not in query, query
    return query["code"][0]


def password_step(browser: Browser, portal: Portal, challenge: str, email: str, password: str) -> Reply:
    """authorize -> the login page -> the password posted; the answer to the post."""
    start = browser.request("GET", portal.authorize_url(challenge))
    assert start.status == 302 and f"/auth/{portal.pool}/login?" in start.headers["Location"]
    page = browser.request("GET", start.headers["Location"])
    assert page.status == 200 and b'<label for="email">Email address</label>' in page.body
    return browser.request("POST", form_action(page.body, "login"), {"email": email, "password": password})


@pytest.fixture(scope="module")
def portals(platform: LocalPlatform, gateway: str) -> dict[str, Portal]:
    clients = platform.provisioned[TENANT].portal_clients
    return {pool: Portal(gateway, pool, clients[pool]) for pool in ("patients", "workforce")}


def api(gateway: str, token: str) -> int:
    return Browser(gateway).request("GET", "/v1/appointments", Authorization=f"Bearer {token}").status


def test_a_patient_signs_in_reloads_without_a_password_refreshes_and_signs_out(
    portals: dict[str, Portal], gateway: str
) -> None:
    patient, browser = portals["patients"], Browser(gateway)
    verifier, challenge = pkce()
    code = code_of(password_step(browser, patient, challenge, PATIENT, DEMO_PASSWORD), patient)
    assert browser.cookies["cognito"][1] == "/auth/patients"  # HttpOnly session, this pool's path only

    tokens = patient.redeem(browser, code, verifier)
    assert tokens.status == 200
    assert tokens.headers["Access-Control-Allow-Origin"] == gateway
    body = tokens.json()
    assert set(body) == {"access_token", "id_token", "refresh_token", "expires_in", "token_type"}
    assert "aws.cognito.signin.user.admin" in claims(body["access_token"])["scope"].split()
    assert claims(body["id_token"])["email"] == PATIENT
    assert api(gateway, body["access_token"]) == 200
    # As long as the portal's client says (15 minutes), not moto's hour: the apps refresh as in AWS.
    assert body["expires_in"] == 15 * 60
    for token in (body["access_token"], body["id_token"]):
        issued = claims(token)
        assert issued["exp"] - issued["iat"] == 15 * 60

    # A reload: the authorization runs again and the session answers without a password.
    verifier2, challenge2 = pkce()
    again = browser.request("GET", patient.authorize_url(challenge2))
    second = patient.redeem(browser, code_of(again, patient), verifier2)
    assert second.status == 200 and api(gateway, second.json()["access_token"]) == 200

    refreshed = browser.request(
        "POST",
        "/auth/patients/oauth2/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": patient.client_id,
        },
    )
    assert refreshed.status == 200
    assert "refresh_token" not in refreshed.json()  # as Cognito: no new refresh token
    assert refreshed.json()["expires_in"] == 15 * 60
    assert api(gateway, refreshed.json()["access_token"]) == 200

    out = browser.request(
        "GET",
        "/auth/patients/logout?"
        + urllib.parse.urlencode({"client_id": patient.client_id, "logout_uri": patient.redirect_uri}),
    )
    assert out.status == 302 and out.headers["Location"] == patient.redirect_uri
    assert "cognito" not in browser.cookies
    after = browser.request("GET", patient.authorize_url(pkce()[1]))
    assert "/auth/patients/login?" in after.headers["Location"]  # the password again


def test_a_provider_signs_in_with_a_password_and_the_authenticator_code(
    platform: LocalPlatform, portals: dict[str, Portal], gateway: str
) -> None:
    provider, browser = portals["workforce"], Browser(gateway)
    secret = platform.provisioned[TENANT].totp[PROVIDER]
    verifier, challenge = pkce()
    mfa = password_step(browser, provider, challenge, PROVIDER, DEMO_PASSWORD)
    assert mfa.status == 200 and b'<label for="code">Code</label>' in mfa.body
    assert "cognito" not in browser.cookies  # not signed in on a password alone

    wrong = f"{(int(totp(secret, time.time())) + 500_000) % 1_000_000:06d}"
    refused = browser.request("POST", form_action(mfa.body, "mfa"), {**form_fields(mfa.body), "code": wrong})
    assert refused.status == 200 and alert(refused.body) == "Invalid code received for user"
    assert "cognito" not in browser.cookies

    done = browser.request(
        "POST",
        form_action(refused.body, "mfa"),
        {**form_fields(refused.body), "code": totp(secret, time.time())},
    )
    tokens = provider.redeem(browser, code_of(done, provider), verifier).json()
    assert claims(tokens["id_token"])["cognito:groups"] == ["providers"]
    assert api(gateway, tokens["access_token"]) == 200


def test_a_clinician_an_admin_added_changes_the_temporary_password_then_enrols_their_authenticator(
    platform: LocalPlatform, portals: dict[str, Portal], gateway: str
) -> None:
    tenant = platform.provisioned[TENANT]
    idp = platform.client("cognito-idp", tenant.region)
    email, temporary = f"dr.new.{secrets.token_hex(4)}@{TENANT}.example", "Temp-Passw0rd-123!"
    idp.admin_create_user(
        UserPoolId=tenant.user_pools["workforce"],
        Username=email,
        TemporaryPassword=temporary,
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
    )
    idp.admin_add_user_to_group(UserPoolId=tenant.user_pools["workforce"], Username=email, GroupName="staff")
    provider, browser = portals["workforce"], Browser(gateway)
    verifier, challenge = pkce()
    change = password_step(browser, provider, challenge, email, temporary)
    assert change.status == 200 and b"Change your password" in change.body
    action = form_action(change.body, "new-password")
    mismatched = browser.request(
        "POST", action, {**form_fields(change.body), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"}
    )
    assert alert(mismatched.body) == "Passwords do not match."
    weak = browser.request(
        "POST", action, {**form_fields(change.body), "password": "short", "confirm": "short"}
    )
    assert alert(weak.body) == "Password does not conform to policy: Password not long enough"
    mfa = browser.request(
        "POST", action, {**form_fields(change.body), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    # The workforce's MFA: a user with no authenticator yet is given a secret to add first.
    secret = re.search(r'<p class="secret">([A-Z2-7]+)</p>', mfa.body.decode())
    assert secret, mfa.body
    done = browser.request(
        "POST",
        form_action(mfa.body, "mfa"),
        {**form_fields(mfa.body), "code": totp(secret.group(1), time.time())},
    )
    tokens = provider.redeem(browser, code_of(done, provider), verifier).json()
    assert claims(tokens["id_token"])["cognito:groups"] == ["staff"]
    # The temporary password is spent; the new one is theirs.
    old = password_step(Browser(gateway), provider, pkce()[1], email, temporary)
    assert alert(old.body) == "Incorrect username or password."
    again = password_step(Browser(gateway), provider, pkce()[1], email, NEW_PASSWORD)
    assert b"Change your password" not in again.body and b'<label for="code">Code</label>' in again.body


def test_cognitos_refusals(portals: dict[str, Portal], gateway: str) -> None:
    patient, browser = portals["patients"], Browser(gateway)
    wrong = password_step(browser, patient, pkce()[1], PATIENT, "Not-the-passw0rd")
    assert wrong.status == 200 and alert(wrong.body) == "Incorrect username or password."
    nobody = password_step(browser, patient, pkce()[1], f"nobody@{TENANT}.example", "Not-the-passw0rd")
    assert alert(nobody.body) == "Incorrect username or password."  # no word on who exists

    # An unregistered redirect_uri or client: an error page, never a redirect.
    elsewhere = patient.authorize_url(pkce()[1]).replace(
        urllib.parse.quote(patient.redirect_uri, safe=""), urllib.parse.quote("http://evil.example/", safe="")
    )
    for url in (elsewhere, patient.authorize_url(pkce()[1]).replace(patient.client_id, "unknown")):
        page = browser.request("GET", url)
        assert page.status == 400 and "Location" not in page.headers and alert(page.body)
    # A workforce client on the patients' pool is unknown there.
    crossed = portals["workforce"].authorize_url(pkce()[1]).replace("/auth/workforce/", "/auth/patients/")
    assert browser.request("GET", crossed).status == 400

    # A plain or missing challenge, another response type: back to the app with error=.
    for extra, error in (
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid phone"}, "invalid_scope"),
    ):
        answer = browser.request("GET", patient.authorize_url(pkce()[1], **extra))
        assert answer.status == 302
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(answer.headers["Location"]).query)
        assert query["error"] == [error] and "code" not in query

    # Codes: the challenge's own verifier, the same redirect_uri, one use (a failed try spends it).
    verifier, challenge = pkce()
    code = code_of(password_step(browser, patient, challenge, PATIENT, DEMO_PASSWORD), patient)
    assert patient.redeem(browser, code, pkce()[0]).json() == {"error": "invalid_grant"}
    assert patient.redeem(browser, code, verifier).json() == {"error": "invalid_grant"}
    verifier, challenge = pkce()
    code = code_of(browser.request("GET", patient.authorize_url(challenge)), patient)
    moved = patient.redeem(browser, code, verifier, redirect_uri=gateway + "/dashboard/")
    assert moved.status == 400 and moved.json() == {"error": "invalid_grant"}
    verifier, challenge = pkce()
    code = code_of(browser.request("GET", patient.authorize_url(challenge)), patient)
    assert patient.redeem(browser, code, verifier).status == 200
    reused = patient.redeem(browser, code, verifier)
    assert reused.status == 400 and reused.json() == {"error": "invalid_grant"}
    unknown = patient.redeem(browser, "x", "y", client_id="unknown")
    assert unknown.status == 400 and unknown.json() == {"error": "invalid_client"}
    odd = patient.redeem(browser, "x", "y", grant_type="password")
    assert odd.status == 400 and odd.json() == {"error": "unsupported_grant_type"}
    foreign = patient.redeem(Browser(gateway), "x", "y", grant_type="refresh_token")
    assert "Access-Control-Allow-Origin" in foreign.headers  # the tenant's own origin
    evil = Browser(gateway).request(
        "POST", "/auth/patients/oauth2/token", {"grant_type": "refresh_token"}, Origin="http://evil.example"
    )
    assert "Access-Control-Allow-Origin" not in evil.headers


def test_a_new_patient_signs_up_confirms_by_mail_and_resets_a_forgotten_password(
    portals: dict[str, Portal], gateway: str
) -> None:
    patient, browser = portals["patients"], Browser(gateway)
    email = f"new.{secrets.token_hex(4)}@{TENANT}.example"
    verifier, challenge = pkce()
    start = browser.request(
        "GET", browser.request("GET", patient.authorize_url(challenge)).headers["Location"]
    )
    link = re.search(r'href="([^"]*/signup\?[^"]*)">Create an account</a>', start.body.decode())
    assert link, start.body
    signup = browser.request("GET", link.group(1).replace("&amp;", "&"))
    assert b"Create an account" in signup.body
    action = form_action(signup.body, "signup")
    weak = browser.request("POST", action, {"email": email, "password": "short"})
    assert alert(weak.body) == "Password does not conform to policy: Password not long enough"
    confirm = browser.request("POST", action, {"email": email, "password": DEMO_PASSWORD})
    assert confirm.status == 200 and b"Confirm your account" in confirm.body
    mail = mailed(gateway, email)
    assert len(mail) == 1 and re.fullmatch(r"Your verification code is \d{6}\.", mail[0]["body"])
    code = re.search(r"\d{6}", mail[0]["body"]).group(0)  # type: ignore[union-attr]
    wrong = browser.request(
        "POST",
        form_action(confirm.body, "confirm"),
        {**form_fields(confirm.body), "code": f"{(int(code) + 1) % 1_000_000:06d}"},
    )
    assert alert(wrong.body) == "Invalid verification code provided, please try again."
    done = browser.request(
        "POST", form_action(wrong.body, "confirm"), {**form_fields(wrong.body), "code": code}
    )
    tokens = patient.redeem(browser, code_of(done, patient), verifier).json()
    assert claims(tokens["id_token"])["email"] == email
    # Confirmed, they were enrolled (the pool's trigger): the API knows them, by their e-mail alone.
    mine = request_http(
        "GET", f"{gateway}/v1/me/details", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert mine.status == 200 and (mine.json()["email"], mine.json()["complete"]) == (email, False)
    # The workforce's accounts are an admin's to make.
    assert browser.request("GET", "/auth/workforce/signup").status == 404

    # Forgotten: a code by mail, a new password, and the old one no longer works.
    someone = Browser(gateway)
    page = someone.request(
        "GET", someone.request("GET", patient.authorize_url(pkce()[1])).headers["Location"]
    )
    forgot = someone.request("GET", form_action(page.body, "login").replace("/login?", "/forgot-password?"))
    reset = someone.request("POST", form_action(forgot.body, "forgot-password"), {"email": email})
    assert b"Reset your password" in reset.body
    code = re.search(r"\d{6}", mailed(gateway, email)[-1]["body"]).group(0)  # type: ignore[union-attr]
    action = form_action(reset.body, "reset-password")
    bad = someone.request(
        "POST", action, {**form_fields(reset.body), "code": "000000", "password": NEW_PASSWORD}
    )
    assert alert(bad.body) == "Invalid verification code provided, please try again."
    good = someone.request(
        "POST", action, {**form_fields(reset.body), "code": code, "password": NEW_PASSWORD}
    )
    assert good.status == 200 and b"Your password has been reset" in good.body
    old = password_step(someone, patient, pkce()[1], email, DEMO_PASSWORD)
    assert alert(old.body) == "Incorrect username or password."
    code_of(password_step(someone, patient, pkce()[1], email, NEW_PASSWORD), patient)
    # An address with no account: the same page, and no mail is sent.
    ghost = f"ghost.{secrets.token_hex(4)}@{TENANT}.example"
    silent = someone.request("POST", form_action(forgot.body, "forgot-password"), {"email": ghost})
    assert b"Reset your password" in silent.body and mailed(gateway, ghost) == []


def test_five_wrong_passwords_lock_the_account_out_for_a_second_then_the_right_one_works(
    platform: LocalPlatform, portals: dict[str, Portal], gateway: str
) -> None:
    """Cognito's lockout (moto has none; the emulator adds it): a fresh account, so no other
    test's sign-ins are locked out."""
    patient, browser = portals["patients"], Browser(gateway)
    email = f"locked.{secrets.token_hex(4)}@{TENANT}.example"
    tenant = platform.provisioned[TENANT]
    idp = platform.client("cognito-idp", tenant.region)
    idp.sign_up(
        ClientId=patient.client_id,
        Username=email,
        Password=DEMO_PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    idp.admin_confirm_sign_up(UserPoolId=tenant.user_pools["patients"], Username=email)
    for _ in range(5):
        wrong = password_step(browser, patient, pkce()[1], email, "Not-the-passw0rd")
        assert alert(wrong.body) == "Incorrect username or password."
    locked = password_step(browser, patient, pkce()[1], email, DEMO_PASSWORD)
    assert alert(locked.body) == "Password attempts exceeded"  # even the right password, for now
    time.sleep(1.1)  # 2^(5-5) seconds
    code_of(password_step(browser, patient, pkce()[1], email, DEMO_PASSWORD), patient)
    # The success started the count over: one more wrong password is just that.
    again = password_step(Browser(gateway), patient, pkce()[1], email, "Not-the-passw0rd")
    assert alert(again.body) == "Incorrect username or password."


def test_a_code_expires_after_five_minutes(platform: LocalPlatform, portals: dict[str, Portal]) -> None:
    """With the stand-in's clock moved on, against the session's pools (no waiting)."""
    now = [time.time()]
    provisioned = platform.provisioned[TENANT]
    signin = SignIn(
        tenant_id=TENANT,
        idp=platform.client("cognito-idp", provisioned.region),
        user_pools=provisioned.user_pools,
        totp_secrets={},
        clock=lambda: now[0],
    )
    patient = portals["patients"]

    def ask(method: str, url: str, form: dict[str, str] | None = None) -> Any:
        parts = urllib.parse.urlsplit(url)
        return signin.handle(
            Request(
                method=method,
                path=parts.path,
                query=parts.query,
                body=urllib.parse.urlencode(form or {}).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                base="",
                web_origins=(),
            )
        )

    def code_after(seconds: float) -> Any:
        verifier, challenge = pkce()
        login = ask("GET", patient.authorize_url(challenge)).headers["Location"]
        done = ask("POST", login, {"email": PATIENT, "password": DEMO_PASSWORD})
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(done.headers["Location"]).query)["code"][0]
        now[0] += seconds
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": patient.redirect_uri,
            "client_id": patient.client_id,
            "code_verifier": verifier,
        }
        return ask("POST", "/auth/patients/oauth2/token", form)

    late = code_after(CODE_LIFETIME_S + 1)
    assert late.status == 400 and json.loads(late.body) == {"error": "invalid_grant"}
    assert code_after(CODE_LIFETIME_S - 5).status == 200


def mailed(gateway: str, to: str) -> list[dict[str, Any]]:
    reply = Browser(gateway).request("GET", "/_sim/mail?" + urllib.parse.urlencode({"to": to}))
    assert reply.status == 200
    found: list[dict[str, Any]] = reply.json()
    return found


def claims(token: str) -> dict[str, Any]:
    """Checked as the gateway checks them (signature, issuer, expiry, scope), then read."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    scopes = (USER_SCOPE,) if decoded["token_use"] == "access" else ()  # noqa: S105
    return Authorizer(frozenset({decoded["iss"]})).check(f"Bearer {token}", scopes)
