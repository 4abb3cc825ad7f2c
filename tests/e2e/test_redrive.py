"""Operations recover after a fix, with the command an operator runs (`python -m tools.ops`):
parked outbox entries go back into their lanes and are delivered, and a dead-letter queue's
messages go back to the function that failed them."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime

from infra import topology
from infra.tenants import ROOT
from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.adapters.outbox_store import REJECTED, DynamoOutbox
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.fhir import projection
from telehealth.fhir.projection import PatientProfile
from telehealth.ports import OutboxEntry
from tests.conftest import eventually
from tests.e2e.test_scheduling import RIVERSIDE


def ops(platform: LocalPlatform, *args: str) -> str:
    """The operator's command, against this test session's platform."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.ops",
            *args,
            "--tenant",
            RIVERSIDE,
            "--local",
            "--state-file",
            str(platform.settings.state_dir / "platform.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_parked_entries_are_delivered_once_redriven(
    platform: LocalPlatform, fhir: HealthLakeFhirStore
) -> None:
    dynamodb = platform.client("dynamodb")
    table = topology.CLINIC_TABLE.name(RIVERSIDE)
    outbox = DynamoOutbox(table, dynamodb)
    # A synthetic patient the table holds (so a rebuild of the record implies it too), whose
    # Patient resource's delivery was parked.
    patient = PatientProfile(
        f"redrive-{uuid.uuid4().hex[:12]}", "Redrive", "Synthetic", date(1980, 1, 1), "NY", "America/New_York"
    )
    patient_id = patient.patient_id
    store = DynamoSchedulingStore(table, client=dynamodb)
    store.write([store.put_patient(patient)])
    entry = OutboxEntry(projection.patient(patient), patient.version)
    # As the relay leaves an entry it gave up on: parked, with its reason (written so at once:
    # written pending, the relay could deliver it before it was parked).
    (put,) = outbox.put_actions([entry], datetime.now(UTC))
    put["Put"]["Item"] |= {
        "status": {"S": "rejected"},
        "gsi1pk": {"S": REJECTED},
        "issue_codes": {"L": [{"S": "processing"}]},
    }
    dynamodb.transact_write_items(TransactItems=[put])
    assert [e.outbox_id for e, _ in outbox.rejected()].count(entry.outbox_id) == 1

    printed = ops(platform, "redrive-parked")
    assert "fhir: " in printed
    stored = eventually(lambda: fhir.read_if_present("Patient", patient_id), timeout_s=60)
    assert stored["name"][0]["family"] == "Synthetic"
    assert entry.outbox_id not in {e.outbox_id for e, _ in outbox.rejected()}
    assert "nothing to do" in ops(platform, "redrive-parked")


def test_a_dead_letter_queue_goes_back_to_its_function(platform: LocalPlatform) -> None:
    sweeper = topology.OUTBOX_SWEEPER
    queue = sweeper.dlq
    assert queue is not None
    sqs = platform.client("sqs")
    url = sqs.get_queue_url(QueueName=queue.name(RIVERSIDE))["QueueUrl"]
    marker = uuid.uuid4().hex
    scheduled = {"id": marker, "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(scheduled))

    assert "invoked: 1" in ops(platform, "redrive-dlq", queue.key)
    name = sweeper.name(RIVERSIDE)
    assert eventually(
        lambda: any(f == name and e.get("id") == marker for f, e in list(platform.dispatcher.completed)),
        timeout_s=60,
    )
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
