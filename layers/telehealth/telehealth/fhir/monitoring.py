"""Remote monitoring's urgent alerts in the record: a `Task` a clinician must do (acknowledge it,
saying what they did) and a `Flag` on the patient's chart while it stands. Both are written when
the alert is raised (version 1), again each time it is handed on unacknowledged (the task's owner
the provider it went to), and again when it is acknowledged (the task completed with the
clinician's note, the flag inactive with its period's end)."""

from __future__ import annotations

from typing import Any

from telehealth.domain.monitoring import RULE_WORDS, Alert
from telehealth.fhir.projection import _meta, instant

FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"


def alert_resource_id(alert: Alert) -> str:
    return f"rpm-alert-{alert.alert_id}"


def alert_version(alert: Alert) -> int:
    return 1 + len(alert.escalations) + (0 if alert.open else 1)


def alert_task(alert: Alert) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": alert_resource_id(alert),
        "meta": _meta(alert_version(alert)),
        "status": "requested" if alert.open else "completed",
        "intent": "order",
        "priority": "stat",
        "code": {"text": "Acknowledge a remote-monitoring alert"},
        "description": f"{RULE_WORDS.get(alert.rule, alert.rule)}: {alert.note}"[:1000],
        "for": {"reference": f"Patient/{alert.patient_id}"},
        "authoredOn": instant(alert.raised_at),
        "lastModified": instant(
            alert.acknowledged_at or (alert.escalations[-1].at if alert.escalations else alert.raised_at)
        ),
    }
    if alert.escalations:
        task["owner"] = {"reference": f"Practitioner/{alert.escalations[-1].provider_id}"}
    if alert.acknowledged_at is not None and alert.acknowledgement:
        task["note"] = [{"text": alert.acknowledgement, "time": instant(alert.acknowledged_at)}]
    return task


def alert_flag(alert: Alert) -> dict[str, Any]:
    period = {"start": instant(alert.raised_at)}
    if alert.acknowledged_at is not None:
        period["end"] = instant(alert.acknowledged_at)
    return {
        "resourceType": "Flag",
        "id": alert_resource_id(alert),
        "meta": _meta(alert_version(alert)),
        "status": "active" if alert.open else "inactive",
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
        "code": {"text": f"Remote monitoring: {RULE_WORDS.get(alert.rule, alert.rule)}"},
        "subject": {"reference": f"Patient/{alert.patient_id}"},
        "period": period,
    }
