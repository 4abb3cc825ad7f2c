"""Remote monitoring's urgent alerts in the record: a `Task` a clinician must do (acknowledge it,
saying what they did) and a `Flag` on the patient's chart while it stands. Both are written when
the alert is raised (version 1), again each time it is handed on unacknowledged (the task's owner
the provider it went to), and again when it is acknowledged (the task completed with the
clinician's note, the flag inactive with its period's end)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import mean
from typing import Any

from telehealth.domain.cgm import GlucoseSummary
from telehealth.domain.monitoring import DIASTOLIC, GLUCOSE, RULE_WORDS, SYSTOLIC, Alert
from telehealth.domain.readings import MEASURES, Reading
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


# --- readings' summaries: a day's vital signs, and the CGM IG's 14-day report ------------------------
#
# Readings themselves stay in the clinic table (a CGM sends 288 a day); the record gets summaries,
# written again as readings arrive. A summary's source version is how many readings it was made
# from, which only grows (readings are never taken back), so a late write of an older summary
# never overwrites a newer one. Ids are digests: a patient's id never appears in a resource id.

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITAL_SIGNS = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
    ]
}
BLOOD_PRESSURE_PANEL = "85354-9"
SUMMARY_METHOD = "mean of the day's readings"


@dataclass(frozen=True)
class Summary:
    """A summary resource and the readings it was made from (its source version)."""

    resource: dict[str, Any]
    readings: int


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def _day_period(day: date) -> dict[str, str]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {"start": instant(start), "end": instant(start + timedelta(days=1))}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": round(value, 2), "unit": unit, "system": UCUM, "code": unit}


def day_summaries(patient_id: str, day: date, readings: Sequence[Reading]) -> list[Summary]:
    """The day's (UTC) mean of each vital sign the patient's devices and entries sent: blood
    pressure as the 85354-9 panel, the rest under their own LOINC; glucose is the CGM report's."""
    by_code: dict[str, list[Reading]] = {}
    for r in readings:
        if r.effective.astimezone(UTC).date() == day and r.code != GLUCOSE:
            by_code.setdefault(r.code, []).append(r)
    found: list[Summary] = []
    systolic, diastolic = by_code.pop(SYSTOLIC, []), by_code.pop(DIASTOLIC, [])
    if systolic and diastolic:
        count = len(systolic) + len(diastolic)
        panel = _observation(patient_id, BLOOD_PRESSURE_PANEL, day, count)
        panel["component"] = [
            {
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": _quantity(mean(r.value for r in of), "mm[Hg]"),
            }
            for code, of in ((SYSTOLIC, systolic), (DIASTOLIC, diastolic))
        ]
        found.append(Summary(panel, count))
    for code, of in sorted(by_code.items()):
        observation = _observation(patient_id, code, day, len(of))
        observation["valueQuantity"] = _quantity(mean(r.value for r in of), MEASURES[code].unit)
        found.append(Summary(observation, len(of)))
    return found


def day_summary_id(patient_id: str, code: str, day: date) -> str:
    return f"rpm-day-{_digest(patient_id, code, day.isoformat())}"


def _observation(patient_id: str, code: str, day: date, count: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": day_summary_id(patient_id, code, day),
        "meta": _meta(count),
        "status": "final",
        "category": [VITAL_SIGNS],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectivePeriod": _day_period(day),
        "method": {"text": f"{SUMMARY_METHOD} ({count})"},
    }


# The HL7 CGM IG's summary (http://hl7.org/fhir/uv/cgm): the report and its members, by LOINC.
CGM_SUMMARY = "107931-8"
CGM_TIMES_IN_RANGES = "106793-3"
CGM_MEAN = "97507-8"
CGM_GMI = "97506-0"
CGM_CV = "104638-2"
CGM_DAYS_OF_WEAR = "104636-6"
CGM_SENSOR_ACTIVE = "104637-4"
# The times-in-ranges panel's components, as the IG names and codes them.
CGM_RANGES = (
    ("104642-4", "very low (under 54 mg/dL)"),
    ("104641-6", "low (54 to 69 mg/dL)"),
    ("97510-2", "in range (70 to 180 mg/dL)"),
    ("104640-8", "high (181 to 250 mg/dL)"),
    ("104639-0", "very high (over 250 mg/dL)"),
)


def cgm_report(patient_id: str, glucose: GlucoseSummary, readings: int) -> list[Summary]:
    """The 14-day report ending on `glucose.end`'s day, as the IG's summary Observation and its
    members; none where the fortnight's data are not sufficient (the metrics are withheld)."""
    if not glucose.sufficient or glucose.mean is None:
        return []
    end = glucose.end.astimezone(UTC).date()
    period = {"start": glucose.start.astimezone(UTC).date().isoformat(), "end": end.isoformat()}

    def member(code: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": f"rpm-cgm-{_digest(patient_id, code, end.isoformat())}",
            "meta": _meta(readings),
            "status": "final",
            "category": [VITAL_SIGNS],
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectivePeriod": period,
            **body,
        }

    below_70, below_54 = glucose.below_70 or 0.0, glucose.below_54 or 0.0
    above_180, above_250 = glucose.above_180 or 0.0, glucose.above_250 or 0.0
    shares = (below_54, below_70 - below_54, glucose.in_range or 0.0, above_180 - above_250, above_250)
    members = [
        member(CGM_MEAN, {"valueQuantity": _quantity(glucose.mean, "mg/dL")}),
        member(
            CGM_TIMES_IN_RANGES,
            {
                "component": [
                    {
                        "code": {"coding": [{"system": LOINC, "code": code, "display": words}]},
                        "valueQuantity": _quantity(share, "%"),
                    }
                    for (code, words), share in zip(CGM_RANGES, shares, strict=True)
                ]
            },
        ),
        member(CGM_GMI, {"valueQuantity": _quantity(glucose.gmi or 0.0, "%")}),
        member(CGM_CV, {"valueQuantity": _quantity(glucose.cv or 0.0, "%")}),
        member(CGM_DAYS_OF_WEAR, {"valueQuantity": _quantity(glucose.days_worn, "d")}),
        member(CGM_SENSOR_ACTIVE, {"valueQuantity": _quantity(100 * glucose.covered, "%")}),
    ]
    report = member(CGM_SUMMARY, {"hasMember": [{"reference": f"Observation/{m['id']}"} for m in members]})
    return [Summary(r, readings) for r in (*members, report)]
