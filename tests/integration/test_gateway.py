"""The gateway's API Gateway proxy events, observed by a stand-in API function."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.gateway import Gateway, TenantApi, match_route
from local.lambdas import Invocation
from local.tokens import Authorizer, sign_for_tests
from tests.conftest import http

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def gateway(seen: list[dict[str, Any]]) -> Iterator[str]:
    def invoke(function: str, payload: bytes, timeout_s: float) -> Invocation:
        seen.append({"function": function, "event": json.loads(payload)})
        body = {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}
        return Invocation(payload=json.dumps(body).encode(), function_error=False, handler_ms=1.5)

    server = Gateway(
        port=0,
        tenants={
            "acme": TenantApi("acme", "telehealth-acme-api", Authorizer(frozenset({ISSUER})), ISSUER, {})
        },
        default_tenant="acme",
        invoke=invoke,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_the_proxy_event_has_api_gateways_shape_with_string_claims(
    gateway: str, seen: list[dict[str, Any]]
) -> None:
    token = sign_for_tests(
        {
            "iss": ISSUER,
            "exp": time.time() + 60,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "sub": "user-1",
            "cognito:groups": ["providers", "staff"],
        }
    )
    reply = http(
        "POST",
        f"{gateway}/v1/appointments/a1/cancel?reason=sick&reason=travel",
        headers={"Authorization": token, "Content-Type": "application/json"},
        body=b'{"note": "x"}',
    )
    assert reply.status == 201 and reply.json() == {"ok": True}
    assert "handler;dur=1.50" in reply.headers["Server-Timing"]
    (call,) = seen
    event = call["event"]
    assert call["function"] == "telehealth-acme-api"
    assert event["resource"] == "/v1/{proxy+}"
    assert event["path"] == "/v1/appointments/a1/cancel"
    assert event["pathParameters"] == {"proxy": "appointments/a1/cancel"}
    assert event["multiValueQueryStringParameters"] == {"reason": ["sick", "travel"]}
    assert event["queryStringParameters"] == {"reason": "travel"}
    assert event["body"] == '{"note": "x"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "live" and context["path"] == "/live/v1/appointments/a1/cancel"
    claims = context["authorizer"]["claims"]
    assert claims["sub"] == "user-1" and claims["cognito:groups"] == "[providers staff]"
    assert all(isinstance(v, str) for v in claims.values())


def test_the_public_health_route_has_no_authorizer_claims(gateway: str, seen: list[dict[str, Any]]) -> None:
    assert http("GET", f"{gateway}/health").status == 201
    assert seen[0]["event"]["requestContext"]["authorizer"] is None


@pytest.mark.parametrize(
    ("path", "resource", "proxy"),
    [
        ("/health", "/health", None),
        ("/v1/x", "/v1/{proxy+}", "x"),
        ("/integrations/appointments/1", "/integrations/{proxy+}", "appointments/1"),
        ("/fhir/Patient/1", "/fhir/{proxy+}", "Patient/1"),
        ("/v1", None, None),
        ("/health/x", None, None),
    ],
)
def test_routes_match_as_api_gateway_resources_do(path: str, resource: str | None, proxy: str | None) -> None:
    matched = match_route(path)
    if resource is None:
        assert matched is None
    else:
        assert matched is not None
        assert matched[0].path == resource
        assert matched[1].get("proxy") == proxy
