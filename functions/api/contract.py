"""The API's contract, declared in one place: what each operation can answer, which take an
`Idempotency-Key`, who may call them, and the finishing of the OpenAPI document Powertools
generates from the routes.

A route declares itself with `answers(...)`:

    @router.post("/v1/appointments", summary="...", tags=[SCHEDULING],
                 **answers(404, 409, 422, ok=201, model=AppointmentOut, idempotent=True))

and `document()` does the rest for every route alike: the problem schema, 400 wherever the
operation reads a parameter or a body, 401 and 403 where a token is needed, 429 (the stage's
throttles), the header where the route
is idempotent, the security requirement by path, the servers entry. `python -m tools.openapi`
prints the document that is committed as docs/openapi.json.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from telehealth.api_conventions import (
    DEVICE_READINGS,
    DEVICE_READINGS_SCOPE,
    HL7_ADT,
    HL7_ADT_SCOPE,
    PRESCRIBING_WEBHOOK,
    STRIPE_WEBHOOK,
)
from telehealth.domain import fhir_access

PROBLEM_JSON = "application/problem+json"
IDEMPOTENT = "x-idempotent"  # the marker `answers(idempotent=True)` leaves for `document()`
# A route that reads its body as text of these media types (an HL7 message), not JSON: the marker
# a route leaves for `document()`, which declares the body, and the answer in the first type.
RAW_BODY = "x-raw-body"
# The tenant feature an operation belongs to (`tenants.Features`' field): a tenant with it off
# serves a document without it (`signed_in_at`), as its stack has no resource for it.
FEATURE = "x-tenant-feature"
# A second feature an operation needs beyond its route's (a prescription from a case of photos:
# the route is triage's, the prescription e-prescribing's). A tenant with it off leaves the
# operation out of its document, and the operation answers 404 there (`feature_on`).
ALSO_NEEDS = "x-tenant-feature-also"
HL7_V2 = "application/hl7-v2"

# The header's shape, which the server checks too (functions/api/idempotent.py): 8 to 128
# printable ASCII characters.
IDEMPOTENCY_KEY_PATTERN = r"^[ -~]{8,128}$"

# Tags, in the order the document lists them.
(
    HEALTH,
    PATIENTS,
    SCHEDULING,
    PAYMENTS,
    AVAILABILITY,
    VISITS,
    VITALS,
    NOTES,
    PRESCRIPTIONS,
    MONITORING,
    TRIAGE,
    ADMIN,
    INTEGRATIONS,
) = (
    "Health",
    "Patients",
    "Scheduling",
    "Payments",
    "Availability",
    "Visits",
    "Vitals",
    "Notes",
    "Prescriptions",
    "Remote monitoring",
    "Triage",
    "Administration",
    "Integrations",
)
TAGS = {
    HEALTH: "Whether the API and what it depends on answer (public).",
    PATIENTS: "A patient's own details, which they give before booking.",
    SCHEDULING: "Open slots, booking, cancelling and moving appointments.",
    PAYMENTS: "What a visit costs, the card it is held on, and refunds (tenants with payments on).",
    AVAILABILITY: "Providers' hours in their own zone.",
    VISITS: "Check-in, the waiting room, admission, join links and the end of a visit.",
    VITALS: "Vital signs estimated from the visit video, and the provider's review of them.",
    NOTES: "The clinician's note of a visit: drafts saved as they type, signing, amendments and "
    "addenda, and the ICD-10-CM diagnoses it is coded with.",
    PRESCRIPTIONS: "E-prescribing (tenants with it on): checks, sending to the patient's pharmacy "
    "through the network, cancelling, and the network's news of each prescription.",
    MONITORING: "Remote monitoring (tenants with it on): patients' device readings, their "
    "programs' rules and the alerts the care team acknowledges.",
    TRIAGE: "Virtual triage (tenants with it on): a patient's symptom intake, one question at a "
    "time, that shows an emergency instruction the moment a red flag holds, or else says where to "
    "go and why; the care team's view of it; the medical director's sign-off of the rules.",
    ADMIN: "The clinic's settings, services and providers, versioned, for its administrators.",
    INTEGRATIONS: "Routes for a health system's software (machine clients, client credentials).",
}

# Who may call what, as API Gateway's authorizer decides (infra/topology.py ROUTES; a unit test
# holds the two together): a prefix, and the schemes with the scopes any one of which will do.
USER_SCOPE = "aws.cognito.signin.user.admin"
_USERS: list[dict[str, list[str]]] = [{"patients": [USER_SCOPE]}, {"workforce": [USER_SCOPE]}]
SECURITY: tuple[tuple[str, list[dict[str, list[str]]]], ...] = (
    ("/v1/", _USERS),
    (HL7_ADT, [{"machines": [f"telehealth/{HL7_ADT_SCOPE}"]}]),
    (DEVICE_READINGS, [{"machines": [f"telehealth/{DEVICE_READINGS_SCOPE}"]}]),
    ("/integrations/", [{"machines": ["telehealth/appointments.read"]}]),
    # The facade's discovery document is public (SMART: read before a token is asked for).
    ("/fhir/r4/.well-known/", []),
    ("/fhir/r4/metadata", []),  # and its CapabilityStatement (FHIR clients read it first)
    (STRIPE_WEBHOOK, []),  # Stripe sends no token: the route checks its Stripe-Signature
    (PRESCRIBING_WEBHOOK, []),  # nor does the network: its X-Photon-Signature is checked
    ("/fhir/", [{"machines": list(fhir_access.SUPPORTED_SCOPES)}, *_USERS]),
)

# Placeholders for each pool's managed login, the same in every environment so the committed
# document holds still; the document a deployed API serves (`signed_in_at`) has the tenant's own
# absolute URLs instead. Each pool signs in users of its own; machines use the workforce pool's.
OAUTH_AUTHORIZE, OAUTH_TOKEN = "/oauth2/authorize", "/oauth2/token"
_PLACEHOLDER = " The URLs here are placeholders: the API's own /openapi.json has the tenant's."
SECURITY_SCHEMES: dict[str, Any] = {
    "patients": {
        "type": "oauth2",
        "description": "Patients: the patient pool's sign-in (authorization code with PKCE)." + _PLACEHOLDER,
        "flows": {
            "authorizationCode": {
                "authorizationUrl": OAUTH_AUTHORIZE,
                "tokenUrl": OAUTH_TOKEN,
                "scopes": {"openid": "Sign in", USER_SCOPE: "Use the API as yourself"},
            }
        },
    },
    "workforce": {
        "type": "oauth2",
        "description": "Providers and staff: the workforce pool's sign-in (authorization code, PKCE, MFA)."
        + _PLACEHOLDER,
        "flows": {
            "authorizationCode": {
                "authorizationUrl": OAUTH_AUTHORIZE,
                "tokenUrl": OAUTH_TOKEN,
                "scopes": {"openid": "Sign in", USER_SCOPE: "Use the API as yourself"},
            }
        },
    },
    "machines": {
        "type": "oauth2",
        "description": "A health system's software: client credentials of a machine client of the tenant."
        + _PLACEHOLDER,
        "flows": {
            "clientCredentials": {
                "tokenUrl": OAUTH_TOKEN,
                "scopes": {
                    "telehealth/appointments.read": "Read a provider's appointments",
                    f"telehealth/{HL7_ADT_SCOPE}": "Send HL7 v2 ADT messages (register, update, merge)",
                    f"telehealth/{DEVICE_READINGS_SCOPE}": "Send readings from patients' registered devices",
                    **{
                        fhir_access.token_scope(name): f"FHIR facade: {description}"
                        for name, description in fhir_access.SCOPE_NAMES.items()
                    },
                },
            }
        },
    },
}

# RFC 9457, as the API writes it (functions/api/problems.py).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "Stable: /problems/<kind> (see docs/api.md)"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What was wrong; never repeats what was sent"},
        "instance": {"type": "string", "description": "urn:uuid:<request id>: quote it to support"},
        "errors": {
            "type": "array",
            "description": "Each field that is not valid (400 invalid-request)",
            "items": {
                "type": "object",
                "required": ["field", "problem"],
                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
            },
        },
        "rebook": {"type": "string", "description": "Where to book again (provider-not-licensed)"},
    },
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem_response(status: int) -> dict[str, Any]:
    return {"description": HTTPStatus(status).phrase, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}


def answers(
    *problems: int,
    ok: int = 200,
    model: type | None = None,
    idempotent: bool = False,
    feature: str | None = None,
    also_needs: str | None = None,
    raw_body: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: its success (`ok`, with `model` when the route
    returns a `Response` rather than the model itself) and the problem statuses it can answer
    beyond those `document()` gives every operation (400 where it reads input; 401 and 403 behind
    a token); `feature`, the tenant feature it belongs to, and `also_needs`, one more it needs;
    `raw_body`, the content types of a body the route reads itself."""
    success: dict[str, Any] = {"description": HTTPStatus(ok).phrase}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    declared: dict[str, Any] = {"responses": {ok: success, **{s: _problem_response(s) for s in problems}}}
    extensions: dict[str, Any] = {}
    if idempotent:
        extensions[IDEMPOTENT] = True
    if feature:
        extensions[FEATURE] = feature
    if also_needs:
        extensions[ALSO_NEEDS] = also_needs
    if raw_body:
        extensions[RAW_BODY] = list(raw_body)
    if extensions:
        declared["openapi_extensions"] = extensions
    return declared


def security_for(path: str) -> list[dict[str, list[str]]] | None:
    """The schemes a path's operations need (the first prefix that fits); empty or None: public."""
    return next((schemes for prefix, schemes in SECURITY if path.startswith(prefix)), None)


def _idempotency_header() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "A retry with the same key returns the first answer instead of acting again",
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    }


def finish(generated: dict[str, Any]) -> dict[str, Any]:
    """The document Powertools generated, made to say what the server does."""
    document: dict[str, Any] = json.loads(json.dumps(generated))  # a copy to change
    # Relative to where the document is served: /live/ on the stage's own URL, / behind the local
    # gateway or a custom domain. Swagger UI and clients resolve it against the document's URL.
    document["servers"] = [{"url": ".", "description": "Where this document is served from"}]
    document["tags"] = [{"name": name, "description": text} for name, text in TAGS.items()]
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # Powertools documents its own 422 (HTTPValidationError); this API answers validation with a
    # 400 problem, and a 422 only where a route says so.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, item in document["paths"].items():
        for operation in item.values():
            # Powertools keeps an operation's tags in a set: listed in the document's own order,
            # or the document would change with the interpreter's string hashing.
            if "tags" in operation:
                operation["tags"] = sorted(operation["tags"], key=list(TAGS).index)
            responses = operation["responses"]
            if responses.get("422", {}).get("content", {}).get("application/json"):
                del responses["422"]  # Powertools' default, not declared by the route
            responses.get("204", {}).pop("content", None)  # Powertools' from the annotation: no body
            security = security_for(path)
            if security:
                operation["security"] = security
                responses.setdefault("401", _problem_response(401))
                responses.setdefault("403", _problem_response(403))
            raw = operation.pop(RAW_BODY, None)
            if raw:
                text = {"schema": {"type": "string"}}
                operation["requestBody"] = {"required": True, "content": {kind: text for kind in raw}}
                if "200" in responses:
                    responses["200"]["content"] = {raw[0]: text}  # answered in the first
            if operation.pop(IDEMPOTENT, False):
                operation.setdefault("parameters", []).append(_idempotency_header())
            if operation.get("parameters") or operation.get("requestBody"):  # else nothing is read
                responses.setdefault("400", _problem_response(400))
            # API Gateway's own: every method is under its route group's throttle.
            responses.setdefault("429", _problem_response(429))
            operation["responses"] = dict(sorted(responses.items()))
    return document


def document(app: Any) -> dict[str, Any]:
    """The finished OpenAPI document of the resolver `app`."""
    generated = app.get_openapi_schema(title="Telehealth API", version="1").model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return finish(generated)


# Whose managed login each scheme signs in with (machines: the workforce pool's, which holds the
# integrations' resource server).
SCHEME_POOLS = {"patients": "patients", "workforce": "workforce", "machines": "workforce"}


def signed_in_at(
    document: dict[str, Any], login_urls: dict[str, str], features: frozenset[str] | None = None
) -> dict[str, Any]:
    """`document` as the tenant's API serves it: each scheme's placeholders replaced by the
    absolute URLs of its pool's managed login (`login_urls`, by pool kind, each a base URL), and
    without the operations of a feature the tenant has off (`features`: those it has on)."""
    served: dict[str, Any] = json.loads(json.dumps(document))  # a copy to change
    if features is not None:
        for path, item in list(served["paths"].items()):
            for method, operation in list(item.items()):
                needed = (operation.get(FEATURE, ""), operation.get(ALSO_NEEDS, ""))
                if any(f not in ("", *features) for f in needed):
                    del item[method]
            if not item:
                del served["paths"][path]
    for name, scheme in served["components"]["securitySchemes"].items():
        base = login_urls[SCHEME_POOLS[name]].rstrip("/")
        for flow in scheme["flows"].values():
            if "authorizationUrl" in flow:
                flow["authorizationUrl"] = base + OAUTH_AUTHORIZE
            flow["tokenUrl"] = base + OAUTH_TOKEN
        scheme["description"] = scheme["description"].removesuffix(_PLACEHOLDER)
    return served
