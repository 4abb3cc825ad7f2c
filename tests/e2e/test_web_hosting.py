"""The running platform serves each tenant's web apps as its CloudFront distribution would: the
config.json the apps start from, and the portal with the tenant's CSP and security headers."""

from __future__ import annotations

from infra import web_config
from local.platform import LocalPlatform
from tests.conftest import http


def test_each_tenant_gets_its_own_config_json_and_csp_and_no_secret(
    platform: LocalPlatform, gateway: str
) -> None:
    for tenant in platform.settings.tenants:
        base = "" if tenant.id == platform.default_tenant else f"/tenants/{tenant.id}"
        reply = http("GET", f"{gateway}{base}/config.json")
        assert reply.status == 200 and reply.headers["Cache-Control"] == "no-cache"
        config = reply.json()
        provisioned = platform.provisioned[tenant.id]
        assert config["tenant"] == tenant.id and config["apiBase"] == gateway + base
        for pool in web_config.POOLS:
            auth = config["auth"][pool]
            assert auth["clientId"] == provisioned.portal_clients[pool]
            assert auth["issuer"] == provisioned.issuers[pool]
            assert auth["authorizationEndpoint"] == f"{gateway}{base}/auth/{pool}/oauth2/authorize"
        assert config["video"] == {"implementation": "loopback"}
        text = reply.body.decode()
        for _, secret, _ in provisioned.machine_clients.values():
            assert secret not in text

        page = http("GET", f"{gateway}{base}/")
        assert page.status == 200, "web/dist is not built: make setup builds it"
        policy = page.headers["Content-Security-Policy"]
        assert policy == web_config.render_csp(config, report_uri=f"{base}/csp-report")
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Strict-Transport-Security"].startswith("max-age=63072000")
        if "signalling" in platform.urls:
            assert web_config.origin(platform.urls["signalling"]) in policy
        # The API itself answers as before, beside the files.
        assert http("GET", f"{gateway}{base}/health").status == 200
