"""The audit trail without AWS: agents that resolve, one AuditEvent per request, failures with
their outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotFoundError
from telehealth.domain.appointments import Actor, Appointment, AppointmentRuleError
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.ids import new_id
from telehealth.fhir.audit import MAX_ENTITIES, agent_resource
from telehealth.ports import OutboxEntry

NOW = datetime(2026, 12, 1, 15, tzinfo=UTC)
STAFF_SUB = "0f5d1c2e-1111-4222-8333-944455556666"


class Store:
    """The trail's view of the clinic table: who is which provider, which appointments exist,
    and what was written through the outbox on its own."""

    def __init__(
        self, providers: dict[str, str] | None = None, appointments: frozenset[str] = frozenset()
    ) -> None:
        self.providers = providers or {}
        self.appointments = appointments
        self.recorded: list[list[OutboxEntry]] = []
        self.lookups = 0

    def provider_for_user(self, user_sub: str) -> str | None:
        self.lookups += 1
        return self.providers.get(user_sub)

    def appointment(self, appointment_id: str) -> Appointment | None:
        if appointment_id not in self.appointments:
            return None
        start = NOW + timedelta(days=1)
        end = start + timedelta(minutes=30)
        return Appointment(appointment_id, "dr-x", "patient-1", "general", start, end, "NY")

    def record(self, outbox: list[OutboxEntry]) -> None:
        self.recorded.append(outbox)

    def resources(self) -> list[dict[str, Any]]:
        return [dict(e.resource) for batch in self.recorded for e in batch]


def caller(actor: Actor, subject: str) -> Caller:
    return Caller(actor, subject, frozenset(), frozenset())


def test_each_kind_of_caller_is_an_agent_the_record_holds() -> None:
    store = Store(providers={"sub-of-dr-x": "dr-x"})
    trail = AuditTrail(store, lambda: NOW)
    assert trail.agent(caller(Actor.PATIENT, "patient-1")) == "Patient/patient-1"
    assert trail.agent(caller(Actor.PROVIDER, "sub-of-dr-x")) == "Practitioner/dr-x"
    assert store.recorded == []  # patients and providers are projected from their own records
    staff = trail.agent(caller(Actor.STAFF, STAFF_SUB))
    machine = trail.agent(caller(Actor.MACHINE, "3n4b5c6d7e8f9g0h1i2j3k4l5m"))
    assert (staff, machine) == (f"Practitioner/user-{STAFF_SUB}", "Device/client-3n4b5c6d7e8f9g0h1i2j3k4l5m")
    # Their resources were written before any AuditEvent could name them, each in a write of its own.
    assert [(r["resourceType"], r["id"]) for r in store.resources()] == [
        ("Practitioner", f"user-{STAFF_SUB}"),
        ("Device", "client-3n4b5c6d7e8f9g0h1i2j3k4l5m"),
    ]
    # Once per container: later requests neither write them again nor look the provider up again.
    for _ in range(3):
        trail.agent(caller(Actor.STAFF, STAFF_SUB))
        trail.agent(caller(Actor.PROVIDER, "sub-of-dr-x"))
    assert len(store.recorded) == 2 and store.lookups == 1


def test_a_provider_user_without_a_profile_is_still_an_agent_that_resolves() -> None:
    store = Store()
    trail = AuditTrail(store, lambda: NOW)
    reference = trail.agent(caller(Actor.PROVIDER, STAFF_SUB))
    assert reference == f"Practitioner/user-{STAFF_SUB}"
    assert store.resources() == [agent_resource(reference)]
    # Once an admin gives them a profile, their next request is theirs as that provider.
    store.providers[STAFF_SUB] = "dr-new"
    assert trail.agent(caller(Actor.PROVIDER, STAFF_SUB)) == "Practitioner/dr-new"


def test_a_refused_request_is_one_audit_event_with_a_minor_failure_naming_what_was_asked() -> None:
    theirs, nobodys = new_id(NOW), new_id(NOW)
    store = Store(appointments=frozenset({theirs}))
    trail = AuditTrail(store, lambda: NOW)
    prober = caller(Actor.PATIENT, "patient-2")
    for appointment_id in (theirs, nobodys):
        # A use case inside another's request leaves the failure to the outermost: one event.
        with (
            pytest.raises(NotFoundError),
            trail.request(prober, Interaction.READ, appointment_id),
            trail.request(prober, Interaction.READ, appointment_id),
        ):
            raise NotFoundError("no such appointment")
    known, unknown = store.resources()
    assert (known["outcome"], known["outcomeDesc"], known["action"]) == ("4", "not-found", "R")
    assert known["subtype"][0]["code"] == "read"
    assert known["agent"][0]["who"] == {"reference": "Patient/patient-2"}
    assert known["entity"] == [{"what": {"reference": f"Appointment/{theirs}"}}]
    # One that does not exist is named by identifier: a reference to it would not resolve.
    assert unknown["entity"] == [
        {"what": {"identifier": {"system": "urn:telehealth:appointment", "value": nobodys}}}
    ]


def test_a_clinic_rule_is_a_minor_failure_and_the_platforms_own_a_serious_one() -> None:
    store = Store()
    trail = AuditTrail(store, lambda: NOW)
    patient = caller(Actor.PATIENT, "patient-1")
    with pytest.raises(AppointmentRuleError), trail.request(patient, Interaction.UPDATE):
        raise AppointmentRuleError("outside-cancellation-window", "Too late to cancel online.")
    with pytest.raises(RuntimeError), trail.request(patient, Interaction.CREATE):
        raise RuntimeError("the table is unreachable: patient-1's details")
    rule, serious = store.resources()
    assert (rule["outcome"], rule["outcomeDesc"]) == ("4", "outside-cancellation-window")
    # A message may carry what was submitted: only the error's class is kept.
    assert (serious["outcome"], serious["outcomeDesc"]) == ("8", "RuntimeError")
    assert "entity" not in serious


def test_a_request_that_succeeds_writes_no_failure() -> None:
    store = Store()
    trail = AuditTrail(store, lambda: NOW)
    with trail.request(caller(Actor.PATIENT, "patient-1"), Interaction.READ, new_id(NOW)):
        pass
    assert store.recorded == []


def test_a_long_list_is_one_event_per_five_hundred_rows_and_an_empty_one_is_still_audited() -> None:
    trail = AuditTrail(Store(), lambda: NOW)
    rows = [f"Appointment/{new_id(NOW)}" for _ in range(MAX_ENTITIES + 1)]
    events = [e.resource for e in trail.entries("Patient/patient-1", Interaction.SEARCH, rows, NOW)]
    assert [len(e["entity"]) for e in events] == [MAX_ENTITIES, 1]
    assert {e["subtype"][0]["code"] for e in events} == {"search-type"}
    (empty,) = trail.entries("Patient/patient-1", Interaction.SEARCH, [], NOW)
    assert "entity" not in empty.resource and empty.resource["outcome"] == "0"


def test_audit_events_and_the_agents_kept_for_them_are_valid_fhir() -> None:
    """Held to FHIR's own models (R4B, wire-compatible with R4 for these): a success naming rows,
    a refusal naming an unknown appointment by identifier, and each derived agent."""
    store = Store()
    trail = AuditTrail(store, lambda: NOW)
    staff = trail.agent(caller(Actor.STAFF, STAFF_SUB))
    machine = trail.agent(caller(Actor.MACHINE, "3n4b5c6d7e8f9g0h1i2j3k4l5m"))
    worker = trail.kept("Device/media-worker-rppg")
    success = trail.entry(staff, Interaction.SEARCH, [f"Appointment/{new_id(NOW)}"], NOW).resource
    with (
        pytest.raises(NotFoundError),
        trail.request(caller(Actor.MACHINE, "3n4b"), Interaction.READ, new_id(NOW)),
    ):
        raise NotFoundError("no such appointment")
    resources = [success, *store.resources()]
    assert {f"{r['resourceType']}/{r['id']}" for r in resources} >= {staff, machine, worker}
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_a_subscription_is_named_by_identifier_since_the_record_does_not_hold_it() -> None:
    from datetime import UTC, datetime

    from telehealth.domain.fhir_access import Interaction
    from telehealth.fhir.audit import AuditFact, Outcome, audit_event

    fact = AuditFact(
        "01ABC",
        datetime(2026, 12, 1, tzinfo=UTC),
        "Device/client-x",
        Interaction.CREATE,
        ("Subscription/s-1", "Patient/p-1"),
        "TREAT",
        Outcome.SUCCESS,
    )
    entities = audit_event(fact)["entity"]
    assert entities[0]["what"] == {
        "type": "Subscription",
        "identifier": {"system": "urn:telehealth:subscription", "value": "s-1"},
    }
    assert entities[1]["what"] == {"reference": "Patient/p-1"}
