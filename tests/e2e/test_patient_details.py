"""A patient who signs up themselves: enrolled by the patient pool's post-confirmation trigger (the
emulator calls it as Cognito does), asked for their details before they can book, and enrolled by
their first save should the trigger have failed."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tests.conftest import eventually, user_tokens
from tests.e2e.test_scheduling import RIVERSIDE, book, call, fresh_slot

DETAILS = {
    "given_name": "Robin",
    "family_name": "Synthetic",
    "birth_date": "1991-04-02",
    "home_state": "NJ",
    "zone": "America/New_York",
    "phone": "+15550100042",
}


def _sign_up(platform: LocalPlatform) -> tuple[str, str, Any, str]:
    """A new patient through Cognito's own API, as the managed login calls it: (e-mail, sub, the
    Cognito client, the portal's client id). Not yet confirmed."""
    tenant = platform.provisioned[RIVERSIDE]
    idp = platform.client("cognito-idp", tenant.region)
    email = f"patient.new.{secrets.token_hex(4)}@{RIVERSIDE}.example"
    client_id = tenant.portal_clients["patients"]
    sub = idp.sign_up(
        ClientId=client_id,
        Username=email,
        Password=DEMO_PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}],
    )["UserSub"]
    return email, sub, idp, client_id


def _problem(reply: Any) -> dict[str, Any]:
    assert reply.headers.get("Content-Type", "").startswith("application/problem+json"), reply.headers
    found: dict[str, Any] = reply.json()
    return found


def test_a_new_patient_is_enrolled_on_confirming_gives_their_details_then_books(
    platform: LocalPlatform, gateway: str, fhir: HealthLakeFhirStore
) -> None:
    email, sub, idp, client_id = _sign_up(platform)
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode="123456")
    token = user_tokens(platform, RIVERSIDE, email)["access"]

    mine = call(gateway, "GET", "/v1/me/details", token)
    assert mine.status == 200, mine.body
    assert {k: mine.json()[k] for k in ("patient_id", "email", "complete", "version", "given_name")} == {
        "patient_id": sub,
        "email": email,
        "complete": False,
        "version": 1,
        "given_name": None,
    }

    # No visit until the clinic knows who they are.
    slot = fresh_slot(gateway, token, provider=None, days_ahead=0.1, span_hours=12)
    refused = book(gateway, token, slot)
    assert refused.status == 409 and _problem(refused)["type"].endswith("/details-incomplete")
    assert call(gateway, "GET", "/v1/appointments", token).json()["appointments"] == []

    # Details the clinic cannot take: each field named, no value repeated, nothing changed.
    bad = {
        **DETAILS,
        "birth_date": (datetime.now(UTC).date() + timedelta(days=3)).isoformat(),
        "home_state": "ZZ",
        "zone": "Mars/Olympus_Mons",
        "phone": "555-0100",
        "version": 1,
    }
    invalid = call(gateway, "PUT", "/v1/me/details", token, bad)
    assert invalid.status == 400
    problem = _problem(invalid)
    assert {e["field"] for e in problem["errors"]} == {"birth_date", "home_state", "zone", "phone"}
    for value in ("Mars/Olympus_Mons", "555-0100", str(bad["birth_date"])):
        assert value not in invalid.body.decode()
    stale = call(gateway, "PUT", "/v1/me/details", token, {**DETAILS, "version": 0})
    assert stale.status == 409 and _problem(stale)["type"].endswith("/conflict")
    assert call(gateway, "GET", "/v1/me/details", token).json()["version"] == 1

    saved = call(gateway, "PUT", "/v1/me/details", token, {**DETAILS, "version": 1})
    assert saved.status == 200, saved.body
    assert saved.json() == {**DETAILS, "patient_id": sub, "email": email, "complete": True, "version": 2}
    booked = book(gateway, token, fresh_slot(gateway, token, provider=None, days_ahead=0.1, span_hours=12))
    assert booked.status == 201, booked.body

    # The record has them as they said, reminders' address included.
    patient = eventually(
        lambda: (found := fhir.read_if_present("Patient", sub)) and "name" in found and found
    )
    assert patient["name"] == [{"use": "official", "family": "Synthetic", "given": ["Robin"]}]
    assert patient["birthDate"] == "1991-04-02" and patient["address"] == [{"use": "home", "state": "NJ"}]
    assert {t["value"] for t in patient["telecom"]} == {email, "+15550100042"}

    # The front desk finds them by last name and date of birth, in a request body (never a URL).
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    search = {"family_name": "SYNTHETIC", "birth_date": "1991-04-02", "given_name": "rob"}
    found = call(gateway, "POST", "/v1/patients/search", staff, search)
    assert found.status == 200, found.body
    # Every match is of that name and birth date (other tests' Robin Synthetics among them), this one too.
    matches = found.json()["patients"]
    assert {(p["family_name"], p["birth_date"]) for p in matches} == {("Synthetic", "1991-04-02")}
    assert {"patient_id": sub, "given_name": "Robin", "home_state": "NJ"} in [
        {k: p[k] for k in ("patient_id", "given_name", "home_state")} for p in matches
    ]
    provider = user_tokens(platform, RIVERSIDE, "dr.okafor@riverside.example")["access"]
    for outsider in (token, provider):  # the patient themselves, a provider: staff's alone
        refused = call(gateway, "POST", "/v1/patients/search", outsider, search)
        assert refused.status == 403 and "Synthetic" not in refused.body.decode()

    # A password reset fires the same trigger (another source): the record stays as it is.
    idp.forgot_password(ClientId=client_id, Username=email)
    idp.confirm_forgot_password(
        ClientId=client_id, Username=email, ConfirmationCode="123456", Password=DEMO_PASSWORD
    )
    assert call(gateway, "GET", "/v1/me/details", token).json()["version"] == 2


def test_only_patients_have_details_of_their_own(platform: LocalPlatform, gateway: str) -> None:
    for email in ("dr.okafor@riverside.example", "staff@riverside.example"):
        token = user_tokens(platform, RIVERSIDE, email)["access"]
        for method, body in (("GET", None), ("PUT", {**DETAILS, "version": 0})):
            reply = call(gateway, method, "/v1/me/details", token, body)
            assert reply.status == 403 and _problem(reply)["type"].endswith("/forbidden"), (email, method)


def test_when_the_trigger_fails_the_patient_is_confirmed_and_their_first_save_enrols_them(
    platform: LocalPlatform, gateway: str
) -> None:
    email, sub, idp, client_id = _sign_up(platform)
    faults = platform.emulator.faults
    fault = faults.fail_next(
        "dynamodb",
        "TransactWriteItems",
        "ValidationException",
        "One or more parameter values were invalid.",
        when=lambda request: f"PATIENT#{sub}" in json.dumps(request),
    )
    try:
        with pytest.raises(idp.exceptions.UserLambdaValidationException) as failed:
            idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode="123456")
    finally:
        armed = fault.times
        faults.clear()
    assert armed == 0 and "PostConfirmation failed" in str(failed.value)
    tenant = platform.provisioned[RIVERSIDE]
    user = idp.admin_get_user(UserPoolId=tenant.user_pools["patients"], Username=email)
    assert user["UserStatus"] == "CONFIRMED"  # Cognito confirms first, then calls the trigger

    token = user_tokens(platform, RIVERSIDE, email)["access"]
    missing = call(gateway, "GET", "/v1/me/details", token)
    assert missing.status == 404 and email not in missing.body.decode()
    saved = call(gateway, "PUT", "/v1/me/details", token, {**DETAILS, "version": 0})
    assert saved.status == 200, saved.body
    assert (saved.json()["version"], saved.json()["complete"], saved.json()["email"]) == (1, True, None)
    assert date.fromisoformat(saved.json()["birth_date"]) == date(1991, 4, 2)
