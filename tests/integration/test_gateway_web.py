"""The gateway serving the web apps as the tenant's CloudFront distribution does: files, headers,
caching, config.json per tenant, and the CSP reports it collects."""

from __future__ import annotations

import http.client as httplib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import web_config
from local.gateway import Gateway, TenantApi
from local.lambdas import Invocation
from local.tokens import Authorizer
from tests.conftest import http

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
MACHINE_SECRET = "machine-client-secret-value"  # noqa: S105 (synthetic)
RELAY = "ws://127.0.0.1:9555"


def _dist(root: Path) -> Path:
    """A build's layout (Vite's): two pages, hashed assets, and the metadata not deployed."""
    (root / "dashboard").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / ".vite").mkdir()
    (root / "index.html").write_text("<!doctype html><title>Portal</title>")
    (root / "dashboard" / "index.html").write_text("<!doctype html><title>Dashboard</title>")
    (root / "assets" / "portal-3f9a1c.js").write_text("export {};")
    (root / ".vite" / "manifest.json").write_text("{}")
    return root


def _config(tenant_id: str, web_base: str) -> dict[str, Any]:
    return web_config.runtime_config(
        tenant=tenant_id,
        api_base=web_base,
        auth={
            pool: web_config.pool_auth(
                issuer=ISSUER,
                client_id=f"{tenant_id}-{pool}",
                base=f"{web_base}/auth/{pool}",
                sign_up=pool == "patients",
            )
            for pool in web_config.POOLS
        },
        video="loopback",
        csp=web_config.local_csp_origins(signalling=RELAY),
    )


def _serve(web_root: Path) -> Iterator[str]:
    def invoke(function: str, payload: bytes, timeout_s: float) -> Invocation:
        raise AssertionError("no API call expected")

    def tenant(tenant_id: str) -> TenantApi:
        clients: dict[str, tuple[str, tuple[str, ...]]] = {"ehr": (MACHINE_SECRET, ("appointments.read",))}
        return TenantApi(
            tenant_id, f"telehealth-{tenant_id}-api", Authorizer(frozenset({ISSUER})), ISSUER, clients
        )

    server = Gateway(
        port=0,
        tenants={t: tenant(t) for t in ("acme", "other")},
        default_tenant="acme",
        invoke=invoke,
        web_root=web_root,
        runtime_config=_config,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def _unfollowed(gateway: str, path: str) -> httplib.HTTPResponse:
    """The answer itself, redirects not followed and the path sent as written."""
    connection = httplib.HTTPConnection(gateway.removeprefix("http://"), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(_dist(tmp_path_factory.mktemp("web") / "dist"))


@pytest.mark.parametrize("base", ["", "/tenants/other"])
def test_each_file_carries_the_tenants_csp_and_cloudfronts_headers_and_caching(
    gateway: str, base: str
) -> None:
    tenant = "other" if base else "acme"
    policy = web_config.render_csp(_config(tenant, gateway + base), report_uri=f"{base}/csp-report")
    for path, title, cache in (
        ("/", b"Portal", "no-cache"),
        ("/dashboard/", b"Dashboard", "no-cache"),
        ("/assets/portal-3f9a1c.js", b"export", "public, max-age=31536000, immutable"),
    ):
        reply = http("GET", gateway + base + path)
        assert reply.status == 200 and title in reply.body, path
        assert reply.headers["Content-Security-Policy"] == policy
        assert reply.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert reply.headers["Cache-Control"] == cache
    assert "ws://127.0.0.1:9555" in policy and f"report-uri {base}/csp-report" in policy
    assert (
        http("GET", gateway + base + "/assets/portal-3f9a1c.js")
        .headers["Content-Type"]
        .startswith("text/javascript")
    )
    # As CloudFront's function does: the directory without its slash goes to the directory.
    moved = _unfollowed(gateway, base + "/dashboard")
    assert moved.status == 301 and moved.headers["Location"] == f"{base}/dashboard/"


def test_config_json_is_the_tenants_own_uncached_and_holds_no_secret(gateway: str) -> None:
    for base, tenant in (("", "acme"), ("/tenants/other", "other")):
        reply = http("GET", f"{gateway}{base}/config.json")
        assert reply.status == 200 and reply.headers["Content-Type"] == "application/json"
        assert reply.headers["Cache-Control"] == "no-cache"
        config = reply.json()
        assert config == _config(tenant, gateway + base)
        assert config["apiBase"] == gateway + base
        assert config["auth"]["workforce"]["tokenEndpoint"] == f"{gateway}{base}/auth/workforce/oauth2/token"
        assert config["video"] == {"implementation": "loopback"}
        assert MACHINE_SECRET not in reply.body.decode()
        assert "secret" not in reply.body.decode().lower()


def test_build_metadata_and_paths_outside_the_build_are_not_served(gateway: str) -> None:
    assert http("GET", gateway + "/.vite/manifest.json").status == 404
    assert http("GET", gateway + "/assets/missing-000000.js").status == 404
    assert _unfollowed(gateway, "/assets/../../../pyproject.toml").status == 404


def test_csp_reports_are_kept_per_tenant_and_garbage_is_refused(gateway: str) -> None:
    report = {"csp-report": {"document-uri": f"{gateway}/", "violated-directive": "script-src-elem"}}
    sent = http(
        "POST",
        f"{gateway}/tenants/other/csp-report",
        headers={"Content-Type": "application/csp-report"},
        body=json.dumps(report).encode(),
    )
    assert sent.status == 204
    assert http("GET", f"{gateway}/tenants/other/_sim/csp-reports").json() == [report]
    assert http("GET", f"{gateway}/_sim/csp-reports").json() == []  # the default tenant saw none
    for garbage in (b"not json", b"{}", b'"a string"'):
        refused = http("POST", f"{gateway}/csp-report", body=garbage)
        assert refused.status == 400
    assert http("POST", f"{gateway}/csp-report", body=b"[" + b"1," * 40_000 + b"1]").status == 413
    assert http("GET", f"{gateway}/_sim/csp-reports").json() == []


def test_without_a_build_the_pages_say_how_to_build_them(tmp_path: Path) -> None:
    for gateway in _serve(tmp_path / "no-dist"):
        for path in ("/", "/dashboard/", "/tenants/other/"):
            reply = http("GET", gateway + path)
            assert reply.status == 503, path
            assert b"make run" in reply.body and reply.headers["Content-Type"].startswith("text/html")
            assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
        # config.json does not need the build.
        assert http("GET", gateway + "/config.json").status == 200
