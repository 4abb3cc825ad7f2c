"""The OpenAPI document says what the server does: the committed copy is the one the code makes,
every answer but success is a problem, who may call each operation is what API Gateway enforces,
and the API function's import leaves the services (and Stripe) for first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from functions.api import contract
from infra import topology
from infra.tenants import MACHINE_SCOPES, SMART_SCOPES
from telehealth.domain.jurisdictions import US_JURISDICTIONS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from functions.api.handler import app

    return contract.document(app)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_the_committed_document_is_the_one_the_code_makes(document: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text())
    stale = sorted(
        f"{method.upper()} {path}"
        for path in {*committed["paths"], *document["paths"]}
        for method in {*committed["paths"].get(path, {}), *document["paths"].get(path, {})}
        if committed["paths"].get(path, {}).get(method) != document["paths"].get(path, {}).get(method)
    )
    assert committed == document, f"docs/openapi.json is stale (`make docs`, and commit it): {stale}"


def test_every_operation_is_tagged_and_every_answer_but_success_is_a_problem(
    document: dict[str, Any],
) -> None:
    tags = {t["name"] for t in document["tags"]}
    for method, path, op in _operations(document):
        assert set(op["tags"]) <= tags and op["tags"], (method, path)
        for status, response in op["responses"].items():
            if int(status) >= 400 and path != "/health":
                assert set(response["content"]) == {"application/problem+json"}, (method, path, status)
    assert "HTTPValidationError" not in json.dumps(document)


def test_who_may_call_each_operation_is_what_the_authorizer_enforces(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    granted = set(schemes["machines"]["flows"]["clientCredentials"]["scopes"])
    assert granted == {f"{topology.RESOURCE_SERVER}/{s}" for s in MACHINE_SCOPES} | set(SMART_SCOPES)
    for method, path, op in _operations(document):
        # The resource API Gateway has for the path: its own, else the greedy one above it.
        exact = [r for r in topology.ROUTES if r.path == path]
        greedy = [r for r in topology.ROUTES if r.path.endswith("{proxy+}") and path.startswith(r.path[:-8])]
        (route,) = exact or greedy
        assert method.upper() in route.methods or route.methods == (topology.ANY,), (method, path)
        documented = {
            scope for requirement in op.get("security", []) for s in requirement.values() for scope in s
        }
        assert documented == set(route.scopes), (method, path)
        assert ("401" in op["responses"]) == bool(route.scopes), (method, path)


def test_state_bookings_take_an_idempotency_key_and_times_have_no_offset(document: dict[str, Any]) -> None:
    keyed = {
        (method, path)
        for method, path, op in _operations(document)
        if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
    }
    from functions.api.handler import app

    # The header is documented exactly where a route runs under an idempotent middleware (the FHIR
    # facade's creates too, which its CapabilityStatement and docs/api.md describe, not this document).
    routes = app._static_routes + app._dynamic_routes
    guarded = {
        (route.method.lower(), route.openapi_path, route.include_in_schema)
        for route in routes
        if any(getattr(m, "__name__", "").startswith("idempotent_") for m in route.middlewares)
    }
    assert ("post", "/v1/appointments", True) in guarded
    assert ("post", "/fhir/r4/{resource_type}", False) in guarded
    assert keyed == {(method, path) for method, path, documented in guarded if documented}
    text = json.dumps(document)
    assert '"format": "time"' not in text  # JSON Schema's time wants an offset the API never sends
    (state,) = [p for p in document["paths"]["/v1/slots"]["get"]["parameters"] if p["name"] == "state"]
    assert set(state["schema"]["enum"]) == US_JURISDICTIONS
    assert document["servers"] == [{"url": ".", "description": "Where this document is served from"}]


def test_no_function_but_payments_imports_stripe() -> None:
    """One interpreter imports every other function's handler in turn, as Lambda would one each
    (the payments code, deployed as `payments` and `payment-notices`, is the one that ships it)."""
    stripes = (topology.PAYMENTS, topology.PAYMENT_NOTICES)
    modules = [f.module for f in topology.FUNCTIONS if f not in stripes]
    code = (
        "import importlib, json, sys\n"
        "seen = {}\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "    seen[m] = 'stripe' in sys.modules\n"
        "print(json.dumps(seen))\n"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen and not any(seen.values()), seen


def test_the_served_document_signs_in_at_the_tenants_managed_login_and_the_committed_one_holds_still(
    document: dict[str, Any],
) -> None:
    login = {
        "patients": "https://riverside-patients-1.auth.us-east-1.amazoncognito.com",
        "workforce": "https://riverside-1.auth.us-east-1.amazoncognito.com/",
    }
    served = contract.signed_in_at(document, login)["components"]["securitySchemes"]
    for pool in ("patients", "workforce"):
        flow = served[pool]["flows"]["authorizationCode"]
        base = login[pool].rstrip("/")
        assert flow["authorizationUrl"] == f"{base}/oauth2/authorize"
        assert flow["tokenUrl"] == f"{base}/oauth2/token"
        assert "placeholder" not in served[pool]["description"]
    # Machine clients get their tokens at the workforce pool's domain (its resource server's).
    assert served["machines"]["flows"]["clientCredentials"]["tokenUrl"] == f"{login['workforce']}oauth2/token"
    # The committed document is every tenant's: placeholders, and it says so.
    committed = json.loads(COMMITTED.read_text())["components"]["securitySchemes"]
    assert committed["patients"]["flows"]["authorizationCode"]["authorizationUrl"] == "/oauth2/authorize"
    assert all("placeholders" in scheme["description"] for scheme in committed.values())


def test_a_tenant_serves_only_the_operations_whose_features_it_has_on(document: dict[str, Any]) -> None:
    """A case's prescriptions need triage (their route's) and e-prescribing both: a tenant with
    either off leaves them out, as it leaves out the other operations of a feature it has off."""
    login = {"patients": "https://p.example", "workforce": "https://w.example"}
    case_rx = "/v1/triage/cases/{case_id}/prescriptions"

    def served(*features: str) -> dict[str, Any]:
        paths: dict[str, Any] = contract.signed_in_at(document, login, frozenset(features))["paths"]
        return paths

    assert set(served("triage", "eprescribing")[case_rx]) == {"get", "post"}
    for one in ("triage", "eprescribing"):
        paths = served(one)
        assert case_rx not in paths and f"{case_rx}/checks" not in paths, one
    # Each feature's own operations stay with it.
    assert "/v1/triage/cases" in served("triage") and "/v1/pharmacies" in served("eprescribing")
    assert "/v1/triage/cases" not in served("eprescribing") and "/v1/pharmacies" not in served("triage")
