"""An urgent remote-monitoring alert in the record: a Task a clinician must do and a Flag on the
chart, both valid R4; acknowledged, the task is completed with the clinician's note and the flag
inactive with its period's end. Other tiers are not written. Every value is synthetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

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


def valid(resource: dict[str, Any]) -> dict[str, Any]:
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
    assert flag["status"] == "inactive" and flag["period"]["end"] == "2026-12-01T07:04:00Z"
    assert [e.source_version for e in _in_the_record([done])] == [2, 2]


def test_only_an_urgent_alert_is_written_to_the_record() -> None:
    review = replace(URGENT, tier=Tier.REVIEW, escalated=False)
    assert _in_the_record([review]) == []
    assert [e.resource["resourceType"] for e in _in_the_record([URGENT])] == ["Task", "Flag"]


def test_a_days_vital_signs_are_one_summary_each_valid_and_versioned_by_their_readings() -> None:
    from datetime import date

    from telehealth.domain.readings import Provenance, Reading
    from telehealth.fhir.monitoring import BLOOD_PRESSURE_PANEL, day_summaries

    day = date(2026, 12, 1)

    def at(hour: int, code: str, value: float) -> Reading:
        return Reading(
            "p1",
            "cuff",
            code,
            value,
            datetime(2026, 12, 1, hour, tzinfo=UTC),
            f"{code}-{hour}",
            Provenance.DEVICE,
        )

    readings = [at(7, "8480-6", 130), at(7, "8462-4", 80), at(19, "8480-6", 150), at(19, "8462-4", 90)]
    readings += [at(8, "29463-7", 81.2), at(9, "99504-3", 140)]  # glucose goes to the CGM report
    readings += [
        Reading("p1", "cuff", "8480-6", 200, datetime(2026, 12, 2, 1, tzinfo=UTC), "next", Provenance.DEVICE)
    ]
    found = day_summaries("p1", day, readings)
    assert [(s.resource["code"]["coding"][0]["code"], s.readings) for s in found] == [
        (BLOOD_PRESSURE_PANEL, 4),
        ("29463-7", 1),
    ]
    panel, weight = (valid(s.resource) for s in found)
    assert [c["valueQuantity"]["value"] for c in panel["component"]] == [140.0, 85.0]
    assert weight["valueQuantity"] == {
        "value": 81.2,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    }
    assert panel["effectivePeriod"] == {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}
    assert "p1" not in str(panel["id"])  # a digest: the patient's id is in no resource id


def test_the_cgm_report_is_the_igs_summary_and_members_or_nothing_when_withheld() -> None:
    from telehealth.domain import cgm
    from telehealth.fhir.monitoring import CGM_SUMMARY, cgm_report

    end = datetime(2026, 12, 1, tzinfo=UTC)
    points = [(end - timedelta(minutes=5 * n), 100.0 + (n % 60)) for n in range(1, 14 * 288)]
    report = cgm_report("p1", cgm.summary(points, end), len(points))
    resources = [valid(s.resource) for s in report]
    summary = resources[-1]
    assert summary["code"]["coding"][0]["code"] == CGM_SUMMARY
    assert len(summary["hasMember"]) == 6
    ranges = next(r for r in resources if r["code"]["coding"][0]["code"] == "106793-3")
    shares = [c["valueQuantity"]["value"] for c in ranges["component"]]
    assert round(sum(shares), 1) == 100.0 and shares[2] == 100.0
    assert {s.readings for s in report} == {len(points)}
    assert cgm_report("p1", cgm.summary(points[:100], end), 100) == []  # under 70% of the fortnight
