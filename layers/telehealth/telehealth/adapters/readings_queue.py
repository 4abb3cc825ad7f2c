"""The readings queue (SQS FIFO, the tenant's key): the api hands each patient's checked readings
to the readings function through it.

A message is one patient's readings (their group: the function holds a patient's batches to the
rules one at a time, in order). Its deduplication id is a digest of the readings' keys, so the
same readings sent again within SQS's five minutes are one message; after that, the table's keys
make a resent reading the same item. Messages carry PHI (values, times): the queue and its
dead-letter queue are encrypted with the tenant's key, and nothing logs a body.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from telehealth.application.monitoring import Handover
from telehealth.domain.readings import Provenance, Reading

# A request's bodies: under a quarter of SQS's 1 MiB a request (attributes and all), so a request
# of ten patients' readings stays small enough to send again quickly.
MAX_BATCH_BYTES = 240 * 1024


def handover_body(handover: Handover) -> str:
    return json.dumps(
        {
            "patient_id": handover.patient_id,
            "sender": handover.sender,
            "symptoms": handover.symptoms,
            "readings": [
                {
                    "device_id": r.device_id,
                    "code": r.code,
                    "value": r.value,
                    "effective": r.effective.isoformat(),
                    "identifier": r.identifier,
                    "provenance": r.provenance.value,
                }
                for r in handover.readings
            ],
        },
        separators=(",", ":"),
    )


def handover_of(body: str) -> Handover:
    found: Mapping[str, Any] = json.loads(body)
    patient_id = str(found["patient_id"])
    readings: Iterable[Mapping[str, Any]] = found["readings"]
    return Handover(
        patient_id=patient_id,
        sender=str(found["sender"]),
        symptoms=bool(found.get("symptoms", False)),
        readings=tuple(
            Reading(
                patient_id=patient_id,
                device_id=str(r["device_id"]),
                code=str(r["code"]),
                value=float(r["value"]),
                effective=datetime.fromisoformat(str(r["effective"])),
                identifier=str(r["identifier"]),
                provenance=Provenance(r["provenance"]),
            )
            for r in readings
        ),
    )


class SqsReadingsQueue:
    def __init__(self, url: str | None = None, client: Any = None) -> None:
        import boto3

        self._url = url
        self._client = client or boto3.client("sqs")

    @property
    def url(self) -> str:
        # Read when first sent to: the readings function, which only receives, has no use for it.
        return self._url or os.environ["READINGS_QUEUE_URL"]

    def hand_over(self, handovers: Sequence[Handover]) -> None:
        """Every handover sent, ten (or `MAX_BATCH_BYTES`) a request; an entry SQS failed is sent
        again."""
        entries = [
            {
                "Id": str(i),
                "MessageBody": handover_body(h),
                "MessageGroupId": h.patient_id,
                "MessageDeduplicationId": h.deduplication_id,
            }
            for i, h in enumerate(handovers)
        ]
        batch: list[dict[str, Any]] = []
        size = 0
        for entry in entries:
            length = len(entry["MessageBody"].encode())
            if batch and (len(batch) == 10 or size + length > MAX_BATCH_BYTES):
                self._send(batch)
                batch, size = [], 0
            batch.append(entry)
            size += length
        if batch:
            self._send(batch)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        for _ in range(3):
            failed = self._client.send_message_batch(QueueUrl=self.url, Entries=batch).get("Failed", [])
            if not failed:
                return
            if any(f.get("SenderFault") for f in failed):
                raise ValueError(f"the readings queue refused a message: {failed[0].get('Code')}")
            ids = {f["Id"] for f in failed}
            batch = [e for e in batch if e["Id"] in ids]
        raise RuntimeError("the readings queue kept failing to take messages")
