"""A health system records a patient's insurance through the FHIR facade, as a FHIR R4 `Coverage`
write: read back at once, checked with the payer off the request (the clearinghouse's stand-in
answers by the member id's scenario), updated at the version read (a stale If-Match changes
nothing), refused saying where and never what, a retried create recorded once. Each test registers
its own patient through the facade, so no other test's patient gains insurance."""

from __future__ import annotations

import json
import secrets
from typing import Any

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.fhir.projection import PAYER_ID_SYSTEM
from tests.conftest import Reply, eventually, http, user_tokens
from tests.e2e.test_fhir_facade import FHIR, RIVERSIDE, Facade, _patient, machine_token, outcome, valid

RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
FHIR_JSON = "application/fhir+json"


def _registered(platform: LocalPlatform, gateway: str) -> str:
    """A patient of the clinic, registered now by the health system's MRN (name and birth date
    on file, as an eligibility check needs)."""
    system = platform.provisioned[RIVERSIDE].environment["MRN_SYSTEM"]
    registrar = Facade(gateway, machine_token(platform, "system/Patient.cruds"))
    body = json.dumps(_patient(f"MRN{secrets.token_hex(4)}", system)).encode()
    created = registrar.call("POST", "Patient", body, FHIR_JSON)
    assert created.status == 201, created.body
    return str(created.json()["id"])


def coverage_resource(patient_id: str, member_id: str, **changes: Any) -> dict[str, Any]:
    """The patient's own coverage, as a health system's software writes it."""
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": f"Patient/{patient_id}"},
        "subscriberId": member_id,
        "relationship": {"coding": [{"system": RELATIONSHIP, "code": "self"}]},
        "payor": [{"identifier": {"system": PAYER_ID_SYSTEM, "value": "RHP01"}}],
        "class": [
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group"}
                    ]
                },
                "value": "GRP-9",
            }
        ],
    }
    resource.update(changes)
    return resource


def _staff_view(platform: LocalPlatform, gateway: str, patient_id: str) -> dict[str, Any]:
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    reply = http("GET", f"{gateway}/v1/patients/{patient_id}/coverage", headers={"Authorization": staff})
    assert reply.status == 200, reply.body
    return dict(reply.json())


def _checked(platform: LocalPlatform, gateway: str, patient_id: str, status: str) -> dict[str, Any]:
    def found() -> dict[str, Any]:
        coverage = _staff_view(platform, gateway, patient_id)
        assert coverage["check"] is not None and coverage["check"]["status"] == status, coverage
        return coverage

    return dict(eventually(found, timeout_s=30))


def _write(facade: Facade, method: str, path: str, resource: dict[str, Any], **headers: str) -> Reply:
    return facade.call(method, path, json.dumps(resource).encode(), FHIR_JSON, headers)


def test_a_coverage_written_is_read_at_once_checked_with_the_payer_and_updated_at_its_version(
    platform: LocalPlatform, fhir: HealthLakeFhirStore, gateway: str
) -> None:
    patient_id = _registered(platform, gateway)
    client_id = f"ehr-coverage-{secrets.token_hex(3)}"
    writer = Facade(
        gateway, machine_token(platform, "system/*.rs", "system/Coverage.cruds", client_id=client_id)
    )
    coverage_id = f"coverage-{patient_id}"

    created = _write(writer, "POST", "Coverage", coverage_resource(patient_id, "ACT7001"))
    assert created.status == 201, created.body
    coverage = valid(created.json())
    version = coverage["meta"]["versionId"]
    assert coverage["id"] == coverage_id and coverage["subscriberId"] == "ACT7001"
    assert coverage["payor"][0]["display"] == "Riverside Health Plan"  # the directory's name
    assert created.headers["Location"] == f"{gateway}{FHIR}/Coverage/{coverage_id}/_history/{version}"
    assert created.headers["ETag"] == f'W/"{version}"'
    # Read at once, from the platform's own record until HealthLake has it.
    read = writer.get(f"Coverage/{coverage_id}")
    assert read.status == 200 and read.json()["class"][0]["value"] == "GRP-9", read.body

    # Checked with the payer next: the front desk sees the answer, the health system reads it.
    checked = _checked(platform, gateway, patient_id, "active")
    assert checked["check"]["copay_minor"] == 2500 and checked["member_id"] == "ACT7001"
    answer = eventually(
        lambda: writer.get(
            f"CoverageEligibilityResponse/eligibility-{patient_id}-{checked['version']}"
        ).json(),
        timeout_s=30,
    )
    assert valid(answer)["insurance"][0]["coverage"]["reference"] == f"Coverage/{coverage_id}"
    assert (
        eventually(lambda: fhir.read_if_present("Coverage", coverage_id), timeout_s=30)["id"] == coverage_id
    )

    # The check moved the desk's record on, not the Coverage: an update at the version the
    # client read goes through (a dependent now, on a parent's family plan) and is checked again.
    etag = writer.get(f"Coverage/{coverage_id}").headers["ETag"]
    assert etag == f'W/"{version}"'
    holder = {
        "resourceType": "RelatedPerson",
        "id": "holder",
        "patient": {"reference": f"Patient/{patient_id}"},
        "name": [{"family": "Registered", "given": ["Morgan"]}],
        "birthDate": "1960-03-04",
    }
    dependent = coverage_resource(
        patient_id,
        "DEP7002",
        id=coverage_id,
        contained=[holder],
        subscriber={"reference": "#holder"},
        relationship={"coding": [{"system": RELATIONSHIP, "code": "child"}]},
    )
    updated = _write(writer, "PUT", f"Coverage/{coverage_id}", dependent, **{"If-Match": etag})
    assert updated.status == 200, updated.body
    assert valid(updated.json())["relationship"]["coding"][0]["code"] == "child"
    new_etag = updated.headers["ETag"]
    assert new_etag != etag
    assert _checked(platform, gateway, patient_id, "active")["relationship"] == "child"

    # The version read before is stale now: refused (412), and nothing changes.
    stale = _write(
        writer,
        "PUT",
        f"Coverage/{coverage_id}",
        coverage_resource(patient_id, "INA7003", id=coverage_id),
        **{"If-Match": etag},
    )
    assert outcome(stale, 412)["code"] == "conflict"
    assert writer.get(f"Coverage/{coverage_id}").json()["subscriberId"] == "DEP7002"
    assert _staff_view(platform, gateway, patient_id)["member_id"] == "DEP7002"

    # An update is at the beneficiary's own coverage, carrying the id of its URL.
    other_id = _registered(platform, gateway)
    elsewhere = coverage_resource(patient_id, "ACT7004", id=f"coverage-{other_id}")
    assert (
        outcome(_write(writer, "PUT", f"Coverage/coverage-{other_id}", elsewhere), 422)["code"]
        == "processing"
    )
    unlike = coverage_resource(patient_id, "ACT7004", id="coverage-somebody")
    assert outcome(_write(writer, "PUT", f"Coverage/{coverage_id}", unlike), 400)["code"] == "invalid"
    # A patient with no coverage on file has none to update: it is created.
    first = coverage_resource(other_id, "ACT7004", id=f"coverage-{other_id}")
    assert outcome(_write(writer, "PUT", f"Coverage/coverage-{other_id}", first), 404)["code"] == "not-found"
    assert _staff_view(platform, gateway, patient_id)["member_id"] == "DEP7002"

    # Every write audited by the client, refusals included, naming the Coverage it wrote.
    def audited() -> list[dict[str, Any]]:
        events = list(fhir.search("AuditEvent", {"agent": f"Device/client-{client_id}"}))
        writes = [e for e in events if e["action"] in ("C", "U")]
        assert sum(e["outcome"] == "0" for e in writes) == 2, len(writes)
        assert sum(e["outcome"] != "0" for e in writes) == 4, len(writes)
        return writes

    written = eventually(audited, timeout_s=30)
    named = {e["what"]["reference"] for w in written if w["outcome"] == "0" for e in w["entity"]}
    assert f"Coverage/{coverage_id}" in named


def test_a_create_for_a_patient_with_coverage_replaces_it_and_a_retry_is_recorded_once(
    platform: LocalPlatform, gateway: str
) -> None:
    patient_id = _registered(platform, gateway)
    writer = Facade(gateway, machine_token(platform, "system/*.rs", "system/Coverage.cruds"))
    coverage_id = f"coverage-{patient_id}"
    first = _write(writer, "POST", "Coverage", coverage_resource(patient_id, "INA7101"))
    assert first.status == 201, first.body
    _checked(platform, gateway, patient_id, "inactive")

    # One coverage per patient: a second create replaces it, at the same id, a newer version.
    key = {"Idempotency-Key": f"coverage-{secrets.token_hex(6)}"}
    replacing = coverage_resource(patient_id, "ACT7102")
    second = _write(writer, "POST", "Coverage", replacing, **key)
    assert second.status == 201, second.body
    assert second.json()["id"] == coverage_id
    assert int(second.json()["meta"]["versionId"]) > int(first.json()["meta"]["versionId"])
    # The same request again, with its key: the first answer back, recorded and checked once.
    retried = _write(writer, "POST", "Coverage", replacing, **key)
    assert retried.status == 201 and retried.json() == second.json()
    assert retried.headers["Location"] == second.headers["Location"]
    checked = _checked(platform, gateway, patient_id, "active")
    assert checked["version"] == int(second.json()["meta"]["versionId"]) + 1  # its one check, no more
    assert writer.get(f"Coverage/{coverage_id}").headers["ETag"] == second.headers["ETag"]
    # The key with another body is refused and changes nothing.
    other = _write(writer, "POST", "Coverage", coverage_resource(patient_id, "INA7103"), **key)
    assert outcome(other, 422)
    # Replacing is updating: a client that may create but not update makes a patient's first
    # coverage, never overwrites one on file.
    creator = Facade(gateway, machine_token(platform, "system/*.rs", "system/Coverage.c"))
    overwrite = _write(creator, "POST", "Coverage", coverage_resource(patient_id, "INA7104"))
    assert outcome(overwrite, 403)["code"] == "forbidden"
    assert _staff_view(platform, gateway, patient_id)["member_id"] == "ACT7102"


def test_a_coverage_the_clinic_cannot_take_is_refused_saying_where_and_never_what(
    platform: LocalPlatform, gateway: str
) -> None:
    patient_id = _registered(platform, gateway)
    writer = Facade(gateway, machine_token(platform, "system/*.rs", "system/Coverage.cruds"))
    member = "ACT7201SECRET"

    def refused(resource: dict[str, Any], status: int = 422) -> dict[str, Any]:
        issue = outcome(_write(writer, "POST", "Coverage", resource), status)
        assert member not in json.dumps(issue) and "Morgan" not in json.dumps(issue)
        return issue

    # A payer the clinic's clearinghouse does not list (or that takes no eligibility checks).
    for payer in ("ZZZ99", "PCC03"):
        unknown = coverage_resource(
            patient_id, member, payor=[{"identifier": {"system": PAYER_ID_SYSTEM, "value": payer}}]
        )
        assert "Coverage.payor" in refused(unknown)["diagnostics"]
    # A dependent without the subscriber the payer matches on.
    child = coverage_resource(
        patient_id, member, relationship={"coding": [{"system": RELATIONSHIP, "code": "child"}]}
    )
    assert "Coverage.subscriber" in refused(child)["diagnostics"]
    parent = coverage_resource(
        patient_id,
        member,
        contained=[{"resourceType": "RelatedPerson", "id": "p", "name": [{"given": ["Morgan"]}]}],
        subscriber={"reference": "#p"},
        relationship={"coding": [{"system": RELATIONSHIP, "code": "parent"}]},
    )
    assert "Coverage.relationship" in refused(parent)["diagnostics"]
    # A patient the clinic does not have.
    assert "Coverage.beneficiary" in refused(coverage_resource("no-such-patient", member))["diagnostics"]
    # Not active; no body at all.
    assert "Coverage.status" in refused(coverage_resource(patient_id, member, status="draft"))["diagnostics"]
    assert outcome(writer.call("POST", "Coverage", b"[]", FHIR_JSON), 400)["code"] == "invalid"
    # Nothing of it was recorded.
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    none = http("GET", f"{gateway}/v1/patients/{patient_id}/coverage", headers={"Authorization": staff})
    assert none.status == 404, none.body
    assert outcome(writer.get(f"Coverage/coverage-{patient_id}"), 404)["code"] == "not-found"

    # A client that may read coverage but not write it, and a patient's own token: refused.
    reader = Facade(gateway, machine_token(platform, "system/*.rs", "system/Patient.cruds"))
    body = coverage_resource(patient_id, member)
    assert outcome(_write(reader, "POST", "Coverage", body), 403)["code"] == "forbidden"
    patient = Facade(gateway, user_tokens(platform, RIVERSIDE, "patient.two@riverside.example")["access"])
    assert outcome(_write(patient, "POST", "Coverage", body), 403)["code"] == "forbidden"

    # The member id reached no log of the platform's.
    logs = "".join(
        p.read_text(errors="replace") for p in (platform.settings.state_dir / "logs").glob("*.log")
    )
    assert member not in logs
