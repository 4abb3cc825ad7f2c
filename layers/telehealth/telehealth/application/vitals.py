"""Vital signs from the visit's video: a media worker records its estimates as preliminary
Observations; the visit's provider confirms or rejects each one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import Idempotency, NotFoundError, announce, claim
from telehealth.application.callers import Caller
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.vitals import Reading, VisitVitals, VitalSign
from telehealth.events import VitalsEstimated, VitalsReviewed
from telehealth.fhir import audit, projection
from telehealth.ports import OutboxEntry, ProviderDirectory, VisitChangedError, VisitFiles, VitalsStore

# Who the worker is in the audit trail: a device, not a person.
WORKER_ACTOR = audit.worker_agent("rppg")


class VitalsService:
    def __init__(
        self,
        store: VitalsStore,
        files: VisitFiles,
        providers: ProviderDirectory,
        clock: Callable[[], datetime],
        trail: AuditTrail,
    ) -> None:
        self.store, self.files, self.providers, self.clock = store, files, providers, clock
        self.trail = trail

    def record_estimate(
        self,
        *,
        appointment_id: str,
        version: int,
        encounter_id: str,
        patient_id: str,
        estimate: Mapping[str, Any],
    ) -> VisitVitals:
        """What the worker read (`VitalSigns.to_dict()`), as preliminary Observations. Running
        twice on the same recording records once."""
        found = self.store.vitals(appointment_id, version)
        if found is not None:
            return found[0]
        file = self.files.visit_file(appointment_id)
        visit = file.visits.get(version)
        # When the call was on: both parties in, which is what the recording shows.
        effective = max(visit[0].joined.values()) if visit and visit[0].joined else self.clock()
        readings, refusals = [], []
        for sign, rate, quality, reason in (
            (VitalSign.HEART_RATE, "heart_rate_bpm", "quality", "reason"),
            (VitalSign.RESPIRATORY_RATE, "respiratory_rate_bpm", "respiratory_quality", "respiratory_reason"),
        ):
            if estimate.get(rate) is None:
                refusals.append((sign, str(estimate.get(reason) or "not measured")))
            else:
                readings.append(Reading(sign, float(estimate[rate]), float(estimate.get(quality) or 0.0)))
        vitals = VisitVitals(
            appointment_id, version, patient_id, encounter_id, effective, tuple(readings), tuple(refusals)
        )
        now = self.clock()
        outbox = [OutboxEntry(projection.observation(vitals, r, 1), 1) for r in vitals.readings]
        event = VitalsEstimated(
            appointment_id=appointment_id,
            version=version,
            encounter_id=encounter_id,
            observation_ids=[vitals.observation_id(r.sign) for r in vitals.readings],
            refused=[sign.value for sign, _ in vitals.refusals],
        )
        outbox.append(announce(event, now))
        if vitals.readings:  # one AuditEvent naming every Observation the worker created
            created = [f"Observation/{vitals.observation_id(r.sign)}" for r in vitals.readings]
            outbox.append(self.trail.entry(self.trail.kept(WORKER_ACTOR), Interaction.CREATE, created, now))
        try:
            self.store.save_vitals(vitals, 0, outbox)
        except VisitChangedError:  # another run of the worker recorded them first
            again = self.store.vitals(appointment_id, version)
            if again is None:
                raise
            return again[0]
        return vitals

    def estimates(self, caller: Caller, appointment_id: str) -> VisitVitals:
        """The visit's estimates, for its provider (they are preliminary: a clinician reads them)."""
        with self.trail.request(caller, Interaction.READ, appointment_id):
            version = self._providers_visit(caller, appointment_id)
            found = self.store.vitals(appointment_id, version)
            if found is None:  # the request's AuditEvent says it found nothing (outcome 4)
                raise NotFoundError("no estimates for this visit yet")
            vitals = found[0]
            read = [f"Observation/{vitals.observation_id(r.sign)}" for r in vitals.readings]
            self.store.record(
                [
                    self.trail.entry(
                        self.trail.agent(caller),
                        Interaction.READ,
                        [f"Appointment/{appointment_id}", *read],
                        self.clock(),
                    )
                ]
            )
            return vitals

    def review(
        self,
        caller: Caller,
        appointment_id: str,
        sign: VitalSign,
        confirmed: bool,
        idempotency: Idempotency | None = None,
    ) -> tuple[Reading, str]:
        with self.trail.request(caller, Interaction.UPDATE, appointment_id):
            return self._review(caller, appointment_id, sign, confirmed, idempotency)

    def _review(
        self,
        caller: Caller,
        appointment_id: str,
        sign: VitalSign,
        confirmed: bool,
        idempotency: Idempotency | None,
    ) -> tuple[Reading, str]:
        version = self._providers_visit(caller, appointment_id)
        found = self.store.vitals(appointment_id, version)
        if found is None:
            raise NotFoundError("no estimates for this visit")
        vitals, revision = found
        now = self.clock()
        reading = vitals.reading(sign).reviewed(confirmed, now)
        reviewed = vitals.with_reading(reading)
        observation_id = reviewed.observation_id(sign)
        self.store.save_vitals(
            reviewed,
            revision,
            [
                OutboxEntry(projection.observation(reviewed, reading, revision + 1), revision + 1),
                self.trail.entry(
                    self.trail.agent(caller), Interaction.UPDATE, [f"Observation/{observation_id}"], now
                ),
                announce(
                    VitalsReviewed.model_validate(
                        {
                            "appointment_id": appointment_id,
                            "version": version,
                            "observation_id": observation_id,
                            "status": reading.status.value,
                        }
                    ),
                    now,
                ),
            ],
            claim(idempotency, (reading, observation_id)),
        )
        return reading, observation_id

    def _providers_visit(self, caller: Caller, appointment_id: str) -> int:
        caller.require(Actor.PROVIDER)
        file = self.files.visit_file(appointment_id)
        own = self.providers.provider_for_user(caller.subject)
        if file.appointment is None or file.appointment.provider_id != own or not file.visits:
            raise NotFoundError("no such visit")
        return max(file.visits)
