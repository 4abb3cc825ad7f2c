"""Scheduling messages out, golden: an S12 for a booking and an S15 for a cancellation, each read
back with python-hl7 as a receiving interface engine would, field by field. Synthetic data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import hl7

from telehealth.hl7v2.adt import HospitalId
from telehealth.hl7v2.siu import SiuEvent, SiuVisit, siu_message

NOW = datetime(2026, 11, 30, 15, 4, 5, tzinfo=UTC)
VISIT = SiuVisit(
    appointment_id="01JDVZ8K3M0000000000000001",
    start=datetime(2026, 12, 2, 14, 30, tzinfo=UTC),
    end=datetime(2026, 12, 2, 15, 0, tzinfo=UTC),
    service_code="185389009",
    service_display="Follow-up visit",
    patient_ids=(HospitalId("E1234567", "RVH", "MR"), HospitalId("900100", "RVH_EMPI", "PI")),
    family_name="O'BRIEN & SONS",
    given_name="SEAN",
    birth_date=date(1980, 2, 14),
    sex="M",
    clinician_id="dr-okafor",
    clinician_family_name="Okafor",
    clinician_given_name="Ada",
)


def test_a_booking_is_an_s12_a_receiving_engine_reads_field_by_field() -> None:
    text = siu_message(
        SiuEvent.BOOKED, VISIT, receiver=("EPIC", "RIVERSIDE_HOSP"), control_id="SIU0001", now=NOW
    )
    assert text.splitlines()[0] == (
        "MSH|^~\\&|TELEHEALTH|CLINIC|EPIC|RIVERSIDE_HOSP|20261130150405+0000||SIU^S12^SIU_S12|SIU0001|P|2.5.1"
    )
    m = hl7.parse(text)
    sch, pid, aip = m.segment("SCH"), m.segment("PID"), m.segment("AIP")
    assert str(sch(2)) == VISIT.appointment_id
    assert (str(sch(7)(1)(1)), str(sch(7)(1)(3)), str(sch(9)), str(sch(10))) == (
        "185389009",
        "SCT",
        "30",
        "min",
    )
    assert [str(sch(11)(1)(c)) for c in (3, 4, 5)] == ["M30", "20261202143000+0000", "20261202150000+0000"]
    assert (str(sch(25)), str(sch(6)(1)(1))) == ("Booked", "S12")  # SCH-6 is required from v2.5
    assert [str(r(1)) for r in pid(3)] == ["E1234567", "900100"] and str(pid(3)(1)(4)) == "RVH"
    # The name's "&" travels escaped and reads back as written.
    assert m.extract_field("PID", 1, 5, 1, 1) == "O'BRIEN & SONS"
    assert (str(pid(7)), str(pid(8))) == ("19800214", "M")
    assert (str(aip(3)(1)(1)), str(aip(3)(1)(2)), str(aip(6)), str(aip(9))) == (
        "dr-okafor",
        "Okafor",
        "20261202143000+0000",
        "30",
    )
    assert str(m.segment("AIL")(3)) == "VIDEO^^^TELEHEALTH"


def test_a_cancellation_is_an_s15_with_its_reason_and_the_status_cancelled() -> None:
    text = siu_message(
        SiuEvent.CANCELLED,
        VISIT,
        receiver=("EPIC", "RIVERSIDE_HOSP"),
        control_id="SIU0002",
        now=NOW,
        reason="Patient asked",
    )
    m = hl7.parse(text)
    assert str(m.segment("MSH")(9)) == "SIU^S15^SIU_S12"
    assert (str(m.segment("SCH")(6)(1)(2)), str(m.segment("SCH")(25))) == ("Patient asked", "Cancelled")
    # Its resources deleted (table 0206), in the resources group's order.
    assert [str(seg(0)) for seg in m][-4:] == ["RGS", "AIS", "AIL", "AIP"]
    assert {str(m.segment(s)(2)) for s in ("RGS", "AIS", "AIL", "AIP")} == {"D"}
