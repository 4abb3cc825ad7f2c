"""The ADT feed applied to the clinic's patients (the application service over the fakes): A04
registers or updates, A08 updates, A40 merges, each acknowledged; a merge moves the retired
patient's appointments and portal account to the survivor, and staff undo it. Every name and
number is synthetic."""

from __future__ import annotations

from datetime import timedelta

import hl7
import pytest

from telehealth.application.adt_feed import AdtFeed
from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotAuthorizedError, NotFoundError
from telehealth.application.patients import PatientMerges, PatientRecords
from telehealth.domain.appointments import Actor, AppointmentStatus
from telehealth.domain.patients import MergeRefusedError
from telehealth.domain.scheduling import slot_id
from tests.unit.fakes import NOW, PATIENT, PATIENT_ID, PROVIDER_ID, STAFF, Clinic, clinic

MRN_SYSTEM = "urn:telehealth:test:mrn"
FEED = Caller(Actor.MACHINE, "adt-feed", frozenset({"telehealth/hl7.adt"}), frozenset())


def _message(event: str, control_id: str, pid: str, *extra: str) -> str:
    structure = {"A04": "ADT_A01", "A08": "ADT_A01", "A40": "ADT_A39"}[event]
    return "\r".join(
        [
            f"MSH|^~\\&|EPIC|RIVERSIDE|TELEHEALTH|CLINIC|20261130150000||ADT^{event}^{structure}|{control_id}|P|2.5.1",
            f"EVN|{event}|20261130150000",
            pid,
            *extra,
        ]
    )


def _pid(mrn: str, family: str = "TESTPERSON", state: str = "NY", born: str = "19800214") -> str:
    address = f"1 Main St^^Albany^{state}^12207"
    return f"PID|1||{mrn}^^^RVH^MR||{family}^ALEX||{born}|F|||{address}||^PRN^PH^^1^555^5550100"


class Desk:
    def __init__(self, c: Clinic) -> None:
        trail = AuditTrail(c.scheduling, c.clock)
        self.records = PatientRecords(c.scheduling, trail, c.clock)
        self.merges = PatientMerges(c.scheduling, c.booking, trail, c.clock)
        self.feed = AdtFeed(self.records, self.merges, trail, c.clock, MRN_SYSTEM, c.scheduling)


def _state(c: Clinic) -> tuple[object, ...]:
    """What a message could change: patients, appointments, merges (audits record the attempt)."""
    return dict(c.table.patients), dict(c.table.appointments), dict(c.table.merges)


def _ack(body: str) -> tuple[str, str, str]:
    """MSA-1, MSA-2 and ERR-2 (the location at fault) of an ACK."""
    ack = hl7.parse(body)
    err = str(ack.segment("ERR")(2)) if any(str(s(0)) == "ERR" for s in ack) else ""
    return str(ack.segment("MSA")(1)), str(ack.segment("MSA")(2)), err


def test_a_registration_an_update_and_a_merge_leave_one_surviving_patient() -> None:
    c = clinic()
    desk = Desk(c)
    first = desk.feed.receive(FEED, _message("A04", "M1", _pid("E100")))
    assert _ack(first.body)[:2] == ("AA", "M1")
    patient = desk.records.by_mrn(MRN_SYSTEM, "E100")
    assert patient is not None and (patient.family_name, patient.home_state, patient.gender) == (
        "TESTPERSON",
        "NY",
        "female",
    )
    assert patient.phone == "+15555550100" and patient.zone == "America/New_York"
    # Sent again, as engines do: the same patient, no new version.
    again = desk.feed.receive(FEED, _message("A04", "M1", _pid("E100")))
    assert again.code == "AA" and desk.records.by_mrn(MRN_SYSTEM, "E100") == patient
    # An update moves them; an update of an MRN nobody has is an error naming PID-3.
    moved = desk.feed.receive(FEED, _message("A08", "M2", _pid("E100", state="NJ")))
    assert moved.code == "AA"
    updated = desk.records.by_mrn(MRN_SYSTEM, "E100")
    assert updated is not None and (updated.home_state, updated.version) == ("NJ", 2)
    unknown = desk.feed.receive(FEED, _message("A08", "M3", _pid("E404")))
    assert _ack(unknown.body) == ("AE", "M3", "PID^1^3")

    # A second record of the same person, with a visit booked, then the hospital merges it.
    desk.feed.receive(FEED, _message("A04", "M4", _pid("E200", family="TESTPERSON-DUP")))
    duplicate = desk.records.by_mrn(MRN_SYSTEM, "E200")
    assert duplicate is not None
    c.clock.now = NOW
    booked = c.booking.book(
        STAFF,
        slot=slot_id(PROVIDER_ID, NOW.replace(hour=10) + timedelta(days=2)),
        service_type="general",
        state="NY",
        patient_id=duplicate.patient_id,
        idempotency=None,
    )
    merged = desk.feed.receive(FEED, _message("A40", "M5", _pid("E100"), "MRG|E200^^^RVH^MR"))
    assert merged.code == "AA", merged.body
    retired, survivor = (desk.records.by_mrn(MRN_SYSTEM, m) for m in ("E200", "E100"))
    assert retired is not None and survivor is not None
    assert retired.merged_into == survivor.patient_id and survivor.replaces == (retired.patient_id,)
    # The visit moved to the survivor at its next version, and its lifecycle with it.
    appointment = c.scheduling.appointment(booked.appointment_id)
    assert appointment is not None and (appointment.patient_id, appointment.version) == (
        survivor.patient_id,
        2,
    )
    assert appointment.status is AppointmentStatus.BOOKED and appointment.start == booked.start
    assert (booked.appointment_id, 2, 0) in c.workflows.started
    assert (booked.appointment_id, 1, "merged") in c.workflows.stopped
    # The FHIR records link each other; the retired one is inactive; the Appointment names the survivor.
    patients = {e.resource["id"]: e.resource for e in c.table.entries(kind="Patient")}
    assert patients[retired.patient_id]["active"] is False
    assert patients[retired.patient_id]["link"] == [
        {"other": {"reference": f"Patient/{survivor.patient_id}"}, "type": "replaced-by"}
    ]
    assert patients[survivor.patient_id]["link"][0]["type"] == "replaces"
    projected = [e.resource for e in c.table.entries(kind="Appointment")][-1]
    assert projected["participant"][0]["actor"]["reference"] == f"Patient/{survivor.patient_id}"
    told = [e.resource for e in c.table.outbox if e.resource.get("detail-type") == "Appointment.Transferred"]
    assert [(t["detail"]["appointment_id"], t["detail"]["patient_id"]) for t in told] == [
        (booked.appointment_id, survivor.patient_id)
    ]
    # The merge is audited, naming both records and the appointment moved.
    audit = [e.resource for e in c.table.entries(kind="AuditEvent")][-1]
    assert {e["what"]["reference"] for e in audit["entity"]} == {
        f"Patient/{retired.patient_id}",
        f"Patient/{survivor.patient_id}",
        f"Appointment/{booked.appointment_id}",
    }
    # One surviving patient: staff find one, and the retired MRN takes no more updates.
    assert [p.patient_id for p in desk.records.find(STAFF, "TESTPERSON-DUP", retired.birth_date)] == []  # type: ignore[arg-type]
    stale = desk.feed.receive(FEED, _message("A08", "M6", _pid("E200")))
    assert (stale.code, _ack(stale.body)[2]) == ("AE", "PID^1^3")
    # The merge sent again changes nothing.
    before = _state(c)
    assert desk.feed.receive(FEED, _message("A40", "M5", _pid("E100"), "MRG|E200^^^RVH^MR")).code == "AA"
    assert _state(c) == before


def test_a_merged_portal_account_acts_as_the_survivor_until_staff_undo_the_merge() -> None:
    c = clinic()
    desk = Desk(c)
    desk.feed.receive(FEED, _message("A04", "M1", _pid("E300")))
    survivor = desk.records.by_mrn(MRN_SYSTEM, "E300")
    assert survivor is not None
    # The portal patient (enrolled by sign-up) was given the MRN E301 by the health system.
    c.table.patients[PATIENT_ID] = c.table.patients[PATIENT_ID].__class__(
        **{**c.table.patients[PATIENT_ID].__dict__, "mrn": "E301", "mrn_system": MRN_SYSTEM}
    )
    booked = c.booking.book(
        PATIENT,
        slot=slot_id(PROVIDER_ID, NOW.replace(hour=10) + timedelta(days=3)),
        service_type="general",
        state="NY",
        patient_id=None,
        idempotency=None,
    )
    assert desk.records.account_holder(PATIENT_ID) == PATIENT_ID
    assert desk.feed.receive(FEED, _message("A40", "M2", _pid("E300"), "MRG|E301^^^RVH^MR")).code == "AA"
    assert desk.records.account_holder(PATIENT_ID) == survivor.patient_id
    # The survivor had no e-mail (an HL7 registration gives none): the portal account's is copied,
    # so its reminders reach the person; its phone it had already.
    merged = c.table.patients[survivor.patient_id]
    assert (merged.email, merged.phone) == ("sam@example.test", survivor.phone)
    acting = Caller(Actor.PATIENT, survivor.patient_id, frozenset(), frozenset())
    assert c.booking.appointment(acting, booked.appointment_id).patient_id == survivor.patient_id

    # Staff see the merge, and undo it: the records part, the appointment goes back.
    with pytest.raises(NotAuthorizedError):
        desk.merges.in_force(PATIENT)
    (listed,) = desk.merges.in_force(STAFF)
    assert (listed.retired.patient_id, listed.survivor.patient_id) == (PATIENT_ID, survivor.patient_id)
    assert listed.merge.moved == (booked.appointment_id,)
    desk.merges.undo(STAFF, PATIENT_ID)
    assert desk.records.account_holder(PATIENT_ID) == PATIENT_ID
    back = c.scheduling.appointment(booked.appointment_id)
    assert back is not None and (back.patient_id, back.version) == (PATIENT_ID, 3)
    restored, kept = c.table.patients[PATIENT_ID], c.table.patients[survivor.patient_id]
    assert restored.merged_into is None and kept.replaces == ()
    assert (kept.email, kept.phone) == (None, survivor.phone)  # what the merge copied, taken back
    assert desk.merges.in_force(STAFF) == []
    with pytest.raises(NotFoundError):  # undone already
        desk.merges.undo(STAFF, PATIENT_ID)
    # The engine sends the same A40 again (it lost the answer): the first answer, no new merge.
    again = desk.feed.receive(FEED, _message("A40", "M2", _pid("E300"), "MRG|E301^^^RVH^MR"))
    assert again.code == "AA" and desk.records.account_holder(PATIENT_ID) == PATIENT_ID


def test_a_merge_waits_while_a_visit_of_the_retired_patient_may_be_under_way() -> None:
    c = clinic()
    desk = Desk(c)
    desk.feed.receive(FEED, _message("A04", "M1", _pid("E400")))
    desk.feed.receive(FEED, _message("A04", "M2", _pid("E401")))
    retired = desk.records.by_mrn(MRN_SYSTEM, "E401")
    assert retired is not None
    soon = NOW.replace(hour=10) + timedelta(days=1)
    c.booking.book(
        STAFF,
        slot=slot_id(PROVIDER_ID, soon),
        service_type="general",
        state="NY",
        patient_id=retired.patient_id,
        idempotency=None,
    )
    c.clock.now = soon - timedelta(minutes=20)  # check-in is open
    before = _state(c)
    refused = desk.feed.receive(FEED, _message("A40", "M3", _pid("E400"), "MRG|E401^^^RVH^MR"))
    assert (refused.code, _ack(refused.body)[2]) == ("AR", "MRG^1^1")
    assert _state(c) == before
    # Merging a patient into themself is an error in the message, not a wait.
    same = desk.feed.receive(FEED, _message("A40", "M4", _pid("E400"), "MRG|E400^^^RVH^MR"))
    assert same.code == "AE"
    with pytest.raises(MergeRefusedError):
        desk.merges.merge(FEED, retired.patient_id, retired.patient_id)


def test_a_message_the_clinic_cannot_take_is_refused_and_audited_with_nothing_changed() -> None:
    c = clinic()
    desk = Desk(c)
    before = _state(c)
    for raw, code in [
        ("not hl7 at all", "AR"),
        (_message("A04", "M1", _pid("E500", state="ZZ")), "AE"),
        (_message("A04", "M2", _pid("E500", born="20991231")), "AE"),
    ]:
        assert desk.feed.receive(FEED, raw).code == code
    assert desk.records.by_mrn(MRN_SYSTEM, "E500") is None
    audits = [e.resource for e in c.table.entries(kind="AuditEvent")]
    assert len(audits) == 3 and all(a["outcome"] == "4" for a in audits)
    assert _state(c) == before
    with pytest.raises(NotAuthorizedError):
        desk.feed.receive(PATIENT, _message("A04", "M3", _pid("E501")))
