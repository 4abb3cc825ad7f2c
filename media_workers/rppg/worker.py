"""The rPPG worker: one run per `Recording.Available`, as the stack's Fargate task (or, locally,
a process started on the same event).

The rule's input transformer gives it the event's ids as variables (`VIDEO_BUCKET`, `VIDEO_KEY`,
`APPOINTMENT_ID`, `VISIT_VERSION`, `ENCOUNTER_ID`, `PATIENT_ID`); the tenant's environment gives it
the clinic table. It reads the patient's stream into its scratch space, estimates the vital signs
and records them as preliminary Observations for the provider to confirm. It logs ids and
outcomes only: never a rate, never a file's content.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger("media_workers.rppg.worker")


def estimate_from(bucket: str, key: str) -> dict[str, Any]:
    """The estimate as JSON-ready data; an unreadable file is a refusal, not a crash."""
    import boto3

    from media_workers.rppg.estimate import estimate_vitals
    from media_workers.rppg.result import Refusal
    from media_workers.rppg.video import VideoError

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / Path(key).name
        boto3.client("s3").download_file(bucket, key, str(path))
        try:
            return estimate_vitals(path).to_dict()
        except VideoError:
            return {
                "heart_rate_bpm": None,
                "respiratory_rate_bpm": None,
                "quality": 0.0,
                "reason": "unreadable_video",
                "respiratory_reason": "unreadable_video",
                "spo2": None,
                "spo2_reason": Refusal.NOT_ESTIMATED.value,
            }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import boto3

    from telehealth.adapters.scheduling_store import DynamoSchedulingStore
    from telehealth.adapters.visits_store import DynamoVisitStore
    from telehealth.adapters.vitals_store import DynamoVitalsStore
    from telehealth.application.audit import AuditTrail
    from telehealth.application.vitals import VitalsService

    env = os.environ
    appointment_id, version = env["APPOINTMENT_ID"], int(env["VISIT_VERSION"])
    estimate = estimate_from(env["VIDEO_BUCKET"], env["VIDEO_KEY"])
    # The worker's image holds the shared package, not the functions: it wires its one service here,
    # its stores over one client, as the composition root (functions/services.py) does.
    table = boto3.client("dynamodb")
    scheduling = DynamoSchedulingStore(client=table)

    def clock() -> datetime:
        return datetime.now(UTC)

    service = VitalsService(
        DynamoVitalsStore(client=table),
        DynamoVisitStore(client=table),
        scheduling,
        clock,
        AuditTrail(scheduling, clock),
    )
    recorded = service.record_estimate(
        appointment_id=appointment_id,
        version=version,
        encounter_id=env["ENCOUNTER_ID"],
        patient_id=env["PATIENT_ID"],
        estimate=estimate,
    )
    logger.info(
        "vitals recorded for appointment %s v%s: measured %s, refused %s",
        appointment_id,
        version,
        [r.sign.value for r in recorded.readings],
        [f"{sign.value}: {reason}" for sign, reason in recorded.refusals],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
