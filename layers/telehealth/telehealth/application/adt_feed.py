"""A health system's ADT feed over HTTPS: each message applied to the clinic's patients, and
answered with its acknowledgment.

`A04` registers a patient, or updates the one their MRN names (hospitals send A04 at each
outpatient registration, so a patient on file is the usual case); `A08` updates a patient on
file; `A40` merges the patient of MRG-1 (retired) into the one of PID-3 (the survivor). Each is
the same change as the FHIR facade's Patient writes make (`PatientRecords`), audited as the
feed's client, and idempotent: a message sent again changes nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller
from telehealth.application.patients import MrnChangedError, PatientMerges, PatientRecords
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.patients import MergeRefusedError
from telehealth.fhir.projection import PatientProfile
from telehealth.hl7v2.adt import (
    AdtEvent,
    AdtMessage,
    AdtRefusedError,
    ErrorCode,
    Fault,
    acknowledgment,
    medical_record_number,
    read_adt,
    registered,
)
from telehealth.ports import StaleWriteError

_INTERACTIONS = {AdtEvent.REGISTER: Interaction.CREATE, AdtEvent.UPDATE: Interaction.UPDATE}


class AcknowledgmentLog(Protocol):
    """The ACKs given, by the message (its client, sender and control id), kept for a while."""

    def acknowledgment(self, message_key: str) -> tuple[str, str] | None:
        """The code and the ACK the message was answered with, if it was."""
        ...

    def keep_acknowledgment(self, message_key: str, code: str, ack: str) -> None: ...


@dataclass(frozen=True)
class Acknowledged:
    """The ACK to send back: `AA`, or `AE` (fix the message) or `AR` (send it again later, or
    not at all: the text says which)."""

    code: Literal["AA", "AE", "AR"]
    body: str


class AdtFeed:
    def __init__(
        self,
        patients: PatientRecords,
        merges: PatientMerges,
        trail: AuditTrail,
        clock: Callable[[], datetime],
        mrn_system: str,
        log: AcknowledgmentLog,
    ) -> None:
        self.patients, self.merges, self.trail, self.clock = patients, merges, trail, clock
        self.mrn_system, self.log = mrn_system, log

    def receive(self, caller: Caller, raw: str | bytes) -> Acknowledged:
        """The message applied and acknowledged `AA`, or refused (`AE`, `AR`) with nothing changed
        and the attempt audited. A store that fails mid-way raises (a 5xx the engine retries)."""
        caller.require(Actor.MACHINE)
        now = self.clock()
        interaction = Interaction.UPDATE
        key: str | None = None
        try:
            message = read_adt(raw)
            # A message is known by its sender's control id (MSH-10): sent again (an engine that
            # lost the answer), it gets the first answer and changes nothing, even after a merge
            # it made was undone.
            key = f"{caller.subject}#{message.sender}#{message.control_id}"
            first = self.log.acknowledgment(key)
            if first is not None:
                code, body = first
                return Acknowledged("AE" if code == "AE" else "AA", body)
            interaction = _INTERACTIONS.get(message.event, Interaction.UPDATE)
            self._apply(caller, message, now)
        except AdtRefusedError as refused:
            self.trail.failed(caller, interaction, refused)
            answer = self._acknowledged(raw, refused.ack_code, now, refused.fault)
            if key is not None and refused.ack_code == "AE":  # an AR may be sent again and taken
                self.log.keep_acknowledgment(key, answer.code, answer.body)
            return answer
        answer = self._acknowledged(raw, "AA", now)
        if key is not None:
            self.log.keep_acknowledgment(key, answer.code, answer.body)
        return answer

    def _apply(self, caller: Caller, message: AdtMessage, now: datetime) -> None:
        if message.event is AdtEvent.MERGE:
            self._merge(caller, message)
            return
        wanted = registered(message.patient, now.date())
        found = self.patients.by_mrn(self.mrn_system, wanted.mrn)
        if found is not None and found.merged_into is not None:
            raise _retired("PID", 3)
        try:
            if found is not None:
                self.patients.update_registered(caller, found.patient_id, wanted, self.mrn_system, None)
            elif message.event is AdtEvent.REGISTER:
                self.patients.register(caller, wanted, self.mrn_system)
            else:
                raise AdtRefusedError(
                    "AE",
                    Fault(
                        "PID", 3, ErrorCode.UNKNOWN_KEY, "No patient has this MRN: register them (A04) first."
                    ),
                )
        except (StaleWriteError, MrnChangedError):
            # A registration of the same MRN raced this one: the engine sends it again.
            raise AdtRefusedError(
                "AR",
                Fault("PID", 3, ErrorCode.INTERNAL, "The patient changed meanwhile: send the message again."),
                status=409,
            ) from None

    def _merge(self, caller: Caller, message: AdtMessage) -> None:
        survivor = self._on_file(medical_record_number(message.patient.identifiers), "PID", 3)
        retired = self._on_file(medical_record_number(message.retired), "MRG", 1)
        try:
            self.merges.merge(caller, survivor.patient_id, retired.patient_id)
        except MergeRefusedError as refused:
            if refused.code == "visit-under-way":
                raise AdtRefusedError(
                    "AR", Fault("MRG", 1, ErrorCode.INTERNAL, str(refused)), status=409
                ) from None
            raise AdtRefusedError("AE", Fault("MRG", 1, ErrorCode.DUPLICATE_KEY, str(refused))) from None
        except StaleWriteError:
            raise AdtRefusedError(
                "AR",
                Fault("MRG", 1, ErrorCode.INTERNAL, "A record changed meanwhile: send the message again."),
                status=409,
            ) from None

    def _on_file(self, mrn: str, segment: str, field: int) -> PatientProfile:
        found = self.patients.by_mrn(self.mrn_system, mrn)
        if found is None:
            raise AdtRefusedError(
                "AE",
                Fault(segment, field, ErrorCode.UNKNOWN_KEY, f"No patient has this MRN ({segment}-{field})."),
            )
        if found.merged_into is not None and segment == "PID":
            raise _retired(segment, field)
        return found

    def _acknowledged(
        self,
        raw: str | bytes,
        code: Literal["AA", "AE", "AR"],
        now: datetime,
        fault: Fault | None = None,
    ) -> Acknowledged:
        # The ACK's own control id: unique, and no more than MSH-10's 20 characters.
        body = acknowledgment(raw, code, fault, now=now, control_id=uuid.uuid4().hex[:20])
        return Acknowledged(code, body)


def _retired(segment: str, field: int) -> AdtRefusedError:
    return AdtRefusedError(
        "AE",
        Fault(
            segment,
            field,
            ErrorCode.UNKNOWN_KEY,
            f"This MRN was retired by a merge: send the surviving patient's ({segment}-{field}).",
        ),
    )
