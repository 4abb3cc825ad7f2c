"""Rebuild a tenant's FHIR store from its table: every resource re-projected at the source version
its use case gave it, every AuditEvent from the audit archive (`telehealth.application.rebuild`).

Safe to repeat and safe beside the live lanes: writes compare source versions under the same
per-resource leases the outbox's deliverers take, and the rebuild never settles an outbox entry.
Into a new data store (`--fhir-endpoint`), then again after the stack points at it: the second
run writes what changed while the first ran (docs/operations.md, Rebuild the clinical record).
"""

from __future__ import annotations

import os
import resource
import sys

from telehealth.application.rebuild import RebuildReport
from tools.ops.target import Target


def rebuild_record(target: Target, *, workers: int, segments: int) -> RebuildReport:
    from functions.services import clinic_settings
    from telehealth.adapters.audit_archive import S3AuditArchive
    from telehealth.adapters.healthlake import HealthLakeFhirStore
    from telehealth.adapters.outages import is_outage
    from telehealth.adapters.outbox_store import DynamoOutbox
    from telehealth.adapters.record_source import DynamoRecordSource
    from telehealth.application.rebuild import RecordRebuild

    rebuild = RecordRebuild(
        DynamoRecordSource(),
        S3AuditArchive(os.environ["AUDIT_BUCKET"]),
        HealthLakeFhirStore(os.environ["FHIR_STORE_ENDPOINT"], region=target.tenant.region),
        DynamoOutbox(),
        # The clinic's services as booking reads them, so each Appointment is coded as live.
        clinic=clinic_settings(),
        is_outage=is_outage,
        workers=workers,
        segments=segments,
    )
    return rebuild.run()


def print_report(target: Target, report: RebuildReport) -> None:
    """What was read, what the table implied (by type, with how each version was settled), what
    the store needed, and the rate. `written: N` and `current: N` are always printed."""
    print(f"rebuild-record {target.tenant.id} into {target.environment['FHIR_STORE_ENDPOINT']}")
    print(f"  table: {report.table_records} records read in {report.read_s:.1f} s")
    kinds = sorted({kind for kind, _ in report.resources})
    for kind in kinds:
        bases = {basis: n for (k, basis), n in sorted(report.resources.items()) if k == kind}
        detail = ", ".join(f"{basis} {n}" for basis, n in bases.items())
        print(f"  {kind:<14} {sum(bases.values()):7d}   ({detail})")
    total = sum(report.resources.values())
    for outcome in ("written", "current"):
        print(f"  {outcome}: {report.outcomes.get(outcome, 0)}")
    for outcome, count in sorted(report.outcomes.items()):
        if outcome not in ("written", "current"):
            print(f"  {outcome}: {count}")
    rate = total / report.seconds if report.seconds else 0.0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  resources: {total} in {report.seconds:.1f} s, {rate:.0f} per second")
    print(f"  peak memory: {peak_mib:.0f} MiB")
    if not report.complete:
        print(
            "  NOT COMPLETE: run it again once the store answers (it writes only what is missing)",
            file=sys.stderr,
        )
