"""Signing in through the managed login in a real browser: the form a person fills by its labels."""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse
from collections.abc import Callable

from playwright.sync_api import Page

from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD
from tools.browser import Screenshots, sign_in

PROVIDER = "dr.okafor@riverside.example"


def test_a_provider_signs_in_with_the_code_from_their_authenticator(
    platform: LocalPlatform,
    web: str,
    open_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    tenant = platform.provisioned[platform.default_tenant]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    state = secrets.token_hex(8)
    back_to = f"{web}dashboard/"
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": tenant.portal_clients["workforce"],
            "redirect_uri": back_to,
            "state": state,
            "scope": "openid email profile aws.cognito.signin.user.admin",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    page = open_page("workforce")
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url) if frame == page.main_frame else None)
    page.goto(f"{web}auth/workforce/oauth2/authorize?{query}")
    screenshot(page, "managed login")
    axe_check(page)

    sign_in(page, PROVIDER, DEMO_PASSWORD, totp=tenant.totp[PROVIDER])

    returned = [url for url in visited if url.startswith(back_to + "?")]
    assert returned, visited
    answer = urllib.parse.parse_qs(urllib.parse.urlsplit(returned[0]).query)
    assert answer["state"] == [state] and len(answer["code"][0]) >= 16
