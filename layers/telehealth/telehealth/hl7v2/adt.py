"""ADT messages in, acknowledgments out: `ADT^A04` (register a patient), `ADT^A08` (update their
details) and `ADT^A40` (merge: the patient of MRG-1 is retired into the one of PID-3), read into
the platform's terms, or refused with what was wrong.

An acknowledgment is original mode (HL7 v2 chapter 2): `AA` accepted; `AR` rejected, when the
message is not one the platform takes at all (not HL7, another message type or event, a version
outside 2.3 to 2.8, no control id); `AE` error, when it is one it takes but its content is wrong
(a required field missing, a date that is not one, a sex outside HL7 table 0001). A refusal names
the segment, its sequence, the field and (where it applies) the component in ERR-2, the HL7 error
code (table 0357) in ERR-3 and its severity in ERR-4; before v2.5, where ERR-2 did not exist, the
same goes in ERR-1. The text of a refusal names the rule, never what was sent (it is the
patient's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Any, Literal

import hl7

from telehealth.domain.patients import RegisteredPatient, birth_date_problem, home_state_problem, home_zone
from telehealth.hl7v2 import escaped, header

VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8")
SEXES = frozenset({"M", "F", "O", "U", "A", "N"})  # HL7 table 0001
MAX_MESSAGE_BYTES = 64 * 1024
_FRAMING = "\x0b\x1c"  # MLLP's start and end blocks, left on by some engines' HTTP senders


class AdtEvent(StrEnum):
    REGISTER = "A04"
    UPDATE = "A08"
    MERGE = "A40"


class ErrorCode(IntEnum):
    """HL7 table 0357, the codes a refusal uses."""

    SEGMENT_SEQUENCE = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE = 102
    TABLE_VALUE_NOT_FOUND = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT = 201
    UNSUPPORTED_VERSION = 203
    UNKNOWN_KEY = 204
    DUPLICATE_KEY = 205
    INTERNAL = 207


@dataclass(frozen=True)
class Fault:
    """Where a message is wrong and how: an error location (segment, sequence, field, component)
    and a code of table 0357, with a sentence naming the rule."""

    segment: str
    field: int
    code: ErrorCode
    text: str
    sequence: int = 1
    component: int | None = None


class AdtRefusedError(Exception):
    """The message refused: `AR` (not one the platform takes) or `AE` (its content is wrong)."""

    def __init__(self, ack_code: Literal["AE", "AR"], fault: Fault, status: int | None = None) -> None:
        super().__init__(fault.text)
        self.ack_code, self.fault = ack_code, fault
        # What the refusal would be as an HTTP answer (the audit trail's minor failure; the ACK
        # itself goes back with a 200, as HL7 over HTTP sends every acknowledgment).
        self.status = status or (400 if ack_code == "AR" else 422)

    @property
    def code(self) -> str:
        """How the audit trail names the refusal: the ACK code and the HL7 error code."""
        return f"hl7-{self.ack_code.lower()}-{int(self.fault.code)}"


@dataclass(frozen=True)
class HospitalId:
    """A patient identifier as the health system gives it (CX): the id, its assigning authority
    (CX-4, the namespace) and its type (CX-5: MR, PI, ...)."""

    value: str
    authority: str
    kind: str


@dataclass(frozen=True)
class AdtPatient:
    identifiers: tuple[HospitalId, ...]
    family_name: str
    given_name: str
    birth_date: date
    sex: str
    state: str  # PID-11.4, the first address's: where the platform serves them
    postal_code: str
    phone: str  # PID-13, as sent (the platform normalizes it where it keeps one)


@dataclass(frozen=True)
class AdtMessage:
    event: AdtEvent
    control_id: str  # MSH-10: the ACK names it, and a message resent is known by it
    sender: str  # MSH-3^MSH-4
    version: str
    patient: AdtPatient
    retired: tuple[HospitalId, ...] = ()  # MRG-1, for a merge: the identifiers that are retired


def _text(raw: str | bytes) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    # Segments end with a carriage return; HTTP senders often use line feeds instead.
    return text.strip(_FRAMING + "\r\n ").replace("\r\n", "\r").replace("\n", "\r")


def _parse(text: str) -> Any:
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise AdtRefusedError(
            "AR", Fault("MSH", 1, ErrorCode.INTERNAL, f"A message is at most {MAX_MESSAGE_BYTES} bytes.")
        )
    # MSH-1, then MSH-2's four encoding characters (five from v2.7, the truncation character).
    if not re.match(r"^MSH(.)(?:(?!\1).){4,5}\1", text):
        raise AdtRefusedError(
            "AR", Fault("MSH", 1, ErrorCode.SEGMENT_SEQUENCE, "A message starts with its MSH segment.")
        )
    try:
        return hl7.parse(text)
    except Exception:  # python-hl7 raises several kinds on malformed text
        raise AdtRefusedError(
            "AR", Fault("MSH", 1, ErrorCode.SEGMENT_SEQUENCE, "The message is not HL7 v2 (ER7).")
        ) from None


def _one(message: Any, segment: str) -> Any | None:
    try:
        return message.segment(segment)
    except KeyError:
        return None


def _field(segment: Any, field: int, component: int = 1, repetition: int = 1) -> str:
    """A field's value (unescaped), or empty where the message stops short of it."""
    try:
        return str(segment.extract_field(1, field, repetition, component)).strip()
    except IndexError:
        return ""


def _identifiers(segment: Any, field: int) -> tuple[HospitalId, ...]:
    try:
        repetitions = len(segment(field))
    except IndexError:
        return ()
    found = []
    for r in range(1, repetitions + 1):
        value = _field(segment, field, 1, r)
        if value:
            found.append(HospitalId(value, _field(segment, field, 4, r), _field(segment, field, 5, r)))
    return tuple(found)


def _header(message: Any) -> tuple[AdtEvent, str, str, str]:
    msh = message.segment("MSH")
    kind, trigger = _field(msh, 9, 1), _field(msh, 9, 2)
    if kind != "ADT":
        raise AdtRefusedError(
            "AR",
            Fault(
                "MSH", 9, ErrorCode.UNSUPPORTED_MESSAGE_TYPE, "The platform takes ADT messages only.", 1, 1
            ),
        )
    try:
        event = AdtEvent(trigger)
    except ValueError:
        raise AdtRefusedError(
            "AR",
            Fault("MSH", 9, ErrorCode.UNSUPPORTED_EVENT, "The platform takes ADT A04, A08 and A40.", 1, 2),
        ) from None
    control_id = _field(msh, 10)
    if not control_id:
        raise AdtRefusedError(
            "AR", Fault("MSH", 10, ErrorCode.REQUIRED_FIELD_MISSING, "A message has a control id (MSH-10).")
        )
    version = _field(msh, 12)
    if version not in VERSIONS:
        raise AdtRefusedError(
            "AR",
            Fault("MSH", 12, ErrorCode.UNSUPPORTED_VERSION, "The platform takes HL7 versions 2.3 to 2.8."),
        )
    return event, control_id, f"{_field(msh, 3)}^{_field(msh, 4)}", version


def _birth_date(pid: Any) -> date:
    raw = _field(pid, 7)
    if not raw:
        raise AdtRefusedError(
            "AE", Fault("PID", 7, ErrorCode.REQUIRED_FIELD_MISSING, "The patient's date of birth (PID-7).")
        )
    try:
        # DTM: YYYYMMDD, perhaps with a time (and zone) after it; only the day is the birth date.
        if not re.fullmatch(r"[0-9]{8}([0-9]{2,6}(\.[0-9]{1,4})?)?([+-][0-9]{4})?", raw):
            raise ValueError(raw)
        return datetime.strptime(raw[:8], "%Y%m%d").date()
    except ValueError:
        raise AdtRefusedError(
            "AE", Fault("PID", 7, ErrorCode.DATA_TYPE, "A date of birth is YYYYMMDD (PID-7).")
        ) from None


def _patient(pid: Any) -> AdtPatient:
    identifiers = _identifiers(pid, 3)
    if not identifiers:
        raise AdtRefusedError(
            "AE", Fault("PID", 3, ErrorCode.REQUIRED_FIELD_MISSING, "The patient's identifier (PID-3).")
        )
    family, given = _field(pid, 5, 1), _field(pid, 5, 2)
    if not family or not given:
        raise AdtRefusedError(
            "AE",
            Fault(
                "PID",
                5,
                ErrorCode.REQUIRED_FIELD_MISSING,
                "The patient's family and given names (PID-5).",
                component=1 if not family else 2,
            ),
        )
    birth_date = _birth_date(pid)
    sex = _field(pid, 8).upper() or "U"
    if sex not in SEXES:
        raise AdtRefusedError(
            "AE", Fault("PID", 8, ErrorCode.TABLE_VALUE_NOT_FOUND, "Sex is a code of HL7 table 0001 (PID-8).")
        )
    # PID-13: v2.3/2.4 put the number in its first component; 2.5 and later may give it in parts.
    phone = _field(pid, 13, 1) or "".join(_field(pid, 13, c) for c in (5, 6, 7))
    return AdtPatient(
        identifiers, family, given, birth_date, sex, _field(pid, 11, 4).upper(), _field(pid, 11, 5), phone
    )


def read_adt(raw: str | bytes) -> AdtMessage:
    """The message in the platform's terms, or `AdtRefusedError` naming what is wrong."""
    message = _parse(_text(raw))
    event, control_id, sender, version = _header(message)
    pid = _one(message, "PID")
    if pid is None:
        raise AdtRefusedError(
            "AE", Fault("PID", 0, ErrorCode.SEGMENT_SEQUENCE, "An ADT message has a PID segment.")
        )
    patient = _patient(pid)
    retired: tuple[HospitalId, ...] = ()
    if event is AdtEvent.MERGE:
        if sum(1 for segment in message if str(segment[0]) == "MRG") > 1:
            # A40 may carry several pairs; applying the first and answering AA would hide the rest.
            raise AdtRefusedError(
                "AE",
                Fault(
                    "MRG",
                    2,
                    ErrorCode.SEGMENT_SEQUENCE,
                    "One merge a message: send each pair in its own A40.",
                ),
            )
        mrg = _one(message, "MRG")
        if mrg is None:
            raise AdtRefusedError(
                "AE", Fault("MRG", 0, ErrorCode.SEGMENT_SEQUENCE, "A merge has an MRG segment.")
            )
        retired = _identifiers(mrg, 1)
        if not retired:
            raise AdtRefusedError(
                "AE",
                Fault(
                    "MRG",
                    1,
                    ErrorCode.REQUIRED_FIELD_MISSING,
                    "A merge names the retired identifier (MRG-1).",
                ),
            )
    return AdtMessage(event, control_id, sender, version, patient, retired)


# --- into the platform's terms -----------------------------------------------------------------

GENDERS = {"M": "male", "F": "female", "O": "other", "A": "other", "N": "other", "U": "unknown"}


def medical_record_number(identifiers: tuple[HospitalId, ...]) -> str:
    """The MRN among a patient's identifiers: the one typed MR (CX-5), else the first given (a
    feed that types none sends its MRN first)."""
    typed = [i for i in identifiers if i.kind.upper() == "MR"]
    return (typed or list(identifiers))[0].value


def e164(phone: str) -> str | None:
    """A North American number as the clinic keeps one (+1 and ten digits), or None: a number the
    clinic cannot text is left out rather than refused (reminders fall back to e-mail)."""
    digits = re.sub(r"[^0-9]", "", phone)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return f"+1{digits}" if len(digits) == 10 and digits[0] not in "01" else None


def registered(patient: AdtPatient, today: date) -> RegisteredPatient:
    """The patient as the clinic registers them (as a FHIR Patient write would), or AE naming
    the field whose value the clinic's rules refuse."""
    said = birth_date_problem(patient.birth_date, today)
    if said is not None:
        raise AdtRefusedError("AE", Fault("PID", 7, ErrorCode.DATA_TYPE, f"{said} (PID-7)"))
    if not patient.state:
        raise AdtRefusedError(
            "AE",
            Fault(
                "PID",
                11,
                ErrorCode.REQUIRED_FIELD_MISSING,
                "The patient's home state, where the clinic serves them (PID-11.4).",
                component=4,
            ),
        )
    if home_state_problem(patient.state) is not None:
        raise AdtRefusedError(
            "AE",
            Fault(
                "PID",
                11,
                ErrorCode.TABLE_VALUE_NOT_FOUND,
                "The home state is a US state, DC or territory, by its code (PID-11.4).",
                component=4,
            ),
        )
    return RegisteredPatient(
        mrn=medical_record_number(patient.identifiers),
        given_name=patient.given_name,
        family_name=patient.family_name,
        birth_date=patient.birth_date,
        home_state=patient.state,
        zone=home_zone(patient.state),
        gender=GENDERS[patient.sex],
        phone=e164(patient.phone) if patient.phone else None,
    )


# --- acknowledgments ------------------------------------------------------------------------------


def acknowledgment(
    raw: str | bytes,
    ack_code: Literal["AA", "AE", "AR"],
    fault: Fault | None = None,
    *,
    now: datetime,
    control_id: str,
) -> str:
    """The ACK of `raw` (read again here: an ACK names what was received, even when it could not
    be read into an ADT): MSH with the sender and receiver swapped, MSA with the code and the
    received control id, and for a refusal an ERR. `control_id`: the ACK's own MSH-10."""
    text = _text(raw)
    received: dict[str, str] = {}
    try:
        msh = hl7.parse(text).segment("MSH") if text.startswith("MSH") else None
    except Exception:
        msh = None
    if msh is not None:
        received = {
            "application": _field(msh, 3),
            "facility": _field(msh, 4),
            "trigger": _field(msh, 9, 2),
            "control_id": _field(msh, 10),
            "processing": _field(msh, 11) or "P",
            "version": _field(msh, 12),
        }
    version = received["version"] if received.get("version") in VERSIONS else "2.5.1"
    trigger = received.get("trigger", "")
    # MSH-9.3 (the message structure) exists from v2.3.1.
    structure = "" if version == "2.3" else "^ACK"
    message_type = f"ACK^{escaped(trigger)}{structure}" if trigger else "ACK"
    receiver = (received.get("application", ""), received.get("facility", ""))
    processing = received.get("processing", "P")
    msa = ["MSA", ack_code, escaped(received.get("control_id", ""))]
    if version not in ("2.7", "2.7.1", "2.8"):  # MSA-3, the text, was withdrawn in v2.7 (ERR-3 has it)
        msa.append(escaped(fault.text) if fault else "")
    answer = [
        header(message_type, receiver, control_id, now, processing=processing, version=version),
        "|".join(msa),
    ]
    if fault is not None:
        field = str(fault.field) if fault.field else ""
        code = f"{int(fault.code)}"
        if version in ("2.3", "2.3.1", "2.4"):
            # ERR-1 (ELD), the only field of ERR before v2.5: segment^sequence^field^code&text&table.
            answer.append(
                f"ERR|{fault.segment}^{fault.sequence}^{field}^{code}&{escaped(fault.text)}&HL70357"
            )
        else:
            location = [fault.segment, str(fault.sequence), field]
            if fault.component is not None:
                location += ["1", str(fault.component)]
            answer.append(f"ERR||{'^'.join(location)}|{code}^{escaped(fault.text)}^HL70357|E")
    return "\r".join(answer) + "\r"
