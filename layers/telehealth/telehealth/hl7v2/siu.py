"""Scheduling messages out: `SIU^S12` (a visit booked), `S13` (rescheduled), `S14` (changed) and
`S15` (cancelled), as a health system's scheduling interface takes them (HL7 v2.5.1, chapter 10):
MSH, SCH (the platform's appointment id as the filler's, its timing, its status), PID, RGS, AIS
(the service), AIP (the clinician) and AIL (the visit's place: video). What the message names is
the health system's business (a BAA covers it): it goes only to the endpoint the system
registered, on the egress path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from telehealth.hl7v2 import escaped, header, when
from telehealth.hl7v2.adt import HospitalId

VERSION = "2.5.1"


class SiuEvent(StrEnum):
    BOOKED = "S12"
    RESCHEDULED = "S13"
    CHANGED = "S14"
    CANCELLED = "S15"


# SCH-25, the filler's status (HL7 table 0278), after each event; SCH-6's event reason when none
# is given (required from v2.5); the resource segments' action code (table 0206).
_STATUS = {
    SiuEvent.BOOKED: "Booked",
    SiuEvent.RESCHEDULED: "Booked",
    SiuEvent.CHANGED: "Booked",
    SiuEvent.CANCELLED: "Cancelled",
}
_REASON = {
    SiuEvent.BOOKED: "Booked by the patient or the clinic",
    SiuEvent.RESCHEDULED: "Rescheduled",
    SiuEvent.CHANGED: "Changed",
    SiuEvent.CANCELLED: "Cancelled",
}
_ACTION = {SiuEvent.BOOKED: "A", SiuEvent.RESCHEDULED: "U", SiuEvent.CHANGED: "U", SiuEvent.CANCELLED: "D"}


@dataclass(frozen=True)
class SiuVisit:
    """What a scheduling message says of a visit: the appointment, its service, the patient as the
    health system knows them (its identifiers first), and the clinician."""

    appointment_id: str
    start: datetime
    end: datetime
    service_code: str  # SNOMED CT, as the clinic's services are coded
    service_display: str
    patient_ids: tuple[HospitalId, ...]
    family_name: str
    given_name: str
    birth_date: date
    sex: str  # HL7 table 0001
    clinician_id: str
    clinician_family_name: str
    clinician_given_name: str


def siu_message(
    event: SiuEvent,
    visit: SiuVisit,
    *,
    receiver: tuple[str, str],
    control_id: str,
    now: datetime,
    reason: str = "",
) -> str:
    """The message, segments ending in carriage returns. `receiver`: the health system's
    application and facility (MSH-5, MSH-6), as it registered them; `reason`: why it was
    rescheduled or cancelled (SCH-6), in words."""
    minutes = int((visit.end - visit.start).total_seconds() // 60)
    action = _ACTION[event]
    ids = "~".join(
        f"{escaped(i.value)}^^^{escaped(i.authority)}^{escaped(i.kind)}" for i in visit.patient_ids
    )
    segments = [
        header(f"SIU^{event.value}^SIU_S12", receiver, control_id, now, version=VERSION),
        "|".join(
            [
                "SCH",
                "",  # SCH-1: the placer's id (a visit booked here has none)
                escaped(visit.appointment_id),  # SCH-2: the filler's, the platform's
                "",
                "",
                "",
                f"{event.value}^{escaped(reason or _REASON[event])}",  # SCH-6: the event's reason
                f"{escaped(visit.service_code)}^{escaped(visit.service_display)}^SCT",  # SCH-7
                "VIDEO^Video visit",  # SCH-8: the appointment's type
                str(minutes),  # SCH-9 and SCH-10: its length
                "min",
                f"^^M{minutes}^{when(visit.start)}^{when(visit.end)}",  # SCH-11: the timing (TQ)
                *[""] * 13,  # SCH-12 to SCH-24
                _STATUS[event],  # SCH-25
            ]
        ),
        "|".join(
            [
                "PID",
                "1",
                "",
                ids,
                "",
                f"{escaped(visit.family_name)}^{escaped(visit.given_name)}",
                "",
                visit.birth_date.strftime("%Y%m%d"),
                escaped(visit.sex),
            ]
        ),
        f"RGS|1|{action}",
        "|".join(["AIS", "1", action, f"{escaped(visit.service_code)}^{escaped(visit.service_display)}^SCT"]),
        f"AIL|1|{action}|VIDEO^^^TELEHEALTH",  # the resources group's order: AIS, AIG, AIL, AIP
        "|".join(
            [
                "AIP",
                "1",
                action,
                f"{escaped(visit.clinician_id)}^{escaped(visit.clinician_family_name)}"
                f"^{escaped(visit.clinician_given_name)}",
                "",  # AIP-4: the resource's type
                "",  # AIP-5: its group
                when(visit.start),  # AIP-6
                "",
                "",
                str(minutes),
                "min",
            ]
        ),
    ]
    return "\r".join(segments) + "\r"
