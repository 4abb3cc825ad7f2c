"""Virtual triage's desk over the clinic table (moto): closed until the medical director signs the
rule set off; an intake that ends keeps its answers; a clinic that allows no self-care sends the
patient to a visit instead; "now" with no slot says what to do. Every answer is synthetic."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import topology
from telehealth.adapters.triage_store import DynamoTriageStore
from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotAuthorizedError
from telehealth.application.triage import NO_SLOT, SELF_CARE_OFF, TriageDesk
from telehealth.domain.appointments import Actor
from telehealth.domain.clinic_settings import ClinicSettings, TriageSettings
from telehealth.domain.triage import Disposition, IntakeStatus
from telehealth.errors import IntakeClosedError, TriageUnavailableError
from tests.integration.conftest import MotoServer

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PATIENT = Caller(Actor.PATIENT, "patient-7", frozenset(), frozenset())
DIRECTOR = Caller(Actor.PROVIDER, "sub-director", frozenset(), frozenset())
OTHER_PROVIDER = Caller(Actor.PROVIDER, "sub-other", frozenset(), frozenset())
A_COLD = {"age": 30, "complaint": "cold", "emergency_now": False, "temperature_f": None}
A_COLD |= {"days": 2, "severity": 2, "worsening": False, "details": None}
A_STROKE = {"age": 71, "complaint": "neurological", "emergency_now": False, "face_droop": True}
A_KIDNEY = {"age": 30, "complaint": "urinary", "emergency_now": False, "temperature_f": 101.2}
A_KIDNEY |= {"days": 1, "severity": 4, "worsening": False, "flank_pain": True, "details": None}


class Store(DynamoTriageStore):
    def provider_for_user(self, user_sub: str) -> str | None:
        return {"sub-director": "dr-director", "sub-other": "dr-other"}.get(user_sub)


class NoSlots:
    def search(self, caller: Caller, query: Any) -> tuple[list[Any], None]:
        return [], None


@pytest.fixture
def store(emulator: MotoServer) -> Store:
    name = f"triage-{uuid.uuid4().hex[:8]}"
    emulator.client("dynamodb").create_table(**topology.CLINIC_TABLE.create_request(name))
    return Store(name, client=emulator.client("dynamodb"))


def desk(store: Store, **triage: Any) -> TriageDesk:
    settings = ClinicSettings(triage=replace(TriageSettings(medical_director="dr-director"), **triage))
    trail = AuditTrail(store, lambda: NOW)
    return TriageDesk(store, lambda: settings, NoSlots, lambda: NOW, trail)  # type: ignore[arg-type]


def answered(d: TriageDesk, answers: dict[str, Any]) -> Any:
    intake_id = d.start(PATIENT).intake.intake_id
    return d.answer(PATIENT, intake_id, answers)


def test_the_intake_opens_only_once_the_medical_director_signs_the_rules_off(store: Store) -> None:
    d = desk(store)
    with pytest.raises(TriageUnavailableError):
        d.start(PATIENT)
    assert store.intakes(PATIENT.subject, 10) == []
    with pytest.raises(NotAuthorizedError):
        d.sign_off(OTHER_PROVIDER, "2026.1")
    assert not d.rules(OTHER_PROVIDER).enabled
    signed = d.sign_off(DIRECTOR, "2026.1")
    assert signed.enabled and [(s.version, s.signed_by, s.at) for s in signed.sign_offs] == [
        ("2026.1", "dr-director", NOW)
    ]
    later = TriageDesk(store, d.settings, NoSlots, lambda: NOW + timedelta(days=1), d.trail)  # type: ignore[arg-type]
    assert later.sign_off(DIRECTOR, "2026.1").sign_offs == signed.sign_offs  # the first one stands
    assert d.start(PATIENT).question.link_id == "age"  # type: ignore[union-attr]


def test_an_ended_intake_keeps_its_answers_and_answers_the_same_again(store: Store) -> None:
    d = desk(store)
    d.sign_off(DIRECTOR, "2026.1")
    ended = answered(d, A_STROKE)
    assert ended.intake.status is IntakeStatus.STOPPED and ended.intake.emergency.flag == "stroke"
    again = d.answer(PATIENT, ended.intake.intake_id, A_STROKE)
    assert again.intake == ended.intake
    with pytest.raises(IntakeClosedError):
        d.answer(PATIENT, ended.intake.intake_id, {**A_STROKE, "face_droop": False})
    assert store.intake(PATIENT.subject, ended.intake.intake_id) == ended.intake
    assert [i.intake_id for i in store.emergencies(10)] == [ended.intake.intake_id]


def test_a_clinic_that_allows_no_self_care_sends_the_patient_to_a_visit(store: Store) -> None:
    allowed = desk(store)
    allowed.sign_off(DIRECTOR, "2026.1")
    home = answered(allowed, A_COLD)
    assert home.intake.disposition is Disposition.SELF_CARE and "fluids" in (home.advice or "")
    visit = answered(desk(store, self_care=False), A_COLD)
    assert visit.intake.disposition is Disposition.WITHIN_DAYS and visit.intake.why == SELF_CARE_OFF
    assert visit.offer is not None and visit.offer.specialty == "family-medicine"


def test_now_with_no_urgent_slot_within_the_limit_says_what_to_do_instead(store: Store) -> None:
    d = desk(store, urgent_within=timedelta(hours=2))
    d.sign_off(DIRECTOR, "2026.1")
    urgent = answered(d, A_KIDNEY)
    assert urgent.intake.disposition is Disposition.NOW
    assert urgent.offer is not None and urgent.offer.soonest is None and urgent.advice == NO_SLOT
    assert urgent.offer.end - urgent.offer.start == timedelta(hours=2)
