"""Bulk export's rules (pure): what a kick-off may ask for, and the job's life as its status
reports it, up to the manifest. The routes and the HealthLake export job are not built yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telehealth.domain.exports import (
    HEALTHLAKE_STATES,
    ExportAsked,
    ExportFile,
    ExportJob,
    ExportLevel,
    ExportRuleError,
    ExportState,
    asked,
    manifest,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TYPES = ("Patient", "Appointment", "Encounter")


def test_a_kick_off_takes_ndjson_its_types_and_a_past_since_and_nothing_else() -> None:
    got = asked(
        ExportLevel.SYSTEM,
        [
            ("_outputFormat", "application/fhir+ndjson"),
            ("_type", "Encounter,Patient,Encounter"),
            ("_since", "2026-11-01T00:00:00Z"),
        ],
        TYPES,
        NOW,
    )
    assert got == ExportAsked(ExportLevel.SYSTEM, ("Encounter", "Patient"), datetime(2026, 11, 1, tzinfo=UTC))
    assert asked(ExportLevel.PATIENT, [], TYPES, NOW).types == TYPES  # no _type: every type
    for params, said in (
        ([("_outputFormat", "text/csv")], "ndjson"),
        ([("_type", "Subscription")], "types exported"),
        ([("_since", "2026-11-01")], "instant"),
        ([("_since", "2027-01-01T00:00:00Z")], "future"),
        ([("_elements", "id")], "not a parameter"),
        ([("_since", "2026-11-01T00:00:00Z"), ("_since", "2026-11-02T00:00:00Z")], "once"),
    ):
        with pytest.raises(ExportRuleError, match=said):
            asked(ExportLevel.SYSTEM, params, TYPES, NOW)
    with pytest.raises(ExportRuleError, match="care teams"):
        asked(ExportLevel.GROUP, [], TYPES, NOW, group_id="everyone")
    assert asked(ExportLevel.GROUP, [], TYPES, NOW, group_id="care-team-dr-a").group_id == "care-team-dr-a"


def test_a_job_says_where_it_stands_then_lists_its_files_for_a_token() -> None:
    job = ExportJob(
        "x1", "ehr", asked(ExportLevel.SYSTEM, [], TYPES, NOW), "https://api/fhir/r4/$export", NOW
    )
    assert (job.progress(ahead=2), job.retry_after) == ("queued: 2 exports of this clinic ahead", 60)
    assert "one export at a time for this and other clinics" in job.waiting().progress(0)
    running = job.waiting().started("hl-1", NOW + timedelta(minutes=1))
    assert (running.state, running.healthlake_job, running.progress(0)) == (
        ExportState.RUNNING,
        "hl-1",
        "in progress",
    )
    done = running.completed(
        [ExportFile("Patient", "Patient-1.ndjson", 12, "x/Patient/Patient-0.ndjson", 0, 999)],
        NOW + timedelta(minutes=5),
    )
    assert done.state.finished and not done.expired(NOW + timedelta(days=6))
    assert done.expired(NOW + timedelta(days=8))
    assert manifest(done, "https://api/fhir/r4") == {
        "transactionTime": "2026-12-01T12:01:00Z",  # when HealthLake started it
        "request": "https://api/fhir/r4/$export",
        "requiresAccessToken": True,
        "output": [
            {"type": "Patient", "url": "https://api/fhir/r4/_export/x1/Patient-1.ndjson", "count": 12}
        ],
        "error": [],
    }
    assert HEALTHLAKE_STATES["COMPLETED_WITH_ERRORS"] is ExportState.FAILED
    assert HEALTHLAKE_STATES["IN_PROGRESS"] is None
