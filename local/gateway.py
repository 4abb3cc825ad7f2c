"""The HTTP gateway: what API Gateway does in front of the `api` function, on one loopback port.

Each request is matched to a route of the topology (the resources the stack's REST API has),
checked by the Cognito authorizer's rules (signature, issuer, expiry, the method's scopes: no
stricter, no looser), turned into an API Gateway proxy event with the authorizer's claims, and
sent to the tenant's `api` function. Answers API Gateway gives itself are the same here: 403
`Missing Authentication Token` for a path no resource has, 401 `Unauthorized` from the authorizer.

Tenants: `/...` is the default tenant's API, `/tenants/<id>/...` any tenant's. Machine clients get
tokens from `POST /oauth2/token` (Cognito's client-credentials endpoint, which moto lacks).
The web portal's files are served for GET paths no route claims.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from infra import limits, topology
from local.lambdas import (
    FunctionThrottledError,
    FunctionTimeoutError,
    FunctionUnreachableError,
    Invocation,
    RequestTooLargeError,
)
from local.loopback import LoopbackServer
from local.tokens import Authorizer, Unauthorized, api_gateway_claims, mint_client_credentials_token
from telehealth import api_conventions

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
INTEGRATION_TIMEOUT_S = 29.0  # API Gateway's limit for a Lambda integration


@dataclass(frozen=True)
class TenantApi:
    tenant_id: str
    api_function: str  # function name
    authorizer: Authorizer
    token_issuer: str  # the workforce pool, which holds the machine clients
    machine_clients: dict[str, tuple[str, tuple[str, ...]]]  # client id -> (secret, scopes)
    cors_origins: frozenset[str] = frozenset()  # the stack's preflight origins


@dataclass
class GatewayStats:
    """Per request: total time in the gateway and the handler's own time (for the bench)."""

    samples: list[tuple[float, float]]

    def add(self, total_ms: float, handler_ms: float) -> None:
        self.samples.append((total_ms, handler_ms))
        del self.samples[:-10_000]


def match_route(path: str) -> tuple[topology.Route, dict[str, str]] | None:
    """The resource API Gateway would pick: an exact path, else the greedy `{proxy+}` below it."""
    for route in topology.ROUTES:
        if "{proxy+}" not in route.path and path == route.path:
            return route, {}
    for route in topology.ROUTES:
        base = route.path.removesuffix("/{proxy+}")
        if route.path.endswith("{proxy+}") and path.startswith(base + "/") and len(path) > len(base) + 1:
            return route, {"proxy": path[len(base) + 1 :]}
    return None


class Gateway:
    def __init__(
        self,
        *,
        port: int,
        tenants: dict[str, TenantApi],
        default_tenant: str,
        invoke: Callable[[str, bytes, float], Invocation],
    ) -> None:
        self.tenants = tenants
        self.default_tenant = default_tenant
        self.invoke = invoke
        self.stats = GatewayStats([])
        gateway = self

        class Handler(_Request):
            owner = gateway

        self._server = LoopbackServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Request(BaseHTTPRequestHandler):
    owner: Gateway
    server_version = "telehealth-local-gateway"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access logs would carry paths; the platform prints none

    # Every method goes through one place, as API Gateway's ANY does.
    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        """The preflight, answered as the stack's CORS options make API Gateway answer it."""
        path = urllib.parse.urlsplit(self.path).path
        tenant = self.owner.tenants.get(self.owner.default_tenant)
        if path.startswith("/tenants/"):
            tenant = self.owner.tenants.get(path.split("/")[2])
        origin = self.headers.get("Origin")
        if tenant is None or not origin or origin not in tenant.cors_origins:
            self._json(403, {"message": "Missing Authentication Token"})
            return
        self._send(
            204,
            b"",
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ",".join(api_conventions.CORS_ALLOW_METHODS),
                "Access-Control-Allow-Headers": ",".join(api_conventions.CORS_ALLOW_HEADERS),
                "Access-Control-Max-Age": str(api_conventions.CORS_MAX_AGE_S),
                "Vary": "Origin",
            },
        )

    def _handle(self) -> None:
        started = time.perf_counter()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        tenant_id = self.owner.default_tenant
        if path.startswith("/tenants/"):
            _, _, tenant_id, *rest = path.split("/", 3)
            path = "/" + (rest[0] if rest else "")
        tenant = self.owner.tenants.get(tenant_id)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limits.APIGW_PAYLOAD_BYTES.value:
            while length > 0:  # drained, not kept: the client hears the answer, not a reset
                length -= len(self.rfile.read(min(length, 1 << 20)) or b"\0" * length)
            self._json(413, {"message": limits.APIGW_PAYLOAD_BYTES.error.message})
            return
        body = self.rfile.read(length)
        if tenant is None:
            self._json(404, {"message": "No such tenant"})
            return
        if path == "/oauth2/token" and self.command == "POST":
            self._token(tenant, body)
            return
        matched = match_route(path)
        if matched is None or (not matched[0].scopes and self.command != "GET"):
            if self.command == "GET" and self._static(path):
                return
            self._json(403, {"message": "Missing Authentication Token"})
            return
        route, path_parameters = matched
        claims: dict[str, Any] | None = None
        if route.scopes:
            try:
                claims = tenant.authorizer.check(self.headers.get("Authorization"), route.scopes)
            except Unauthorized:
                self._json(401, {"message": "Unauthorized"})
                return
        event = self._proxy_event(route, path, url.query, path_parameters, claims, body)
        try:
            result = self.owner.invoke(tenant.api_function, json.dumps(event).encode(), INTEGRATION_TIMEOUT_S)
        except FunctionTimeoutError:
            self._json(504, {"message": "Endpoint request timed out"})
            return
        except FunctionUnreachableError:
            self._json(502, {"message": "Internal server error"})
            return
        except (FunctionThrottledError, RequestTooLargeError):
            # Lambda's 429 (or 413, an event over its payload limit) never reaches the client:
            # the invoke failed, and a proxy integration answers 500 for that.
            self._json(500, {"message": "Internal server error"})
            return
        response = json.loads(result.payload or b"null")
        if result.function_error or not isinstance(response, dict) or "statusCode" not in response:
            self._json(502, {"message": "Internal server error"})  # what API Gateway says, too
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
        text_body: str | None
        is_base64 = False
        try:
            text_body = body.decode() if body else None
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
        now = datetime.now(UTC)
        request_id = str(uuid.uuid4())
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
                "path": f"/{topology.API_STAGE}{path}",
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

    def _static(self, path: str) -> bool:
        relative = path.lstrip("/") or "index.html"
        target = (WEB_ROOT / relative).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(WEB_ROOT) or not target.is_file():
            return False
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self._send(200, target.read_bytes(), {"Content-Type": content_type})
        return True

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        """As API Gateway passes it on: CORS headers on responses are the function's to add."""
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
