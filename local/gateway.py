"""The HTTP gateway: what API Gateway does in front of the `api` function, on one loopback port.

Each request is matched to a route of the topology (the resources the stack's REST API has),
checked by the Cognito authorizer's rules (signature, issuer, expiry, the method's scopes: no
stricter, no looser), turned into an API Gateway proxy event with the authorizer's claims, and
sent to the tenant's `api` function. Answers API Gateway gives itself are the stack's Gateway
Responses here too (`telehealth.api_conventions.GATEWAY_PROBLEMS`): problem+json with the request
id and the CORS origin (an OperationOutcome under /fhir, whose resources are the FHIR facade's own
REST API in the stack; here one port serves both APIs' paths), 404 for a path or method no
resource has, 401 from the authorizer, 429
past a method's throttle (a token bucket per method with its route group's limits, as the stage's
method settings give API Gateway), 413, 502/500/504 for what the integration did.

Tenants: `/...` is the default tenant's API, `/tenants/<id>/...` any tenant's. Machine clients get
tokens from `POST /oauth2/token` (Cognito's client-credentials endpoint, which moto lacks).
The web apps' files (`web/dist`) are served for GET paths no route claims, as the tenant's
CloudFront distribution serves them: the same security headers and CSP (`infra/web_config.py`, with
local origins and a `report-uri`), the same caching, and `config.json` rendered per tenant.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import mimetypes
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from infra import limits, topology, web_config
from local.lambdas import (
    FunctionThrottledError,
    FunctionTimeoutError,
    FunctionUnreachableError,
    Invocation,
    RequestTooLargeError,
)
from local.loopback import LoopbackServer
from local.signin import Request as SignInRequest
from local.signin import SignIn
from local.tokens import Authorizer, Unauthorized, api_gateway_claims, mint_client_credentials_token
from telehealth import api_conventions
from telehealth.api_conventions import GATEWAY_PROBLEM, GatewayProblem

log = logging.getLogger(__name__)

WEB_ROOT = Path(__file__).resolve().parent.parent / "web" / "dist"  # the built portal and dashboard
# CSP violation reports kept per gateway (tests read them back), and the largest one taken.
CSP_REPORTS_KEPT = 1000
CSP_REPORT_MAX_BYTES = 64 * 1024
NOT_BUILT = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Web apps not built</title>"
    b"<h1>The portal and the dashboard are not built</h1>"
    b"<p>Run <code>make run</code>, which builds them into <code>web/dist/</code> and starts the "
    b"platform.</p>"
)
INTEGRATION_TIMEOUT_S = 29.0  # API Gateway's limit for a Lambda integration
# How long a request's declared body may take to arrive before the gateway answers 408 and closes
# the connection (API Gateway documents no such figure; docs/local.md).
BODY_TIMEOUT_S = 10.0
# The local gateway's own answer to a late body, in the Gateway Responses' shape (no type of API
# Gateway's stands for it).
REQUEST_TIMEOUT = GatewayProblem(
    "REQUEST_TIMEOUT",
    408,
    "request-timeout",
    "The request took too long to arrive.",
    "The body was shorter than its Content-Length said, or too slow; send it again.",
)


@dataclass(frozen=True)
class Throttle:
    rate: float  # tokens a second
    burst: int  # the bucket's size


@dataclass(frozen=True)
class TenantApi:
    tenant_id: str
    api_function: str  # function name
    authorizer: Authorizer
    token_issuer: str  # the workforce pool, which holds the machine clients
    machine_clients: dict[str, tuple[str, tuple[str, ...]]]  # client id -> (secret, scopes)
    # The stack's preflight origins, the tenant file's first (the preflight's default answer).
    cors_origins: tuple[str, ...] = ()
    # Each route group's limits per method (the tenant file's); a group without one is not limited.
    throttles: dict[topology.RouteGroup, Throttle] = field(default_factory=dict)
    # The stand-in for the tenant's managed-login domains, at BASE/auth/<pool>/ (and its outbox).
    signin: SignIn | None = None
    # The stack's resources for this tenant (a feature switched off has none).
    routes: tuple[topology.Route, ...] = topology.ROUTES


class TokenBucket:
    """API Gateway's throttle for one method of one stage: `burst` tokens, refilled at `rate` a
    second; a request takes one or is answered 429."""

    def __init__(self, throttle: Throttle, clock: Callable[[], float] = time.monotonic) -> None:
        self.throttle = throttle
        self.clock = clock
        self.tokens = float(throttle.burst)
        self.at = clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.throttle.burst, self.tokens + (now - self.at) * self.throttle.rate)
            self.at = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


@dataclass
class GatewayStats:
    """Per request: total time in the gateway and the handler's own time (for the bench)."""

    samples: list[tuple[float, float]]

    def add(self, total_ms: float, handler_ms: float) -> None:
        self.samples.append((total_ms, handler_ms))
        del self.samples[:-10_000]


match_route = topology.match_route  # the resource API Gateway would pick


class Gateway:
    def __init__(
        self,
        *,
        port: int,
        tenants: dict[str, TenantApi],
        default_tenant: str,
        invoke: Callable[[str, bytes, float], Invocation],
        body_timeout_s: float = BODY_TIMEOUT_S,
        web_root: Path = WEB_ROOT,
        runtime_config: Callable[[str, str], dict[str, Any]] | None = None,
    ) -> None:
        self.tenants = tenants
        self.default_tenant = default_tenant
        self.invoke = invoke
        self.body_timeout_s = body_timeout_s
        self.web_root = web_root.resolve()
        # (tenant id, the web apps' base URL: this gateway's origin + BASE) -> config.json
        self.runtime_config = runtime_config
        self.csp_reports: list[dict[str, Any]] = []
        self._csp_lock = threading.Lock()
        self.stats = GatewayStats([])
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._buckets_lock = threading.Lock()
        gateway = self

        class Handler(_Request):
            owner = gateway

        self._server = LoopbackServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def admit(self, tenant: TenantApi, route: topology.Route, method: str) -> bool:
        """Whether the method's bucket (per tenant, as each tenant is a stage of its own) has a
        token; a method of a group without limits always has one."""
        throttle = tenant.throttles.get(route.group)
        if throttle is None:
            return True
        key = (tenant.tenant_id, route.path, method)
        with self._buckets_lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(throttle)
        return bucket.take()

    @property
    def origins(self) -> tuple[str, ...]:
        return (f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}")

    def web_bases(self, tenant_id: str) -> list[str]:
        """Where a tenant's web apps are served: each origin with each BASE of the tenant."""
        bases = [f"/tenants/{tenant_id}"] + ([""] if tenant_id == self.default_tenant else [])
        return [origin + base for origin in self.origins for base in bases]

    def keep_csp_report(self, tenant_id: str, report: Any) -> None:
        with self._csp_lock:
            self.csp_reports.append({"tenant": tenant_id, "report": report})
            del self.csp_reports[:-CSP_REPORTS_KEPT]

    def csp_reports_of(self, tenant_id: str) -> list[Any]:
        with self._csp_lock:
            return [r["report"] for r in self.csp_reports if r["tenant"] == tenant_id]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _grant_type(form: bytes) -> str:
    return urllib.parse.parse_qs(form.decode(errors="replace")).get("grant_type", [""])[0]


class _Request(BaseHTTPRequestHandler):
    owner: Gateway
    server_version = "telehealth-local-gateway"
    protocol_version = "HTTP/1.1"
    # Per request: its id (API Gateway's `requestId`) and its tenant, for the answers.
    request_id = ""
    tenant: TenantApi | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access logs would carry paths; the platform prints none

    def __getattr__(self, name: str) -> Any:
        # Every method goes through one place, as API Gateway's routing does: GET, HEAD, TRACE or
        # one no HTTP standard has is matched to a resource's methods like any other (http.server
        # would answer a method it has no `do_` for with its own 501 page).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def do_OPTIONS(self) -> None:
        """The preflight, answered as the stack's CORS options make API Gateway answer it: a mock
        on every resource, 204 with the request's Origin when it is one of the tenant's, else the
        first of them (the browser then refuses the call). Without CORS a resource has no OPTIONS
        method: an `ANY` takes it, anything else is a 404."""
        tenant, path = self._tenant_and_path(urllib.parse.urlsplit(self.path).path)
        if tenant is None or not tenant.cors_origins or topology.match_route(path, tenant.routes) is None:
            self._handle()
            return
        self._begin()
        self.tenant = tenant
        self._discard_body()
        origin = self.headers.get("Origin")
        self._send(
            204,
            b"",
            {
                "Access-Control-Allow-Origin": origin
                if origin in tenant.cors_origins
                else tenant.cors_origins[0],
                "Access-Control-Allow-Methods": ",".join(api_conventions.CORS_ALLOW_METHODS),
                "Access-Control-Allow-Headers": ",".join(api_conventions.CORS_ALLOW_HEADERS),
                "Access-Control-Max-Age": str(api_conventions.CORS_MAX_AGE_S),
                "Vary": "Origin",
            },
        )

    def _begin(self) -> None:
        self.request_id = str(uuid.uuid4())
        self.tenant = None
        self.api = api_conventions.RestApiKind.CLINIC  # whose Gateway Responses answer

    def _base(self) -> str:
        """BASE: the prefix the tenant's API and web apps live under ("" or "/tenants/<id>")."""
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/tenants/"):
            return "/".join(path.split("/", 3)[:3])
        return ""

    def _tenant_and_path(self, path: str) -> tuple[TenantApi | None, str]:
        tenant_id = self.owner.default_tenant
        if path.startswith("/tenants/"):
            _, _, tenant_id, *rest = path.split("/", 3)
            path = "/" + (rest[0] if rest else "")
        return self.owner.tenants.get(tenant_id), path

    def _discard_body(self) -> None:
        self._read_body(int(self.headers.get("Content-Length") or 0), keep=False)

    def _read_body(self, length: int, *, keep: bool = True) -> bytes | None:
        """The declared body (empty when not kept), or None when it does not arrive in time: the
        caller answers 408 and closes, rather than hold the connection for bytes never coming."""
        self.connection.settimeout(self.owner.body_timeout_s)
        try:
            chunks: list[bytes] = []
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    return None
                if keep:
                    chunks.append(chunk)
                length -= len(chunk)
            return b"".join(chunks)
        except TimeoutError:
            return None
        finally:
            self.connection.settimeout(None)

    def _handle(self) -> None:
        started = time.perf_counter()
        self._begin()
        url = urllib.parse.urlsplit(self.path)
        tenant, path = self._tenant_and_path(url.path)
        self.tenant, self.api = tenant, api_conventions.api_of(path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limits.APIGW_PAYLOAD_BYTES.value:
            # Drained, not kept: the client hears the answer, not a reset.
            if self._read_body(length, keep=False) is not None:
                self._problem(GATEWAY_PROBLEM["REQUEST_TOO_LARGE"])
            else:
                self._problem(REQUEST_TIMEOUT, close=True)
            return
        body = self._read_body(length)
        if body is None:
            self._problem(REQUEST_TIMEOUT, close=True)
            return
        if tenant is None:
            self._problem(GATEWAY_PROBLEM["MISSING_AUTHENTICATION_TOKEN"])  # no such API
            return
        if self.command == "POST" and (
            path == "/oauth2/token"
            # The workforce pool's managed login is where machine clients get tokens in AWS (the
            # served document says so): its token endpoint takes their grant too.
            or (path == "/auth/workforce/oauth2/token" and _grant_type(body) == "client_credentials")
        ):
            self._token(tenant, body)
            return
        if tenant.signin is not None and (path.startswith("/auth/") or path == "/_sim/mail"):
            self._signin(tenant.signin, url, path, body, (*self.owner.origins, *tenant.cors_origins))
            return
        if path == "/csp-report" and self.command == "POST":
            self._csp_report(tenant, body)
            return
        if path == "/_sim/csp-reports" and self.command == "GET":
            self._json_list(self.owner.csp_reports_of(tenant.tenant_id))
            return
        matched = topology.match_route(path, tenant.routes)
        method = topology.route_method(matched[0], self.command) if matched else None
        if matched is None or method is None:
            if self.command in ("GET", "HEAD") and self._static(tenant, path):
                return
            self._problem(GATEWAY_PROBLEM["MISSING_AUTHENTICATION_TOKEN"])
            return
        route, path_parameters = matched
        # Throttled before the authorizer (API Gateway does not document the order; docs/local.md).
        if not self.owner.admit(tenant, route, method):
            self._problem(GATEWAY_PROBLEM["THROTTLED"])
            return
        claims: dict[str, Any] | None = None
        if route.scopes:
            try:
                claims = tenant.authorizer.check(self.headers.get("Authorization"), route.scopes)
            except Unauthorized:
                self._problem(GATEWAY_PROBLEM["UNAUTHORIZED"])
                return
        event = self._proxy_event(route, path, url.query, path_parameters, claims, body)
        try:
            result = self.owner.invoke(tenant.api_function, json.dumps(event).encode(), INTEGRATION_TIMEOUT_S)
        except FunctionTimeoutError:
            self._problem(GATEWAY_PROBLEM["INTEGRATION_TIMEOUT"])
            return
        except FunctionUnreachableError:
            self._problem(GATEWAY_PROBLEM["DEFAULT_5XX"], status=502)
            return
        except (FunctionThrottledError, RequestTooLargeError):
            # Lambda's 429 (or 413, an event over its payload limit) never reaches the client:
            # the invoke failed, and a proxy integration answers 500 for that.
            self._problem(GATEWAY_PROBLEM["DEFAULT_5XX"], status=500)
            return
        response = json.loads(result.payload or b"null")
        if result.function_error or not isinstance(response, dict) or "statusCode" not in response:
            self._problem(GATEWAY_PROBLEM["DEFAULT_5XX"], status=502)  # what API Gateway says, too
            return
        headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        payload = response.get("body") or ""
        raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        total_ms = (time.perf_counter() - started) * 1000
        self.owner.stats.add(total_ms, result.handler_ms)
        headers["Server-Timing"] = f"handler;dur={result.handler_ms:.2f}, gateway;dur={total_ms:.2f}"
        self._send(int(response["statusCode"]), raw, headers)

    def _proxy_event(
        self,
        route: topology.Route,
        path: str,
        query: str,
        path_parameters: dict[str, str],
        claims: dict[str, Any] | None,
        body: bytes,
    ) -> dict[str, Any]:
        multi_query: dict[str, list[str]] = urllib.parse.parse_qs(query, keep_blank_values=True)
        multi_headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            multi_headers.setdefault(name, []).append(value)
        # API Gateway adds the scheme the client used (https there; http here).
        multi_headers["X-Forwarded-Proto"] = ["http"]
        text_body: str | None
        is_base64 = False
        try:
            text_body = body.decode() if body else None
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
        now = datetime.now(UTC)
        request_id = self.request_id
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": self.command,
            "headers": {name: values[-1] for name, values in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "authorizer": {"claims": api_gateway_claims(claims)} if claims else None,
                "domainName": self.headers.get("Host", "127.0.0.1"),
                "extendedRequestId": request_id,
                "httpMethod": self.command,
                "identity": {"sourceIp": self.client_address[0], "userAgent": self.headers.get("User-Agent")},
                # The path as the client addressed it: in AWS the stage's URL (`/live/...`), here
                # the gateway's BASE (`/tenants/<id>/...` or none).
                "path": f"{self._base()}{path}",
                "protocol": self.request_version,
                "requestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "resourceId": "local",
                "resourcePath": route.path,
                "stage": topology.API_STAGE,
            },
            "body": text_body,
            "isBase64Encoded": is_base64,
        }

    def _token(self, tenant: TenantApi, body: bytes) -> None:
        """Cognito's /oauth2/token for the client-credentials grant, and its error answers."""
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        client_id = form.get("client_id", [""])[0]
        secret = form.get("client_secret", [""])[0]
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                self._json(400, {"error": "invalid_request"})
                return
        known = tenant.machine_clients.get(client_id)
        if known is None or known[0] != secret:
            self._json(400, {"error": "invalid_client"})
            return
        if form.get("grant_type", [""])[0] != "client_credentials":
            self._json(400, {"error": "unsupported_grant_type"})
            return
        requested = form.get("scope", [" ".join(known[1])])[0].split()
        if not requested or not set(requested) <= set(known[1]):
            self._json(400, {"error": "invalid_scope"})
            return
        token = mint_client_credentials_token(
            issuer=tenant.token_issuer, client_id=client_id, scopes=requested
        )
        self._json(200, {"access_token": token, "expires_in": 900, "token_type": "Bearer"})

    def _signin(
        self,
        signin: SignIn,
        url: urllib.parse.SplitResult,
        path: str,
        body: bytes,
        web_origins: tuple[str, ...],
    ) -> None:
        answer = signin.handle(
            SignInRequest(
                method=self.command,
                path=path,
                query=url.query,
                body=body,
                headers={name: value for name, value in self.headers.items()},
                base=url.path.removesuffix(path),
                web_origins=web_origins,
            )
        )
        self._send(answer.status, answer.body, answer.headers)

    def _static(self, tenant: TenantApi, path: str) -> bool:
        """A file of the web apps, as the tenant's distribution serves it: `/` and `/dashboard/`
        are their index.html (CloudFront's default root object and its viewer-request function),
        `/dashboard` redirects there, `config.json` is the tenant's. False: no such file."""
        base = self._base()
        if path == "/dashboard":
            self._send(
                301, b"", {"Location": f"{base}/dashboard/", **self._web_headers(tenant, "dashboard/")}
            )
            return True
        key = path.lstrip("/")
        if key == "" or key.endswith("/"):
            key += "index.html"
        if key == "config.json" and self.owner.runtime_config is not None:
            config = self.owner.runtime_config(tenant.tenant_id, self._web_base())
            body = json.dumps(config).encode()
            self._send(
                200, body, {"Content-Type": "application/json", **self._web_headers(tenant, key, config)}
            )
            return True
        root = self.owner.web_root
        if not (root / "index.html").is_file():
            if key.endswith("index.html"):
                headers = {"Content-Type": "text/html; charset=utf-8", **self._web_headers(tenant, key)}
                self._send(503, NOT_BUILT, headers)
                return True
            return False
        target = (root / key).resolve()
        # Build metadata (.vite/, .ready) is not deployed, so it is not served either.
        if any(part.startswith(".") for part in Path(key).parts):
            return False
        if not target.is_relative_to(root) or not target.is_file():
            return False
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/javascript":
            content_type += "; charset=utf-8"
        self._send(200, target.read_bytes(), {"Content-Type": content_type, **self._web_headers(tenant, key)})
        return True

    def _web_base(self) -> str:
        """This gateway's origin as the browser addressed it (127.0.0.1 or localhost) + BASE, so
        the page, its API and its sign-in are one origin whichever name the browser used."""
        host = f"http://{self.headers.get('Host', '')}"
        origin = host if host in self.owner.origins else self.owner.origins[0]
        return origin + self._base()

    def _web_headers(
        self, tenant: TenantApi, key: str, config: dict[str, Any] | None = None
    ) -> dict[str, str]:
        """CloudFront's response headers policy for the file: the security headers with the
        tenant's CSP (reports to BASE/csp-report here), and the behaviour's Cache-Control."""
        headers = {"Cache-Control": web_config.cache_control(key)}
        if self.owner.runtime_config is not None:
            config = config or self.owner.runtime_config(tenant.tenant_id, self._web_base())
            csp = web_config.render_csp(config, report_uri=f"{self._base()}/csp-report")
            headers |= web_config.security_headers(csp)
        return headers

    def _csp_report(self, tenant: TenantApi, body: bytes) -> None:
        """A browser's CSP violation report (`application/csp-report`, or the Reporting API's
        list), kept in memory for the tests; never logged (a report names the page)."""
        if len(body) > CSP_REPORT_MAX_BYTES:
            self._json(413, {"message": "The report is too large."})
            return
        try:
            report = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            report = None
        if not isinstance(report, dict | list) or not report:
            self._json(400, {"message": "A CSP report is a JSON object (or a list of reports)."})
            return
        self.owner.keep_csp_report(tenant.tenant_id, report)
        self._send(204, b"", {})

    def _json_list(self, items: list[Any]) -> None:
        self._send(
            200, json.dumps(items).encode(), {"Content-Type": "application/json", "Cache-Control": "no-store"}
        )

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _problem(self, problem: GatewayProblem, *, status: int | None = None, close: bool = False) -> None:
        """A Gateway Response of the stack, in the words of the API the path is on (problem+json
        with the request id as `instance`; an OperationOutcome on the FHIR facade's), and the CORS
        origin as the stack's response header mapping gives it."""
        content_type, body = problem.answer(self.api, self.request_id)
        headers = {"Content-Type": content_type}
        origins = self.tenant.cors_origins if self.tenant else ()
        mapping = api_conventions.gateway_cors_origin(origins)
        origin = self.headers.get("Origin") if mapping == api_conventions.REQUEST_ORIGIN else mapping
        if origin:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        if close:
            headers["Connection"] = "close"
            self.close_connection = True
        status = problem.status or status
        assert status is not None, problem.response_type
        if status >= 500 or status == 429:
            # What API Gateway's access log would say, so a failed test shows why (the path, never
            # its query, which may carry a search's terms).
            path = urllib.parse.urlsplit(self.path).path
            log.warning(
                "the gateway answered %s %s to %s %s", status, problem.response_type, self.command, path
            )
        self._send(status, json.dumps(body).encode(), headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        """As API Gateway passes it on: CORS headers on responses are the function's to add."""
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        if self.request_id:
            self.send_header("x-amzn-RequestId", self.request_id)
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            if self.command != "HEAD":  # HEAD: the headers GET would have, no body
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The browser went first (a page closed or moved on while its fetch was out): nobody
            # is left to answer, which is no fault of the platform's and no traceback's worth.
            self.close_connection = True
