"""The audit trail's FHIR R4 resources: AuditEvent, and the agents the platform keeps for it.

An AuditEvent says who (`agent.who`), did what (`subtype`, the REST interaction, and `action`),
to which records (`entity.what`), when, why (`purposeOfEvent`) and with what outcome. Every
reference in it resolves in the same store: patients are `Patient/<id>` and providers
`Practitioner/<provider id>`, each projected from their own record; the workforce users who are
not providers (staff, admins) and the machines that act (health systems' clients, the media
workers) have no record of their own, so their Practitioner or Device is derived from the
reference alone (`agent_resource`), written before the first AuditEvent that names it and again
by a rebuild from the archived events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from telehealth.domain.fhir_access import Interaction
from telehealth.fhir.projection import PURPOSE_SYSTEM, _meta, instant

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
USER_SYSTEM = "urn:telehealth:user"  # a workforce user's Cognito sub
MACHINE_CLIENT_SYSTEM = "urn:telehealth:machine-client"  # a client-credentials app client's id
APPOINTMENT_SYSTEM = "urn:telehealth:appointment"

# Derived ids: `user-<sub>` (36 characters) and `client-<client id>` stay within FHIR's 64.
USER_PREFIX, CLIENT_PREFIX, WORKER_PREFIX = "user-", "client-", "media-worker-"
POLLER_PREFIX = "poller-"  # the platform's pollers of device clouds (`dexcom`)
MAX_ENTITIES = 500  # per AuditEvent: ~40 KB, far below an outbox item's 400 KB


class Outcome(StrEnum):
    """AuditEvent.outcome: 0 success; 4 a minor failure (a refusal, a rule: HTTP 4xx); 8 a serious
    one (the request failed on the platform's side: 5xx); 12 is the platform unusable (unused)."""

    SUCCESS = "0"
    MINOR_FAILURE = "4"
    SERIOUS_FAILURE = "8"


@dataclass(frozen=True)
class AuditFact:
    """Who did what to which records, when and why: ids only."""

    audit_id: str
    at: datetime
    actor_reference: str  # Patient/<id>, Practitioner/<provider id or user-<sub>>, Device/<id>
    interaction: Interaction
    entities: Sequence[str]  # Appointment/<id>, ... (every record the request read or changed)
    purpose: str  # v3 ActReason: TREAT, HPAYMT, HOPERAT, PATRQT ...
    outcome: Outcome = Outcome.SUCCESS
    # Why it failed, as a stable code (a problem type, an error's class): never a message, which
    # may repeat what was submitted.
    failure: str | None = None
    # An appointment asked for that does not exist: named by identifier, since a reference to it
    # would not resolve.
    unknown_appointment: str | None = None


# Resources the platform keeps outside the clinical record (its own table, not the FHIR store): an
# AuditEvent names them by identifier, since a reference would not resolve in the record.
KEPT_OUTSIDE_THE_RECORD = {
    "Subscription": "urn:telehealth:subscription",
    "Export": "urn:telehealth:bulk-export",
}


def _entity(reference: str) -> dict[str, Any]:
    kind, _, resource_id = reference.partition("/")
    system = KEPT_OUTSIDE_THE_RECORD.get(kind)
    if system is None:
        return {"what": {"reference": reference}}
    return {"what": {"type": kind, "identifier": {"system": system, "value": resource_id}}}


def audit_event(fact: AuditFact) -> dict[str, Any]:
    entities: list[dict[str, Any]] = [_entity(e) for e in fact.entities]
    if fact.unknown_appointment:
        entities.append(
            {"what": {"identifier": {"system": APPOINTMENT_SYSTEM, "value": fact.unknown_appointment}}}
        )
    return {
        "resourceType": "AuditEvent",
        "id": fact.audit_id.lower(),
        "meta": _meta(1),
        "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": RESTFUL_INTERACTION, "code": fact.interaction.code}],
        "action": fact.interaction.action,
        "recorded": instant(fact.at),
        "outcome": fact.outcome.value,
        **({"outcomeDesc": fact.failure} if fact.failure else {}),
        "purposeOfEvent": [{"coding": [{"system": PURPOSE_SYSTEM, "code": fact.purpose}]}],
        "agent": [{"who": {"reference": fact.actor_reference}, "requestor": True}],
        "source": {"observer": {"display": "telehealth platform"}},
        **({"entity": entities} if entities else {}),
    }


# --- agents the platform keeps for the audit trail ------------------------------------------------


def user_agent(user_sub: str) -> str:
    """A workforce user who is not a provider (staff, an admin)."""
    return f"Practitioner/{USER_PREFIX}{user_sub}"


def client_agent(client_id: str) -> str:
    """A health system's machine client (client credentials)."""
    return f"Device/{CLIENT_PREFIX}{client_id}"


def worker_agent(name: str) -> str:
    """One of the platform's media workers (`rppg`)."""
    return f"Device/{WORKER_PREFIX}{name}"


def poller_agent(name: str) -> str:
    """One of the platform's pollers of a device maker's cloud (`dexcom`)."""
    return f"Device/{POLLER_PREFIX}{name}"


def agent_resource(reference: str) -> dict[str, Any] | None:
    """The Practitioner or Device an agent reference names, where the platform derives it from
    the reference alone; None for agents projected from a record of their own (patients,
    providers). The same reference always gives the same resource (version 1), so writing it again
    changes nothing."""
    kind, _, resource_id = reference.partition("/")
    if kind == "Practitioner" and resource_id.startswith(USER_PREFIX):
        return {
            "resourceType": "Practitioner",
            "id": resource_id,
            "meta": _meta(1),
            "active": True,
            # The workforce pool has the person's name; the record keeps who, not their details.
            "identifier": [{"system": USER_SYSTEM, "value": resource_id.removeprefix(USER_PREFIX)}],
        }
    if kind == "Device" and resource_id.startswith(CLIENT_PREFIX):
        client_id = resource_id.removeprefix(CLIENT_PREFIX)
        return _device(resource_id, f"health-system client {client_id}", MACHINE_CLIENT_SYSTEM, client_id)
    if kind == "Device" and resource_id.startswith((WORKER_PREFIX, POLLER_PREFIX)):
        return _device(resource_id, f"telehealth {resource_id}", None, None)
    return None


def _device(resource_id: str, name: str, system: str | None, value: str | None) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": resource_id,
        "meta": _meta(1),
        "status": "active",
        **({"identifier": [{"system": system, "value": value}]} if system and value else {}),
        "deviceName": [{"name": name, "type": "user-friendly-name"}],
    }
