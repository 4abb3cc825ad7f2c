"""Rebuilding a tenant's clinical record (its FHIR store) from the table.

HealthLake has no point-in-time restore. The table is the source of truth (and is backed up), so a
lost or corrupted data store is replaced, and the new one is filled by re-projecting every
resource the table implies, with the projection functions the use cases use, each at the source
version its use case gave it; AuditEvents come from the audit archive (outbox entries of audit
events expire, the archive keeps them six years). Every write goes through
`RecordProjector.deliver` (under the resource's lease, read, compare source versions, If-Match), so
a rebuild never rolls a resource back, and a rebuild into a store that has everything writes
nothing.

What the table's state keeps, type by type, and what it does not:

- Practitioner, Schedule: the provider's profile and credentials, at the profile's version.
- Patient: the patient's profile, at its version.
- ServiceRequest: a health system's referral, at its version (booked, its next).
- Practitioner (staff, admins: `user-<sub>`), Device (machine clients, media workers): in no
  table item; derived from the archived AuditEvents that name them as agents, at version 1.
- Appointment: the appointment at its version; its slot is the provider's slot at its start; its
  service coded as the clinic's services code it when the rebuild runs (as the live path codes it).
- Consent: the two decisions of the appointment's first check-in, at version 1 (their ids carry no
  appointment version: a moved visit checked in again finds them recorded and changes nothing).
- RelatedPerson: the emergency contact each check-in gave, at version 1 (one per check-in: its id
  carries the appointment version). A store filled before check-ins projected it gets it here.
- Slot: one per provider and start an appointment ever held, which the appointments give: busy
  while one holds it (booked, fulfilled, a no-show, or cancelled by the lifecycle, which keeps its
  cells), free once its appointment was cancelled. Its version is the time of the change, which
  the table does not keep, except that of a booking (in the appointment's id). Slots a reschedule
  left are in no appointment.
- Encounter: the visit. A closed visit's last projection was its closing (only the recording's
  steps change it after that, and they are counted back). An open visit's revision also counts
  changes that projected nothing (join links, one party joining, recording), so which revision
  was projected is not kept; nor what a visit sent back to the waiting room had been admitted to.
- MedicationRequest, MedicationDispense, Organization (the pharmacy): each prescription that
  reached the network, as it stands.
- Observation: the visit's estimates; a preliminary one at revision 1, the first reviewed at 2;
  which of two reviewed estimates was reviewed first is not kept.

Where the state does not say, the resource's newest outbox entry does while the table keeps it (a
pending entry until it is delivered, a delivered one 30 days): it is what was projected. It is
used when its content is what the state implies (then only the version was in doubt; an entry
with other content is stale), and as it is where the state cannot say the content either (an open
visit's Encounter, a slot a reschedule left). Otherwise the version is estimated (`estimated` in
the report): for a slot, the booking's time (never later than the change it stands for, so no
later change loses to it); for a visit or estimates, the revision the table holds (never earlier
than the last projection).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any, Protocol

from telehealth.application.notes import TITLE as NOTE_TITLE
from telehealth.application.record import (
    DestinationUnavailableError,
    FhirStore,
    RecordProjector,
    RecordRejectedError,
)
from telehealth.domain.appointments import Appointment, AppointmentStatus
from telehealth.domain.charges import VisitCharge
from telehealth.domain.clinic_settings import Service, coding_of
from telehealth.domain.coverage import PatientCoverage
from telehealth.domain.ids import id_millis
from telehealth.domain.medical_history import MedicalHistory
from telehealth.domain.monitoring import Alert
from telehealth.domain.monitoring_alerts import Tier
from telehealth.domain.notes import ClinicalNote
from telehealth.domain.prescriptions import Prescription
from telehealth.domain.referrals import Referral
from telehealth.domain.scheduling import slot_id
from telehealth.domain.visits import PARTIES, CheckIn, Visit, VisitState
from telehealth.domain.vitals import ReadingStatus
from telehealth.fhir import audit, medical_history, projection
from telehealth.fhir import monitoring as monitoring_record
from telehealth.fhir import notes as clinical_notes
from telehealth.fhir import prescriptions as prescriptions_record
from telehealth.fhir.projection import PatientProfile
from telehealth.ports import (
    FhirStoreError,
    OutboxEntry,
    ProviderRecord,
    ResourceBusyError,
    StoredCheckIn,
    StoredOutboxEntry,
    StoredVisit,
    StoredVitals,
    TableRecord,
)
from telehealth.ports.admin import ClinicRulesSource

SEGMENTS = 4  # parallel scan segments
WORKERS = 8  # FHIR writes in flight: HealthLake's request quotas are per data store
BATCH = 2000  # entries delivered per round (audit events stream from the archive in batches)
SEARCH_IDS = 100  # ids per search of what the store has already
ROUNDS = 5  # tries for an entry whose store was unavailable or whose resource was busy

_AGAIN = ("unavailable", "busy")  # outcomes an entry is tried again after

# How a rebuilt resource's source version was settled.
TABLE, OUTBOX, ESTIMATED, ARCHIVE = "table", "outbox", "estimated", "archive"


class RecordSource(Protocol):
    def records(self, segment: int, segments: int) -> Iterator[TableRecord]: ...


class ArchivedAudits(Protocol):
    def kept(self) -> Iterator[dict[str, Any]]: ...


class Leases(Protocol):
    def lease(self, reference: str) -> AbstractContextManager[None]: ...


class SearchableStore(FhirStore, Protocol):
    def search(
        self, resource_type: str, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]: ...


# --- what the table holds ---------------------------------------------------------------------------


@dataclass
class TableImage:
    """The table's records the record is projected from, with the newest outbox entry (delivered
    or pending; parked ones never reached the record) of each FHIR resource but AuditEvents."""

    providers: list[ProviderRecord] = field(default_factory=list)
    patients: list[PatientProfile] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    check_ins: dict[tuple[str, int], CheckIn] = field(default_factory=dict)
    visits: dict[tuple[str, int], StoredVisit] = field(default_factory=dict)
    vitals: dict[tuple[str, int], StoredVitals] = field(default_factory=dict)
    coverages: list[PatientCoverage] = field(default_factory=list)
    charges: list[VisitCharge] = field(default_factory=list)
    notes: list[ClinicalNote] = field(default_factory=list)
    histories: list[MedicalHistory] = field(default_factory=list)
    prescriptions: list[Prescription] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    projected: dict[str, OutboxEntry] = field(default_factory=dict)
    records: int = 0

    def add(self, record: TableRecord) -> None:
        self.records += 1
        if isinstance(record, ProviderRecord):
            self.providers.append(record)
        elif isinstance(record, PatientProfile):
            self.patients.append(record)
        elif isinstance(record, Referral):
            self.referrals.append(record)
        elif isinstance(record, Appointment):
            self.appointments[record.appointment_id] = record
        elif isinstance(record, StoredCheckIn):
            self.check_ins[(record.check_in.appointment_id, record.version)] = record.check_in
        elif isinstance(record, StoredVisit):
            self.visits[(record.visit.appointment_id, record.visit.version)] = record
        elif isinstance(record, StoredVitals):
            self.vitals[(record.vitals.appointment_id, record.vitals.version)] = record
        elif isinstance(record, PatientCoverage):
            self.coverages.append(record)
        elif isinstance(record, VisitCharge):
            self.charges.append(record)
        elif isinstance(record, ClinicalNote):
            self.notes.append(record)
        elif isinstance(record, MedicalHistory):
            self.histories.append(record)
        elif isinstance(record, Prescription):
            self.prescriptions.append(record)
        elif isinstance(record, Alert):
            self.alerts.append(record)
        elif isinstance(record, StoredOutboxEntry):
            self._projected(record)

    def _projected(self, stored: StoredOutboxEntry) -> None:
        entry = stored.entry
        if entry.destination != "fhir" or stored.status == "rejected":
            return
        if entry.resource.get("resourceType") == "AuditEvent":
            return
        newest = self.projected.get(entry.reference)
        if newest is None or newest.source_version < entry.source_version:
            self.projected[entry.reference] = entry

    def merge(self, other: TableImage) -> None:
        self.records += other.records
        self.providers += other.providers
        self.patients += other.patients
        self.referrals += other.referrals
        self.appointments |= other.appointments
        self.check_ins |= other.check_ins
        self.visits |= other.visits
        self.vitals |= other.vitals
        self.coverages += other.coverages
        self.charges += other.charges
        self.notes += other.notes
        self.histories += other.histories
        self.prescriptions += other.prescriptions
        self.alerts += other.alerts
        for reference, entry in other.projected.items():
            newest = self.projected.get(reference)
            if newest is None or newest.source_version < entry.source_version:
                self.projected[reference] = entry


def read_table(source: RecordSource, segments: int = SEGMENTS) -> TableImage:
    """The whole table, its scan's segments read side by side."""

    def segment(number: int) -> TableImage:
        image = TableImage()
        for record in source.records(number, segments):
            image.add(record)
        return image

    whole = TableImage()
    with ThreadPoolExecutor(segments, thread_name_prefix="scan") as pool:
        for part in pool.map(segment, range(segments)):
            whole.merge(part)
    return whole


# --- what the table implies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rebuilt:
    entry: OutboxEntry
    basis: str  # table, outbox, estimated (see the module's docstring) or archive


def _booked_at(appointment: Appointment) -> int:
    """The booking's time in milliseconds (a slot's version): the booking made the id then."""
    return id_millis(appointment.appointment_id) or 1


class Projection:
    """Every FHIR resource the table implies, each with its source version settled. `services`:
    the clinic's services as they stand, which code each Appointment's service as the live path
    codes it (read once per rebuild, so every Appointment is coded alike)."""

    def __init__(self, image: TableImage, services: Mapping[str, Service]) -> None:
        self.image, self.services = image, services

    def __iter__(self) -> Iterator[Rebuilt]:
        yield from self._people()
        for record in self.image.appointments.values():
            coding = coding_of(record.service_type, self.services)
            resource = projection.appointment(record, slot_id(record.provider_id, record.start), coding)
            yield self._settled(resource, record.version, exact=True)
        yield from self._slots()
        yield from self._consents()
        yield from self._emergency_contacts()
        yield from self._encounters()
        yield from self._observations()
        yield from self._money()
        yield from self._notes()
        yield from self._histories()
        yield from self._prescriptions()
        yield from self._alerts()

    def _settled(
        self, resource: dict[str, Any], version: int, *, exact: bool, content_known: bool = True
    ) -> Rebuilt:
        """At `version`, what the state says (`exact`) or an estimate, unless the resource's newest
        outbox entry says what was projected: when it has the content the state implies (the
        state moved the version on without projecting, or cannot say which version), or whatever
        its content when the state cannot say that either. An entry with other content than the
        state's, where the state knows it, is stale."""
        last = self.image.projected.get(f"{resource['resourceType']}/{resource['id']}")
        if last is not None and (
            not content_known or projection.content_of(last.resource) == projection.content_of(resource)
        ):
            basis = TABLE if exact and last.source_version == version else OUTBOX
            return Rebuilt(last, basis)
        return Rebuilt(
            OutboxEntry(projection.with_source_version(resource, version), version),
            TABLE if exact else ESTIMATED,
        )

    def _people(self) -> Iterator[Rebuilt]:
        for record in self.image.providers:
            profile = record.profile
            yield self._settled(
                projection.practitioner(profile, record.licenses), profile.version, exact=True
            )
            yield self._settled(
                projection.schedule(profile.provider_id, profile.specialty, profile.version),
                profile.version,
                exact=True,
            )
        for patient in self.image.patients:
            yield self._settled(projection.patient(patient), patient.version, exact=True)
        for referral in self.image.referrals:
            yield self._settled(projection.service_request(referral), referral.version, exact=True)

    # --- slots ------------------------------------------------------------------------------------

    def _freed(self, appointment: Appointment) -> bool:
        """Cancelled by a cancellation, which releases the slot; the lifecycle's cancellations
        (not licensed at admission, not admitted, the provider absent) close the visit, keep the
        cells and leave the slot busy. A cancellation's visit, if any, is closed as `cancelled`."""
        if appointment.status is not AppointmentStatus.CANCELLED:
            return False
        closing = self.image.visits.get((appointment.appointment_id, appointment.version - 1))
        return closing is None or not closing.visit.state.over or closing.visit.outcome == "cancelled"

    def _slots(self) -> Iterator[Rebuilt]:
        held: dict[str, list[Appointment]] = {}
        for record in self.image.appointments.values():
            held.setdefault(slot_id(record.provider_id, record.start), []).append(record)
        for slot, appointments in held.items():
            holding = [a for a in appointments if not self._freed(a)]
            # Busy with the appointment holding it; free with the last one booked there.
            last = max(holding or appointments, key=lambda a: (_booked_at(a), a.appointment_id))
            status = AppointmentStatus.BOOKED if holding else AppointmentStatus.CANCELLED
            resource = projection.slot(slot, replace(last, status=status), 0)
            # Booked here and never moved: the booking's time is the slot's version, exactly.
            moves = last.version - 1 - (0 if last.status is AppointmentStatus.BOOKED else 1)
            yield self._settled(resource, _booked_at(last), exact=bool(holding) and moves == 0)
        for reference, entry in self.image.projected.items():
            if reference.startswith("Slot/") and reference.removeprefix("Slot/") not in held:
                yield Rebuilt(entry, OUTBOX)  # a slot a reschedule left: only its entry knows it

    # --- check-ins, visits, estimates -------------------------------------------------------------------

    def _consents(self) -> Iterator[Rebuilt]:
        first: dict[str, CheckIn] = {}
        for (appointment_id, _), check_in in sorted(self.image.check_ins.items()):
            first.setdefault(appointment_id, check_in)
        for appointment_id, check_in in first.items():
            appointment = self.image.appointments.get(appointment_id)
            if appointment is None:
                continue
            for purpose, permitted in (
                ("telehealth", check_in.consents_to_telehealth),
                ("recording", check_in.consents_to_recording),
            ):
                resource = projection.consent(
                    appointment_id, appointment.patient_id, purpose, permitted, check_in.at
                )
                yield self._settled(resource, 1, exact=True)

    def _emergency_contacts(self) -> Iterator[Rebuilt]:
        # One per check-in (per appointment version), written once with it.
        for (appointment_id, version), check_in in sorted(self.image.check_ins.items()):
            appointment = self.image.appointments.get(appointment_id)
            if appointment is not None:
                resource = projection.emergency_contact(
                    appointment_id, version, appointment.patient_id, check_in.emergency_contact
                )
                yield self._settled(resource, 1, exact=True)

    def _encounters(self) -> Iterator[Rebuilt]:
        for stored in self.image.visits.values():
            visit, revision = stored.visit, stored.revision
            if visit.state.over:
                # Closing projected it; only the recording's concatenation and its announcement
                # change the visit afterwards.
                after = bool(visit.concatenation_pipeline_id) + visit.recording_ready
                yield self._settled(projection.encounter(visit, 0), revision - after, exact=True)
            elif visit.state is VisitState.CHECKED_IN and visit.admitted_at is None:
                # Checked in and nothing since: the check-in's projection, revision 1.
                yield self._settled(
                    projection.encounter(visit, 0), 1 if revision == 1 else revision, exact=revision == 1
                )
            else:
                last = projection.encounter(_as_last_projected(visit), 0)
                yield self._settled(last, revision, exact=False, content_known=False)

    def _observations(self) -> Iterator[Rebuilt]:
        for stored in self.image.vitals.values():
            vitals, revision = stored.vitals, stored.revision
            reviewed = [r for r in vitals.readings if r.status is not ReadingStatus.PRELIMINARY]
            for reading in vitals.readings:
                resource = projection.observation(vitals, reading, 0)
                if reading.status is ReadingStatus.PRELIMINARY:
                    yield self._settled(resource, 1, exact=True)  # recorded at revision 1
                elif len(reviewed) == 1:
                    yield self._settled(resource, 2, exact=True)  # the one review, revision 2
                else:
                    yield self._settled(resource, revision, exact=False)

    # --- a patient's insurance, and what completed visits were billed as --------------------------

    def _money(self) -> Iterator[Rebuilt]:
        """The coverage and its last answer, each completed visit's charge and its invoice, as
        their records stand (each write of them projects these at the record's version)."""
        for coverage in self.image.coverages:
            yield self._settled(projection.coverage(coverage), coverage.version, exact=False)
            if coverage.check is not None:
                answer = projection.eligibility_response(coverage)
                yield self._settled(answer, coverage.version, exact=True)
        for charge in self.image.charges:
            yield self._settled(projection.charge_item(charge), 1, exact=True)  # entered once
            yield self._settled(projection.invoice(charge), charge.version, exact=True)

    def _histories(self) -> Iterator[Rebuilt]:
        """Each patient's allergies and medicines: an entry was last written at the version that
        changed it, which the item does not keep: the outbox says, else the item's version."""
        for history in self.image.histories:
            for resource in medical_history.record(history).values():
                yield self._settled(resource, history.version, exact=False)

    def _notes(self) -> Iterator[Rebuilt]:
        """Each signed note's Composition, documents (their copies as signed, kept on the note)
        and Conditions. Each was last written at the revision that changed it, which the note
        does not keep: the outbox says, else the note's revision (no later one exists)."""
        for note in self.image.notes:
            for resource in clinical_notes.record(note, NOTE_TITLE).values():
                yield self._settled(resource, note.revision, exact=False)

    def _prescriptions(self) -> Iterator[Rebuilt]:
        """Each prescription that reached the network: its MedicationRequest, its pharmacy and a
        MedicationDispense per fill, each last written at the version that changed it (the
        outbox says, else the prescription's version). One kept as it was being sent, or refused
        by the network at once, was never in the record."""
        for rx in self.image.prescriptions:
            if not rx.vendor_order_id:
                continue
            for resource in prescriptions_record.record(rx).values():
                yield self._settled(resource, rx.version, exact=False)

    def _alerts(self) -> Iterator[Rebuilt]:
        """Each urgent remote-monitoring alert's Task and Flag, at its version (the alert says
        which: raised, handed on, acknowledged)."""
        for alert in self.image.alerts:
            if alert.tier is Tier.URGENT:
                version = monitoring_record.alert_version(alert)
                yield self._settled(monitoring_record.alert_task(alert), version, exact=True)
                yield self._settled(monitoring_record.alert_flag(alert), version, exact=True)


def _as_last_projected(visit: Visit) -> Visit:
    """An open visit as it was when its Encounter was last projected: admitted (nobody had
    joined: a single join projects nothing), or in call (joined by the parties and by the guests
    who came before the call began; a guest joining later projects nothing). A visit back in
    the waiting room was last projected admitted to a meeting it no longer names: as it is."""
    if visit.state is VisitState.ADMITTED:
        return replace(visit, joined={})
    if visit.state is VisitState.IN_CALL and set(visit.joined) >= PARTIES:
        began = max(visit.joined[role] for role in PARTIES)
        return replace(visit, joined={r: t for r, t in visit.joined.items() if r in PARTIES or t <= began})
    return visit


# --- delivering it --------------------------------------------------------------------------------


class _LeasesOnly:
    """The projector's outbox, for a rebuild: the live deliverers' leases (one writer per
    resource, whichever store it writes), and no settling of outbox entries, which belong to the
    live lanes (a rebuild into a new store must not take a pending entry from the one in use)."""

    shards = 0

    def __init__(self, leases: Leases) -> None:
        self._leases = leases

    def lease(self, reference: str) -> AbstractContextManager[None]:
        return self._leases.lease(reference)

    def pending(self, destination: str, shard: int, limit: int) -> Iterator[OutboxEntry]:
        return iter(())

    def mark_delivered(self, entry: OutboxEntry) -> None:
        return None

    def mark_rejected(self, entry: OutboxEntry, codes: tuple[str, ...]) -> None:
        return None

    def retry_later(self, entry: OutboxEntry, reason: str) -> bool:
        return False


class _Nowhere:
    """Neither archive (the rebuild reads it), bus nor workflows: a rebuild writes the record only."""

    def keep(self, audit_event: dict[str, Any]) -> None:
        return None

    def publish(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        raise AssertionError("a rebuild publishes nothing")

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        raise AssertionError("a rebuild resumes nothing")

    def start_workflow(self, state_machine: str, name: str, input: dict[str, Any]) -> bool:
        raise AssertionError("a rebuild starts nothing")


@dataclass
class RebuildReport:
    resources: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, basis)
    outcomes: Counter[str] = field(default_factory=Counter)  # written, current, ...
    table_records: int = 0
    read_s: float = 0.0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return set(self.outcomes) <= {"written", "current"}


class RecordRebuild:
    def __init__(
        self,
        source: RecordSource,
        archive: ArchivedAudits,
        fhir: SearchableStore,
        leases: Leases,
        *,
        clinic: ClinicRulesSource,
        is_outage: Callable[[Exception], bool],
        workers: int = WORKERS,
        segments: int = SEGMENTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source, self.archive, self.fhir, self.clinic = source, archive, fhir, clinic
        self.workers, self.segments, self.sleep = workers, segments, sleep
        nowhere = _Nowhere()
        self.projector = RecordProjector(
            fhir, nowhere, _LeasesOnly(leases), nowhere, nowhere, clock, is_outage=is_outage
        )

    def run(self) -> RebuildReport:
        report = RebuildReport()
        started = time.perf_counter()
        image = read_table(self.source, self.segments)
        report.table_records, report.read_s = image.records, time.perf_counter() - started
        rebuilt = list(Projection(image, self.clinic.services()))
        for item in rebuilt:
            report.resources[(str(item.entry.resource["resourceType"]), item.basis)] += 1
        report.outcomes += self.deliver(item.entry for item in rebuilt)

        def archived() -> Iterator[OutboxEntry]:
            agents: set[str] = set()
            for event in self.archive.kept():
                # The agents the trail keeps (staff, machine clients, workers) come back with the
                # events that name them, derived from the reference as the trail derived them.
                for agent in (a["who"]["reference"] for a in event.get("agent", []) if "who" in a):
                    resource = audit.agent_resource(agent)
                    if resource is not None and agent not in agents:
                        agents.add(agent)
                        report.resources[(str(resource["resourceType"]), ARCHIVE)] += 1
                        yield OutboxEntry(resource, 1)
                report.resources[("AuditEvent", ARCHIVE)] += 1
                yield OutboxEntry(event, 1)

        report.outcomes += self.deliver(archived())
        report.seconds = time.perf_counter() - started
        return report

    def deliver(self, entries: Iterable[OutboxEntry]) -> Counter[str]:
        """Each entry through the projector, `workers` at a time, in batches; an entry whose
        store was unavailable or whose resource was busy is tried again after a pause. What the
        store holds at the same or a newer source version (a search by id, a hundred at a time)
        is `current` without a write, a lease or a read of its own."""
        outcomes: Counter[str] = Counter()
        stream = iter(entries)
        while batch := list(islice(stream, BATCH)):
            stored = self._stored_versions(batch)
            fresh = [e for e in batch if stored.get(e.reference, -1) < e.source_version]
            outcomes["current"] += len(batch) - len(fresh)
            batch = fresh
            for attempt in range(1, ROUNDS + 1):
                if not batch:
                    break
                with ThreadPoolExecutor(self.workers, thread_name_prefix="rebuild") as pool:
                    done = list(zip(batch, pool.map(self._one, batch), strict=True))
                last = attempt == ROUNDS
                outcomes.update(outcome for _, outcome in done if last or outcome not in _AGAIN)
                if not (batch := [] if last else [e for e, outcome in done if outcome in _AGAIN]):
                    break
                self._pause()
        return outcomes

    def _stored_versions(self, batch: list[OutboxEntry]) -> dict[str, int]:
        """The source version the store holds of each entry's resource, where it holds one. A
        search that fails leaves those to `deliver`, which reads each one itself."""
        ids: dict[str, list[str]] = {}
        for entry in batch:
            ids.setdefault(str(entry.resource["resourceType"]), []).append(str(entry.resource["id"]))
        chunks = [
            (kind, ",".join(found[i : i + SEARCH_IDS]))
            for kind, found in ids.items()
            for i in range(0, len(found), SEARCH_IDS)
        ]

        def search(chunk: tuple[str, str]) -> dict[str, int]:
            kind, wanted = chunk
            try:
                return {
                    f"{kind}/{r['id']}": projection.source_version(r)
                    for r in self.fhir.search(kind, {"_id": wanted, "_count": str(SEARCH_IDS)})
                }
            except FhirStoreError:
                return {}

        versions: dict[str, int] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="present") as pool:
            for found in pool.map(search, chunks):
                versions |= found
        return versions

    def _one(self, entry: OutboxEntry) -> str:
        try:
            # An AuditEvent is immutable: present means delivered (the projector writes it as is).
            if entry.resource["resourceType"] == "AuditEvent" and self.fhir.read_if_present(
                "AuditEvent", str(entry.resource["id"])
            ):
                return "current"
            return self.projector.deliver(entry)
        except DestinationUnavailableError:
            return "unavailable"
        except ResourceBusyError:
            return "busy"
        except RecordRejectedError:
            return "rejected"
        except FhirStoreError as error:
            return (
                "unavailable" if error.status >= 500 or error.status == 429 else f"refused ({error.status})"
            )
        except Exception as error:  # the class names it; a message could carry what was sent
            return f"failed ({type(error).__name__})"

    def _pause(self) -> None:
        """Until the store's circuit closes again (it opens for a while when the store fails)."""
        self.sleep(1.0)
        while not self.projector.available("fhir"):
            self.sleep(1.0)
