"""The whole clinic table, read as what the clinical record is projected from (read-only): the
source a rebuild of the FHIR store re-projects. It reads every context's items, through each
store module's own reading of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from telehealth.adapters.coverage_store import coverage_from
from telehealth.adapters.dynamo import DynamoTable
from telehealth.adapters.medical_history_store import history_from
from telehealth.adapters.monitoring_store import alert_from
from telehealth.adapters.notes_store import note_from
from telehealth.adapters.outbox_store import entry_from_item
from telehealth.adapters.payments_store import charge_from
from telehealth.adapters.prescriptions_store import prescription_from
from telehealth.adapters.scheduling_store import appointment_from, patient_from, provider_from, referral_from
from telehealth.adapters.visits_store import check_in_from, visit_from
from telehealth.adapters.vitals_store import vitals_from
from telehealth.ports import StoredCheckIn, StoredOutboxEntry, StoredVisit, StoredVitals, TableRecord


class DynamoRecordSource(DynamoTable):
    def records(self, segment: int = 0, segments: int = 1) -> Iterator[TableRecord]:
        """One segment of a parallel scan, as what the clinical record is projected from: each
        provider (profile and credentials), patient (and their insurance), appointment, check-in,
        visit, set of vital signs, charge and clinical note, referral, remote monitoring's alert, and
        the outbox's entries. What projects
        nothing (booked hours, join links, task tokens, idempotency records, leases) is passed
        over. A provider's items share a partition, hence a segment: each provider is yielded whole
        once its segment has been read."""
        profiles: dict[str, dict[str, Any]] = {}
        credentials: dict[str, list[dict[str, Any]]] = {}
        for item in self._scan(segment, segments):
            pk, sk = str(item["pk"]), str(item["sk"])
            if pk.startswith("PROVIDER#"):
                if sk == "PROFILE":
                    profiles[pk] = item
                elif sk.startswith("LICENSE#"):
                    credentials.setdefault(pk, []).append(item)
            elif pk.startswith("PATIENT#") and sk == "PROFILE":
                yield patient_from(item)
            elif pk.startswith("PATIENT#") and sk == "MEDICAL_HISTORY":
                yield history_from(item)
            elif pk.startswith("PATIENT#") and sk == "COVERAGE":
                yield coverage_from(item)
            elif pk.startswith("REFERRAL#"):
                yield referral_from(item)
            elif pk.startswith("APPT#"):
                if sk == "APPT":
                    yield appointment_from(item)
                elif sk.startswith("CHECKIN#v"):
                    yield StoredCheckIn(int(sk.removeprefix("CHECKIN#v")), check_in_from(item))
                elif sk.startswith("VISIT#v"):
                    yield StoredVisit(visit_from(item), int(item["revision"]))
                elif sk.startswith("VITALS#v"):
                    yield StoredVitals(vitals_from(item), int(item["revision"]))
                elif sk == "CHARGE":
                    yield charge_from(item)
            elif pk.startswith("NOTE#") and sk == "NOTE":
                yield note_from(item)
            elif pk.startswith("RX#") and sk == "RX":
                yield prescription_from(item)
            elif pk.startswith("RPM#") and sk.startswith("ALERT#"):
                yield alert_from(item)
            elif pk.startswith("OUTBOX#"):
                yield StoredOutboxEntry(entry_from_item(item), str(item.get("status", "pending")))
        for pk, profile in profiles.items():
            yield provider_from(profile, sorted(credentials.get(pk, []), key=lambda i: str(i["sk"])))
