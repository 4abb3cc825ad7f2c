"""Swagger UI at /docs: the API's document, with an Authorize button that signs in through the
tenant's managed login (authorization code with PKCE), each pool's scheme with its portal client.

Where to sign in is the function's configuration (api_conventions' variables; the stack and the
local platform set them), read per request. The pages have a policy of their own, as strict as
Swagger UI allows: no inline script (the page hands its settings to docs.js in a JSON data block,
which a browser never runs), no inline style (Swagger UI's React sets styles through the DOM,
which CSP does not govern), images from the stylesheet's `data:` URLs, and connections to the API
itself and the managed logins' token endpoints.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response

from functions.api.contract import USER_SCOPE
from telehealth import api_conventions

OWN = Path(__file__).with_name("swagger_assets")
JAVASCRIPT, CSS, HTML = (
    "text/javascript; charset=utf-8",
    "text/css; charset=utf-8",
    "text/html; charset=utf-8",
)
# What the Authorize dialog selects: the scope the authorizer asks of every user route, and
# `openid`, as the portals ask (the managed login's ID token; the access token is what is sent).
SCOPES = ("openid", USER_SCOPE)


@dataclass(frozen=True)
class PoolSignIn:
    login_url: str  # the managed login's base URL
    client_id: str  # the pool's portal client (public)

    @property
    def origin(self) -> str:
        parts = urllib.parse.urlsplit(self.login_url)
        return f"{parts.scheme}://{parts.netloc}"


def sign_in() -> dict[str, PoolSignIn]:
    """Each pool's managed login and portal client, by pool kind, from the environment."""
    return {
        pool: PoolSignIn(
            os.environ[api_conventions.login_url_variable(pool)].rstrip("/"),
            os.environ[api_conventions.portal_client_variable(pool)],
        )
        for pool in api_conventions.SIGN_IN_POOLS
    }


def policy(pools: dict[str, PoolSignIn]) -> str:
    login_origins = " ".join(sorted({p.origin for p in pools.values()}))
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {login_origins}",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )


def _headers(pools: dict[str, PoolSignIn], cache_control: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy(pools),
        "X-Content-Type-Options": "nosniff",
        # The redirect page's URL carries the authorization code: no other site is told it.
        "Referrer-Policy": "no-referrer",
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "Cache-Control": cache_control,
    }


def page() -> Response[str]:
    pools = sign_in()
    settings = {
        "redirectPath": "docs" + api_conventions.DOCS_OAUTH_REDIRECT.removeprefix("/docs"),
        # Swagger UI's initOAuth: PKCE (the clients are public, without a secret) and the scopes.
        "oauth": {
            "appName": "Telehealth API",
            "usePkceWithAuthorizationCodeGrant": True,
            "scopes": list(SCOPES),
        },
        # initOAuth has one client id for every scheme; docs.js shows each scheme its pool's.
        "clients": {pool: p.client_id for pool, p in pools.items()},
    }
    # A data block is never run; "<" escaped, so nothing in it can close the element.
    data = json.dumps(settings).replace("<", "\\u003c")
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Telehealth API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<script type="application/json" id="docs-settings">{data}</script>
<script src="docs/swagger-ui-bundle.js" defer></script>
<script src="docs/docs.js" defer></script>
</head>
<body>
<main id="swagger-ui"></main>
</body>
</html>
"""
    return Response(200, HTML, body, _headers(pools, "no-cache"))


def _swagger_ui_dist() -> Path:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    return Path(swagger_ui.__file__).parent


@cache
def _file(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# Below /docs/: Swagger UI's bundle and stylesheet as Powertools ships them, and the page's own.
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": ("swagger-ui-bundle.min.js", JAVASCRIPT),
    "swagger-ui.css": ("swagger-ui.min.css", CSS),
    "docs.js": ("docs.js", JAVASCRIPT),
    "oauth2-redirect.html": ("oauth2-redirect.html", HTML),
    "oauth2-redirect.js": ("oauth2-redirect.js", JAVASCRIPT),
}


def asset(name: str) -> Response[str] | None:
    """One of the page's files; None when there is no such file."""
    if name not in ASSETS:
        return None
    file, content_type = ASSETS[name]
    dist = _swagger_ui_dist() if file.endswith(".min.js") or file.endswith(".min.css") else OWN
    # Swagger UI's files change only with Powertools, that is with a deployment; ours are small.
    cache_control = "max-age=3600" if dist is not OWN else "no-cache"
    return Response(200, content_type, _file(dist / file), _headers(sign_in(), cache_control))
