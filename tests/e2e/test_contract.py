"""The API keeps its own contract: Schemathesis generates requests from the document the gateway
serves, as a patient, a provider, a member of staff and a machine client, and every answer is
one the document gives, no 5xx, every 4xx a problem (tools/fuzz.py)."""

from __future__ import annotations

import json
from typing import Any

from infra.assets import ROOT
from local.platform import LocalPlatform
from tests.conftest import http
from tools.fuzz import callers_of, fuzz

# Per operation, caller and mode (positive, negative): 27 operations, about 270 requests in all.
EXAMPLES = 2


def test_fuzzing_the_served_document_finds_no_5xx_no_answer_outside_it_and_only_problem_4xx(
    platform: LocalPlatform, gateway: str
) -> None:
    served = http("GET", f"{gateway}/openapi.json")
    assert served.status == 200
    document = served.json()
    assert not [p for p in document["paths"] if "monitoring" in p or "readings" in p]  # rpm is off there
    _fuzzed(gateway, document, callers_of(platform, "riverside"))


def test_fuzzing_remote_monitoring_where_a_tenant_has_it_on(platform: LocalPlatform, gateway: str) -> None:
    """desert-clinic serves remote monitoring's routes (riverside has the feature off): they are
    fuzzed there, as its patient, provider, staff and device gateway."""
    base = f"{gateway}/tenants/desert-clinic"
    served = http("GET", f"{base}/openapi.json")
    assert served.status == 200
    document = served.json()
    # Payments are off there: none of their operations is in its document.
    assert not [
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("x-tenant-feature") == "payments"
    ]
    assert "/v1/me/coverage" not in document["paths"] and "/webhooks/stripe" not in document["paths"]
    document["paths"] = {
        path: rpm
        for path, item in document["paths"].items()
        if (rpm := {m: op for m, op in item.items() if op.get("x-tenant-feature") == "rpm"})
    }
    # Every route of the feature in the code's document is served there (and fuzzed).
    whole = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    assert set(document["paths"]) == {
        path
        for path, item in whole.items()
        if any(op.get("x-tenant-feature") == "rpm" for op in item.values())
    }
    _fuzzed(base, document, callers_of(platform, "desert-clinic"))


def _fuzzed(base: str, document: dict[str, Any], callers: dict[str, dict[str, str]]) -> None:
    report = fuzz(base, document, callers, examples=EXAMPLES)
    print(
        f"fuzz: {report.operations} operations, {report.cases} cases in {report.seconds:.1f} s, "
        f"statuses {json.dumps(dict(sorted(report.statuses.items())))}, "
        f"valid requests refused as malformed: {len(report.valid_refused)}"
    )
    for refused in report.valid_refused:  # the clinic's rules a schema cannot say (and any it could)
        print("  refused:", refused)
    assert report.operations == len([op for item in document["paths"].values() for op in item])
    assert report.cases >= report.operations * 2
    findings = "\n".join(str(f) for f in report.findings[:40])
    assert report.server_errors == 0, findings
    assert report.outside_document == 0, findings
    assert report.not_problem_json == 0, findings
    assert report.accepted_invalid == 0, findings
