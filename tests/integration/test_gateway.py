"""The gateway's API Gateway proxy events, observed by a stand-in API function."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.topology import RouteGroup
from local.gateway import Gateway, TenantApi, Throttle, TokenBucket, match_route
from local.lambdas import FunctionTimeoutError, Invocation
from local.tokens import Authorizer, sign_for_tests
from tests.conftest import Reply, http

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
PORTAL = "https://care.acme.example"
# Small buckets, so a flood is a few requests: the patient group's, and a roomier clinician one.
THROTTLES = {RouteGroup.PATIENT: Throttle(rate=1, burst=3), RouteGroup.CLINICIAN: Throttle(rate=1, burst=3)}


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
def serving(
    invoke: Callable[[str, bytes, float], Invocation],
    *,
    body_timeout_s: float = 10.0,
    cors_origins: tuple[str, ...] = (PORTAL,),
) -> Iterator[str]:
    """A gateway for the tenant `acme` (portal on another origin) in front of `invoke`."""
    server = Gateway(
        port=0,
        tenants={
            "acme": TenantApi(
                "acme",
                "telehealth-acme-api",
                Authorizer(frozenset({ISSUER})),
                ISSUER,
                {},
                cors_origins=cors_origins,
                throttles=THROTTLES,
            )
        },
        default_tenant="acme",
        invoke=invoke,
        body_timeout_s=body_timeout_s,
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
    assert event["resource"] == "/v1/appointments/{appointment_id}/cancel"
    assert event["path"] == "/v1/appointments/a1/cancel"
    assert event["pathParameters"] == {"appointment_id": "a1"}
    assert event["requestContext"]["requestId"] == reply.headers["x-amzn-RequestId"]
    assert event["multiValueQueryStringParameters"] == {"reason": ["sick", "travel"]}
    assert event["queryStringParameters"] == {"reason": "travel"}
    assert event["body"] == '{"note": "x"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    # The path as addressed (here no stage in the URL), so the API can build its own links.
    assert context["stage"] == "live" and context["path"] == "/v1/appointments/a1/cancel"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    claims = context["authorizer"]["claims"]
    assert claims["sub"] == "user-1" and claims["cognito:groups"] == "[providers staff]"
    assert all(isinstance(v, str) for v in claims.values())


def test_the_public_health_route_has_no_authorizer_claims(gateway: str, seen: list[dict[str, Any]]) -> None:
    assert http("GET", f"{gateway}/health").status == 201
    assert seen[0]["event"]["requestContext"]["authorizer"] is None


@pytest.mark.parametrize(
    ("path", "resource", "parameters"),
    [
        ("/health", "/health", {}),
        ("/v1/slots", "/v1/slots", {}),
        ("/v1/appointments/a1", "/v1/appointments/{appointment_id}", {"appointment_id": "a1"}),
        ("/v1/appointments/a1/admit", "/v1/appointments/{appointment_id}/admit", {"appointment_id": "a1"}),
        (
            "/v1/appointments/a1/vitals/review",
            "/v1/appointments/{appointment_id}/vitals/review",
            {"appointment_id": "a1"},
        ),
        ("/v1/waiting-room", "/v1/waiting-room", {}),
        ("/v1/admin/providers/p1/licences", "/v1/admin/{proxy+}", {"proxy": "providers/p1/licences"}),
        ("/v1/admin/providers", "/v1/admin/{proxy+}", {"proxy": "providers"}),  # the directory
        ("/integrations/appointments/1", "/integrations/{proxy+}", {"proxy": "appointments/1"}),
        ("/fhir/Patient/1", "/fhir/{proxy+}", {"proxy": "Patient/1"}),
        ("/v1", None, None),
        ("/v1/x", None, None),
        ("/v1/admin", None, None),
        ("/v1/appointments/a1/unknown", None, None),
        ("/v1//slots", None, None),
        ("/health/x", None, None),
    ],
)
def test_routes_match_as_api_gateway_resources_do(
    path: str, resource: str | None, parameters: dict[str, str] | None
) -> None:
    matched = match_route(path)
    if resource is None:
        assert matched is None
    else:
        assert matched is not None
        assert matched[0].path == resource
        assert matched[1] == parameters


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
    assert reply.json()["type"] == "/problems/request-too-large"


@pytest.mark.parametrize(
    ("refusal", "status", "kind"),
    [("throttled", 500, "unavailable"), ("too-large", 500, "unavailable"), ("timeout", 504, "timeout")],
)
def test_an_invoke_lambda_refuses_is_answered_as_a_proxy_integration_answers_it(
    refusal: str, status: int, kind: str
) -> None:
    from local.lambdas import FunctionThrottledError, RequestTooLargeError

    def invoke(function: str, payload: bytes, timeout_s: float) -> Invocation:
        raise {
            "throttled": FunctionThrottledError(function),
            "too-large": RequestTooLargeError("413"),
            "timeout": FunctionTimeoutError(function),
        }[refusal]

    with serving(invoke) as url:
        reply = http("GET", f"{url}/v1/appointments", headers={"Authorization": _token(), "Origin": PORTAL})
    assert reply.status == status
    _assert_problem(reply, f"/problems/{kind}")


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


# --- API Gateway's own answers: the stack's Gateway Responses ------------------------------------------


def _assert_problem(reply: Reply, type_: str) -> dict[str, Any]:
    """One shape for every refusal: problem+json, the request id as `instance`, readable by the
    portal (its origin in Access-Control-Allow-Origin, or a browser shows a CORS error instead)."""
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.headers["Access-Control-Allow-Origin"] == PORTAL
    body: dict[str, Any] = reply.json()
    assert body["type"] == type_ and body["title"] and body["detail"]
    assert body["instance"] == reply.headers["x-amzn-RequestId"]
    assert body.get("status", reply.status) == reply.status
    return body


def test_a_path_or_method_no_resource_has_is_a_404_problem_before_the_authorizer(
    gateway: str, seen: list[dict[str, Any]]
) -> None:
    for method, path in [
        ("GET", "/v2/anything"),  # no resource
        ("GET", "/v1/appointments/a1/unknown"),
        ("DELETE", "/v1/slots"),  # a resource without that method
        ("POST", "/health"),
        ("TRACE", "/v1/slots"),  # API Gateway has no TRACE method to declare
        ("PROPFIND", "/v1/slots"),  # nor one no HTTP standard has
    ]:
        reply = http(method, f"{gateway}{path}", headers={"Origin": PORTAL})
        assert reply.status == 404, (method, path)
        _assert_problem(reply, "/problems/not-found")
    assert not seen


def test_head_is_a_method_of_its_own_as_in_api_gateway(gateway: str, seen: list[dict[str, Any]]) -> None:
    # /health declares GET only, so HEAD is a method no resource has; a greedy ANY takes it.
    head = http("HEAD", f"{gateway}/health", headers={"Origin": PORTAL})
    assert head.status == 404 and head.body == b"" and int(head.headers["Content-Length"]) > 0
    assert not seen
    machine = sign_for_tests(
        {"iss": ISSUER, "exp": time.time() + 60, "token_use": "access", "scope": "system/Patient.rs"}
    )
    assert http("HEAD", f"{gateway}/fhir/Patient", headers={"Authorization": machine}).status == 201
    assert seen[-1]["event"]["httpMethod"] == "HEAD"


def test_the_authorizers_401_is_a_problem_the_portal_can_read(
    gateway: str, seen: list[dict[str, Any]]
) -> None:
    reply = http(
        "GET", f"{gateway}/v1/appointments", headers={"Origin": PORTAL, "Authorization": "not-a-jwt"}
    )
    assert reply.status == 401 and not seen
    _assert_problem(reply, "/problems/unauthorized")


def test_a_patient_flooding_their_routes_is_throttled_without_429ing_a_providers_route(
    gateway: str, seen: list[dict[str, Any]]
) -> None:
    auth = {"Authorization": _token(), "Origin": PORTAL}
    statuses = [
        http("GET", f"{gateway}/v1/slots", headers=auth).status
        for _ in range(THROTTLES[RouteGroup.PATIENT].burst + 2)
    ]
    assert statuses[:3] == [201, 201, 201] and statuses[-1] == 429
    throttled = http("GET", f"{gateway}/v1/slots", headers=auth)
    assert throttled.status == 429
    _assert_problem(throttled, "/problems/too-many-requests")
    # The provider's queue is another group's method, with a bucket of its own.
    assert http("GET", f"{gateway}/v1/waiting-room", headers=auth).status == 201


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(Throttle(rate=2, burst=3), clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 60  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_body_shorter_than_its_content_length_is_a_408_not_a_held_connection() -> None:
    def invoke(function: str, payload: bytes, timeout_s: float) -> Invocation:
        raise AssertionError("an incomplete request must not reach the function")

    with serving(invoke, body_timeout_s=0.3) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(
                b"POST /v1/appointments HTTP/1.1\r\nHost: x\r\nOrigin: "
                + PORTAL.encode()
                + b'\r\nContent-Length: 100\r\n\r\n{"slot_id"'
            )
            started = time.monotonic()
            answer = b""
            while chunk := conn.recv(65536):  # the gateway closes after answering
                answer += chunk
            waited = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and waited < 3
    problem = json.loads(body)
    assert problem["type"] == "/problems/request-timeout" and problem["status"] == 408


def test_a_preflight_is_a_mock_on_every_resource_and_none_elsewhere(gateway: str) -> None:
    allowed = http("OPTIONS", f"{gateway}/v1/appointments/a1/admit", headers={"Origin": PORTAL})
    assert allowed.status == 204 and allowed.headers["Access-Control-Allow-Origin"] == PORTAL
    # Another origin hears the portal's: the browser refuses the call, as it would in AWS.
    other = http("OPTIONS", f"{gateway}/v1/slots", headers={"Origin": "https://elsewhere.example"})
    assert other.status == 204 and other.headers["Access-Control-Allow-Origin"] == PORTAL
    nowhere = http("OPTIONS", f"{gateway}/v2/anything", headers={"Origin": PORTAL})
    assert nowhere.status == 404
    _assert_problem(nowhere, "/problems/not-found")


def test_without_a_portal_origin_there_is_no_preflight_and_no_cors_header(seen: list[dict[str, Any]]) -> None:
    def invoke(function: str, payload: bytes, timeout_s: float) -> Invocation:
        seen.append(json.loads(payload))
        return Invocation(
            payload=json.dumps({"statusCode": 204}).encode(), function_error=False, handler_ms=1.0
        )

    with serving(invoke, cors_origins=()) as url:
        no_mock = http("OPTIONS", f"{url}/v1/slots", headers={"Origin": PORTAL})
        assert no_mock.status == 404 and "Access-Control-Allow-Origin" not in no_mock.headers
        assert no_mock.json()["type"] == "/problems/not-found" and not seen
        # A greedy resource's ANY takes OPTIONS like any other method, as in AWS.
        machine = sign_for_tests(
            {"iss": ISSUER, "exp": time.time() + 60, "token_use": "access", "scope": "system/Patient.rs"}
        )
        passed = http("OPTIONS", f"{url}/fhir/metadata", headers={"Authorization": machine})
        assert passed.status == 204 and seen[-1]["httpMethod"] == "OPTIONS"


def test_every_route_of_the_api_function_has_a_resource_and_method_of_its_group() -> None:
    """A route the function serves but the REST API has no resource for would be a 404 in AWS;
    a resource with no route behind it, a door to nothing. Below a greedy resource (admin,
    integrations) any route lands in that resource's group."""
    from functions.api.handler import app
    from infra import topology

    paths = app.get_openapi_schema().paths
    assert paths
    served = {
        (path, method.upper())
        for path, item in paths.items()
        for method in ("get", "post", "put", "patch", "delete")
        if getattr(item, method) is not None
    }
    for path, method in served:
        matched = match_route(path.replace("{", "").replace("}", ""))  # parameters as values
        assert matched is not None, f"{method} {path}: no resource"
        route, _ = matched
        assert topology.route_method(route, method) is not None, f"{method} {path}: no method"
        if path.startswith("/v1/admin/"):
            assert route.group is RouteGroup.ADMIN
    declared = {
        (route.path, method)
        for route in topology.ROUTES
        for method in route.methods
        # The API's own documentation is left out of the document it serves.
        if method != topology.ANY and route.path not in ("/openapi.json", "/docs", "/docs/{asset}")
    }
    assert declared <= served, sorted(declared - served)
