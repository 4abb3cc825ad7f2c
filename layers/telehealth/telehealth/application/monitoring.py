"""Remote monitoring (tenants with `rpm` on): readings from patients' devices in, held to their
program's rules, alerts out to the care team.

Two halves, on either side of a queue. The intake (the api) reads what a device gateway, a
patient or a vendor cloud's poller sends, checks every reading alone (the sender reads which were
taken and why the others were not) and hands the taken ones over, a patient's at a time, to the
readings queue. The keeper (the readings function) keeps them, a reading sent again being the same
item, and holds the new ones to the patient's program (telehealth/domain/monitoring.py): what the
rules raise is kept as alerts and announced, ids only.

Whose a device's reading is comes from the device's registration, never from the sender's word.
Every read and write of readings is audited.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import announce
from telehealth.application.callers import Caller, NotFoundError
from telehealth.devices import open_mhealth, phd
from telehealth.domain import cgm
from telehealth.domain.appointments import Actor
from telehealth.domain.blood_pressure import BloodPressureAdvice
from telehealth.domain.cgm import TARGETS
from telehealth.domain.clinic_settings import ClinicSettings
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.domain.monitoring import (
    GLUCOSE,
    Alert,
    Device,
    DeviceKind,
    Enrolment,
    Program,
    blood_pressure_advice,
    evaluate,
)
from telehealth.domain.monitoring_alerts import (
    NO_READINGS,
    Episode,
    Escalation,
    EscalationStep,
    Tier,
    next_escalation,
    silence,
    step,
)
from telehealth.domain.news2 import SpO2Scale
from telehealth.domain.readings import (
    UNREGISTERED,
    Provenance,
    Reading,
    ReadingRefusedError,
    RegisteredDevice,
)
from telehealth.errors import NotEnrolledError, ReadingsRefusedError
from telehealth.events import AlertAcknowledged, AlertEscalated, AlertRaised, ReadingRefused
from telehealth.fhir.monitoring import alert_flag, alert_task, alert_version, cgm_report, day_summaries
from telehealth.fhir.projection import PatientProfile
from telehealth.ports import OutboxEntry, workflow_start

# What the rules look back over: the CGM's fortnight, with a day's slack for late data.
LOOK_BACK = timedelta(days=15)
NOW_IS = timedelta(hours=1)  # how recent a blood pressure must be for its advice to stand
# The state machine that hands an unacknowledged urgent alert on (statemachines/), by its key.
ESCALATION = "alert-escalation"
# A patient's own readings, typed in the portal, carry this in place of a device.
TYPED_IN = "typed-in"
# A queue message's readings: about 125 KB (a reading is ~250 B), well inside SQS's 1 MiB.
READINGS_PER_HANDOVER = 500
PANEL_READERS = 8  # patients read at once for the panel


@dataclass(frozen=True)
class Handover:
    """One patient's readings on their way to the keeper: what a queue message carries."""

    patient_id: str
    readings: tuple[Reading, ...]
    sender: str  # who sent them, as the audit trail names them
    symptoms: bool = False  # the patient said they have a crisis's symptoms (typed in with them)

    @property
    def deduplication_id(self) -> str:
        """The same readings sent again within SQS's five minutes are one message."""
        keys = "\n".join(sorted(r.key for r in self.readings))
        return hashlib.sha256(f"{self.patient_id}\n{keys}".encode()).hexdigest()


@dataclass(frozen=True)
class Intake:
    """What a sender reads back: how many readings were handed over, and each entry refused; a
    patient, also what to do now (their blood pressure's advice)."""

    taken: int
    refused: tuple[tuple[int, str], ...]
    advice: BloodPressureAdvice = BloodPressureAdvice.NONE


@dataclass(frozen=True)
class Kept:
    new: int  # readings not kept before
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class PanelRow:
    enrolment: Enrolment
    patient: PatientProfile | None  # None only if the patient's record went missing
    open_alerts: tuple[Alert, ...]
    last_reading_at: datetime | None

    @property
    def tier(self) -> Tier | None:
        return max((a.tier for a in self.open_alerts), default=None)


@dataclass(frozen=True)
class PatientReadings:
    patient: PatientProfile | None
    enrolment: Enrolment | None
    readings: tuple[Reading, ...]
    alerts: tuple[Alert, ...]
    devices: tuple[Device, ...] = field(default_factory=tuple)
    advice: BloodPressureAdvice = BloodPressureAdvice.NONE  # from the latest blood pressures
    # The names of the providers its alerts were handed on to, by id.
    providers: Mapping[str, str] = field(default_factory=dict)


class ReadingsQueue(Protocol):
    def hand_over(self, handovers: Sequence[Handover]) -> None: ...


class MonitoringStore(Protocol):
    def device(self, serial: str) -> Device | None: ...

    def devices_of(self, patient_id: str) -> list[Device]: ...

    def register_device(self, device: Device, outbox: list[OutboxEntry]) -> None: ...

    def enrolment(self, patient_id: str) -> Enrolment | None: ...

    def save_enrolment(self, enrolment: Enrolment, outbox: list[OutboxEntry]) -> None: ...

    def enrolments(self) -> list[Enrolment]: ...

    def patient(self, patient_id: str) -> PatientProfile | None: ...

    def provider_names(self, provider_ids: Sequence[str]) -> dict[str, str]: ...

    def keep_readings(self, readings: Sequence[Reading], batch: str) -> list[Reading]: ...

    def readings_since(self, patient_id: str, since: datetime) -> list[Reading]: ...

    def last_reading_at(self, patient_id: str) -> datetime | None: ...

    def episodes(self, patient_id: str) -> dict[str, Episode]: ...

    def save_evaluation(
        self,
        patient_id: str,
        batch: str,
        episodes: Mapping[str, Episode | None],
        alerts: Sequence[Alert],
        outbox: list[OutboxEntry],
    ) -> bool: ...

    def alerts_of(self, patient_id: str) -> list[Alert]: ...

    def alert(self, patient_id: str, alert_id: str) -> Alert | None: ...

    def save_acknowledgement(self, alert: Alert, outbox: list[OutboxEntry]) -> None: ...

    def save_escalation(self, alert: Alert, outbox: list[OutboxEntry]) -> None: ...

    def record(self, outbox: list[OutboxEntry]) -> None: ...


def patient_entity(patient_id: str) -> str:
    return f"Patient/{patient_id}"


class RemoteMonitoring:
    def __init__(
        self,
        store: MonitoringStore,
        queue: ReadingsQueue,
        trail: AuditTrail,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.queue, self.trail, self.clock = store, queue, trail, clock

    # --- the intake (api) ----------------------------------------------------------------------------

    def from_gateway(self, caller: Caller, resource: Mapping[str, Any]) -> Intake:
        """A device gateway's FHIR Observation or Bundle (the Personal Health Device IG's shape)."""
        caller.require(Actor.MACHINE)
        found = phd.batch(resource, self._registry())
        return self._hand_over(caller, found.taken, found.refused)

    def from_open_mhealth(self, caller: Caller, serial: str, points: Sequence[Any]) -> Intake:
        """A device cloud's Open mHealth data points, all from the one device it names."""
        caller.require(Actor.MACHINE)
        registered = self._registry()(serial)
        taken: list[Reading] = []
        refused: list[tuple[int, str]] = []
        for index, point in enumerate(points):
            try:
                if registered is None:
                    raise ReadingRefusedError(UNREGISTERED)
                if not isinstance(point, Mapping):
                    raise ReadingRefusedError("A data point is a JSON object.")
                taken += open_mhealth.readings(
                    point, patient_id=registered.patient_id, device_id=registered.device_id
                )
            except ReadingRefusedError as error:
                refused.append((index, str(error)))
        return self._hand_over(caller, taken, refused)

    def from_patient(self, caller: Caller, points: Sequence[Any], *, symptoms: bool = False) -> Intake:
        """What a patient types in the portal (Open mHealth data points): theirs, and typed in
        whatever the data point says of itself (RPM's device days count device readings only).
        The answer says what to do now: a blood pressure at crisis level asks for a repeat, a
        repeat still there sends the care team an urgent alert, and with `symptoms`, 911."""
        caller.require(Actor.PATIENT)
        if self.store.enrolment(caller.subject) is None:
            raise NotEnrolledError("You are in no monitoring program: your care team enrols you first.")
        taken: list[Reading] = []
        refused: list[tuple[int, str]] = []
        for index, point in enumerate(points):
            try:
                if not isinstance(point, Mapping):
                    raise ReadingRefusedError("A data point is a JSON object.")
                found = open_mhealth.readings(point, patient_id=caller.subject, device_id=TYPED_IN)
                taken += [replace(r, provenance=Provenance.MANUAL) for r in found]
            except ReadingRefusedError as error:
                refused.append((index, str(error)))
        intake = self._hand_over(caller, taken, refused, symptoms=symptoms)
        # The advice is about the last hour's blood pressures (a repeat counts within 30 minutes).
        earlier = self.store.readings_since(caller.subject, self.clock() - NOW_IS)
        told = blood_pressure_advice([*earlier, *taken], symptoms=symptoms)
        return replace(intake, advice=told)

    def _registry(self) -> Callable[[str], RegisteredDevice | None]:
        """Devices by serial, each looked up once per request."""
        known: dict[str, RegisteredDevice | None] = {}

        def registered(serial: str) -> RegisteredDevice | None:
            if serial not in known:
                device = self.store.device(serial)
                known[serial] = RegisteredDevice(device.patient_id, device.device_id) if device else None
            return known[serial]

        return registered

    def _hand_over(
        self,
        caller: Caller,
        taken: Sequence[Reading],
        refused: Sequence[tuple[int, str]],
        *,
        symptoms: bool = False,
    ) -> Intake:
        sender = self.trail.agent(caller)
        by_patient: dict[str, list[Reading]] = defaultdict(list)
        for r in taken:
            by_patient[r.patient_id].append(r)
        handovers = [
            Handover(patient_id, tuple(readings[i : i + READINGS_PER_HANDOVER]), sender, symptoms)
            for patient_id, readings in by_patient.items()
            for i in range(0, len(readings), READINGS_PER_HANDOVER)
        ]
        if refused:
            # The reasons go back to the sender; the fact, ids only, to whoever watches.
            self.store.record([announce(ReadingRefused(refused=len(refused), sender=sender), self.clock())])
            if not taken:
                raise ReadingsRefusedError(tuple(refused))
        if handovers:
            self.queue.hand_over(handovers)
        return Intake(len(taken), tuple(refused))

    # --- the keeper (readings function) ----------------------------------------------------------

    def keep(self, handover: Handover, batch: str) -> Kept:
        """Keep a patient's readings and hold the new ones to their program's rules. `batch` (the
        queue message's id) makes a retry of the same message evaluate what it found new once."""
        now = self.clock()
        new = self.store.keep_readings(handover.readings, batch)
        outbox = [
            self.trail.entry(handover.sender, Interaction.CREATE, [patient_entity(handover.patient_id)], now)
        ]
        enrolment = self.store.enrolment(handover.patient_id)
        if not new or enrolment is None:
            # Kept, audited; nothing to hold them to (resent, or the patient left the program).
            self.store.save_evaluation(handover.patient_id, batch, {}, [], outbox)
            return Kept(len(new), ())
        latest = max(r.effective for r in new)
        recent = self.store.readings_since(handover.patient_id, latest - LOOK_BACK)
        before = self.store.episodes(handover.patient_id)
        evaluation = evaluate(enrolment, new, recent, before, symptoms=handover.symptoms)
        alerts = tuple(
            Alert(
                alert_id=new_id(now).lower(),
                patient_id=handover.patient_id,
                rule=raised.rule,
                tier=raised.tier,
                raised_at=now,
                escalated=raised.escalated,
                note=evaluation.notes.get(raised.rule, ""),
            )
            for raised in evaluation.raised
        )
        outbox += [announce(AlertRaised(alert_id=a.alert_id, patient_id=a.patient_id), now) for a in alerts]
        outbox += _in_the_record(alerts)
        outbox += [
            workflow_start(ESCALATION, a.alert_id, {"alert_id": a.alert_id, "patient_id": a.patient_id})
            for a in alerts
            if a.tier is Tier.URGENT
        ]
        changes: dict[str, Episode | None] = {
            k: v for k, v in evaluation.episodes.items() if before.get(k) != v
        }
        changes.update({k: None for k in before if k not in evaluation.episodes})  # closed
        evaluated = self.store.save_evaluation(handover.patient_id, batch, changes, alerts, outbox)
        # The record's summaries of the days the readings fell on, after the evaluation and on
        # their own (a retried message writes them again: the same versions, nothing new).
        self.store.record(summaries(handover.patient_id, new, recent, latest))
        return Kept(len(new), alerts if evaluated else ())  # not evaluated: a retry

    # --- the silence sweep (monitoring-sweep, hourly) ---------------------------------------------

    def sweep_silence(self) -> int:
        """Every enrolled patient's days without a reading, as a signal of its own: an
        information alert once `SILENT_DAYS` have passed (one per episode; the episode closes
        after two sweeps that find readings again). A missing day is never a normal one, so the
        rules themselves never read silence as good news. Returns the alerts raised. The hour's
        mark makes a retried sweep evaluate nothing twice."""
        now = self.clock()
        raised = 0
        for enrolment in self.store.enrolments():
            patient_id = enrolment.patient_id
            last = self.store.last_reading_at(patient_id)
            before = self.store.episodes(patient_id).get(NO_READINGS)
            episode, signal = step(before, NO_READINGS, silence(last, enrolment.enrolled_at, now), now)
            if episode == before:
                continue  # nothing changed: nothing written
            since = f"since {last:%Y-%m-%d}" if last else "since enrolment"
            alerts = [
                Alert(
                    alert_id=new_id(now).lower(),
                    patient_id=patient_id,
                    rule=NO_READINGS,
                    tier=signal.tier,
                    raised_at=now,
                    escalated=signal.escalated,
                    note=f"no readings {since}",
                )
                for signal in ([signal] if signal else [])
            ]
            outbox = [announce(AlertRaised(alert_id=a.alert_id, patient_id=patient_id), now) for a in alerts]
            if self.store.save_evaluation(
                patient_id, f"silence-{now:%Y%m%dT%H}", {NO_READINGS: episode}, alerts, outbox
            ):
                raised += len(alerts)
        return raised

    # --- the care team ---------------------------------------------------------------------------

    def enrol(
        self,
        caller: Caller,
        patient_id: str,
        *,
        program: Program,
        spo2_scale: SpO2Scale = SpO2Scale.ONE,
        on_oxygen: bool | None = None,
        glucose_targets: str = "most-adults",
    ) -> Enrolment:
        """Enrol a patient in a program, or change it (its rules from the next reading on): their
        provider, or the front desk on the provider's word."""
        caller.require(Actor.PROVIDER, Actor.STAFF)
        if self.store.patient(patient_id) is None:
            raise NotFoundError("No such patient.")
        now = self.clock()
        kept = self.store.enrolment(patient_id)
        enrolment = Enrolment(
            patient_id=patient_id,
            program=program,
            enrolled_at=kept.enrolled_at if kept else now,
            spo2_scale=spo2_scale,
            on_oxygen=on_oxygen,
            glucose_targets=TARGETS[glucose_targets],
            enrolled_by=caller.subject,
        )
        interaction = Interaction.UPDATE if kept else Interaction.CREATE
        audit = self.trail.entry(self.trail.agent(caller), interaction, [patient_entity(patient_id)], now)
        self.store.save_enrolment(enrolment, [audit])
        return enrolment

    def register_device(self, caller: Caller, patient_id: str, *, serial: str, kind: DeviceKind) -> Device:
        """A device given to (or bought by) an enrolled patient: its readings are theirs from now."""
        caller.require(Actor.PROVIDER, Actor.STAFF)
        if self.store.enrolment(patient_id) is None:
            raise NotEnrolledError("Enrol the patient in a program before registering their devices.")
        now = self.clock()
        device = Device(
            device_id=new_id(now).lower(), serial=serial, patient_id=patient_id, kind=kind, registered_at=now
        )
        audit = self.trail.entry(
            self.trail.agent(caller), Interaction.CREATE, [patient_entity(patient_id)], now
        )
        self.store.register_device(device, [audit])
        return device

    def panel(self, caller: Caller) -> list[PanelRow]:
        """Every enrolled patient, the most pressing first: by their open alerts' highest tier,
        then the oldest open alert first; patients without one in the order they were enrolled."""
        caller.require(Actor.PROVIDER, Actor.STAFF)

        def row(enrolment: Enrolment) -> PanelRow:
            patient_id = enrolment.patient_id
            alerts = tuple(a for a in self.store.alerts_of(patient_id) if a.open)
            return PanelRow(
                enrolment, self.store.patient(patient_id), alerts, self.store.last_reading_at(patient_id)
            )

        # Each patient's three small reads, several patients at a time: a panel of a hundred is
        # not three hundred round trips one after another.
        with ThreadPoolExecutor(PANEL_READERS) as readers:
            rows = list(readers.map(row, self.store.enrolments()))
        rows.sort(key=_pressing)
        now = self.clock()
        self.store.record(
            self.trail.entries(
                self.trail.agent(caller),
                Interaction.SEARCH,
                [patient_entity(r.enrolment.patient_id) for r in rows],
                now,
            )
        )
        return rows

    def patient_readings(self, caller: Caller, patient_id: str, days: int = 14) -> PatientReadings:
        """An enrolled patient's readings, alerts and devices, for their care team."""
        caller.require(Actor.PROVIDER, Actor.STAFF)
        enrolment = self.store.enrolment(patient_id)
        if enrolment is None:
            raise NotFoundError("The patient is in no monitoring program.")
        return self._readings(caller, patient_id, enrolment, days)

    def my_readings(self, caller: Caller, days: int = 14) -> PatientReadings:
        """The patient's own (their program, if they are in one)."""
        caller.require(Actor.PATIENT)
        return self._readings(caller, caller.subject, self.store.enrolment(caller.subject), days)

    def _readings(
        self, caller: Caller, patient_id: str, enrolment: Enrolment | None, days: int
    ) -> PatientReadings:
        now = self.clock()
        readings = self.store.readings_since(patient_id, now - timedelta(days=days))
        alerts = tuple(self.store.alerts_of(patient_id))
        found = PatientReadings(
            self.store.patient(patient_id),
            enrolment,
            tuple(sorted(readings, key=lambda r: (r.effective, r.code))),
            alerts,
            tuple(self.store.devices_of(patient_id)),
            # What to do now: only about blood pressures of the last hour.
            blood_pressure_advice([r for r in readings if r.effective >= now - NOW_IS], symptoms=False),
            self.store.provider_names([e.provider_id for a in alerts for e in a.escalations]),
        )
        self.store.record(
            [self.trail.entry(self.trail.agent(caller), Interaction.READ, [patient_entity(patient_id)], now)]
        )
        return found

    def acknowledge(self, caller: Caller, patient_id: str, alert_id: str, note: str) -> Alert:
        """A clinician has seen the alert and says what they did: it leaves the open alerts."""
        caller.require(Actor.PROVIDER)
        alert = next((a for a in self.store.alerts_of(patient_id) if a.alert_id == alert_id), None)
        if alert is None:
            raise NotFoundError("No such alert.")
        if not alert.open:
            return alert
        now = self.clock()
        acknowledged = replace(
            alert, acknowledged_at=now, acknowledged_by=caller.subject, acknowledgement=note
        )
        outbox = [
            self.trail.entry(self.trail.agent(caller), Interaction.UPDATE, [patient_entity(patient_id)], now),
            announce(AlertAcknowledged(alert_id=alert_id, patient_id=patient_id), now),
            *_in_the_record([acknowledged]),
        ]
        self.store.save_acknowledgement(acknowledged, outbox)
        return acknowledged


def _in_the_record(alerts: Sequence[Alert]) -> list[OutboxEntry]:
    """An urgent alert's Task and Flag, at the alert's version."""
    found = []
    for alert in alerts:
        if alert.tier is Tier.URGENT:
            version = alert_version(alert)
            found += [OutboxEntry(alert_task(alert), version), OutboxEntry(alert_flag(alert), version)]
    return found


def _pressing(row: PanelRow) -> tuple[int, datetime, datetime]:
    oldest = min((a.raised_at for a in row.open_alerts if a.tier == row.tier), default=None)
    return (-(row.tier or 0), oldest or row.enrolment.enrolled_at, row.enrolment.enrolled_at)


class Pager(Protocol):
    def page(self, provider_id: str) -> None:
        """Tell a provider that an urgent alert waits for them in the dashboard, and nothing more
        (no patient, no rule: e-mail leaves the platform's encryption)."""
        ...


class UrgentAlertEscalation:
    """The escalation timer's step (the alert-escalation state machine runs one per urgent alert):
    an alert still unacknowledged when its time comes goes to the next provider the clinic's
    settings name, who is paged, becomes the record's Task owner, and `Alert.Escalated` says so."""

    def __init__(
        self,
        store: MonitoringStore,
        settings: Callable[[], ClinicSettings],
        pager: Pager,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.settings, self.pager, self.clock = store, settings, pager, clock

    def step(self, patient_id: str, alert_id: str) -> EscalationStep:
        alert = self.store.alert(patient_id, alert_id)
        if alert is None:
            return EscalationStep(None, None)
        rules, now = self.settings().alert_escalation, self.clock()
        step = next_escalation(
            open=alert.open,
            tier=alert.tier,
            raised_at=alert.raised_at,
            handed_on=len(alert.escalations),
            chain=rules.to,
            after=rules.after,
            now=now,
        )
        if step.to is None:
            return step
        # Paged before it is written: a step retried after a failed write pages twice, never
        # not at all.
        self.pager.page(step.to)
        handed = replace(alert, escalations=(*alert.escalations, Escalation(step.to, now)))
        outbox = [
            announce(
                AlertEscalated(
                    alert_id=alert_id,
                    patient_id=patient_id,
                    provider_id=step.to,
                    level=len(handed.escalations),
                ),
                now,
            ),
            *_in_the_record([handed]),
        ]
        self.store.save_escalation(handed, outbox)
        return step


def summaries(
    patient_id: str, new: Sequence[Reading], recent: Sequence[Reading], latest: datetime
) -> list[OutboxEntry]:
    """The record's summaries the new readings change, as bundled outbox entries: each day's
    vital signs (days wholly inside what the rules read: an older day's would be made from part
    of it), and the CGM report of the fortnight through the latest glucose reading's day."""
    first_whole_day = (latest - LOOK_BACK).astimezone(UTC).date() + timedelta(days=1)
    days = {r.effective.astimezone(UTC).date() for r in new if r.code != GLUCOSE}
    found = [
        summary
        for day in sorted(d for d in days if d >= first_whole_day)
        for summary in day_summaries(patient_id, day, recent)
    ]
    glucose_at = [r.effective for r in new if r.code == GLUCOSE]
    if glucose_at:
        last_day = max(glucose_at).astimezone(UTC).date() + timedelta(days=1)
        end = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC)
        window = [r for r in recent if r.code == GLUCOSE and end - cgm.PERIOD <= r.effective < end]
        fortnight = cgm.summary([(r.effective, r.value) for r in window], end)
        found += cgm_report(patient_id, fortnight, len(window))
    return [OutboxEntry(s.resource, s.readings, bundled=True) for s in found]
