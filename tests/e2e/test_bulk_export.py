"""Bulk export (`$export`) over the local platform, as a health system's bulk client runs it:
kick-off, polling to the manifest, then each file read through the facade with the same token.
The HealthLake stand-in runs the export job into the tenant's export bucket (the emulator's S3).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from local.platform import LocalPlatform
from tests.conftest import Reply, eventually, user_tokens
from tests.e2e.test_fhir_facade import PATIENT, Facade, machine_token, outcome
from tests.e2e.test_scheduling import RIVERSIDE, book, fresh_slot, patient_id

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def booked(platform: LocalPlatform, gateway: str) -> dict[str, str]:
    """Patient one booked with Dr Ramirez, and the booking in the record."""
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    reply = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez"))
    assert reply.status == 201, reply.body
    found = {"patient": patient_id(platform, PATIENT), "appointment": reply.json()["appointment_id"]}
    machine = Facade(gateway, machine_token(platform, "system/*.rs"))

    def in_the_record() -> bool:
        return machine.get(f"Appointment/{found['appointment']}").status == 200

    eventually(in_the_record, timeout_s=60)
    return found


def run_to_manifest(
    facade: Facade, kick_off: str, prefer: dict[str, str] = ASYNC
) -> tuple[dict[str, Any], list[Reply]]:
    """Kicks off, polls as the specification says (honouring Retry-After, capped for the test),
    and returns the manifest with every progress answer seen."""
    started = facade.call("GET", kick_off, extra=prefer)
    assert started.status == 202, started.body[:300]
    status_url = started.headers["Content-Location"]
    assert status_url.startswith(facade.base + "/_export/"), status_url
    progress: list[Reply] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        polled = facade.get(status_url)
        # The facade's answers name no HealthLake (its data store's own URLs least of all).
        assert (
            b"healthlake" not in polled.body.lower() + polled.headers.get("X-Progress", "").lower().encode()
        )
        if polled.status == 200:
            assert polled.headers["Content-Type"].startswith("application/json")
            return polled.json(), progress
        assert polled.status == 202, polled.body[:300]
        assert polled.headers["X-Progress"] and int(polled.headers["Retry-After"]) > 0
        progress.append(polled)
        time.sleep(1)
    raise AssertionError(f"no manifest in 90 s: {progress[-1].headers if progress else ''}")


def files(facade: Facade, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every file the manifest lists, read with the token, each line checked as R4 (the R4B
    models, as the rest of the suite): resources by type."""
    found: dict[str, list[dict[str, Any]]] = {}
    for output in manifest["output"]:
        assert output["url"].startswith(facade.base + "/_export/"), output["url"]
        reply = facade.get(output["url"])
        assert reply.status == 200, reply.body[:300]
        assert reply.headers["Content-Type"].startswith("application/fhir+ndjson")
        lines = [json.loads(line) for line in reply.body.decode().splitlines() if line.strip()]
        assert len(lines) == output["count"]
        for resource in lines:
            assert resource["resourceType"] == output["type"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        found.setdefault(output["type"], []).extend(lines)
    return found


def test_a_system_export_runs_to_its_manifest_and_every_line_is_valid_r4(
    platform: LocalPlatform, gateway: str, booked: dict[str, str]
) -> None:
    facade = Facade(gateway, machine_token(platform, "system/*.rs"))
    manifest, _ = run_to_manifest(facade, "$export?_type=Patient,Appointment,Practitioner")
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"] == f"{facade.base}/$export?_type=Patient,Appointment,Practitioner"
    assert manifest["error"] == []
    exported = files(facade, manifest)
    assert set(exported) == {"Patient", "Appointment", "Practitioner"}
    assert booked["patient"] in {p["id"] for p in exported["Patient"]}
    assert booked["appointment"] in {a["id"] for a in exported["Appointment"]}
    assert "dr-ramirez" in {p["id"] for p in exported["Practitioner"]}

    # The files are the asking client's: no token, another client's, a user's: none reads them.
    url = manifest["output"][0]["url"]
    assert Facade(gateway, None).get(url).status == 401
    outcome(Facade(gateway, machine_token(platform, "system/*.rs", client_id="other-ehr")).get(url), 404)
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    outcome(Facade(gateway, staff).get(url), 404)
    outcome(facade.get(url.rsplit("/", 1)[0] + "/Patient-99.ndjson"), 404)


def test_a_care_teams_export_holds_only_that_providers_patients(
    platform: LocalPlatform, gateway: str, booked: dict[str, str]
) -> None:
    facade = Facade(gateway, machine_token(platform, "system/Patient.rs", "system/Appointment.rs"))
    # As the SMART bulk-data client asks, with a second preference.
    lenient = {"Prefer": "respond-async, handling=lenient"}
    manifest, _ = run_to_manifest(facade, "Group/care-team-dr-ramirez/$export", lenient)
    exported = files(facade, manifest)
    # The types the token may read, of those a patient's record holds.
    assert set(exported) <= {"Patient", "Appointment"}
    patients = {p["id"] for p in exported["Patient"]}
    assert booked["patient"] in patients
    for appointment in exported["Appointment"]:
        in_it = {
            p["actor"]["reference"].split("/")[1]
            for p in appointment["participant"]
            if p["actor"]["reference"].startswith("Patient/")
        }
        assert in_it & patients, appointment["id"]
    assert booked["appointment"] in {a["id"] for a in exported["Appointment"]}


def test_a_patient_level_export_since_now_is_empty_and_then_holds_what_changed(
    platform: LocalPlatform, gateway: str, booked: dict[str, str]
) -> None:
    facade = Facade(gateway, machine_token(platform, "system/*.rs"))
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    time.sleep(2)
    manifest, _ = run_to_manifest(facade, f"Patient/$export?_type=Appointment&_since={since}")
    before = {a["id"] for a in files(facade, manifest).get("Appointment", [])}
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    again = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez"))
    assert again.status == 201, again.body
    appointment = again.json()["appointment_id"]
    assert appointment not in before
    eventually(lambda: facade.get(f"Appointment/{appointment}").status == 200, timeout_s=60)
    manifest, _ = run_to_manifest(facade, f"Patient/$export?_type=Appointment&_since={since}")
    assert appointment in {a["id"] for a in files(facade, manifest)["Appointment"]}


@pytest.mark.parametrize(
    ("path", "extra", "status", "said"),
    [
        ("$export", {}, 400, "Prefer: respond-async"),
        ("$export?_type=Claim", ASYNC, 400, "_type names"),
        ("$export?_elements=id", ASYNC, 400, "not a parameter"),
        ("$export?_since=yesterday", ASYNC, 400, "instant"),
        ("Group/everyone/$export", ASYNC, 400, "care teams"),
        ("Group/care-team-nobody/$export", ASYNC, 404, "No such group"),
        ("_export/01JZZZZZZZZZZZZZZZZZZZZZZZ", {}, 404, "No such export"),
    ],
)
def test_bad_kick_offs_and_unknown_exports_get_an_operation_outcome_and_start_nothing(
    platform: LocalPlatform, gateway: str, path: str, extra: dict[str, str], status: int, said: str
) -> None:
    facade = Facade(gateway, machine_token(platform, "system/*.rs"))
    issue = outcome(facade.call("GET", path, extra=extra), status)
    assert said in issue["diagnostics"]


def test_the_capability_statement_offers_bulk_export(gateway: str) -> None:
    statement = Facade(gateway, None).get("metadata").json()
    assert statement["instantiates"] == ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"]
    (rest,) = statement["rest"]
    assert [o["name"] for o in rest["operation"]] == ["export"]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert patient["operation"][0]["definition"].endswith("/patient-export")
    assert "Group/care-team-<provider id>/$export" in rest["documentation"]
    get_fhir_model_class("CapabilityStatement").model_validate(statement)


def test_only_a_machine_client_with_read_scopes_exports(platform: LocalPlatform, gateway: str) -> None:
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    assert (
        "machine clients"
        in outcome(Facade(gateway, staff).call("GET", "$export", extra=ASYNC), 403)["diagnostics"]
    )
    # Subscriptions are the platform's, not the record's: a token for them alone exports nothing.
    writer = Facade(gateway, machine_token(platform, "system/Subscription.cruds"))
    assert "allow no resource type" in outcome(writer.call("GET", "$export", extra=ASYNC), 403)["diagnostics"]


def test_a_cancelled_export_is_gone(platform: LocalPlatform, gateway: str) -> None:
    facade = Facade(gateway, machine_token(platform, "system/*.rs"))
    started = facade.call("GET", "$export?_type=Practitioner", extra=ASYNC)
    assert started.status == 202, started.body[:300]
    status_url = started.headers["Content-Location"]
    other = Facade(gateway, machine_token(platform, "system/*.rs", client_id="other-ehr"))
    outcome(other.call("DELETE", status_url), 404)
    cancelled = facade.call("DELETE", status_url)
    assert cancelled.status == 202, cancelled.body[:300]
    outcome(facade.get(status_url), 404)
    outcome(facade.call("DELETE", status_url), 404)
