"""ADT messages in the shapes hospitals' interface engines send them (repeated identifiers, Z
segments, line feeds for carriage returns, MLLP framing left on, escape sequences, v2.3 to 2.5.1),
read into the platform's terms; and the acknowledgments, golden: AA, AE and AR with the segment and
field at fault in ERR (ERR-1 before v2.5). All names and numbers are synthetic."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from telehealth.hl7v2.adt import (
    AdtEvent,
    AdtRefusedError,
    ErrorCode,
    HospitalId,
    acknowledgment,
    read_adt,
)

NOW = datetime(2026, 11, 30, 15, 4, 5, tzinfo=UTC)

# An Epic-style registration: MRN and enterprise id repeated in PID-3, a visit, a Z segment.
A04 = "\r".join(
    [
        "MSH|^~\\&|EPIC|RIVERSIDE_HOSP|TELEHEALTH|CLINIC|20261130150000||ADT^A04^ADT_A01|MSG00001|P|2.5.1",
        "EVN|A04|20261130150000",
        "PID|1||E1234567^^^RVH^MR~900100^^^RVH_EMPI^PI||O\\T\\BRIEN^SEAN^PATRICK^^^^L||19800214|M|||"
        "12 Main St^^Albany^NY^12207^USA^H||^PRN^PH^^1^555^5550100",
        "PV1|1|O|TELEHEALTH^^^RVH||||1234567890^TESTDOC^ALEX^^^^MD",
        "ZPI|1|PREFERS_VIDEO",
    ]
)
# A Cerner-style update posted with line feeds, v2.3, the phone in PID-13's first component.
A08 = "\n".join(
    [
        "MSH|^~\\&|CERNER|DESERT_MED|TELEHEALTH|CLINIC|202611301510||ADT^A08|CTL-778|P|2.3",
        "EVN|A08|202611301510",
        "PID|1|900200|E7654321^^^DMC^MR||TESTCASE^MORGAN||19911103|F|||"
        "1 State St^^Phoenix^az^85012||(555)555-0101",
    ]
)
# A merge: PID-3 survives, MRG-1 is retired; framed with MLLP's blocks as some HTTP senders leave it.
A40 = (
    "\x0b"
    + "\r".join(
        [
            "MSH|^~\\&|EPIC|RIVERSIDE_HOSP|TELEHEALTH|CLINIC|20261130152000||ADT^A40^ADT_A39|MSG00003|P|2.5.1",
            "EVN|A40|20261130152000",
            "PID|1||E1234567^^^RVH^MR||O\\T\\BRIEN^SEAN||19800214|M",
            "MRG|E7777777^^^RVH^MR",
        ]
    )
    + "\r\x1c\r"
)


def test_a_registration_an_update_and_a_merge_are_read_as_the_hospital_meant_them() -> None:
    registered = read_adt(A04)
    assert (registered.event, registered.control_id, registered.sender, registered.version) == (
        AdtEvent.REGISTER,
        "MSG00001",
        "EPIC^RIVERSIDE_HOSP",
        "2.5.1",
    )
    p = registered.patient
    assert p.identifiers == (HospitalId("E1234567", "RVH", "MR"), HospitalId("900100", "RVH_EMPI", "PI"))
    assert (p.family_name, p.given_name, p.birth_date, p.sex) == ("O&BRIEN", "SEAN", date(1980, 2, 14), "M")
    assert (p.state, p.postal_code, p.phone) == ("NY", "12207", "15555550100")

    updated = read_adt(A08.encode())
    assert (updated.event, updated.version, updated.control_id) == (AdtEvent.UPDATE, "2.3", "CTL-778")
    assert (updated.patient.state, updated.patient.phone, updated.patient.sex) == ("AZ", "(555)555-0101", "F")

    merged = read_adt(A40)
    assert merged.event is AdtEvent.MERGE
    assert merged.patient.identifiers == (HospitalId("E1234567", "RVH", "MR"),)
    assert merged.retired == (HospitalId("E7777777", "RVH", "MR"),)


IDS, NAME, MISSING = "E1234567^^^RVH^MR~900100^^^RVH_EMPI^PI", "O\\T\\BRIEN^SEAN^PATRICK", ErrorCode(101)


@pytest.mark.parametrize(
    ("message", "ack_code", "where", "code"),
    [
        ("PID|1||E1^^^RVH^MR||DOE^JANE||19800101|F", "AR", ("MSH", 1, None), ErrorCode.SEGMENT_SEQUENCE),
        (A04.replace("ADT^A04", "ORU^R01"), "AR", ("MSH", 9, 1), ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
        (A04.replace("ADT^A04", "ADT^A03"), "AR", ("MSH", 9, 2), ErrorCode.UNSUPPORTED_EVENT),
        (A04.replace("|MSG00001|", "||"), "AR", ("MSH", 10, None), MISSING),
        (A04.replace("|P|2.5.1", "|P|3.0"), "AR", ("MSH", 12, None), ErrorCode.UNSUPPORTED_VERSION),
        (A04.replace(IDS, ""), "AE", ("PID", 3, None), MISSING),
        (A04.replace(NAME, "^SEAN"), "AE", ("PID", 5, 1), MISSING),
        (A04.replace("19800214", "1980-02-14"), "AE", ("PID", 7, None), ErrorCode.DATA_TYPE),
        (A04.replace("19800214", "19801340"), "AE", ("PID", 7, None), ErrorCode.DATA_TYPE),
        (A04.replace("19800214|M|", "19800214|X|"), "AE", ("PID", 8, None), ErrorCode.TABLE_VALUE_NOT_FOUND),
        (A40.replace("MRG|E7777777^^^RVH^MR", "MRG|"), "AE", ("MRG", 1, None), MISSING),
    ],
)  # fmt: skip
def test_a_message_the_platform_cannot_take_is_refused_naming_the_segment_and_field(
    message: str, ack_code: str, where: tuple[str, int, int | None], code: ErrorCode
) -> None:
    with pytest.raises(AdtRefusedError) as refused:
        read_adt(message)
    fault = refused.value.fault
    assert (refused.value.ack_code, (fault.segment, fault.field, fault.component), fault.code) == (
        ack_code,
        where,
        code,
    )
    assert "SEAN" not in fault.text and "E1234567" not in fault.text  # the rule, never the patient


def test_the_acknowledgments_are_the_ones_an_interface_engine_expects() -> None:
    assert acknowledgment(A04, "AA", now=NOW, control_id="ACK0001") == (
        "MSH|^~\\&|TELEHEALTH|CLINIC|EPIC|RIVERSIDE_HOSP|20261130150405+0000||ACK^A04^ACK|ACK0001|P|2.5.1\r"
        "MSA|AA|MSG00001|\r"
    )
    with pytest.raises(AdtRefusedError) as refused:
        read_adt(A04.replace(NAME, "^SEAN"))
    assert acknowledgment(A04, "AE", refused.value.fault, now=NOW, control_id="ACK0002") == (
        "MSH|^~\\&|TELEHEALTH|CLINIC|EPIC|RIVERSIDE_HOSP|20261130150405+0000||ACK^A04^ACK|ACK0002|P|2.5.1\r"
        "MSA|AE|MSG00001|The patient's family and given names (PID-5).\r"
        "ERR||PID^1^5^1^1|101^The patient's family and given names (PID-5).^HL70357|E\r"
    )
    # Before v2.5 the location and the code go in ERR-1.
    with pytest.raises(AdtRefusedError) as old:
        read_adt(A08.replace("19911103|F", "19911103|Q"))
    assert acknowledgment(A08, "AE", old.value.fault, now=NOW, control_id="ACK0003").splitlines()[2] == (
        "ERR|PID^1^8^103&Sex is a code of HL7 table 0001 (PID-8).&HL70357"
    )
    # From v2.7 MSH-2 may carry a fifth character (truncation), and MSA-3 is gone.
    v28 = A04.replace("MSH|^~\\&|", "MSH|^~\\&#|", 1).replace("|P|2.5.1", "|P|2.8")
    assert read_adt(v28).version == "2.8"
    assert acknowledgment(v28, "AA", now=NOW, control_id="ACK0005").splitlines()[1] == "MSA|AA|MSG00001"
    # v2.3's MSH-9 has no message structure.
    assert "|ACK^A08|" in acknowledgment(A08, "AA", now=NOW, control_id="ACK0006")
    # What is not HL7 at all still gets an ACK: AR, with what could be told.
    with pytest.raises(AdtRefusedError) as garbage:
        read_adt("hello")
    assert acknowledgment("hello", "AR", garbage.value.fault, now=NOW, control_id="ACK0004") == (
        "MSH|^~\\&|TELEHEALTH|CLINIC|||20261130150405+0000||ACK|ACK0004|P|2.5.1\r"
        "MSA|AR||A message starts with its MSH segment.\r"
        "ERR||MSH^1^1|100^A message starts with its MSH segment.^HL70357|E\r"
    )


def test_a_merge_of_several_pairs_is_refused_rather_than_half_applied() -> None:
    two = A40.replace(
        "MRG|E7777777^^^RVH^MR", "MRG|E7777777^^^RVH^MR\rPID|2||E2^^^RVH^MR||X^Y||19800101|M\rMRG|E3^^^RVH^MR"
    )
    with pytest.raises(AdtRefusedError) as refused:
        read_adt(two)
    assert (refused.value.ack_code, refused.value.fault.segment, refused.value.fault.code) == (
        "AE",
        "MRG",
        ErrorCode.SEGMENT_SEQUENCE,
    )
