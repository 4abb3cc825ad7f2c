"""Each function's handler, invoked in-process with the event shape its trigger really sends."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from functions.api import handler as api
from functions.events import chime_events
from functions.ingest import outbox_relay
from functions.workflow import visit_tasks
from tests.integration.conftest import REGION, MotoServer


@dataclass
class Context:
    function_name: str = "telehealth-test-fn"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:telehealth-test-fn"
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"


def proxy_event(method: str, path: str, resource: str) -> dict[str, Any]:
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/live{path}",
            "stage": "live",
            "requestId": "req-1",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.fixture(autouse=True)
def _tenant_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from telehealth import api_conventions

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("TENANT_ID", "riverside")
    # Each pool's managed login and portal client, as the stack gives every function.
    for pool in api_conventions.SIGN_IN_POOLS:
        monkeypatch.setenv(api_conventions.login_url_variable(pool), f"https://{pool}.login.example")
        monkeypatch.setenv(api_conventions.portal_client_variable(pool), f"{pool}-client")


def test_the_openapi_document_is_generated_from_the_routes() -> None:
    response = api.lambda_handler(proxy_event("GET", "/openapi.json", "/openapi.json"), Context())
    assert response["statusCode"] == 200
    document = json.loads(response["body"])
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]["/health"]["get"]["responses"]) >= {"200", "503"}
    # The served document names this tenant's sign-in, not the committed placeholders.
    flows = json.dumps(document["components"]["securitySchemes"])
    assert "https://patients.login.example/oauth2/authorize" in flows


def test_an_unknown_route_is_a_404_not_a_crash() -> None:
    response = api.lambda_handler(proxy_event("GET", "/v1/nothing", "/v1/{proxy+}"), Context())
    assert response["statusCode"] == 404


def test_a_visit_task_the_function_does_not_know_fails_loudly_for_the_state_machine(
    monkeypatch: pytest.MonkeyPatch, emulator: MotoServer
) -> None:
    from datetime import UTC, datetime, timedelta

    from infra import topology
    from infra.tenants import load_tenants

    tenant = load_tenants()[0]
    environment = topology.function_environment(
        tenant,
        account="123456789012",
        fhir_endpoint="https://fhir.example/",
        workforce_pool_id="w",
        patient_pool_id="p",
        login_urls={"workforce": "https://w.example", "patients": "https://p.example"},
        portal_clients={"workforce": "wc", "patients": "pc"},
    )
    # A timer step reads the visit as the table has it: the tenant's table, in the tests' emulator.
    table = topology.CLINIC_TABLE.name(tenant.id)
    dynamodb = emulator.client("dynamodb")
    if table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(**topology.CLINIC_TABLE.create_request(table))
    aws = {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": emulator.url,
        "AWS_ACCESS_KEY_ID": "parity",
        "AWS_SECRET_ACCESS_KEY": "parity",
    }
    for name, value in {**environment, **aws}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(visit_tasks.UnknownTaskError):
        visit_tasks.lambda_handler({"task": "teleport", "appointment_id": "a1"}, Context())
    # A timer step: seconds from the clock and the table (a visit it does not hold has had no
    # admission: its whole join window is ahead), ids in, numbers out (its history is kept).
    start = datetime.now(UTC) + timedelta(hours=2)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    result = visit_tasks.lambda_handler(
        {
            "task": "deadlines",
            "appointment_id": "a1",
            "version": 1,
            "start": start.strftime(stamp),
            "end": (start + timedelta(minutes=30)).strftime(stamp),
        },
        Context(),
    )
    assert set(result) == {"no_show_in_s", "admit_in_s", "join_window_s", "end_in_s"}
    assert 2 * 3600 + 9 * 60 < result["no_show_in_s"] <= 2 * 3600 + 10 * 60
    assert result["join_window_s"] == 4 * 60


def test_a_chime_event_of_another_tenant_is_refused_not_handled() -> None:
    event = {
        "detail-type": "Chime Meeting State Change",
        "source": "aws.chime",
        "detail": {"externalMeetingId": "other:v1"},
    }
    with pytest.raises(chime_events.ForeignEventError):
        chime_events.lambda_handler(event, Context())


def test_the_stream_consumer_reports_partial_batch_failures_shape() -> None:
    assert outbox_relay.lambda_handler({"Records": []}, Context()) == {"batchItemFailures": []}
