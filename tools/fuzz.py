"""Fuzz the API from its own OpenAPI document (Schemathesis), as each kind of caller.

For every operation the served document lists and every caller its security admits, Schemathesis
generates requests that fit the schema (positive) and requests that do not (negative); each goes
over HTTP to the gateway with that caller's token. A response fails when it is a 5xx, when its
status or content type or body is not one the document gives the operation, when a 4xx is not
`application/problem+json`, or when a request the schema forbids is not refused with a 4xx.

Bounded: `examples` per operation, caller and mode, no shrinking, no example database (Hypothesis
is derandomized; Schemathesis still varies some values from run to run). Used by
tests/e2e/test_contract.py and `make bench` (`--only fuzz`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROBLEM_JSON = "application/problem+json"


@dataclass
class Finding:
    operation: str
    caller: str
    mode: str
    status: int
    what: str

    def __str__(self) -> str:
        return f"{self.operation} as {self.caller} ({self.mode}): {self.status} {self.what}"


@dataclass
class FuzzReport:
    operations: int = 0
    cases: int = 0
    server_errors: int = 0
    outside_document: int = 0
    not_problem_json: int = 0
    accepted_invalid: int = 0
    # Requests that fit the schema yet were refused as malformed (400): where the schema is
    # still looser than the server. Reported, not failed: some 400s are the clinic's rules
    # (staff must name the patient), which no schema can say.
    valid_refused: list[Finding] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


# One of each kind of caller, from the seed (synthetic people).
CALLERS = {
    "patients": {"patient": "patient.one@{tenant}.example"},
    "workforce": {"provider": "dr.ramirez@{tenant}.example", "staff": "staff@{tenant}.example"},
}


def callers_of(platform: Any, tenant_id: str) -> dict[str, dict[str, str]]:
    """Access tokens of a seeded patient, provider and staff member (signed in as the portal does
    locally), and of a machine client of the tenant (client credentials at the gateway)."""
    import base64
    import json
    import urllib.parse
    import urllib.request

    from local.seed import DEMO_PASSWORD

    tenant = platform.provisioned[tenant_id]
    idp = platform.client("cognito-idp", tenant.region)

    def signed_in(email: str, pool: str) -> str:
        result = idp.initiate_auth(
            ClientId=tenant.portal_clients[pool],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": DEMO_PASSWORD},
        )
        return str(result["AuthenticationResult"]["AccessToken"])

    callers = {
        pool: {who: signed_in(email.format(tenant=tenant_id), pool) for who, email in people.items()}
        for pool, people in CALLERS.items()
    }
    # Every machine client of the tenant: each operation for machines is tried with each token,
    # the one whose scopes it needs and the others (which the authorizer refuses).
    callers["machines"] = {}
    for name, (client_id, secret, _) in tenant.machine_clients.items():
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 (the local gateway's own URL)
            # Each tenant's clients sign in at its own base (the default tenant's is the root too).
            f"{platform.urls['gateway']}/tenants/{tenant_id}/oauth2/token",
            data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            callers["machines"][name] = json.loads(answer.read())["access_token"]
    return callers


def _header(headers: Mapping[str, Any], name: str) -> str:
    """Schemathesis keeps each header as a list under its name as sent."""
    found = next((v for k, v in headers.items() if k.lower() == name), "")
    return str(found[0] if isinstance(found, list) and found else found)


def fuzz(
    gateway: str,
    document: dict[str, Any],
    callers: Mapping[str, Mapping[str, str]],
    *,
    examples: int = 4,
) -> FuzzReport:
    """`callers`: per security scheme name ("patients", "workforce", "machines"), the callers'
    access tokens by a name for the report; an operation is tried as every caller of every
    scheme it accepts, and an open one once, without a token."""
    import schemathesis
    from schemathesis.core.result import Err
    from schemathesis.generation import GenerationMode

    started = time.perf_counter()
    schema = schemathesis.openapi.from_dict(document)
    report = FuzzReport()
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document is not one Schemathesis can read: say so
            raise result.err()
        operation = result.ok()
        report.operations += 1
        schemes = {name for need in operation.definition.raw.get("security", []) for name in need}
        tokens = {who: token for scheme in sorted(schemes) for who, token in callers.get(scheme, {}).items()}
        for who, token in (tokens or {"anyone": ""}).items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _attempts(report, gateway, operation, who, token, mode, examples)
    report.seconds = time.perf_counter() - started
    return report


def _attempts(
    report: FuzzReport, gateway: str, operation: Any, who: str, token: str, mode: Any, examples: int
) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    label = f"{operation.method.upper()} {operation.path}"
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    if not mode.is_positive:
        checks.append(negative_data_rejection)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def attempt(case: Any) -> None:
        if token:
            case.headers = {**(case.headers or {}), "Authorization": token}
        response = case.call(base_url=gateway, timeout=30)
        report.cases += 1
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1

        def found(counter: str, what: str) -> None:
            setattr(report, counter, getattr(report, counter) + 1)
            report.findings.append(Finding(label, who, mode.value, response.status_code, what))

        if response.status_code >= 500:
            found("server_errors", response.text[:200])
        if 400 <= response.status_code < 500:
            kind = _header(response.headers, "content-type")
            if not kind.startswith(PROBLEM_JSON):
                found("not_problem_json", f"{kind}: {response.text[:120]}")
        for check in checks:
            try:
                case.validate_response(response, checks=[check])
            except BaseExceptionGroup as failed:  # Schemathesis' FailureGroup
                title = "; ".join(getattr(f, "title", str(f)) for f in failed.exceptions)[:200]
                if check is negative_data_rejection:
                    found("accepted_invalid", f"{title}: {case.as_curl_command(headers={})[:300]}")
                elif check is not not_a_server_error:  # a 5xx is counted above
                    found("outside_document", title)
        if mode.is_positive and response.status_code == 400:
            detail = response.text[:160]
            report.valid_refused.append(Finding(label, who, mode.value, response.status_code, detail))

    try:
        attempt()
    except Unsatisfiable:  # nothing to get wrong: an operation without parameters has no negative case
        if mode.is_positive:
            raise
