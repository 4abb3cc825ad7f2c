"""Remote monitoring's silence sweep over the clinic table (moto): days without a reading are an
information alert of their own, once per episode, from enrolment for a patient who never sent one;
readings again close the episode after two clear sweeps, and a later silence raises anew. Every
value is synthetic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import topology
from telehealth.adapters.monitoring_store import DynamoMonitoringStore
from telehealth.application.monitoring import RemoteMonitoring
from telehealth.domain.monitoring import Enrolment, Program
from telehealth.domain.monitoring_alerts import NO_READINGS, Tier
from telehealth.domain.readings import Provenance, Reading
from tests.integration.conftest import MotoServer

ENROLLED = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = ENROLLED

    def __call__(self) -> datetime:
        return self.now


class NoQueue:
    def hand_over(self, handovers: Any) -> None:
        raise AssertionError("the sweep hands nothing over")


@pytest.fixture
def store(emulator: MotoServer) -> DynamoMonitoringStore:
    name = f"sweep-{uuid.uuid4().hex[:8]}"
    emulator.client("dynamodb").create_table(**topology.CLINIC_TABLE.create_request(name))
    return DynamoMonitoringStore(name, client=emulator.client("dynamodb"))


def weight(patient_id: str, at: datetime) -> Reading:
    return Reading(patient_id, "scale-1", "29463-7", 80.0, at, f"w-{at:%Y%m%d%H}", Provenance.DEVICE)


def test_days_without_a_reading_are_one_alert_per_episode_and_readings_again_close_it(
    store: DynamoMonitoringStore,
) -> None:
    clock = Clock()
    sweep = RemoteMonitoring(store, NoQueue(), None, clock)  # type: ignore[arg-type]  # no audit read
    for patient in ("p-weighed", "p-never"):
        store.save_enrolment(Enrolment(patient, Program.HEART_FAILURE, ENROLLED), [])
    store.keep_readings([weight("p-weighed", ENROLLED + timedelta(days=1))], "batch-1")

    def open_alerts(patient: str) -> list[tuple[str, Tier, str]]:
        return [(a.rule, a.tier, a.note) for a in store.alerts_of(patient) if a.open]

    clock.now = ENROLLED + timedelta(days=2, hours=23)
    assert sweep.sweep_silence() == 0  # neither has been silent three days yet
    clock.now = ENROLLED + timedelta(days=3, hours=1)
    assert sweep.sweep_silence() == 1  # the patient who never sent one, from enrolment
    assert open_alerts("p-never") == [(NO_READINGS, Tier.INFORMATION, "no readings since enrolment")]
    assert open_alerts("p-weighed") == []
    clock.now = ENROLLED + timedelta(days=4, hours=1)
    assert sweep.sweep_silence() == 1  # three days after the last weight
    assert open_alerts("p-weighed") == [(NO_READINGS, Tier.INFORMATION, "no readings since 2026-11-02")]
    for _ in range(3):  # still silent: one alert for the episode, not one an hour
        clock.now += timedelta(hours=1)
        assert sweep.sweep_silence() == 0
    assert len(store.alerts_of("p-weighed")) == 1

    # Weighed again: two clear sweeps close the episode; silent three days more, a new alert.
    store.keep_readings([weight("p-weighed", clock.now)], "batch-2")
    for _ in range(2):
        clock.now += timedelta(hours=1)
        assert sweep.sweep_silence() == 0
    assert NO_READINGS not in store.episodes("p-weighed")
    clock.now += timedelta(days=3)
    assert sweep.sweep_silence() == 1
    assert len(store.alerts_of("p-weighed")) == 2
