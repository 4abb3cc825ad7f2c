"""An urgent remote-monitoring alert in the record: a Task a clinician must do and a Flag on the
chart, both valid R4; acknowledged, the task is completed with the clinician's note and the flag
inactive with its period's end. Other tiers are not written. Every value is synthetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fhir.resources.R4B import get_fhir_model_class

from telehealth.application.monitoring import _in_the_record
from telehealth.domain.monitoring import Alert
from telehealth.domain.monitoring_alerts import Tier
from telehealth.fhir.monitoring import alert_flag, alert_task

RAISED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
URGENT = Alert(
    "01jdalert0000000000000000",
    "p1",
    "blood-pressure-crisis",
    Tier.URGENT,
    RAISED,
    True,
    "a repeat still high",
)


def valid(resource: dict[str, object]) -> dict[str, object]:
    get_fhir_model_class(str(resource["resourceType"])).model_validate(resource)
    return resource


def test_an_urgent_alert_is_a_task_to_do_and_a_flag_on_the_chart_until_acknowledged() -> None:
    task, flag = valid(alert_task(URGENT)), valid(alert_flag(URGENT))
    assert (task["status"], task["priority"], task["for"]) == (
        "requested",
        "stat",
        {"reference": "Patient/p1"},
    )
    assert "Blood pressure at crisis level" in str(task["description"])
    assert (flag["status"], flag["period"]) == ("active", {"start": "2026-12-01T07:00:00Z"})

    done = replace(
        URGENT,
        acknowledged_at=RAISED + timedelta(minutes=4),
        acknowledged_by="user-1",
        acknowledgement="Called; sent to the ED.",
    )
    task, flag = valid(alert_task(done)), valid(alert_flag(done))
    assert task["status"] == "completed" and task["note"] == [
        {"text": "Called; sent to the ED.", "time": "2026-12-01T07:04:00Z"}
    ]
    assert flag["status"] == "inactive" and flag["period"]["end"] == "2026-12-01T07:04:00Z"  # type: ignore[index]
    assert [e.source_version for e in _in_the_record([done])] == [2, 2]


def test_only_an_urgent_alert_is_written_to_the_record() -> None:
    review = replace(URGENT, tier=Tier.REVIEW, escalated=False)
    assert _in_the_record([review]) == []
    assert [e.resource["resourceType"] for e in _in_the_record([URGENT])] == ["Task", "Flag"]
