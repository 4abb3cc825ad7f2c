"""The audit trail as a compliance officer reads it in the record: one AuditEvent per request, its
interaction and outcome, refusals included, and agents and entities that resolve."""

from __future__ import annotations

import base64
import functools
import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.domain.ids import new_id
from tests.conftest import eventually, http, user_tokens
from tests.e2e.test_scheduling import RIVERSIDE, book, call, fresh_slot, stamp


@pytest.fixture(scope="module")
def tokens(platform: LocalPlatform) -> dict[str, str]:
    people = {
        "patient": "patient.one@riverside.example",
        "patient2": "patient.two@riverside.example",
        "staff": "staff@riverside.example",
    }
    return {role: user_tokens(platform, RIVERSIDE, email)["access"] for role, email in people.items()}


def subject(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def machine_token(platform: LocalPlatform, gateway: str) -> tuple[str, str]:
    client_id, secret, _ = platform.provisioned[RIVERSIDE].machine_clients["ehr-sync"]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    reply = http(
        "POST",
        f"{gateway}/oauth2/token",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        body=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
    )
    return client_id, str(reply.json()["access_token"])


def events_of(fhir: HealthLakeFhirStore, agent: str, since: str, **params: str) -> list[dict[str, Any]]:
    return list(fhir.search("AuditEvent", {"agent": agent, "date": f"ge{since}", "_count": "100", **params}))


def entities(event: dict[str, Any]) -> set[str]:
    return {e["what"]["reference"] for e in event.get("entity", []) if "reference" in e["what"]}


def test_a_patient_refused_another_patients_appointment_is_an_audited_failed_read(
    gateway: str, tokens: dict[str, str], fhir: HealthLakeFhirStore
) -> None:
    since = stamp(datetime.now(UTC).replace(microsecond=0))
    theirs = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()["appointment_id"]
    nobodys = new_id(datetime.now(UTC))
    assert call(gateway, "GET", f"/v1/appointments/{theirs}", tokens["patient2"]).status == 404
    assert call(gateway, "GET", f"/v1/appointments/{nobodys}", tokens["patient2"]).status == 404
    prober = f"Patient/{subject(tokens['patient2'])}"

    def refusals() -> list[dict[str, Any]]:
        found = events_of(fhir, prober, since, outcome="4")
        assert len(found) == 2, found
        return found

    found = eventually(refusals, timeout_s=30)
    for event in found:
        assert event["subtype"] == [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}]
        assert event["action"] == "R" and event["outcomeDesc"] == "not-found"
    # The other patient's appointment by reference (it exists); the made-up one by identifier only.
    assert {frozenset(entities(e)) for e in found} == {frozenset({f"Appointment/{theirs}"}), frozenset()}
    unknown = [e["entity"][0]["what"]["identifier"]["value"] for e in found if not entities(e)]
    assert unknown == [nobodys]
    # The owner's own read is a success, with its own AuditEvent.
    assert call(gateway, "GET", f"/v1/appointments/{theirs}", tokens["patient"]).status == 200
    owner = f"Patient/{subject(tokens['patient'])}"
    reads = eventually(lambda: events_of(fhir, owner, since, subtype="read"), timeout_s=30)
    assert [(e["outcome"], entities(e)) for e in reads] == [("0", {f"Appointment/{theirs}"})]


def test_a_list_is_one_audit_event_naming_every_row_by_agents_the_record_holds(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str], fhir: HealthLakeFhirStore
) -> None:
    for _ in range(2):
        assert book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).status == 201
    since = stamp(datetime.now(UTC).replace(microsecond=0))
    client_id, machine = machine_token(platform, gateway)
    listed = {
        f"Practitioner/user-{subject(tokens['staff'])}": call(
            gateway, "GET", "/v1/appointments?provider_id=dr-ramirez", tokens["staff"]
        ),
        f"Device/client-{client_id}": call(
            gateway, "GET", "/integrations/appointments?provider_id=dr-ramirez", machine
        ),
    }
    for agent, reply in listed.items():
        assert reply.status == 200, reply.body
        rows = {f"Appointment/{a['appointment_id']}" for a in reply.json()["appointments"]}
        assert len(rows) >= 2
        found = eventually(functools.partial(events_of, fhir, agent, since), timeout_s=30)
        assert len(found) == 1, [entities(e) for e in found]  # one request, one AuditEvent
        assert found[0]["subtype"][0]["code"] == "search-type" and found[0]["outcome"] == "0"
        assert entities(found[0]) == rows
        # Staff and machine clients are in the record, as the agent each event names.
        kind, _, agent_id = agent.partition("/")
        assert fhir.read_if_present(kind, agent_id), agent
