"""Every reference the platform wrote into the clinical record resolves: AuditEvents' agents and
entities, Appointments' participants, Encounters' subjects... A dangling one is a dead end for
whoever follows the record (a compliance officer following an AuditEvent to who acted).

It runs after every other test of the session (tests/conftest.py orders it last), over what the
whole suite wrote, once the record has caught up with the table.
"""

from __future__ import annotations

import time

from infra import topology
from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.adapters.outbox_store import SHARDS, lane_key
from tests.conftest import eventually
from tools.ops.references import walk


def record_caught_up(platform: LocalPlatform, tenant_id: str) -> bool:
    """No FHIR outbox entry waits in the tenant's lanes (parked ones never reach the record)."""
    dynamodb, table = platform.client("dynamodb"), topology.CLINIC_TABLE.name(tenant_id)
    return all(
        dynamodb.query(
            TableName=table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :lane",
            ExpressionAttributeValues={":lane": {"S": lane_key("fhir", shard)}},
            Select="COUNT",
        )["Count"]
        == 0
        for shard in range(SHARDS)
    )


def test_every_reference_in_the_record_resolves_in_the_same_store(
    platform: LocalPlatform, fhir: HealthLakeFhirStore
) -> None:
    started = time.perf_counter()
    walked = 0
    for tenant_id, endpoint in platform.fhir_endpoints.items():
        eventually(lambda: record_caught_up(platform, tenant_id), timeout_s=120, interval_s=1.0)  # noqa: B023
        report = walk(HealthLakeFhirStore(endpoint, region="us-east-1"))
        print(f"{tenant_id}: " + "\n  ".join(report.summary()))
        assert not report.dangling, (tenant_id, report.dangling[:20], len(report.dangling))
        walked += sum(report.references.values())
    # The seed alone holds Schedules naming their Practitioners: the walk saw references.
    assert walked > 0
    print(f"walked in {time.perf_counter() - started:.1f} s")
