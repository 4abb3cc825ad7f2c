"""The API function's errors, invoked in-process with API Gateway's event: every one a problem in
one shape with the request id, every one that is not routine logged by type and route (never by
what was sent), and none a crash that the gateway would turn into a 502."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from functions.api import handler as api
from functions.api.routes import health
from tests.integration.test_function_handlers import Context, proxy_event

REQUEST_ID = "6f1c2c1e-8f0e-4a5e-9a55-3a1ddc7e6d6e"
# Synthetic: what a body might carry that must never reach a log line.
SUBMITTED = "Zyxwv Quux"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("WORKFORCE_POOL_ID", "us-east-1_work")
    monkeypatch.setenv("PATIENT_POOL_ID", "us-east-1_pat")


def _booking(body: str, *, base64_encoded: bool = False) -> dict[str, Any]:
    event = proxy_event("POST", "/v1/appointments", "/v1/{proxy+}")
    event["requestContext"]["requestId"] = REQUEST_ID
    event["requestContext"]["authorizer"] = {
        "claims": {
            "sub": "patient-1",
            "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pat",
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
        }
    }
    event["headers"]["Content-Type"] = "application/json"
    event["body"], event["isBase64Encoded"] = body, base64_encoded
    return event


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the api function's logger writes (JSON lines), as CloudWatch would receive it."""
    written = io.StringIO()
    monkeypatch.setattr(api.logger.registered_handler, "stream", written)
    return written


def _logged(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


MALFORMED = {
    "not-utf8": (base64.b64encode(f'{{"slot_id": "{SUBMITTED}\xff"}}'.encode("latin-1")).decode(), True),
    "lone-surrogate": (f'{{"slot_id": "{SUBMITTED}\\ud800"}}', False),
    "nested-1000-deep": ("[" * 1000 + f'"{SUBMITTED}"' + "]" * 1000, False),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_body_is_a_400_problem_logged_by_type_and_route_without_the_body(
    case: str, monkeypatch: pytest.MonkeyPatch, log: io.StringIO
) -> None:
    from functions.api import context

    def no_booking() -> None:
        raise AssertionError("a malformed request reached the booking service")

    monkeypatch.setattr(context, "booking", no_booking)
    body, encoded = MALFORMED[case]
    response = api.lambda_handler(_booking(body, base64_encoded=encoded), Context())
    assert response["statusCode"] == 400
    assert response["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
    problem = json.loads(response["body"])
    assert problem["type"] == "/problems/invalid-request"
    assert problem["instance"] == f"urn:uuid:{REQUEST_ID}"
    assert SUBMITTED not in response["body"]
    out = log.getvalue()
    (line,) = [entry for entry in _logged(out) if entry.get("message") == "request refused"]
    assert line["api_request_id"] == REQUEST_ID and line["route"] == "POST /v1/{proxy+}"
    assert line["status"] == 400 and line["error_type"]
    assert SUBMITTED not in out


def test_an_unforeseen_error_is_a_500_problem_and_an_error_line_without_its_message(
    monkeypatch: pytest.MonkeyPatch, log: io.StringIO
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError(f"failed for {SUBMITTED}")  # an exception message may carry PHI

    monkeypatch.setattr(health, "_last", None)
    monkeypatch.setattr(health, "_probes", broken)
    event = proxy_event("GET", "/health", "/health")
    event["requestContext"]["requestId"] = REQUEST_ID
    response = api.lambda_handler(event, Context())
    assert response["statusCode"] == 500
    problem = json.loads(response["body"])
    assert problem["type"] == "/problems/internal-error" and problem["instance"] == f"urn:uuid:{REQUEST_ID}"
    out = log.getvalue()
    (line,) = [entry for entry in _logged(out) if entry.get("level") == "ERROR"]
    assert line["error_type"] == "RuntimeError" and line["route"] == "GET /health"
    assert line["api_request_id"] == REQUEST_ID and line["raised_at"]
    assert SUBMITTED not in out


def test_a_path_no_route_takes_is_a_404_problem() -> None:
    response = api.lambda_handler(proxy_event("GET", "/v1/nothing", "/v1/{proxy+}"), Context())
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["type"] == "/problems/no-such-route"


def test_published_hours_are_read_back_in_the_forms_the_document_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stricter input forms (RFC 3339 days, wall-clock hours) hold for what the API answers too."""
    from datetime import date, time

    from functions.api.routes.scheduling import AvailabilityIn, AvailabilityOut, ExtraHoursIn, IntervalIn

    hours = AvailabilityOut(
        provider_id="dr-x",
        zone="America/Chicago",
        weekly={1: [IntervalIn(start=time(9), end=time(12))]},
        visit_minutes={"general": 30},
        days_off=[date(2026, 12, 24)],
        extra=[ExtraHoursIn(day=date(2026, 12, 27), start=time(8), end=time(9))],
        version=3,
    )
    answered = json.loads(hours.model_dump_json())
    assert answered["days_off"] == ["2026-12-24"] and answered["weekly"]["1"][0]["start"] == "09:00:00"
    assert AvailabilityIn.model_validate(
        {k: v for k, v in answered.items() if k not in ("provider_id", "zone")}
    )
    for day_off in (0, "0", "20261224"):
        with pytest.raises(ValueError):
            AvailabilityIn.model_validate({**answered, "days_off": [day_off]})
