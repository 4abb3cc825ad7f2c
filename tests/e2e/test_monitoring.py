"""Remote monitoring on the local platform (desert-clinic has it on; riverside does not): a provider
enrols a patient and registers their cuff; the tenant's device gateway posts FHIR Observations
(the Personal Health Device IG's shape) and Open mHealth data points; the readings go through the
readings queue to the readings function, which keeps each once and raises the blood-pressure
crisis alert; the care team's panel puts the patient first until a provider acknowledges it.
Every name, serial and value is synthetic."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.api_conventions import DEVICE_READINGS, FHIR_JSON
from telehealth.domain.readings import IEEE_11073, LOINC, UCUM
from telehealth.fhir.monitoring import day_summary_id
from tests.conftest import Reply, eventually, http, user_tokens
from tests.e2e.conftest import in_record
from tests.e2e.test_fhir_facade import machine_token
from tests.e2e.test_hl7v2 import client_token
from tests.e2e.test_scheduling import call

DESERT = "desert-clinic"
BASE = f"/tenants/{DESERT}"
READINGS_FUNCTION = "telehealth-desert-clinic-readings"


def gateway_token(platform: LocalPlatform, gateway: str) -> str:
    """The tenant file's `device-gateway` client, signing in with client credentials."""
    return client_token(platform, gateway, "device-gateway", DESERT)


def subject(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def post_readings(gateway: str, token: str, body: Any, content_type: str = FHIR_JSON) -> Reply:
    return http(
        "POST",
        f"{gateway}{BASE}{DEVICE_READINGS}",
        headers={"Authorization": token, "Content-Type": content_type},
        body=json.dumps(body).encode(),
    )


def coded(loinc: str, mdc: str) -> dict[str, Any]:
    return {"coding": [{"system": IEEE_11073, "code": mdc}, {"system": LOINC, "code": loinc}]}


def blood_pressure(identifier: str, at: datetime, systolic: float, diastolic: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [{"value": identifier}],
        "status": "final",
        "code": coded("85354-9", "150020"),
        "subject": {"reference": "Patient/gateway-numbering-7"},  # the gateway's own: ignored
        "effectiveDateTime": at.isoformat(),
        "device": {"reference": "urn:uuid:cuff"},
        "component": [
            {"code": coded("8480-6", "150021"), "valueQuantity": _mmhg(systolic)},
            {"code": coded("8462-4", "150022"), "valueQuantity": _mmhg(diastolic)},
        ],
    }


def _mmhg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}


def enrolled_with_cuff(gateway: str, provider: str, patient_id: str) -> str:
    """Enrol the patient in hypertension (again: the program is updated) and register a new cuff."""
    enrolled = call(
        gateway,
        "PUT",
        f"{BASE}/v1/monitoring/patients/{patient_id}/enrolment",
        provider,
        {"program": "hypertension"},
    )
    assert enrolled.status == 200, enrolled.body
    serial = f"SN-CUFF-{secrets.token_hex(4)}"
    device = call(
        gateway,
        "POST",
        f"{BASE}/v1/monitoring/patients/{patient_id}/devices",
        provider,
        {"serial": serial, "kind": "blood-pressure-cuff"},
    )
    assert device.status == 201, device.body
    return serial


def readings_of(gateway: str, token: str, patient_id: str) -> dict[str, Any]:
    reply = call(gateway, "GET", f"{BASE}/v1/monitoring/patients/{patient_id}/readings", token)
    assert reply.status == 200, reply.body
    return dict(reply.json())


def test_a_gateway_s_readings_are_kept_once_and_a_crisis_reaches_the_panel_until_acknowledged(
    platform: LocalPlatform, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    staff = user_tokens(platform, DESERT, "staff@desert-clinic.example")["access"]
    patient = user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"]
    patient_id = subject(patient)
    serial = enrolled_with_cuff(gateway, provider, patient_id)
    device_gateway = gateway_token(platform, gateway)
    now = datetime.now(UTC).replace(microsecond=0)
    tag = secrets.token_hex(3)
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "fullUrl": "urn:uuid:cuff",
                "resource": {"resourceType": "Device", "identifier": [{"value": serial}]},
            },
            {"resource": blood_pressure(f"{tag}-1", now - timedelta(minutes=10), 186, 124)},
            {"resource": blood_pressure(f"{tag}-2", now - timedelta(minutes=4), 184, 122)},
            {"resource": {**blood_pressure(f"{tag}-3", now, 120, 80), "component": []}},
        ],
    }
    sent = post_readings(gateway, device_gateway, bundle)
    assert sent.status == 202, sent.body
    answer = sent.json()
    assert answer["taken"] == 4
    assert [r["entry"] for r in answer["refused"]] == [3]
    assert "systolic and diastolic" in answer["refused"][0]["reason"]

    def alerted() -> dict[str, Any] | None:
        found = readings_of(gateway, provider, patient_id)
        return found if found["alerts"] and len(found["readings"]) >= 4 else None

    found = eventually(alerted, timeout_s=20)
    mine = [r for r in found["readings"] if r["effective"] >= (now - timedelta(minutes=11)).isoformat()]
    assert sorted((r["code"], r["value"], r["unit"], r["provenance"]) for r in mine) == [
        ("8462-4", 122.0, "mm[Hg]", "device"),
        ("8462-4", 124.0, "mm[Hg]", "device"),
        ("8480-6", 184.0, "mm[Hg]", "device"),
        ("8480-6", 186.0, "mm[Hg]", "device"),
    ]
    alert = found["alerts"][0]
    assert (alert["rule"], alert["tier"], alert["acknowledged_at"]) == (
        "blood-pressure-crisis",
        "urgent",
        None,
    )
    assert [d["serial"] for d in found["devices"]] == [serial]

    # An urgent alert is a Task a clinician must do and a Flag on the chart, in the record.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # SigV4 with the emulator's keys
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    record = HealthLakeFhirStore(platform.fhir_endpoints[DESERT], region="us-east-1")
    resource_id = f"rpm-alert-{alert['alert_id']}"
    task = eventually(lambda: in_record(record, "Task", resource_id), timeout_s=20)
    assert (task["status"], task["priority"], task["for"]["reference"]) == (
        "requested",
        "stat",
        f"Patient/{patient_id}",
    )
    assert eventually(lambda: in_record(record, "Flag", resource_id), timeout_s=20)["status"] == "active"

    # The day's blood pressures are one summary in the record (a bundle of the readings function's
    # summaries, paced), versioned by the readings it was made from; the readings stay in the table.
    day = now.astimezone(UTC).date()
    summary_id = day_summary_id(patient_id, "85354-9", day)
    summary = eventually(lambda: in_record(record, "Observation", summary_id), timeout_s=30)
    assert summary["subject"] == {"reference": f"Patient/{patient_id}"}
    assert [c["code"]["coding"][0]["code"] for c in summary["component"]] == ["8480-6", "8462-4"]
    assert summary["effectivePeriod"]["start"] == f"{day.isoformat()}T00:00:00Z"

    # The same readings sent again: kept once, and no second alert for the same episode.
    done = platform.dispatcher.completions[READINGS_FUNCTION]
    assert post_readings(gateway, device_gateway, bundle).status == 202
    eventually(lambda: platform.dispatcher.completions[READINGS_FUNCTION] > done, timeout_s=20)
    again = readings_of(gateway, provider, patient_id)
    assert len([r for r in again["readings"] if r["effective"] >= mine[0]["effective"]]) == len(mine)
    assert [a["alert_id"] for a in again["alerts"]] == [a["alert_id"] for a in found["alerts"]]

    # The care team's panel: the patient first, urgent, for providers and staff alike.
    for token in (provider, staff):
        panel = call(gateway, "GET", f"{BASE}/v1/monitoring/panel", token)
        assert panel.status == 200, panel.body
        first = panel.json()["patients"][0]
        assert (first["enrolment"]["patient_id"], first["tier"]) == (patient_id, "urgent")
        assert first["patient"]["family_name"] == "Testpatient"

    # Staff cannot acknowledge; a provider does, with what they did; then it leaves the panel's top.
    path = f"{BASE}/v1/monitoring/patients/{patient_id}/alerts/{alert['alert_id']}/acknowledgement"
    assert call(gateway, "POST", path, staff, {"note": "Called"}).status == 403
    acknowledged = call(gateway, "POST", path, provider, {"note": "Called the patient; seen in ED."})
    assert acknowledged.status == 200, acknowledged.body
    assert acknowledged.json()["acknowledgement"] == "Called the patient; seen in ED."
    panel = call(gateway, "GET", f"{BASE}/v1/monitoring/panel", provider).json()["patients"]
    assert next(p for p in panel if p["enrolment"]["patient_id"] == patient_id)["open_alerts"] == []
    done = eventually(
        lambda: (t := in_record(record, "Task", resource_id))["status"] == "completed" and t, timeout_s=20
    )
    assert done["note"][0]["text"] == "Called the patient; seen in ED."
    assert eventually(lambda: in_record(record, "Flag", resource_id)["status"] == "inactive", timeout_s=20)


def test_open_mhealth_from_an_unknown_device_is_refused_and_a_patient_types_in_their_weight(
    platform: LocalPlatform, gateway: str
) -> None:
    device_gateway = gateway_token(platform, gateway)
    point = {
        "header": {
            "id": f"omh-{secrets.token_hex(4)}",
            "schema_id": {"namespace": "omh", "name": "body-weight", "version": "2.0"},
            "acquisition_provenance": {"modality": "sensed"},
        },
        "body": {
            "body_weight": {"value": 81.2, "unit": "kg"},
            "effective_time_frame": {"date_time": datetime.now(UTC).isoformat()},
        },
    }
    refused = post_readings(
        gateway, device_gateway, {"device": "SN-NEVER-REGISTERED", "data_points": [point]}, "application/json"
    )
    assert refused.status == 422, refused.body
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "registered" in refused.json()["refused"][0]["reason"]
    assert (
        post_readings(gateway, device_gateway, {"device": "x", "data_points": []}, "application/json").status
        == 400
    )
    assert post_readings(gateway, device_gateway, point, "text/csv").status == 415

    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    patient = user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"]
    patient_id = subject(patient)
    typed = call(gateway, "POST", f"{BASE}/v1/me/readings", patient, {"data_points": [point]})
    assert typed.status == 409, typed.body  # not enrolled yet
    enrolled = call(
        gateway,
        "PUT",
        f"{BASE}/v1/monitoring/patients/{patient_id}/enrolment",
        provider,
        {"program": "heart-failure"},
    )
    assert enrolled.status == 200, enrolled.body
    typed = call(gateway, "POST", f"{BASE}/v1/me/readings", patient, {"data_points": [point]})
    assert typed.status == 202, typed.body

    def shown() -> list[dict[str, Any]]:
        reply = call(gateway, "GET", f"{BASE}/v1/me/readings", patient)
        assert reply.status == 200, reply.body
        return [r for r in reply.json()["readings"] if r["code"] == "29463-7"]

    (weight,) = eventually(shown, timeout_s=20)
    assert (weight["value"], weight["unit"], weight["provenance"]) == (81.2, "kg", "manual")


def test_who_may_do_what_and_a_tenant_without_monitoring_has_none_of_it(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"]
    staff = user_tokens(platform, DESERT, "staff@desert-clinic.example")["access"]
    patient_id = subject(patient)
    assert call(gateway, "GET", f"{BASE}/v1/monitoring/panel", patient).status == 403
    assert (
        call(
            gateway,
            "PUT",
            f"{BASE}/v1/monitoring/patients/{patient_id}/enrolment",
            patient,
            {"program": "copd"},
        ).status
        == 403
    )
    # Route by route, each role that is not the route's is refused (403, or the authorizer's 401
    # for a token of the wrong kind).
    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    machine = gateway_token(platform, gateway)
    care = f"{BASE}/v1/monitoring/patients/{patient_id}"
    for token, method, path, body in (
        (patient, "POST", f"{care}/devices", {"serial": "SN-NOT-MINE", "kind": "scale"}),
        (patient, "POST", f"{care}/alerts/01jdnoalert00000000000000/acknowledgement", {"note": "x"}),
        (patient, "GET", f"{care}/readings", None),
        (staff, "POST", f"{care}/alerts/01jdnoalert00000000000000/acknowledgement", {"note": "x"}),
        (staff, "GET", f"{BASE}/v1/me/readings", None),
        (provider, "POST", f"{BASE}/v1/me/readings", {"data_points": [{}]}),
        (machine, "GET", f"{BASE}/v1/monitoring/panel", None),
        (machine, "POST", f"{BASE}/v1/me/readings", {"data_points": [{}]}),
        # The billing ledger is the care team's; a patient's Dexcom account is the patient's.
        (patient, "GET", f"{care}/ledger", None),
        (patient, "PUT", f"{care}/consent", {"obtained_on": "2026-11-30", "method": "verbal"}),
        (patient, "PUT", f"{care}/billing-practitioner", {"provider_id": "dr-ramirez"}),
        (patient, "POST", f"{care}/time", {"on": "2026-11-30", "minutes": 20, "interactive": True}),
        (machine, "GET", f"{care}/ledger", None),
        (staff, "GET", f"{BASE}/v1/me/dexcom", None),
        (provider, "POST", f"{BASE}/v1/me/dexcom/sign-in", None),
        (staff, "PUT", f"{BASE}/v1/me/dexcom", {"state": "s" * 32, "code": "c"}),
        (provider, "DELETE", f"{BASE}/v1/me/dexcom", None),
        (machine, "GET", f"{BASE}/v1/me/dexcom", None),
    ):
        refused = call(gateway, method, path, token, body)
        assert refused.status in (401, 403), (method, path, refused.status, refused.body)
    # The care team reads enrolled patients only; anyone else is no such patient.
    assert call(gateway, "GET", f"{BASE}/v1/monitoring/patients/nobody-here/readings", staff).status == 404
    assert post_readings(gateway, patient, {"resourceType": "Observation"}).status in (401, 403)
    other = user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"]
    assert (
        call(gateway, "GET", f"{BASE}/v1/monitoring/patients/{subject(other)}/readings", patient).status
        == 403
    )

    riverside_patient = user_tokens(platform, "riverside", "patient.one@riverside.example")["access"]
    riverside_provider = user_tokens(platform, "riverside", "dr.ramirez@riverside.example")["access"]
    # Riverside's integrations are one greedy resource: a client it let in finds no such route.
    riverside_client = machine_token(platform, "telehealth/appointments.read")
    for token, method, path in (
        (riverside_patient, "GET", "/v1/me/readings"),
        (riverside_patient, "POST", "/v1/me/dexcom/sign-in"),
        (riverside_provider, "GET", "/v1/monitoring/panel"),
        (riverside_client, "POST", DEVICE_READINGS),
    ):
        reply = call(gateway, method, f"/tenants/riverside{path}", token, {})
        assert reply.status == 404 and reply.headers["Content-Type"] == "application/problem+json", reply.body


def test_an_urgent_alert_nobody_acknowledges_goes_to_the_provider_the_clinic_names(
    platform: LocalPlatform, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.ses.models import ses_backends

    from local.emulator import ACCOUNT

    admin = user_tokens(platform, DESERT, "admin@desert-clinic.example")["access"]
    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    patient_id = subject(user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"])
    settings = call(gateway, "GET", f"{BASE}/v1/admin/settings", admin).json()
    # Naming someone who is not one of the clinic's providers is refused, and changes nothing.
    named = {"after_minutes": 1, "to": ["dr-nobody"]}
    refused = call(
        gateway,
        "PUT",
        f"{BASE}/v1/admin/settings",
        admin,
        {"alert_escalation": named, "version": settings["version"]},
    )
    assert refused.status == 400 and "dr-nobody" in refused.json()["detail"], refused.body
    # ... and so is a provider whose profile has no address for pages.
    record = call(gateway, "GET", f"{BASE}/v1/admin/providers/dr-williams", admin).json()
    body = {k: v for k, v in record.items() if k != "provider_id"} | {"page_email": None}
    assert call(gateway, "PUT", f"{BASE}/v1/admin/providers/dr-williams", admin, body).status == 200
    unpaged = call(
        gateway,
        "PUT",
        f"{BASE}/v1/admin/settings",
        admin,
        {"alert_escalation": {"after_minutes": 1, "to": ["dr-williams"]}, "version": settings["version"]},
    )
    assert unpaged.status == 400 and "no address for pages" in unpaged.json()["detail"], unpaged.body
    escalation = {"after_minutes": 1, "to": ["dr-lindqvist", "dr-okafor"]}
    changed = call(
        gateway,
        "PUT",
        f"{BASE}/v1/admin/settings",
        admin,
        {"alert_escalation": escalation, "version": settings["version"]},
    )
    assert changed.status == 200 and changed.json()["alert_escalation"] == escalation, changed.body
    try:
        serial = enrolled_with_cuff(gateway, provider, patient_id)
        now = datetime.now(UTC).replace(microsecond=0)
        tag = secrets.token_hex(3)
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {
                    "fullUrl": "urn:uuid:cuff",
                    "resource": {"resourceType": "Device", "identifier": [{"value": serial}]},
                },
                # Measured most of an hour ago: the patient's own typing later (the browser test's)
                # is not read as a repeat of these.
                {"resource": blood_pressure(f"{tag}-1", now - timedelta(minutes=50), 192, 118)},
                {"resource": blood_pressure(f"{tag}-2", now - timedelta(minutes=44), 190, 116)},
            ],
        }
        assert post_readings(gateway, gateway_token(platform, gateway), bundle).status == 202

        def urgent() -> dict[str, Any] | None:
            alerts = readings_of(gateway, provider, patient_id)["alerts"]
            return next((a for a in alerts if a["tier"] == "urgent" and a["acknowledged_at"] is None), None)

        alert = eventually(urgent, timeout_s=20)
        assert alert["handed_on"] == []
        sent_before = len(ses_backends[ACCOUNT]["us-east-1"].sent_messages)

        # A minute on, nobody has acknowledged it: it goes to the first provider named, who is
        # paged by e-mail (saying nothing of whose alert or why), and owns the record's Task.
        def handed_on() -> list[dict[str, Any]]:
            alerts = readings_of(gateway, provider, patient_id)["alerts"]
            return list(next(a for a in alerts if a["alert_id"] == alert["alert_id"])["handed_on"])

        first = eventually(handed_on, timeout_s=120)
        assert [(h["provider_id"], h["name"]) for h in first] == [("dr-lindqvist", "Erik Lindqvist")]
        mail = eventually(
            lambda: [
                m
                for m in ses_backends[ACCOUNT]["us-east-1"].sent_messages[sent_before:]
                if m.destinations["ToAddresses"] == ["dr.lindqvist@desert-clinic.example"]
            ],
            timeout_s=20,
        )
        assert "urgent" in mail[0].body and "Samplecase" not in mail[0].body and "blood" not in mail[0].body
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        record = HealthLakeFhirStore(platform.fhir_endpoints[DESERT], region="us-east-1")
        task = eventually(
            lambda: (t := in_record(record, "Task", f"rpm-alert-{alert['alert_id']}")).get("owner") and t,
            timeout_s=20,
        )
        assert task["owner"] == {"reference": "Practitioner/dr-lindqvist"} and task["status"] == "requested"

        # The timer is one execution per alert, named by its id (ids only in its history), still
        # waiting for the next person's turn; acknowledged, its next step ends it.
        from moto.stepfunctions.responses import get_backend

        machine = platform.provisioned[DESERT].state_machine_arns["alert-escalation"]
        execution = get_backend(ACCOUNT, "us-east-1").describe_execution(
            f"{machine.replace(':stateMachine:', ':execution:')}:{alert['alert_id']}"
        )
        assert execution.status == "RUNNING"
        # A step per turn, not a spin: the Wait state's instant is never before the turn is due.
        assert platform.dispatcher.completions["telehealth-desert-clinic-alert-escalation"] <= 8
        assert json.loads(execution.execution_input) == {
            "alert_id": alert["alert_id"],
            "patient_id": patient_id,
        }
        path = f"{BASE}/v1/monitoring/patients/{patient_id}/alerts/{alert['alert_id']}/acknowledgement"
        assert call(gateway, "POST", path, provider, {"note": "Reached the patient."}).status == 200
        # Two normal readings, each held to the rules alone, close the episode (hysteresis): the
        # patient's next crisis (the browser test's) is a new one, with an alert of its own.
        for n in (40, 39):
            done = platform.dispatcher.completions[READINGS_FUNCTION]

            def evaluated(before: int = done) -> bool:
                return bool(platform.dispatcher.completions[READINGS_FUNCTION] > before)

            normal = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:cuff",
                        "resource": {"resourceType": "Device", "identifier": [{"value": serial}]},
                    },
                    {"resource": blood_pressure(f"{tag}-n{n}", now - timedelta(minutes=n), 122, 78)},
                ],
            }
            assert post_readings(gateway, gateway_token(platform, gateway), normal).status == 202
            eventually(evaluated, timeout_s=20)
    finally:
        current = call(gateway, "GET", f"{BASE}/v1/admin/settings", admin).json()
        restored = {"alert_escalation": settings["alert_escalation"], "version": current["version"]}
        assert call(gateway, "PUT", f"{BASE}/v1/admin/settings", admin, restored).status == 200


def test_the_hourly_silence_sweep_runs_on_the_platform(platform: LocalPlatform) -> None:
    """Its rule is the integration tests' (test_monitoring_sweep.py); here, that the function the
    schedule runs is deployed for the tenant with monitoring, answers, and raises nothing for
    patients who sent readings today."""
    done = platform.dispatcher.invoke("telehealth-desert-clinic-monitoring-sweep", b"{}")
    assert not done.function_error, done.payload
    assert json.loads(done.payload) == {"raised": 0}
    assert "monitoring-sweep" not in platform.provisioned["riverside"].function_arns


def test_the_billing_ledger_counts_device_days_and_bills_time_only_with_consent_and_a_practitioner(
    platform: LocalPlatform, gateway: str
) -> None:
    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    staff = user_tokens(platform, DESERT, "staff@desert-clinic.example")["access"]
    patient = user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"]
    patient_id = subject(patient)
    serial = enrolled_with_cuff(gateway, provider, patient_id)
    now = datetime.now(UTC).replace(microsecond=0)
    sent = post_readings(
        gateway,
        gateway_token(platform, gateway),
        {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {
                    "fullUrl": "urn:uuid:cuff",
                    "resource": {"resourceType": "Device", "identifier": [{"value": serial}]},
                },
                {"resource": blood_pressure(f"bill-{secrets.token_hex(3)}", now, 128, 82)},
            ],
        },
    )
    assert sent.status == 202, sent.body
    ledger_path = f"{BASE}/v1/monitoring/patients/{patient_id}/ledger"

    def with_today() -> dict[str, Any] | None:
        found = call(gateway, "GET", ledger_path, staff)
        assert found.status == 200, found.body
        return found.json() if found.json()["periods"][-1]["device_days"] >= 1 else None

    before = eventually(with_today, timeout_s=20)
    today = now.date().isoformat()
    period = before["periods"][-1]
    assert (period["codes"], period["not_billed"]) == ([], "no consent on file by the period's end")

    # Refused, changing nothing: time in the future, a provider who is not the clinic's, a patient.
    care = f"{BASE}/v1/monitoring/patients/{patient_id}"
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    future = call(
        gateway, "POST", f"{care}/time", provider, {"on": tomorrow, "minutes": 20, "interactive": True}
    )
    assert future.status == 422 and future.json()["type"].endswith("ledger-entry-refused"), future.body
    nobody = call(gateway, "PUT", f"{care}/billing-practitioner", staff, {"provider_id": "dr-nobody"})
    assert nobody.status == 422, nobody.body
    assert call(gateway, "GET", ledger_path, patient).status == 403
    assert call(gateway, "GET", ledger_path, staff).json()["time"] == before["time"]

    consented = call(gateway, "PUT", f"{care}/consent", staff, {"obtained_on": today, "method": "verbal"})
    assert consented.status == 200 and consented.json()["consent"]["method"] == "verbal", consented.body
    named = call(gateway, "PUT", f"{care}/billing-practitioner", staff, {"provider_id": "dr-ramirez"})
    assert named.status == 200, named.body
    assert named.json()["billing_practitioners"][-1] == {
        "starting": today,
        "provider_id": "dr-ramirez",
        "name": "Lucia Ramirez",
    }
    logged = call(
        gateway, "POST", f"{care}/time", provider, {"on": today, "minutes": 25, "interactive": True}
    )
    assert logged.status == 201, logged.body
    after = logged.json()
    month = after["months"][-1]
    assert (month["minutes"], month["interactive"], month["billing_practitioner"]) == (25, True, "dr-ramirez")
    assert (month["codes"], month["not_billed"]) == ([{"code": "99457", "units": 1}], None)
    # One day of device readings so far: the supply codes need two.
    assert after["periods"][-1]["not_billed"] == "fewer than 2 days with device readings"
    assert after["periods"][-1]["billing_practitioner"] == "dr-ramirez"


def test_a_patient_connects_their_dexcom_account_and_the_poll_brings_its_glucose_in(
    platform: LocalPlatform, gateway: str
) -> None:
    import html
    import re
    import urllib.parse
    import urllib.request

    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    patient = user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"]
    patient_id = subject(patient)
    assert (
        call(
            gateway,
            "PUT",
            f"{BASE}/v1/monitoring/patients/{patient_id}/enrolment",
            provider,
            {"program": "diabetes"},
        ).status
        == 200
    )
    assert call(gateway, "GET", f"{BASE}/v1/me/dexcom", patient).json()["linked"] is False
    begun = call(gateway, "POST", f"{BASE}/v1/me/dexcom/sign-in", patient)
    assert begun.status == 200, begun.body
    authorize, state = begun.json()["authorize_url"], begun.json()["state"]
    assert authorize.startswith(platform.urls["dexcom"]) and "offline_access" in authorize

    # The patient signs in at Dexcom (the stand-in's page) and is sent back with a code.
    with urllib.request.urlopen(authorize, timeout=5) as page:  # noqa: S310 (the stand-in)
        form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.read().decode()))
    form = {k: html.unescape(v) for k, v in form.items()} | {"email": "riley@example.com"}

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        urllib.request.build_opener(Stay).open(
            f"{platform.urls['dexcom']}/v3/oauth2/login", urllib.parse.urlencode(form).encode(), timeout=5
        )
        raise AssertionError("Dexcom's sign-in sends the browser back")
    except urllib.error.HTTPError as back:
        location = back.headers["Location"]
    assert location.startswith(
        platform.portal_url(next(t for t in platform.settings.tenants if t.id == DESERT))
    )
    returned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert returned["state"] == state
    linked = call(gateway, "PUT", f"{BASE}/v1/me/dexcom", patient, {"state": state, "code": returned["code"]})
    assert linked.status == 200 and linked.json()["linked"] is True, linked.body
    again = call(gateway, "PUT", f"{BASE}/v1/me/dexcom", patient, {"state": state, "code": returned["code"]})
    assert again.status == 422 and again.json()["type"].endswith("dexcom-link-refused"), again.body

    # The poll (what its schedule runs every 15 minutes), through the readings queue. A first poll
    # reads the fortnight (test_dexcom_poll.py); here the account was polled a day ago, so that
    # this one reads a day and the overlap, not 4,000 readings.
    from telehealth.adapters.monitoring_store import DynamoMonitoringStore

    store = DynamoMonitoringStore("telehealth-desert-clinic", client=platform.client("dynamodb"))
    kept_account = store.dexcom_account(patient_id)
    assert kept_account is not None
    store.save_dexcom_account(replace(kept_account, polled_through=datetime.now(UTC) - timedelta(days=1)), [])
    done = platform.dispatcher.invoke("telehealth-desert-clinic-dexcom-poll", b"{}")
    assert not done.function_error, done.payload
    report = json.loads(done.payload)
    assert (report["accounts"], report["relink"], report["throttled"]) == (1, 0, False)
    # A day and twelve hours back, to three hours ago (Dexcom's data are late): 33 hours of 12 an hour.
    assert 32 * 12 <= report["readings"] <= 34 * 12 and report["refused"] == 0

    def glucose() -> list[dict[str, Any]]:
        found = call(gateway, "GET", f"{BASE}/v1/me/readings", patient).json()["readings"]
        return [r for r in found if r["code"] == "99504-3"]

    kept = eventually(lambda: len(found := glucose()) >= report["readings"] and found, timeout_s=60)
    assert {(r["unit"], r["provenance"]) for r in kept} == {("mg/dL", "device")}
    newest = max(datetime.fromisoformat(r["effective"]) for r in kept)
    assert newest <= datetime.now(UTC) - timedelta(hours=2)  # retrospective: Dexcom's data are late
    account = call(gateway, "GET", f"{BASE}/v1/me/dexcom", patient).json()
    assert account["polled_through"] is not None and account["needs_relink"] is False

    # Polled again, the overlap brings nothing twice; with Dexcom's rate spent, the poll stops.
    again_done = json.loads(platform.dispatcher.invoke("telehealth-desert-clinic-dexcom-poll", b"{}").payload)
    assert again_done["readings"] > 0 and not again_done["throttled"]
    eventually(lambda: platform.dispatcher.completions["telehealth-desert-clinic-readings"] > 0, timeout_s=20)
    assert abs(len(glucose()) - len(kept)) <= 3  # a new five-minute value or so, nothing resent
    dexcom_rate(platform, 1)
    try:
        throttled = json.loads(
            platform.dispatcher.invoke("telehealth-desert-clinic-dexcom-poll", b"{}").payload
        )
        assert throttled["throttled"] is True
    finally:
        dexcom_rate(platform, 60_000)
    assert call(gateway, "DELETE", f"{BASE}/v1/me/dexcom", patient).status == 204
    assert call(gateway, "GET", f"{BASE}/v1/me/dexcom", patient).json()["linked"] is False


def dexcom_rate(platform: LocalPlatform, per_hour: int) -> None:
    """The Dexcom stand-in's calls an hour for the app (Dexcom's is 60,000)."""
    body = json.dumps({"per_hour": per_hour}).encode()
    assert http("POST", f"{platform.urls['dexcom']}/_control/rate", body=body).status == 200
