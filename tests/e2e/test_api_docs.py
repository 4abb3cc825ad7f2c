"""Swagger UI at /docs signs in as a portal does: authorization code with PKCE through each pool's
managed login (the stand-in here), with that pool's portal client, its redirect page a registered
callback of the client; its pages run under a policy of their own with no inline script or style.
Over HTTP, as the page's scripts would make the requests (tests/e2e/browser has the clicks)."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import pytest

from infra.topology import USER_SCOPE
from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD
from tests.conftest import Reply, http
from tests.e2e.test_signin import Browser, form_action, pkce

TENANT = "riverside"  # the default tenant: its BASE is "" as well as /tenants/riverside
PATIENT = f"patient.two@{TENANT}.example"


def docs_settings(page: Reply) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="docs-settings">(.*?)</script>', page.body.decode()
    )
    assert found, page.body.decode()[:500]
    settings: dict[str, Any] = json.loads(found.group(1))
    return settings


def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (d.split() for d in policy.split(";") if d.strip())}


@pytest.fixture(scope="module")
def served(gateway: str) -> dict[str, Any]:
    """The Authorize dialog's endpoints, by scheme, as the document /docs loads has them."""
    document = http("GET", f"{gateway}/openapi.json")
    assert document.status == 200
    schemes: dict[str, Any] = document.json()["components"]["securitySchemes"]
    return schemes


def test_docs_hands_swagger_ui_each_pools_portal_client_with_pkce_and_its_managed_login(
    platform: LocalPlatform, gateway: str, served: dict[str, Any]
) -> None:
    page = http("GET", f"{gateway}/docs")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    settings = docs_settings(page)
    clients = platform.provisioned[TENANT].portal_clients
    assert settings["clients"] == {"patients": clients["patients"], "workforce": clients["workforce"]}
    assert settings["oauth"]["usePkceWithAuthorizationCodeGrant"] is True
    assert USER_SCOPE in settings["oauth"]["scopes"]
    assert (
        urllib.parse.urljoin(f"{gateway}/docs", settings["redirectPath"])
        == f"{gateway}/docs/oauth2-redirect.html"
    )
    for pool in ("patients", "workforce"):
        flow = served[pool]["flows"]["authorizationCode"]
        login = f"{gateway}/tenants/{TENANT}/auth/{pool}/oauth2"
        assert (flow["authorizationUrl"], flow["tokenUrl"]) == (f"{login}/authorize", f"{login}/token")

    # Its own policy: scripts and styles from the API alone, nothing inline, no framing; it may
    # reach the managed login's token endpoint (the code is redeemed from the page).
    policy = directives(page.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert gateway in policy["connect-src"]
    assert "unsafe" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "<style" not in page.body.decode() and "style=" not in page.body.decode()
    # Every script the page runs is a file the API serves (the data block is never run).
    scripts = re.findall(r"<script([^>]*)>", page.body.decode())
    sources = [re.search(r'src="([^"]+)"', s) for s in scripts if "application/json" not in s]
    assert all(sources) and len(sources) == 2, scripts
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.body.decode())
    assert stylesheet
    for path, kind in [(s.group(1), "text/javascript") for s in sources if s] + [
        (stylesheet.group(1), "text/css")
    ]:
        asset = http("GET", urllib.parse.urljoin(f"{gateway}/docs", path))
        assert asset.status == 200 and asset.headers["Content-Type"].startswith(kind), path
    redirect = http("GET", f"{gateway}/docs/oauth2-redirect.html")
    assert redirect.status == 200 and 'src="oauth2-redirect.js"' in redirect.body.decode()
    assert "<script>" not in redirect.body.decode()
    assert http("GET", f"{gateway}/docs/oauth2-redirect.js").status == 200
    missing = http("GET", f"{gateway}/docs/nothing-here.js")
    assert missing.status == 404 and missing.headers["Content-Type"] == "application/problem+json"


def test_the_docs_redirect_page_is_a_callback_of_each_portal_client_and_its_code_calls_the_api(
    platform: LocalPlatform, gateway: str, served: dict[str, Any]
) -> None:
    clients = platform.provisioned[TENANT].portal_clients
    redirect_uri = f"{gateway}/docs/oauth2-redirect.html"

    def authorize(pool: str, client_id: str, to: str, challenge: str, browser: Browser) -> Reply:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": to,
            "state": "docs-state",
            "scope": f"openid {USER_SCOPE}",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = served[pool]["flows"]["authorizationCode"]["authorizationUrl"]
        return browser.request("GET", f"{url}?{urllib.parse.urlencode(query)}")

    # Both pools' clients accept the docs' redirect page: on to the managed login's form.
    for pool in ("patients", "workforce"):
        accepted = authorize(pool, clients[pool], redirect_uri, pkce()[1], Browser(gateway))
        assert accepted.status == 302 and f"/auth/{pool}/login?" in accepted.headers["Location"], (
            accepted.body
        )
    # Another page, the redirect page under another tenant's BASE, or the other pool's client:
    # Cognito's error page, never a redirect.
    for pool, client_id, to in (
        ("patients", clients["patients"], f"{gateway}/docs/elsewhere.html"),
        ("patients", clients["patients"], f"{gateway}/tenants/desert-clinic/docs/oauth2-redirect.html"),
        ("patients", clients["workforce"], redirect_uri),
    ):
        refused = authorize(pool, client_id, to, pkce()[1], Browser(gateway))
        assert refused.status == 400 and "Location" not in refused.headers, (client_id, to)

    # What Swagger UI does next: the patient signs in, the redirect page hands the code back, and
    # the page redeems it at the token endpoint with its verifier; the token calls the API.
    browser, (verifier, challenge) = Browser(gateway), pkce()
    start = authorize("patients", clients["patients"], redirect_uri, challenge, browser)
    form = browser.request("GET", start.headers["Location"])
    signed_in = browser.request(
        "POST", form_action(form.body, "login"), {"email": PATIENT, "password": DEMO_PASSWORD}
    )
    assert signed_in.status == 302 and signed_in.headers["Location"].startswith(redirect_uri + "?")
    answer = urllib.parse.parse_qs(urllib.parse.urlsplit(signed_in.headers["Location"]).query)
    assert answer["state"] == ["docs-state"]
    tokens = browser.request(
        "POST",
        served["patients"]["flows"]["authorizationCode"]["tokenUrl"],
        {
            "grant_type": "authorization_code",
            "code": answer["code"][0],
            "redirect_uri": redirect_uri,
            "client_id": clients["patients"],
            "code_verifier": verifier,
        },
    )
    assert tokens.status == 200, tokens.body
    mine = http(
        "GET",
        f"{gateway}/v1/appointments",
        headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
    )
    assert mine.status == 200


def test_a_machine_client_gets_its_token_where_the_document_says(
    platform: LocalPlatform, served: dict[str, Any]
) -> None:
    """The workforce pool's managed login, as in AWS (locally the gateway answers it there too)."""
    client_id, secret, _ = next(iter(platform.provisioned[TENANT].machine_clients.values()))
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    token = http(
        "POST",
        served["machines"]["flows"]["clientCredentials"]["tokenUrl"],
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urllib.parse.urlencode(form).encode(),
    )
    assert token.status == 200 and token.json()["token_type"] == "Bearer", token.body  # noqa: S105
