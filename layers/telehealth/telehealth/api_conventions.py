"""Conventions of the HTTP API that both the stack (API Gateway) and the API function follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# CORS for a portal served from another origin: API Gateway answers the preflight, the function
# adds the headers to its responses; both allow the same.
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key")
CORS_ALLOW_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
CORS_MAX_AGE_S = 600

# --- Swagger UI's sign-in -------------------------------------------------------------------------
#
# /docs signs in through each pool's managed login with that pool's portal client (authorization
# code with PKCE). The stack (and the local platform) put where in the API function's environment;
# the pools' clients register the redirect page below the API's base URL as a callback.

DOCS_OAUTH_REDIRECT = "/docs/oauth2-redirect.html"
SIGN_IN_POOLS = ("patients", "workforce")  # the document's security schemes of users, by pool kind
_POOL_VARIABLE = {"patients": "PATIENT", "workforce": "WORKFORCE"}


def login_url_variable(pool: str) -> str:
    """Names the pool's managed-login base URL (`/oauth2/authorize` and `/oauth2/token` below it)."""
    return f"{_POOL_VARIABLE[pool]}_LOGIN_URL"


def portal_client_variable(pool: str) -> str:
    """Names the id of the pool's portal client (public: no secret)."""
    return f"{_POOL_VARIABLE[pool]}_PORTAL_CLIENT_ID"


# --- The FHIR facade -------------------------------------------------------------------------------
#
# Its FHIR base URL below the API's, and its SMART discovery document, which SMART App Launch puts
# below the FHIR base (`<base>/.well-known/smart-configuration`), not at the API's root.

FHIR_BASE = "/fhir/r4"
# Where Stripe delivers the tenant's events (registered in its dashboard): the API's one route
# without a token, as Stripe sends none; its signature is checked instead.
STRIPE_WEBHOOK = "/webhooks/stripe"
# A health system's HL7 v2 ADT feed over HTTPS, and the machine scope it needs (bare, on the
# `telehealth` resource server, as the tenant file names it).
HL7_ADT = "/integrations/hl7v2/adt"
HL7_ADT_SCOPE = "hl7.adt"
# Remote monitoring's readings from a device gateway or a device maker's cloud, and their scope.
DEVICE_READINGS = "/integrations/devices/readings"
DEVICE_READINGS_SCOPE = "rpm.readings"
PRESCRIBING_WEBHOOK = "/webhooks/photon"  # the e-prescribing network's events, as registered with Photon
# The encryption context a prescriber's sealed Photon credential carries (with the provider's id):
# the stack lets the prescribing function use its key for this purpose only.
PRESCRIBER_SEAL_PURPOSE = "photon-prescriber"
# Patients' Dexcom refresh tokens (remote monitoring), sealed for the dexcom function alone.
DEXCOM_SEAL_PURPOSE = "dexcom-patient"
# The tenant bus's events a subscription is told of, by topic (appointment and encounter
# changes), and the one that asks for a new subscription's handshake: the notices rule's pattern.
APPOINTMENT_EVENTS = (
    "Appointment.Booked",
    "Appointment.Rescheduled",
    "Appointment.Transferred",
    "Appointment.Cancelled",
    "Visit.Completed",
    "Visit.NoShow",
)
ENCOUNTER_EVENTS = (
    "Visit.CheckedIn",
    "Visit.Admitted",
    "Visit.InCall",
    "Visit.Completed",
    "Visit.NoShow",
    "Visit.Cancelled",
)
SUBSCRIPTION_REQUESTED = "Subscription.Requested"
SUBSCRIBED_EVENTS = (*dict.fromkeys((*APPOINTMENT_EVENTS, *ENCOUNTER_EVENTS)), SUBSCRIPTION_REQUESTED)
# Subscriptions' signing secrets (#19): sealed and opened by the subscription-delivery function alone.
SUBSCRIPTION_SEAL_PURPOSE = "subscription-signing"
SMART_CONFIGURATION = f"{FHIR_BASE}/.well-known/smart-configuration"
FHIR_JSON = "application/fhir+json"
# An HTTP status's OperationOutcome issue code (R4's IssueType), where the error names none.
FHIR_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    408: "timeout",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    503: "transient",
    504: "timeout",
}


def operation_outcome(status: int | None, diagnostics: str, code: str | None = None) -> dict[str, object]:
    """A FHIR error's body: one issue, `error` (`fatal` for the platform's own failure: a 5xx, or
    a status not known until API Gateway answers), its code, and a sentence for the client."""
    fatal = status is None or status >= 500
    issue = {
        "severity": "fatal" if fatal else "error",
        "code": code or FHIR_ISSUE_CODES.get(status or 0, "exception" if fatal else "invalid"),
        "diagnostics": diagnostics,
    }
    return {"resourceType": "OperationOutcome", "issue": [issue]}


# --- Problems API Gateway answers itself ----------------------------------------------------------
#
# The api function answers its errors as `application/problem+json` (functions/api/problems.py).
# What API Gateway refuses before the function runs (no route, no token, throttled, timed out) is
# answered through the stack's Gateway Responses in the same shape and the same `type` base, so a
# client (and a browser, the CORS headers included) reads one kind of error. The local gateway
# answers from the same table. `instance` is API Gateway's request id, the one the function is
# handed in `requestContext.requestId`, so a problem can be found in the access log.

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"
REQUEST_ID_PLACEHOLDER = "$context.requestId"  # what API Gateway substitutes in a response template


class RestApiKind(StrEnum):
    """The tenant's two REST APIs. Gateway Responses belong to a REST API, not to a path: the FHIR
    facade has an API of its own so that what API Gateway answers itself there (a 401, a 429) is
    an OperationOutcome, while the clinic's API answers problem+json."""

    CLINIC = "clinic"
    FHIR = "fhir"


def api_of(path: str) -> RestApiKind:
    """Which API a path is on (the FHIR facade's API serves everything under /fhir)."""
    return RestApiKind.FHIR if path == "/fhir" or path.startswith("/fhir/") else RestApiKind.CLINIC


@dataclass(frozen=True)
class GatewayProblem:
    response_type: str  # API Gateway's gateway response type
    # The status API Gateway answers with; None for the DEFAULT_* responses, which stand for
    # answers of several statuses (a 502 for a function's error, a 500 for a throttled invoke).
    status: int | None
    kind: str
    title: str
    detail: str

    def body(self, request_id: str) -> dict[str, object]:
        return {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            **({"status": self.status} if self.status is not None else {}),
            "detail": self.detail,
            "instance": request_id,
        }

    def outcome(self, request_id: str | None) -> dict[str, object]:
        """The same answer on the FHIR facade's API, as FHIR clients read errors: an
        OperationOutcome, the request id in its sentence as the facade's own errors carry it
        (None: answered before there is one)."""
        request = f" (request {request_id})" if request_id is not None else ""
        return operation_outcome(self.status, f"{self.title} {self.detail}{request}")

    def answer(self, api: RestApiKind, request_id: str) -> tuple[str, dict[str, object]]:
        """The content type and body this problem is answered with on `api`."""
        if api is RestApiKind.FHIR:
            return FHIR_JSON, self.outcome(request_id)
        return PROBLEM_JSON, self.body(request_id)


_NO_ROUTE = "No route of this API has this path and method."
_SIGN_IN = "Sign in again, or ask for a token with this route's scope."
_RETRY_LATER = "Retry in a moment; if it keeps happening, the clinic's support can look it up by `instance`."

GATEWAY_PROBLEMS: tuple[GatewayProblem, ...] = (
    # No resource and method for the request. API Gateway says 403 `Missing Authentication Token`;
    # for a client it is a route that does not exist.
    GatewayProblem("MISSING_AUTHENTICATION_TOKEN", 404, "not-found", "Not found.", _NO_ROUTE),
    GatewayProblem("RESOURCE_NOT_FOUND", 404, "not-found", "Not found.", _NO_ROUTE),
    GatewayProblem("UNAUTHORIZED", 401, "unauthorized", "Not signed in.", _SIGN_IN),
    GatewayProblem("EXPIRED_TOKEN", 403, "unauthorized", "Not signed in.", _SIGN_IN),
    GatewayProblem("INVALID_SIGNATURE", 403, "unauthorized", "Not signed in.", _SIGN_IN),
    GatewayProblem(
        "ACCESS_DENIED", 403, "forbidden", "Not allowed.", "The authorizer refused this token here."
    ),
    GatewayProblem("INVALID_API_KEY", 403, "forbidden", "Not allowed.", "This API takes no API keys."),
    GatewayProblem(
        "WAF_FILTERED",
        403,
        "request-blocked",
        "The request was blocked.",
        "The firewall refused this request.",
    ),
    GatewayProblem(
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        "unsupported-media-type",
        "Unsupported media type.",
        "Send the body as application/json.",
    ),
    GatewayProblem(
        "BAD_REQUEST_BODY", 400, "invalid-request", "The request is not valid.", "The body could not be read."
    ),
    GatewayProblem(
        "BAD_REQUEST_PARAMETERS",
        400,
        "invalid-request",
        "The request is not valid.",
        "A required parameter is missing.",
    ),
    GatewayProblem(
        "REQUEST_TOO_LARGE",
        413,
        "request-too-large",
        "The request is too large.",
        "The body is over the API's payload limit.",
    ),
    GatewayProblem(
        "THROTTLED",
        429,
        "too-many-requests",
        "Too many requests.",
        "This route is taking more requests than the clinic allows; retry in a few seconds.",
    ),
    GatewayProblem(
        "QUOTA_EXCEEDED",
        429,
        "too-many-requests",
        "Too many requests.",
        "This route is taking more requests than the clinic allows; retry in a few seconds.",
    ),
    GatewayProblem("INTEGRATION_TIMEOUT", 504, "timeout", "The API took too long to answer.", _RETRY_LATER),
    GatewayProblem("INTEGRATION_FAILURE", 504, "unavailable", "The API could not answer.", _RETRY_LATER),
    GatewayProblem("AUTHORIZER_FAILURE", 500, "unavailable", "The API could not answer.", _RETRY_LATER),
    GatewayProblem(
        "AUTHORIZER_CONFIGURATION_ERROR", 500, "unavailable", "The API could not answer.", _RETRY_LATER
    ),
    GatewayProblem("API_CONFIGURATION_ERROR", 500, "unavailable", "The API could not answer.", _RETRY_LATER),
    GatewayProblem(
        "DEFAULT_4XX",
        None,
        "invalid-request",
        "The request could not be served.",
        "The API refused this request.",
    ),
    GatewayProblem("DEFAULT_5XX", None, "unavailable", "The API could not answer.", _RETRY_LATER),
)
GATEWAY_PROBLEM = {p.response_type: p for p in GATEWAY_PROBLEMS}


REQUEST_ORIGIN = "method.request.header.Origin"  # a Gateway Response header mapping


def gateway_cors_origin(origins: Sequence[str]) -> str | None:
    """What a gateway response says in `Access-Control-Allow-Origin`: the portal's origin when
    there is one; with several, the request's own Origin (`REQUEST_ORIGIN`: a gateway response
    cannot choose from a list, and its body holds nothing but the problem); none without a portal
    on another origin."""
    if not origins:
        return None
    return origins[0] if len(origins) == 1 else REQUEST_ORIGIN


# WAF's answer to one client (one Authorization header) over its five-minute limit: WAF answers it
# before API Gateway, so it has no request id, and WAF's JSON body type is `application/json`.
CLIENT_RATE_LIMITED = GatewayProblem(
    "WAF_RATE_LIMIT",
    429,
    "too-many-requests",
    "Too many requests.",
    "This client sent more requests in five minutes than the clinic allows; wait a few minutes.",
)
CLIENT_RATE_BODY_KEY = "too-many-requests"
