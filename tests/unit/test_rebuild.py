"""Rebuilding the record from the table: what each resource is re-derived as when the table's
outbox entries have expired (the state alone), what an entry still kept settles, and delivery
into a store (in memory here; the e2e suite rebuilds the local platform's)."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from telehealth.adapters.outages import is_outage
from telehealth.application.clinic_admin import FixedSettings
from telehealth.application.rebuild import (
    ESTIMATED,
    OUTBOX,
    TABLE,
    Projection,
    Rebuilt,
    RecordRebuild,
    TableImage,
)
from telehealth.domain.appointments import Appointment, AppointmentStatus
from telehealth.domain.clinic_settings import ClinicSettings, Service
from telehealth.domain.coverage import (
    Coverage,
    CoverageCheck,
    Eligibility,
    EligibilityStatus,
    PatientCoverage,
)
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import id_millis, new_id
from telehealth.domain.licensure import License
from telehealth.domain.payments import Money
from telehealth.domain.scheduling import Availability, slot_id
from telehealth.domain.service_types import SNOMED_CT, ServiceType
from telehealth.domain.visits import CheckIn, Role, Visit, VisitState
from telehealth.domain.vitals import Reading, ReadingStatus, VisitVitals, VitalSign
from telehealth.fhir import projection
from telehealth.fhir.audit import AuditFact, audit_event, user_agent
from telehealth.fhir.projection import source_version
from telehealth.ports import (
    FhirStoreError,
    OutboxEntry,
    ProviderRecord,
    StoredCheckIn,
    StoredOutboxEntry,
    StoredVisit,
    StoredVitals,
    TableRecord,
)
from tests.unit.test_charges import charge

BOOKED_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CONSULTATION = ServiceType("11429006", SNOMED_CT, "Consultation")
UNCODED: Mapping[str, Service] = {}  # a clinic that lists no services: every service by its text
NO_SERVICES = FixedSettings(ClinicSettings())
START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def appointment(**change: Any) -> Appointment:
    made = Appointment(
        appointment_id=new_id(BOOKED_AT),
        provider_id="dr-a",
        patient_id="patient-1",
        service_type="general",
        start=START,
        end=START + timedelta(minutes=30),
        patient_state="NY",
    )
    return replace(made, **change)


def visit(of: Appointment, state: VisitState, **change: Any) -> Visit:
    checked_in = Visit(
        of.appointment_id,
        of.version,
        of.provider_id,
        of.patient_id,
        of.start,
        of.end,
        VisitState.CHECKED_IN,
        of.start - timedelta(minutes=5),
        True,
    )
    return replace(checked_in, state=state, **change)


def image(*records: TableRecord) -> TableImage:
    found = TableImage()
    for record in records:
        found.add(record)
    return found


def delivered(entry: OutboxEntry) -> StoredOutboxEntry:
    return StoredOutboxEntry(entry, "delivered")


def rebuilt(found: TableImage, services: Mapping[str, Service] = UNCODED) -> dict[str, Rebuilt]:
    return {item.entry.reference: item for item in Projection(found, services)}


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- slots ---------------------------------------------------------------------------------------


def test_a_slot_booked_and_never_moved_is_busy_at_the_bookings_time() -> None:
    booked = appointment()
    slot = rebuilt(image(booked))[f"Slot/{slot_id('dr-a', START)}"]
    assert slot.basis == TABLE and slot.entry.resource["status"] == "busy"
    # The booking's time, exactly as the use case versioned it: the same instant made the id.
    assert slot.entry.source_version == id_millis(booked.appointment_id) == ms(BOOKED_AT)
    assert slot.entry.resource == projection.slot(slot_id("dr-a", START), booked, ms(BOOKED_AT))


def test_a_moved_visits_slot_is_estimated_at_the_booking_unless_its_entry_is_kept() -> None:
    later = START + timedelta(days=1)
    moved = appointment(start=later, end=later + timedelta(minutes=30), version=2)
    new_slot, old_slot = slot_id("dr-a", later), slot_id("dr-a", START)
    alone = rebuilt(image(moved))
    # The move's time is not in the table: the booking's is a lower bound, so no later change
    # loses to it. The slot it left is in no appointment: without its entry, it is not rebuilt.
    assert alone[f"Slot/{new_slot}"].basis == ESTIMATED
    assert alone[f"Slot/{new_slot}"].entry.source_version == ms(BOOKED_AT)
    assert f"Slot/{old_slot}" not in alone
    moved_at = ms(BOOKED_AT + timedelta(days=3))
    kept = rebuilt(
        image(
            moved,
            delivered(OutboxEntry(projection.slot(new_slot, moved, moved_at), moved_at)),
            delivered(OutboxEntry(projection.slot(old_slot, moved.cancelled(), moved_at), moved_at)),
        )
    )
    assert kept[f"Slot/{new_slot}"].basis == OUTBOX
    assert kept[f"Slot/{new_slot}"].entry.source_version == moved_at
    assert kept[f"Slot/{old_slot}"].entry.resource["status"] == "free"
    # An entry that disagrees with what the state knows (the slot is busy) is stale: not used.
    stale = OutboxEntry(projection.slot(new_slot, moved.cancelled(), moved_at), moved_at)
    slot = rebuilt(image(moved, delivered(stale)))[f"Slot/{new_slot}"]
    assert slot.basis == ESTIMATED and slot.entry.resource["status"] == "busy"


def test_a_cancellation_frees_the_slot_and_the_lifecycles_cancellations_keep_it_busy() -> None:
    by_patient = appointment(status=AppointmentStatus.CANCELLED, version=2)
    freed = rebuilt(image(by_patient))[f"Slot/{slot_id('dr-a', START)}"]
    assert freed.entry.resource["status"] == "free" and freed.basis == ESTIMATED
    # A cancelled visit the patient had checked in to: closed as `cancelled`, the slot released.
    closed = visit(by_patient, VisitState.CANCELLED, outcome="cancelled", ended_at=START)
    assert (
        rebuilt(image(by_patient, StoredVisit(replace(closed, version=1), 2)))[
            f"Slot/{slot_id('dr-a', START)}"
        ].entry.resource["status"]
        == "free"
    )
    # Not licensed at admission: the lifecycle closes the visit and keeps the cells.
    refused = visit(by_patient, VisitState.CANCELLED, outcome="provider-not-licensed", ended_at=START)
    busy = rebuilt(image(by_patient, StoredVisit(replace(refused, version=1), 2)))
    slot = busy[f"Slot/{slot_id('dr-a', START)}"]
    assert slot.entry.resource["status"] == "busy"
    assert slot.basis == TABLE and slot.entry.source_version == ms(BOOKED_AT)


def test_a_slot_freed_then_booked_again_is_the_new_bookings() -> None:
    first = appointment(status=AppointmentStatus.CANCELLED, version=2)
    second = replace(
        appointment(), appointment_id=new_id(BOOKED_AT + timedelta(days=1)), patient_id="patient-2"
    )
    slot = rebuilt(image(first, second))[f"Slot/{slot_id('dr-a', START)}"]
    assert slot.entry.resource["status"] == "busy"
    assert slot.entry.source_version == ms(BOOKED_AT + timedelta(days=1))


# --- the people and the appointment ----------------------------------------------------------------


def test_an_appointment_is_coded_from_the_clinics_services_as_the_live_path_coded_it() -> None:
    booked = appointment()
    general = Service("general", "General visit", 30, 4000, coding=CONSULTATION)
    live = OutboxEntry(projection.appointment(booked, slot_id("dr-a", START), CONSULTATION), 1)
    found = rebuilt(image(booked, delivered(live)), {"general": general})
    again = found[f"Appointment/{booked.appointment_id}"]
    assert again.entry.resource["serviceType"] == [
        {"coding": [{"system": SNOMED_CT, "code": "11429006", "display": "Consultation"}], "text": "general"}
    ]
    assert again.basis == TABLE  # the content the live path projected, at its version
    # A service the clinic gave no code is rebuilt by its text, as booking projects it.
    plain = rebuilt(image(booked), {"general": replace(general, coding=None)})
    resource = plain[f"Appointment/{booked.appointment_id}"].entry.resource
    assert resource["serviceType"] == [{"text": "general"}]


def test_a_practitioner_keeps_the_version_it_was_projected_at_when_hours_moved_the_profile_on() -> None:
    licenses = (
        License("NY", "NY-1", date(2026, 1, 1), date(2027, 12, 31)),
        License("CT", "CT-1", date(2026, 1, 1), date(2027, 12, 31)),
    )
    profile = projection.PractitionerProfile("dr-a", "Test", "Provider", "family-medicine", ("en",), "UTC", 3)
    record = ProviderRecord(profile, Availability("dr-a", "UTC", {}, {"general": 30}), licenses, "sub")
    alone = rebuilt(image(record))
    assert alone["Practitioner/dr-a"].entry.source_version == 3
    # The licences in any order project one resource (the table lists them by state).
    assert projection.practitioner(profile, licenses[::-1]) == projection.practitioner(profile, licenses)
    # A change of hours moves the profile's version and projects nothing: the entry says which.
    seeded = OutboxEntry(projection.practitioner(replace(profile, version=1), licenses), 1)
    kept = rebuilt(image(record, delivered(seeded)))["Practitioner/dr-a"]
    assert kept.basis == OUTBOX and kept.entry.source_version == 1


def test_consents_come_from_the_first_check_in_and_a_parked_entry_settles_nothing() -> None:
    moved = appointment(version=2)
    first = CheckIn(moved.appointment_id, START - timedelta(minutes=10), "NY", "+1 555 0100", True, False)
    again = replace(first, at=START + timedelta(days=1), consents_to_recording=True)
    found = rebuilt(image(moved, StoredCheckIn(1, first), StoredCheckIn(2, again)))
    recording = found[f"Consent/{moved.appointment_id.lower()}-recording"].entry
    assert recording.resource["provision"]["type"] == "deny" and recording.source_version == 1
    parked = StoredOutboxEntry(OutboxEntry(projection.appointment(moved, "x"), 7), "rejected")
    assert (
        found[f"Appointment/{moved.appointment_id}"]
        == rebuilt(image(moved, parked))[f"Appointment/{moved.appointment_id}"]
    )


def test_each_check_in_rebuilds_its_own_emergency_contact() -> None:
    moved = appointment(version=2)
    first = CheckIn(moved.appointment_id, START - timedelta(minutes=10), "NY", "+1 555 0100", True, False)
    again = replace(first, at=START + timedelta(days=1), emergency_contact="+1 555 0199")
    found = rebuilt(image(moved, StoredCheckIn(1, first), StoredCheckIn(2, again)))
    for version, number in ((1, "+1 555 0100"), (2, "+1 555 0199")):
        contact = found[f"RelatedPerson/{moved.appointment_id.lower()}-v{version}-emergency-contact"].entry
        assert contact.resource["telecom"] == [{"system": "phone", "value": number}]
        assert contact.resource["patient"] == {"reference": "Patient/patient-1"}
        assert contact.source_version == 1


# --- encounters and estimates ------------------------------------------------------------------------


def test_a_closed_visits_encounter_is_its_closing_counted_back_past_the_recordings_steps() -> None:
    booked = appointment(status=AppointmentStatus.FULFILLED, version=2)
    joined = {Role.PATIENT: START, Role.PROVIDER: START + timedelta(minutes=1)}
    done = visit(
        replace(booked, version=1),
        VisitState.COMPLETED,
        admitted_at=START,
        meeting_id="m-1",
        joined=joined,
        ended_at=START + timedelta(minutes=20),
        outcome="provider",
        capture_pipeline_arn="arn:capture",
        concatenation_pipeline_id="concat",
        recording_ready=True,
    )
    # check-in 1, admit 2, a link 3, one joins 4, both in 5, recording 6, closed 7, concatenation
    # 8, announced 9: the Encounter was last projected at 7.
    encounter = rebuilt(image(booked, StoredVisit(done, 9)))[f"Encounter/{booked.appointment_id.lower()}-v1"]
    assert encounter.basis == TABLE and encounter.entry.source_version == 7
    assert encounter.entry.resource == projection.encounter(done, 7)


def test_an_open_visits_encounter_is_as_last_projected_at_the_entrys_revision_or_estimated() -> None:
    booked = appointment()
    admitted = visit(booked, VisitState.ADMITTED, admitted_at=START, meeting_id="m-1")
    # The provider joined (which projects nothing) after a link was issued: revision 4.
    now = replace(admitted, joined={Role.PROVIDER: START + timedelta(minutes=1)})
    reference = f"Encounter/{booked.appointment_id.lower()}-v1"
    estimated = rebuilt(image(booked, StoredVisit(now, 4)))[reference]
    assert estimated.basis == ESTIMATED and estimated.entry.source_version == 4
    assert estimated.entry.resource == projection.encounter(admitted, 4)  # without the join
    kept = rebuilt(
        image(booked, StoredVisit(now, 4), delivered(OutboxEntry(projection.encounter(admitted, 2), 2)))
    )
    assert kept[reference].basis == OUTBOX and kept[reference].entry.source_version == 2
    # Nobody came: back in the waiting room, the visit no longer names the meeting its Encounter
    # showed. The state cannot say what was projected; the entry, while kept, can.
    waiting = StoredVisit(admitted.back_to_waiting(), 3)
    assert rebuilt(image(booked, waiting))[reference].basis == ESTIMATED
    entry = OutboxEntry(projection.encounter(admitted, 2), 2)
    assert rebuilt(image(booked, waiting, delivered(entry)))[reference] == Rebuilt(entry, OUTBOX)


def test_estimates_are_at_revision_1_the_first_reviewed_at_2_and_two_reviewed_are_estimated() -> None:
    booked = appointment()
    readings = (Reading(VitalSign.HEART_RATE, 72.0, 0.9), Reading(VitalSign.RESPIRATORY_RATE, 14.0, 0.8))
    vitals = VisitVitals(booked.appointment_id, 1, "patient-1", "e-1", START, readings)
    observation = f"Observation/{vitals.observation_id(VitalSign.HEART_RATE)}"
    other = f"Observation/{vitals.observation_id(VitalSign.RESPIRATORY_RATE)}"
    assert rebuilt(image(StoredVitals(vitals, 1)))[observation].entry.source_version == 1
    one = vitals.with_reading(readings[0].reviewed(True, START))
    found = rebuilt(image(StoredVitals(one, 2)))
    assert (found[observation].entry.source_version, found[observation].basis) == (2, TABLE)
    assert found[observation].entry.resource["status"] == "final"
    assert found[other].entry.source_version == 1
    both = one.with_reading(readings[1].reviewed(False, START))
    found = rebuilt(image(StoredVitals(both, 3)))
    assert {found[observation].basis, found[other].basis} == {ESTIMATED}
    assert found[other].entry.resource["status"] == ReadingStatus.ENTERED_IN_ERROR.value


# --- delivering ------------------------------------------------------------------------------------


class MemoryStore:
    """A FHIR store in memory: versions, If-Match, and a failure to serve when asked."""

    def batch(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise AssertionError("a rebuild re-projects no readings' summaries: it sends no bundle")

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes = self.searches = 0
        self.fail_next = 0

    def read_if_present(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        if self.fail_next:
            self.fail_next -= 1
            raise FhirStoreError(503, ("throttled",))
        return self.resources.get((resource_type, resource_id))

    def search(self, resource_type: str, params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        self.searches += 1
        wanted = set((params or {})["_id"].split(","))
        return iter([r for (kind, i), r in self.resources.items() if kind == resource_type and i in wanted])

    def put(self, resource: Any, *, if_match: str | None = None) -> dict[str, Any]:
        key = (str(resource["resourceType"]), str(resource["id"]))
        current = self.resources.get(key)
        assert if_match == (current["meta"]["versionId"] if current else None), "If-Match on what was read"
        version = int(current["meta"]["versionId"]) + 1 if current else 1
        stored = {**resource, "meta": {**resource.get("meta", {}), "versionId": str(version)}}
        self.resources[key] = stored
        self.writes += 1
        return stored


class Table:
    def __init__(self, *records: TableRecord) -> None:
        self.records_ = records

    def records(self, segment: int, segments: int) -> Iterator[TableRecord]:
        return iter(self.records_ if segment == 0 else ())


class Archive:
    def __init__(self, *events: dict[str, Any]) -> None:
        self.events = events

    def kept(self) -> Iterator[dict[str, Any]]:
        return iter(self.events)


class Leases:
    def lease(self, reference: str) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def test_a_rebuild_writes_what_is_missing_waits_out_an_outage_and_a_second_run_writes_nothing() -> None:
    booked = appointment()
    audit = audit_event(
        AuditFact(
            new_id(BOOKED_AT), BOOKED_AT, "Patient/patient-1", Interaction.CREATE, ["Appointment/x"], "TREAT"
        )
    )
    store = MemoryStore()
    now = [0.0]

    def rebuild() -> Any:
        return RecordRebuild(
            Table(booked),
            Archive(audit),
            store,
            Leases(),
            clinic=NO_SERVICES,
            is_outage=is_outage,
            sleep=lambda s: now.__setitem__(0, now[0] + s),
            clock=lambda: now[0],
        ).run()

    store.fail_next = 1  # the store throttles once: its circuit opens, the rebuild waits, retries
    first = rebuild()
    assert first.complete and first.outcomes == {"written": 3}  # Appointment, Slot, AuditEvent
    assert now[0] >= 30  # it waited for the circuit to close
    assert source_version(store.resources[("Appointment", booked.appointment_id)]) == 1
    second = rebuild()
    assert second.outcomes == {"current": 3} and store.writes == 3
    # Found current by a search of each kind, not one by one: Appointment, Slot, AuditEvent.
    searches = store.searches
    assert rebuild().outcomes == {"current": 3} and store.searches == searches + 3
    # A newer version in the table (the visit moved meanwhile) is written over the older.
    later = START + timedelta(days=2)
    third = RecordRebuild(
        Table(replace(booked, start=later, end=later + timedelta(minutes=30), version=2)),
        Archive(),
        store,
        Leases(),
        clinic=NO_SERVICES,
        is_outage=is_outage,
    ).run()
    assert third.outcomes == {"written": 2}  # the appointment at v2 and its new slot
    assert source_version(store.resources[("Appointment", booked.appointment_id)]) == 2


def test_the_agents_the_audit_trail_keeps_come_back_with_the_archived_events_that_name_them() -> None:
    """Staff have no table item to be projected from: their Practitioner is derived from the
    archived AuditEvents' agent (once, however many events name it), so no rebuilt event dangles."""
    staff = user_agent("0f5d1c2e-1111-4222-8333-944455556666")
    events = [
        audit_event(AuditFact(new_id(BOOKED_AT), BOOKED_AT, staff, Interaction.READ, [], "TREAT"))
        for _ in range(2)
    ]
    store = MemoryStore()
    report = RecordRebuild(
        Table(), Archive(*events), store, Leases(), clinic=NO_SERVICES, is_outage=is_outage
    ).run()
    assert report.outcomes == {"written": 3}  # the Practitioner once, then both events
    practitioner = store.resources[("Practitioner", staff.removeprefix("Practitioner/"))]
    assert practitioner["identifier"] == [
        {"system": "urn:telehealth:user", "value": "0f5d1c2e-1111-4222-8333-944455556666"}
    ]


# --- insurance and charges -------------------------------------------------------------------------


def test_a_patients_coverage_its_last_answer_and_a_visits_charge_and_invoice_are_rebuilt() -> None:
    checked = PatientCoverage(
        "patient-1",
        Coverage("RHP01", "ACT1001"),
        "Riverside Health Plan",
        2,
        CoverageCheck(Eligibility(EligibilityStatus.ACTIVE, "98", copay_minor=2500), START, "general"),
    )
    paid = charge(
        patient_share=Money(2500, "USD"),
        insured=True,
        captured_minor=2500,
        version=2,  # entered, then the capture reached the invoice
    )
    found = rebuilt(image(checked, paid))
    # The coverage as recorded (version 1, before its check moved the record on) is estimated at
    # the record's version when no entry is kept; the answer is exactly the check's.
    assert found["Coverage/coverage-patient-1"].basis == ESTIMATED
    assert found["CoverageEligibilityResponse/eligibility-patient-1-2"].basis == TABLE
    assert found["ChargeItem/charge-01jappt"].entry.source_version == 1  # entered once
    invoice = found["Invoice/invoice-01jappt"]
    assert (invoice.basis, invoice.entry.source_version) == (TABLE, 2)
    assert invoice.entry.resource["status"] == "balanced"


def test_a_signed_notes_record_is_rebuilt_from_the_note_alone_as_signing_wrote_it() -> None:
    from telehealth.domain.notes import SOAP, ClinicalNote, Diagnosis, NoteContent
    from telehealth.fhir import notes as clinical_notes

    def content(assessment: str, code: str) -> NoteContent:
        return NoteContent(
            tuple((t, assessment if t == "Assessment" else "") for t in SOAP), (Diagnosis(code, code),)
        )

    draft = ClinicalNote.started(
        appointment_id="01JAPPT",
        visit_version=1,
        patient_id="patient-1",
        provider_id="dr-a",
        template=SOAP,
        at=START,
    ).saved(content("pharyngitis", "J02.9"), on_revision=0, by="dr-a", at=START, rendered_length=10)
    signed = draft.signed_now(on_revision=1, by="dr-a", at=START, rendered="as signed")
    amended = signed.amended(
        content("URI", "J06.9"), reason="code", on_revision=2, by="dr-a", at=START, rendered="as amended"
    )
    # The first version's copy was delivered when it was signed; its superseding is not there yet.
    first_copy = clinical_notes.record(signed, "Visit note")["DocumentReference/01jappt-v1-note-v1"]
    found = rebuilt(image(amended, delivered(OutboxEntry(first_copy, 2))))
    notes = {ref: item for ref, item in found.items() if "-note" in ref or "-dx-" in ref}
    assert set(notes) == set(clinical_notes.record(amended, "Visit note"))
    superseded = notes["DocumentReference/01jappt-v1-note-v1"]
    assert superseded.entry.resource["status"] == "superseded"  # the state's, not the stale entry's
    assert superseded.entry.source_version == amended.revision
    assert notes["Condition/01jappt-v1-dx-j029"].entry.resource["verificationStatus"]["coding"][0][
        "code"
    ] == ("entered-in-error")
    copy = notes["DocumentReference/01jappt-v1-note-v2"].entry.resource["content"][0]["attachment"]["data"]
    assert base64.b64decode(copy).decode() == "as amended"  # the copy as signed, never rendered again
