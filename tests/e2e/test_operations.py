"""Operations on the running platform, as an operator runs them: `python -m tools.ops` in a process
of its own, pointed at the platform by its state file."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from infra import topology
from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.adapters.outbox_store import lane_key, lanes
from telehealth.domain.scheduling import slot_id
from telehealth.fhir.projection import source_version
from tests.conftest import eventually, user_tokens
from tests.e2e.test_scheduling import RIVERSIDE, book, call, fresh_slot
from tests.e2e.test_visits import check_in_when_open, soon_slot

ROOT = Path(__file__).resolve().parents[2]
# Everything the platform projects into the record.
KINDS = (
    "Practitioner",
    "Schedule",
    "Patient",
    "Appointment",
    "Slot",
    "Consent",
    "RelatedPerson",
    "Encounter",
    "Observation",
    "AuditEvent",
    "Device",  # machine clients and media workers, as the audit trail's agents
)


def ops(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m tools.ops <args> --tenant riverside --local --state-file ...`, as an operator
    types it: its environment is the shell's, not the platform's."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARITY_", "POWERTOOLS_"))
    }
    state_file = platform.settings.state_dir / "platform.json"
    command = [sys.executable, "-m", "tools.ops", *args, "--tenant", RIVERSIDE, "--local"]
    return subprocess.run(
        [*command, "--state-file", str(state_file)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def counted(output: str, outcome: str) -> int:
    found = re.search(rf"^\s+{outcome}: (\d+)$", output, re.MULTILINE)
    assert found, output
    return int(found.group(1))


def record(store: HealthLakeFhirStore) -> dict[tuple[str, str], dict[str, Any]]:
    """Every resource in a store, by type and id."""
    return {
        (kind, str(found["id"])): found for kind in KINDS for found in store.search(kind, {"_count": "100"})
    }


def content(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource without what its store stamps on each write (its version and when)."""
    meta = {k: v for k, v in resource.get("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    return {**resource, "meta": meta}


def difference(live: dict[str, Any], rebuilt: dict[str, Any]) -> dict[str, Any]:
    """What differs between two versions of a resource, field by field (for a failure's message)."""
    one, other = content(live), content(rebuilt)
    return {
        "resource": f"{live['resourceType']}/{live['id']}",
        **{
            k: (one.get(k), other.get(k))
            for k in sorted(one.keys() | other.keys())
            if one.get(k) != other.get(k)
        },
    }


def fhir_lanes_empty(platform: LocalPlatform) -> bool:
    """No FHIR outbox entry waits in any lane: the live store has what the table holds."""
    dynamodb, table = platform.client("dynamodb"), topology.CLINIC_TABLE.name(RIVERSIDE)
    return all(
        dynamodb.query(
            TableName=table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :lane",
            ExpressionAttributeValues={":lane": {"S": lane_key(destination, shard)}},
            Select="COUNT",
        )["Count"]
        == 0
        for destination, shard in lanes()
        if destination == "fhir"
    )


@pytest.fixture
def new_store(platform: LocalPlatform, fhir: HealthLakeFhirStore) -> tuple[str, HealthLakeFhirStore]:
    """A fresh, empty data store beside the tenant's, as a team creates one to replace a lost one:
    its endpoint, and the production adapter on it."""
    control = platform.client("healthlake", endpoint=platform.urls["healthlake"])
    created = control.create_fhir_datastore(
        DatastoreName=f"{topology.tenant_prefix(RIVERSIDE)}-rebuilt", DatastoreTypeVersion="R4"
    )
    endpoint = str(created["DatastoreEndpoint"])
    return endpoint, HealthLakeFhirStore(endpoint, region="us-east-1")


def test_the_record_is_rebuilt_from_the_table_into_a_new_data_store_and_a_second_run_writes_nothing(
    platform: LocalPlatform,
    gateway: str,
    fhir: HealthLakeFhirStore,
    new_store: tuple[str, HealthLakeFhirStore],
) -> None:
    endpoint, store = new_store
    patient = user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")["access"]
    # Real traffic: a booking kept, one moved (its first slot is freed), one cancelled, and a visit
    # checked in (two consents, an encounter), besides the seed's providers and patients.
    kept = book(gateway, patient, fresh_slot(gateway, patient)).json()
    moved = book(gateway, patient, fresh_slot(gateway, patient)).json()
    rescheduled = call(
        gateway,
        "POST",
        f"/v1/appointments/{moved['appointment_id']}/reschedule",
        patient,
        {"slot_id": fresh_slot(gateway, patient)},
    )
    assert rescheduled.status == 200, rescheduled.body
    cancelled = book(gateway, patient, fresh_slot(gateway, patient)).json()
    assert (
        call(gateway, "POST", f"/v1/appointments/{cancelled['appointment_id']}/cancel", patient).status == 200
    )
    visit = book(gateway, patient, soon_slot(gateway, patient)).json()
    check_in_when_open(gateway, patient, visit["appointment_id"], True)
    eventually(lambda: fhir_lanes_empty(platform), timeout_s=90, interval_s=1.0)

    before = record(fhir)
    first = ops(platform, "rebuild-record", "--fhir-endpoint", endpoint)
    assert first.returncode == 0, first.stdout + first.stderr
    after, rebuilt = record(fhir), record(store)

    # What the live store held throughout the rebuild, the new one holds: the same resources at
    # the same source versions with the same content. (Anything the platform changed meanwhile is
    # the second run's, below.)
    steady = {key for key, found in before.items() if after.get(key, {}).get("meta") == found["meta"]}
    # Every kind but vital signs and devices (only where a machine or a worker acted before).
    assert set(KINDS) - {"Observation", "Device"} <= {kind for kind, _ in steady}
    missing = sorted(key for key in steady if key not in rebuilt)
    assert not missing, missing[:10]
    differ = [
        key
        for key in sorted(steady)
        if source_version(rebuilt[key]) != source_version(after[key])
        or content(rebuilt[key]) != content(after[key])
    ]
    assert not differ, (first.stdout, [difference(after[key], rebuilt[key]) for key in differ[:3]])
    # Nothing the live record lacks (a resource delivered since the rebuild read it shows up there).
    extra = [key for key in rebuilt if key not in after]
    for kind, resource_id in extra:
        eventually(functools.partial(fhir.read_if_present, kind, resource_id), timeout_s=30)

    ours = {
        ("Appointment", kept["appointment_id"]),
        ("Appointment", moved["appointment_id"]),
        ("Appointment", cancelled["appointment_id"]),
        ("Appointment", visit["appointment_id"]),
        ("Consent", f"{visit['appointment_id'].lower()}-telehealth"),
        ("Consent", f"{visit['appointment_id'].lower()}-recording"),
        ("Encounter", f"{visit['appointment_id'].lower()}-v1"),
        ("RelatedPerson", f"{visit['appointment_id'].lower()}-v1-emergency-contact"),
        ("Patient", visit["patient_id"]),
        ("Practitioner", "dr-ramirez"),
        ("Schedule", "dr-ramirez-schedule"),
    }

    def slot_of(appointment: dict[str, Any]) -> tuple[str, str]:
        return ("Slot", slot_id(appointment["provider_id"], datetime.fromisoformat(appointment["start"])))

    # Each booking's slot, and the one the move left (free: it is in no appointment any more).
    ours |= {slot_of(a) for a in (kept, moved, cancelled, visit, rescheduled.json())}
    assert ours <= steady, sorted(ours - steady)
    assert rebuilt[slot_of(moved)]["status"] == rebuilt[slot_of(cancelled)]["status"] == "free"
    assert rebuilt[slot_of(rescheduled.json())]["status"] == "busy"

    again = ops(platform, "rebuild-record", "--fhir-endpoint", endpoint)
    assert again.returncode == 0, again.stdout + again.stderr
    assert counted(again.stdout, "written") == 0, again.stdout
    assert counted(again.stdout, "current") >= len(steady), again.stdout
