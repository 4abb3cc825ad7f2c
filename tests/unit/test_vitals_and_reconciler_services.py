"""The vitals service (the rPPG worker's estimates and their review) and the visit reconciler over
in-memory stores: a worker run twice, reviews at once, an index that lags its table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import NotFoundError
from telehealth.application.reconciler import VisitReconciler
from telehealth.application.vitals import VitalsService
from telehealth.domain.appointments import Appointment
from telehealth.domain.reconciliation import LifecycleRun, RunStatus
from telehealth.domain.vitals import ReadingStatus, VitalSign
from telehealth.ports import VisitChangedError
from tests.unit.fakes import NOW, PROVIDER, PROVIDER_ID, Clinic, checked_in, clinic, provider_record

ESTIMATE = {
    "heart_rate_bpm": 72.0,
    "quality": 0.9,
    "respiratory_rate_bpm": None,
    "respiratory_reason": "noisy",
}


def _visit_with_a_recording(c: Clinic) -> tuple[VitalsService, str]:
    """A checked-in visit (the worker runs on its recording) and the service over the fakes."""
    appointment_id = checked_in(c)
    trail = AuditTrail(c.scheduling, c.clock)
    return VitalsService(c.vitals_store, c.visit_store, c.scheduling, c.clock, trail), appointment_id


def _record(service: VitalsService, appointment_id: str) -> object:
    return service.record_estimate(
        appointment_id=appointment_id,
        version=1,
        encounter_id="enc-1",
        patient_id="patient-1",
        estimate=ESTIMATE,
    )


def test_a_worker_run_twice_at_once_records_the_estimates_once() -> None:
    c = clinic()
    service, appointment_id = _visit_with_a_recording(c)
    first: list[object] = []
    c.table.meanwhile(lambda: first.append(_record(service, appointment_id)))
    second = _record(service, appointment_id)
    assert second == first[0]  # the loser answers with what the winner recorded
    assert len(c.table.events("Vitals.Estimated")) == 1
    assert len(c.table.entries(kind="Observation")) == 1  # heart rate; respiration was refused


def test_of_two_reviews_at_once_the_second_is_refused_rather_than_overwriting_the_first() -> None:
    c = clinic()
    service, appointment_id = _visit_with_a_recording(c)
    _record(service, appointment_id)
    c.table.meanwhile(lambda: service.review(PROVIDER, appointment_id, VitalSign.HEART_RATE, confirmed=False))
    with pytest.raises(VisitChangedError):
        service.review(PROVIDER, appointment_id, VitalSign.HEART_RATE, confirmed=True)
    vitals, revision = c.table.vitals[(appointment_id, 1)]
    assert vitals.reading(VitalSign.HEART_RATE).status is ReadingStatus.ENTERED_IN_ERROR
    assert revision == 2
    assert len(c.table.events("Vitals.Reviewed")) == 1


def test_a_review_keeps_when_the_provider_made_it_and_an_open_estimate_has_no_such_time() -> None:
    c = clinic()
    service, appointment_id = _visit_with_a_recording(c)
    _record(service, appointment_id)
    assert service.estimates(PROVIDER, appointment_id).reading(VitalSign.HEART_RATE).reviewed_at is None
    c.clock.advance(timedelta(minutes=7))
    at = c.clock()
    reviewed, _ = service.review(PROVIDER, appointment_id, VitalSign.HEART_RATE, confirmed=True)
    assert (reviewed.status, reviewed.reviewed_at) == (ReadingStatus.FINAL, at)
    c.clock.advance(timedelta(minutes=1))
    read = service.estimates(PROVIDER, appointment_id).reading(VitalSign.HEART_RATE)
    assert read.reviewed_at == at  # the review's time, not the reading's


def test_another_providers_visit_has_no_estimates_for_them_and_nothing_is_recorded() -> None:
    from telehealth.application.callers import Caller
    from telehealth.domain.appointments import Actor

    c = clinic()
    service, appointment_id = _visit_with_a_recording(c)
    _record(service, appointment_id)
    c.table.providers["dr-b"] = provider_record("dr-b", "sub-dr-b")
    other = Caller(Actor.PROVIDER, "sub-dr-b", frozenset(), frozenset({"providers"}))
    written = len(c.table.changes())
    with pytest.raises(NotFoundError):
        service.estimates(other, appointment_id)
    assert len(c.table.changes()) == written
    assert [r["outcome"] for r in c.table.refusals()] == ["4"]  # the refusal is in the trail


# --- the visit reconciler --------------------------------------------------------------------------


def _open(c: Clinic, n: int, hours: int) -> Appointment:
    start = NOW + timedelta(hours=hours)
    appointment = Appointment(
        f"01OPEN{n}", PROVIDER_ID, "patient-1", "general", start, start + timedelta(minutes=30), "NY"
    )
    c.scheduling.book(appointment, [], None)
    return appointment


def _reconciler(c: Clinic) -> VisitReconciler:
    return VisitReconciler(c.scheduling, c.workflows, c.clock)


def test_a_visit_the_index_still_lists_but_that_closed_meanwhile_does_not_get_its_lifecycle_back() -> None:
    c = clinic()
    listed = _open(c, 1, 3)
    c.scheduling.change(listed, listed.cancelled(), [], None)
    c.table.lagging_index.append(listed)  # the index has not caught up with the cancellation
    done = _reconciler(c).reconcile()
    assert (done.open, done.left, done.started) == (1, 1, [])
    assert c.workflows.started == []


def test_one_visits_failed_repair_does_not_hold_back_the_others_and_names_it_by_id_only() -> None:
    c = clinic()
    first, second = _open(c, 1, 2), _open(c, 2, 3)
    c.workflows.failing.append(ConnectionError("patient-1 unreachable"))  # the soonest first
    done = _reconciler(c).reconcile()
    assert done.failed == [f"{first.appointment_id} v1: ConnectionError"]
    assert done.started == [f"{second.appointment_id} v1"]


def test_a_pass_out_of_time_has_repaired_the_soonest_visits_and_counts_the_rest() -> None:
    c = clinic()
    later, sooner, latest = _open(c, 1, 5), _open(c, 2, 1), _open(c, 3, 9)
    asked = iter([True, False])
    done = _reconciler(c).reconcile(time_left=lambda: next(asked))
    assert [a for a, _, _ in c.workflows.started] == [sooner.appointment_id]
    assert done.unvisited == 2
    assert {later.appointment_id, latest.appointment_id}.isdisjoint(a for a, _, _ in c.workflows.started)


def test_a_lifecycle_that_failed_with_its_visit_open_is_started_again_under_its_next_attempt() -> None:
    c = clinic()
    open_visit = _open(c, 1, 2)
    c.workflows.runs[(open_visit.appointment_id, 1)] = LifecycleRun(
        0, RunStatus.FAILED, "States.Timeout", NOW - timedelta(minutes=1)
    )
    done = _reconciler(c).reconcile()
    assert c.workflows.started == [(open_visit.appointment_id, 1, 1)]
    assert done.restarted == [f"{open_visit.appointment_id} v1 attempt 1"]


def test_oxygen_saturation_is_listed_as_not_estimated_whatever_a_worker_sends() -> None:
    c = clinic()
    service, appointment_id = _visit_with_a_recording(c)
    # A worker that sent a number for it is not believed: no camera method for SpO2 is cleared.
    recorded = service.record_estimate(
        appointment_id=appointment_id,
        version=1,
        encounter_id="enc-1",
        patient_id="patient-1",
        estimate={**ESTIMATE, "spo2": 97.0},
    )
    assert recorded.not_read == (
        ("respiratory-rate", "noisy"),
        ("oxygen-saturation", "not_estimated"),
    )
    assert len(c.table.entries(kind="Observation")) == 1  # the heart rate's alone
