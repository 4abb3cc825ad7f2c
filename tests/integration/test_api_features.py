"""An operation that needs a feature beyond its route's answers 404 where the tenant has that
feature off, as the gateway answers for a feature's own routes, and never reaches its service:
the prescriptions of a case of photos (triage's route, e-prescribing's work), and the DEA
registrations (the admin group's route). Invoked in-process with API Gateway's event, as no demo
tenant has triage on and e-prescribing off."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.api import context
from functions.api import handler as api
from tests.integration.test_function_handlers import Context, proxy_event

CASE = "01KB0Z6W3RY1D5Q8CSJ0Y2T9VA"
CASE_CHECKS = (f"/v1/triage/cases/{CASE}/prescriptions/checks", "/v1/triage/{proxy+}")
DEA = ("/v1/admin/providers/dr-ramirez/dea-registrations", "/v1/admin/{proxy+}")
BODY = {
    "rxcui": "308191",
    "dose": "1 capsule",
    "route": "oral",
    "frequency": "three times a day",
    "quantity": 21,
    "days_supply": 7,
    "refills": 0,
    "sig": "Take one capsule by mouth three times a day.",
    "pharmacy_id": "phr_01",
}


@pytest.fixture(autouse=True)
def asked_for(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time the prescribing service was asked for (the feature's check let a request through)."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("WORKFORCE_POOL_ID", "us-east-1_work")
    monkeypatch.setenv("PATIENT_POOL_ID", "us-east-1_pat")
    asked: list[str] = []

    def prescribing() -> None:
        asked.append("prescribing")
        raise RuntimeError("not here")  # the handler's 500: the test needs no service

    monkeypatch.setattr(context, "prescribing", prescribing)
    return asked


def _asked(method: str, route: tuple[str, str], group: str, body: Any = None) -> dict[str, Any]:
    event = proxy_event(method, *route)
    event["requestContext"]["authorizer"] = {
        "claims": {
            "sub": "user-1",
            "username": "user-1",
            "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_work",
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "cognito:groups": group,
        }
    }
    if body is not None:
        event["headers"]["Content-Type"] = "application/json"
        event["body"] = json.dumps(body)
    response: dict[str, Any] = api.lambda_handler(event, Context())
    return response


@pytest.mark.parametrize(
    ("method", "route", "group", "body"),
    [("POST", CASE_CHECKS, "providers", BODY), ("GET", DEA, "admins", None)],
    ids=["a case's prescription", "DEA registrations"],
)
def test_with_e_prescribing_off_the_operation_is_not_there_and_with_it_on_it_is_served(
    method: str,
    route: tuple[str, str],
    group: str,
    body: Any,
    monkeypatch: pytest.MonkeyPatch,
    asked_for: list[str],
) -> None:
    monkeypatch.setenv("FEATURES", "rpm,triage")
    off = _asked(method, route, group, body)
    assert off["statusCode"] == 404, off
    assert off["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
    assert json.loads(off["body"])["type"] == "/problems/not-found"
    assert asked_for == []
    monkeypatch.setenv("FEATURES", "rpm,triage,eprescribing")
    _asked(method, route, group, body)
    assert asked_for == ["prescribing"]
