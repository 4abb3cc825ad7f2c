"""Patients' own records: enrolment when they sign up, and the details they keep themselves.

A patient who confirms their sign-up is enrolled at once (the patient pool's post-confirmation
trigger): a Patient record with their e-mail alone, so every request they make from then on names
an agent the clinical record has. Their name, date of birth, home state and time zone they give in
the portal before they book (`check_details_complete` in the booking). Should the trigger have
failed, their first save of those details enrols them instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotFoundError
from telehealth.domain.appointments import Actor, Appointment
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.patients import (
    MergeRefusedError,
    PatientDetails,
    PatientMerge,
    RegisteredPatient,
    check_merge,
)
from telehealth.fhir import projection
from telehealth.fhir.projection import PatientProfile
from telehealth.ports import IdempotencyClaim, MrnTakenError, OutboxEntry, StaleWriteError

MAX_FOUND = 20  # more than this many of one last name and birth date: narrow by first name
MAX_MERGE_CHAIN = 5  # records merged into records merged into others, followed this far
MAX_MERGES_LISTED = 50


class PatientStore(Protocol):
    def patient(self, patient_id: str) -> PatientProfile | None: ...

    def merged_into(self, patient_id: str) -> str | None: ...

    def patients_named(self, family_name: str, birth_date: date) -> list[PatientProfile]: ...

    def save_patient(self, profile: PatientProfile, outbox: list[OutboxEntry]) -> None:
        """Raises StaleWriteError unless the version on file is the one before `profile`'s."""
        ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...

    def patient_by_mrn(self, system: str, mrn: str) -> PatientProfile | None: ...

    def save_registered_patient(
        self, profile: PatientProfile, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        """As `save_patient`, holding the profile's MRN for it (MrnTakenError: another has it),
        with the request's Idempotency-Key record in the same transaction."""
        ...


class PatientRecords:
    def __init__(self, store: PatientStore, trail: AuditTrail, clock: Callable[[], datetime]) -> None:
        self.store, self.trail, self.clock = store, trail, clock

    def enrol(self, patient_id: str, email: str | None) -> PatientProfile:
        """The patient's record, from their confirmed sign-up. Cognito may call twice for one
        confirmation (a retry after a timeout), and also after a password reset: a patient on
        file is left as they are."""
        found = self.store.patient(patient_id)
        if found is not None:
            return found
        profile = PatientProfile(patient_id, email=email)
        try:
            self._save(profile, Interaction.CREATE)
        except StaleWriteError:  # a twin invocation enrolled them first
            return self.store.patient(patient_id) or profile
        return profile

    def details(self, caller: Caller) -> PatientProfile:
        with self.trail.request(caller, Interaction.READ):
            caller.require(Actor.PATIENT)
            profile = self.store.patient(caller.subject)
            if profile is None:
                raise NotFoundError("You have no record at this clinic yet: save your details to start one.")
            self.store.record([self._audit(profile, Interaction.READ)])
            return profile

    def update_details(
        self, caller: Caller, details: PatientDetails, expected_version: int
    ) -> PatientProfile:
        """The patient's details at their next version, if `expected_version` is the one on file
        (0: none yet); otherwise StaleWriteError, and nothing changes."""
        with self.trail.request(caller, Interaction.UPDATE):
            caller.require(Actor.PATIENT)
            before = self.store.patient(caller.subject)
            if expected_version != (before.version if before else 0):
                raise StaleWriteError("your details changed meanwhile")
            after = replace(
                before or PatientProfile(caller.subject),
                given_name=details.given_name,
                family_name=details.family_name,
                birth_date=details.birth_date,
                home_state=details.home_state,
                zone=details.zone,
                phone=details.phone,
                version=expected_version + 1,
            )
            self._save(after, Interaction.UPDATE if before else Interaction.CREATE)
            return after

    def find(
        self, caller: Caller, family_name: str, birth_date: date, given_name: str | None = None
    ) -> list[PatientProfile]:
        """Staff finding the patient they book for: by last name and date of birth, narrowed by
        the first name's start when given. One AuditEvent names every patient found (none, too)."""
        with self.trail.request(caller, Interaction.SEARCH):
            caller.require(Actor.STAFF)
            found = self.store.patients_named(family_name, birth_date)
            if given_name:
                start = given_name.strip().casefold()
                found = [p for p in found if (p.given_name or "").casefold().startswith(start)]
            found = sorted(found, key=lambda p: ((p.given_name or "").casefold(), p.patient_id))[:MAX_FOUND]
            read = [f"Patient/{p.patient_id}" for p in found]
            self.store.record(
                self.trail.entries(self.trail.agent(caller), Interaction.SEARCH, read, self.clock())
            )
            return found

    # --- a health system's registrations (the FHIR facade's Patient writes) -----------------------

    def register(
        self,
        caller: Caller,
        registered: RegisteredPatient,
        mrn_system: str,
        claim_of: Callable[[PatientProfile], IdempotencyClaim | None] = lambda _: None,
    ) -> tuple[PatientProfile, bool]:
        """The patient the health system's MRN names: the one on file (and False), or a new
        record (and True). Two registrations of one MRN at once make one patient: the loser of
        the race reads the winner's. `claim_of`: the Idempotency-Key record a new registration
        commits with."""
        caller.require(Actor.MACHINE)
        found = self.store.patient_by_mrn(mrn_system, registered.mrn)
        if found is not None:
            self.store.record([self._audit_by(caller, found, Interaction.READ)])
            return found, False
        profile = _registered(PatientProfile(str(uuid.uuid4())), registered, mrn_system, version=1)
        try:
            outbox = self._outbox(caller, profile, Interaction.CREATE)
            self.store.save_registered_patient(profile, outbox, claim_of(profile))
        except MrnTakenError:
            winner = self.store.patient_by_mrn(mrn_system, registered.mrn)
            if winner is None:  # the winner's write is not readable yet: the client may retry
                raise StaleWriteError("another registration of this MRN is in progress") from None
            return winner, False
        return profile, True

    def update_registered(
        self,
        caller: Caller,
        patient_id: str,
        registered: RegisteredPatient,
        mrn_system: str,
        if_match: int | None,
    ) -> PatientProfile:
        """The health system's update of a patient on file: NotFoundError when there is none,
        StaleWriteError when `if_match` is not the version on file, MrnChangedError when the
        MRN is not theirs (a patient enrolled in the portal takes the MRN given, if free)."""
        caller.require(Actor.MACHINE)
        before = self.store.patient(patient_id)
        if before is None:
            raise NotFoundError("No such patient.")
        if if_match is not None and if_match != before.version:
            raise StaleWriteError("the patient changed since that version")
        if before.mrn is not None and (before.mrn, before.mrn_system) != (registered.mrn, mrn_system):
            raise MrnChangedError("A patient's MRN does not change.")
        after = _registered(before, registered, mrn_system, version=before.version + 1)
        if replace(after, version=before.version) == before:  # sent again as it was: no new version
            self.store.record([self._audit_by(caller, before, Interaction.UPDATE)])
            return before
        try:
            self.store.save_registered_patient(after, self._outbox(caller, after, Interaction.UPDATE))
        except MrnTakenError as error:
            raise MrnChangedError("Another patient holds this MRN.") from error
        return after

    def by_mrn(self, mrn_system: str, mrn: str) -> PatientProfile | None:
        """The patient the MRN names (unaudited: the caller audits what it answers with)."""
        return self.store.patient_by_mrn(mrn_system, mrn)

    def account_holder(self, subject: str) -> str:
        """The patient a portal account acts as: its own record, or the one that record was
        merged into (and so on: a survivor may itself be merged later)."""
        patient_id = subject
        for _ in range(MAX_MERGE_CHAIN):
            survivor = self.store.merged_into(patient_id)
            if survivor is None:
                return patient_id
            patient_id = survivor
        return patient_id

    def _outbox(self, caller: Caller, profile: PatientProfile, interaction: Interaction) -> list[OutboxEntry]:
        return [
            OutboxEntry(projection.patient(profile), profile.version),
            self._audit_by(caller, profile, interaction),
        ]

    def _audit_by(self, caller: Caller, profile: PatientProfile, interaction: Interaction) -> OutboxEntry:
        reference = f"Patient/{profile.patient_id}"
        return self.trail.entry(self.trail.agent(caller), interaction, [reference], self.clock())

    def _save(self, profile: PatientProfile, interaction: Interaction) -> None:
        outbox = [
            OutboxEntry(projection.patient(profile), profile.version),
            self._audit(profile, interaction),
        ]
        self.store.save_patient(profile, outbox)

    def _audit(self, profile: PatientProfile, interaction: Interaction) -> OutboxEntry:
        # The patient is the agent of their own record's every change: their sign-up, their edits.
        reference = f"Patient/{profile.patient_id}"
        return self.trail.entry(reference, interaction, [reference], self.clock())


# --- merges: one person's two records made one (the health system's ADT A40) ----------------------


class MergeStore(Protocol):
    def patient(self, patient_id: str) -> PatientProfile | None: ...

    def appointment(self, appointment_id: str) -> Appointment | None: ...

    def appointments_of_patient(self, patient_id: str) -> list[Appointment]: ...

    def merge_patients(
        self,
        retired: PatientProfile,
        survivor: PatientProfile,
        merge: PatientMerge,
        outbox: list[OutboxEntry],
    ) -> None: ...

    def undo_merge(
        self,
        retired: PatientProfile,
        survivor: PatientProfile,
        merge: PatientMerge,
        outbox: list[OutboxEntry],
    ) -> None: ...

    def merge(self, retired_id: str) -> PatientMerge | None: ...

    def merges(self, limit: int) -> list[PatientMerge]: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


class AppointmentHandover(Protocol):
    def hand_over(self, appointments: Sequence[Appointment], patient_id: str) -> list[Appointment]: ...


@dataclass(frozen=True)
class MergeListing:
    """A merge in force as staff see it, with both records."""

    merge: PatientMerge
    retired: PatientProfile
    survivor: PatientProfile


class PatientMerges:
    """The retired record stays, inactive, linked `replaced-by` to the survivor (linked back
    `replaces`); its appointments move to the survivor, and its portal account acts as the
    survivor (`PatientRecords.account_holder`). Staff undo a merge: the records are unlinked and
    the appointments the merge moved go back."""

    def __init__(
        self,
        store: MergeStore,
        appointments: AppointmentHandover,
        trail: AuditTrail,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.appointments, self.trail, self.clock = store, appointments, trail, clock

    def merge(self, caller: Caller, survivor_id: str, retired_id: str) -> PatientMerge:
        """The health system's merge, audited; a merge sent again finishes what the first left
        undone (its appointments' moves) and changes nothing else. MergeRefusedError: a rule
        says no, or a visit of the retired patient may be under way (send it again later)."""
        caller.require(Actor.MACHINE)
        retired, survivor = self._both(retired_id, survivor_id)
        check_merge(retired_id, retired.merged_into, survivor_id, survivor.merged_into)
        now = self.clock()
        left = self.store.appointments_of_patient(retired_id)
        if any(a.may_be_under_way(now) for a in left):
            raise MergeRefusedError(
                "visit-under-way", "A visit of the retired patient may be under way: send the merge after it."
            )
        agent = self.trail.agent(caller)
        touched = [
            f"Patient/{retired_id}",
            f"Patient/{survivor_id}",
            *(f"Appointment/{a.appointment_id}" for a in left),
        ]
        audit = self.trail.entries(agent, Interaction.UPDATE, touched, now)
        if retired.merged_into == survivor_id:  # sent again
            merge = self.store.merge(retired_id)
            self.store.record(audit)
        else:
            merge = PatientMerge(
                retired_id,
                survivor_id,
                now,
                agent,
                tuple(a.appointment_id for a in left),
                copied_email=retired.email if not survivor.email else None,
                copied_phone=retired.phone if not survivor.phone else None,
            )
            retired_after = replace(retired, merged_into=survivor_id, version=retired.version + 1)
            survivor_after = replace(
                survivor,
                replaces=(*survivor.replaces, retired_id),
                email=survivor.email or merge.copied_email,
                phone=survivor.phone or merge.copied_phone,
                version=survivor.version + 1,
            )
            outbox = [*self._projected(retired_after, survivor_after), *audit]
            self.store.merge_patients(retired_after, survivor_after, merge, outbox)
        self.appointments.hand_over(left, survivor_id)
        return merge or PatientMerge(retired_id, survivor_id, now, agent)

    def undo(self, caller: Caller, retired_id: str) -> PatientMerge:
        """Staff's undoing of a merge in force: both records as they were (each at a new
        version), and the appointments the merge moved back to the retired record (those still
        the survivor's). NotFoundError: no such merge in force."""
        with self.trail.request(caller, Interaction.UPDATE):
            caller.require(Actor.STAFF)
            merge = self.store.merge(retired_id)
            if merge is None:
                raise NotFoundError("No merge of this patient is in force.")
            retired, survivor = self._both(retired_id, merge.survivor_id)
            now = self.clock()
            back = [
                a
                for a in (self.store.appointment(i) for i in merge.moved)
                if a is not None and a.patient_id == merge.survivor_id
            ]
            if any(a.may_be_under_way(now) for a in back):
                raise MergeRefusedError(
                    "visit-under-way", "A visit the merge moved may be under way: undo the merge after it."
                )
            retired_after = replace(retired, merged_into=None, version=retired.version + 1)
            survivor_after = replace(
                survivor,
                replaces=tuple(r for r in survivor.replaces if r != retired_id),
                # What the merge copied goes back, unless it was changed since.
                email=None if merge.copied_email and survivor.email == merge.copied_email else survivor.email,
                phone=None if merge.copied_phone and survivor.phone == merge.copied_phone else survivor.phone,
                version=survivor.version + 1,
            )
            touched = [
                f"Patient/{retired_id}",
                f"Patient/{merge.survivor_id}",
                *(f"Appointment/{a.appointment_id}" for a in back),
            ]
            outbox = [
                *self._projected(retired_after, survivor_after),
                *self.trail.entries(self.trail.agent(caller), Interaction.UPDATE, touched, now),
            ]
            # The appointments first: should a move fail, the merge is still in force and staff
            # can undo it again, which moves what is left and then parts the records.
            self.appointments.hand_over(back, retired_id)
            self.store.undo_merge(retired_after, survivor_after, merge, outbox)
            return merge

    def in_force(self, caller: Caller) -> list[MergeListing]:
        """The merges in force, newest first, for staff to review (and undo); audited as a read
        of every record listed."""
        with self.trail.request(caller, Interaction.SEARCH):
            caller.require(Actor.STAFF)
            listed = []
            for merge in self.store.merges(MAX_MERGES_LISTED):
                retired, survivor = (
                    self.store.patient(merge.retired_id),
                    self.store.patient(merge.survivor_id),
                )
                if retired is not None and survivor is not None:
                    listed.append(MergeListing(merge, retired, survivor))
            read = [f"Patient/{p.patient_id}" for m in listed for p in (m.retired, m.survivor)]
            self.store.record(
                self.trail.entries(self.trail.agent(caller), Interaction.SEARCH, read, self.clock())
            )
            return listed

    def _both(self, retired_id: str, survivor_id: str) -> tuple[PatientProfile, PatientProfile]:
        retired, survivor = self.store.patient(retired_id), self.store.patient(survivor_id)
        if retired is None or survivor is None:
            raise NotFoundError("No such patient.")
        return retired, survivor

    @staticmethod
    def _projected(*profiles: PatientProfile) -> list[OutboxEntry]:
        return [OutboxEntry(projection.patient(p), p.version) for p in profiles]


class MrnChangedError(Exception):
    """An update would give a patient an MRN that is not theirs (422)."""


def _registered(
    before: PatientProfile, registered: RegisteredPatient, mrn_system: str, *, version: int
) -> PatientProfile:
    """The profile with what the health system registered; the patient's own e-mail and time zone
    (from the portal) stay unless the health system gives an e-mail."""
    return replace(
        before,
        given_name=registered.given_name,
        family_name=registered.family_name,
        birth_date=registered.birth_date,
        home_state=registered.home_state,
        zone=before.zone or registered.zone,
        phone=registered.phone or before.phone,
        email=registered.email or before.email,
        gender=registered.gender,
        mrn_system=mrn_system,
        mrn=registered.mrn,
        version=version,
    )
