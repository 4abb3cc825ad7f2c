"""config.json and the CSP: one template, two renderings that differ only in origins."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import web_config
from infra.web_config import pool_auth, render_csp, runtime_config

GATEWAY = "http://127.0.0.1:8080"
RELAY = "ws://127.0.0.1:9123/control"
API = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/live"
# As long as a real Cognito domain of the longest tenant id gets (the 20-character limit).
DOMAIN = "https://telehealth-riverside-health-123456789012.auth.us-east-1.amazoncognito.com"
# CloudFront refuses a CSP longer than this in a response headers policy.
CLOUDFRONT_CSP_LIMIT = 1783


def _local(base: str = "") -> dict[str, Any]:
    return runtime_config(
        tenant="riverside",
        api_base=GATEWAY + base,
        auth={
            pool: pool_auth(
                issuer=f"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_{pool}",
                client_id=f"{pool}-client",
                base=f"{GATEWAY}{base}/auth/{pool}",
                sign_up=pool == "patients",
            )
            for pool in web_config.POOLS
        },
        video="loopback",
        csp=web_config.local_csp_origins(signalling=RELAY + "/meeting-1"),
    )


def _aws(*, payments: bool = True) -> dict[str, Any]:
    return runtime_config(
        tenant="riverside",
        api_base=API,
        auth={
            pool: pool_auth(
                issuer=f"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_{pool}",
                client_id=f"{pool}-client",
                base=DOMAIN.replace("riverside-health", f"riverside-{pool[:4]}"),
                sign_up=pool == "patients",
            )
            for pool in web_config.POOLS
        },
        video="chime",
        csp=web_config.aws_csp_origins(payments=payments),
    )


def _directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (d.split() for d in policy.split("; "))}


def _is_origin(source: str) -> bool:
    return "://" in source


def _keywords(sources: list[str]) -> list[str]:
    """What a directive holds besides origins ('none' stands for a directive left without any)."""
    return [s for s in sources if not _is_origin(s) and s != "'none'"]


def test_the_aws_and_local_renderings_are_one_template_differing_only_in_origins_and_chimes_worker() -> None:
    local, aws = _directives(render_csp(_local())), _directives(render_csp(_aws()))
    assert list(local) == list(aws)  # the same directives, in the template's order
    for name in local:
        chime_only = list(web_config.CHIME_ONLY.get(name.removesuffix("-src"), ()))
        assert _keywords(aws[name]) == _keywords(local[name]) + chime_only, name
    # And what differs is where each environment's services are.
    assert local["connect-src"] == ["'self'", GATEWAY, "ws://127.0.0.1:9123"]
    assert aws["connect-src"] == [
        "'self'",
        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        DOMAIN.replace("riverside-health", "riverside-pati"),
        DOMAIN.replace("riverside-health", "riverside-work"),
        "https://*.chime.aws",
        "wss://*.chime.aws",
        "https://api.stripe.com",
    ]
    assert aws["worker-src"] == ["'self'", "blob:"] and local["worker-src"] == ["'self'"]
    assert aws["frame-src"] == ["https://js.stripe.com", "https://hooks.stripe.com"]
    assert local["frame-src"] == ["'none'"]


def test_the_policy_is_strict_wherever_it_renders() -> None:
    for config in (_local(), _aws(), _aws(payments=False)):
        policy = render_csp(config)
        directives = _directives(policy)
        for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "'wasm-unsafe-eval'"):
            assert unsafe not in policy
        assert directives["default-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["object-src"] == ["'none'"]
        assert directives["base-uri"] == ["'self'"]
        # Forms post only to the sign-in (the managed login's pages).
        auth = {web_config.origin(config["auth"][p]["authorizationEndpoint"]) for p in web_config.POOLS}
        assert set(directives["form-action"]) == auth
        # Host sources are never quoted (Chromium ignores a quoted host), wildcards only Chime's.
        for sources in directives.values():
            for source in sources:
                assert source.startswith("'") == (not _is_origin(source) and source != "blob:"), source
                assert "*" not in source or source in web_config.CHIME_CONNECT
        assert len(policy) < CLOUDFRONT_CSP_LIMIT
    # A tenant without payments has no Stripe in its policy at all.
    assert "stripe" not in render_csp(_aws(payments=False))


def test_the_local_report_uri_is_the_tenants_own() -> None:
    policy = render_csp(_local("/tenants/riverside"), report_uri="/tenants/riverside/csp-report")
    assert policy.endswith("; report-uri /tenants/riverside/csp-report")
    assert "report-uri" not in render_csp(_aws())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"connect": ["https://*.example.com"]}, "not one Chime documents"),
        ({"script": ["'unsafe-inline'"]}, "not a host source"),
        ({"connect": ["'https://api.stripe.com'"]}, "not a host source"),
        ({"img": ["https://x.example; script-src *"]}, "not a host source"),
        ({"frame": ["https://x.example/path/"]}, "not a host source"),
        ({"style": ["https://x.example"]}, "unknown directives"),
    ],
)
def test_a_config_the_policy_cannot_hold_is_refused(extra: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        runtime_config(
            tenant="riverside",
            api_base=API,
            auth=_aws()["auth"],
            video="chime",
            csp=web_config.aws_csp_origins(payments=False) | extra,
        )


def test_config_json_has_the_contracts_shape_and_no_secret() -> None:
    config = _local("/tenants/riverside")
    assert config["apiBase"] == f"{GATEWAY}/tenants/riverside"
    patients, workforce = config["auth"]["patients"], config["auth"]["workforce"]
    assert patients["authorizationEndpoint"] == f"{GATEWAY}/tenants/riverside/auth/patients/oauth2/authorize"
    assert patients["tokenEndpoint"] == f"{GATEWAY}/tenants/riverside/auth/patients/oauth2/token"
    assert patients["endSessionEndpoint"] == f"{GATEWAY}/tenants/riverside/auth/patients/logout"
    assert patients["signUpUrl"] == f"{GATEWAY}/tenants/riverside/auth/patients/signup"
    assert workforce["signUpUrl"] is None
    assert "aws.cognito.signin.user.admin" in patients["scope"].split()
    assert config["video"] == {"implementation": "loopback"}
    assert set(config["csp"]) == set(web_config.CSP_KEYS)
    assert "secret" not in json.dumps(config).lower()


def test_hashed_assets_are_cached_for_good_and_the_rest_revalidated() -> None:
    assert web_config.cache_control("assets/portal-3f9a1c.js") == "public, max-age=31536000, immutable"
    for key in ("index.html", "dashboard/index.html", "config.json"):
        assert web_config.cache_control(key) == "no-cache"
