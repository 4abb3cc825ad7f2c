"""The gateway's API Gateway proxy events, observed by a stand-in API function."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
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

    with serving(invoke) as url:
        yield url


@contextlib.contextmanager
def serving(invoke: Callable[[str, bytes, float], Invocation]) -> Iterator[str]:
    """A gateway for the tenant `acme` in front of `invoke`, on a free loopback port."""
    server = Gateway(
        port=0,
        tenants={
            "acme": TenantApi("acme", "telehealth-acme-api", Authorizer(frozenset({ISSUER})), ISSUER, {})
        },
        default_tenant="acme",
        invoke=invoke,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
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


# --- what API Gateway and Lambda refuse, refused here too (infra/limits.py) ---------------------------


def _token() -> str:
    return sign_for_tests(
        {
            "iss": ISSUER,
            "exp": time.time() + 60,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "sub": "user-1",
        }
    )


def test_a_body_over_api_gateways_payload_limit_is_refused_before_the_function(
    gateway: str, seen: list[dict[str, Any]]
) -> None:
    from infra import limits

    over = b"x" * (limits.APIGW_PAYLOAD_BYTES.value + 1)
    reply = http("POST", f"{gateway}/v1/appointments", headers={"Authorization": _token()}, body=over)
    assert reply.status == 413 and not seen


@pytest.mark.parametrize("refusal", ["throttled", "too-large"])
def test_an_invoke_lambda_refuses_is_a_500_as_a_proxy_integration_answers_it(refusal: str) -> None:
    from local.lambdas import FunctionThrottledError, RequestTooLargeError

    def invoke(function: str, payload: bytes, timeout_s: float) -> Invocation:
        raise FunctionThrottledError(function) if refusal == "throttled" else RequestTooLargeError("413")

    with serving(invoke) as url:
        reply = http("GET", f"{url}/v1/appointments", headers={"Authorization": _token()})
    assert reply.status == 500 and reply.json() == {"message": "Internal server error"}


def test_lambda_refuses_an_event_over_its_payload_limits_before_any_environment_runs() -> None:
    from infra import limits
    from local.lambdas import Environments, HostedFunction, LambdaDispatcher, RequestTooLargeError

    class NoHost:
        def start(self, key: str) -> Any:
            raise AssertionError("no environment may start for a refused invoke")

    dispatcher = LambdaDispatcher(lambda *_: None)
    dispatcher.register(
        HostedFunction("telehealth-acme-api", "api", Environments("api", 1, NoHost()), 15, None)  # type: ignore[arg-type]
    )
    with pytest.raises(RequestTooLargeError):
        dispatcher.invoke("telehealth-acme-api", b"x" * (limits.LAMBDA_SYNC_REQUEST_BYTES.value + 1))
    with pytest.raises(RequestTooLargeError):
        dispatcher.invoke_async("telehealth-acme-api", "x" * limits.LAMBDA_ASYNC_REQUEST_BYTES.value)
    dispatcher.stop()
