"""Who may do what through the FHIR facade: a health system's software by its SMART scopes, a
patient, provider or member of staff by their role and the patients they are in care with.

Pure: no AWS, no I/O. The facade's routes (functions/api/routes/fhir.py) parse the token's
`scope` claim, name the interaction and the resource type, pass in the facts they looked up, and
ask; the answer is a yes or a no with the reason a refusal's OperationOutcome may say (never who
the patient is).

The interface:

    FACADE_RESOURCE_TYPES          the resource types the facade serves, in one place
    Interaction                    read, vread, history (instance and type), search, create,
                                   update, delete, each with its SMART v2 letter
    parse_scope(text)              a SmartScope, or InvalidScope saying what is wrong
    granted_scopes(scope_claim)    the SMART scopes in a token's `scope` claim
    machine_may(scopes, interaction, resource_type)
    SCOPE_NAMES                    the scope names the `system` resource server defines (Cognito
                                   composes the token's scope as `system/<name>`)
    ClinicRole, UserAccess         who a user is and the patients they are in care with
    patients_of(resource)          the patients a FHIR resource belongs to (its compartment)
    role_may(roles, interaction, resource_type)   what the roles alone decide, before a read
    user_may(user, interaction, resource_type, patients)

Machine clients carry system-level scopes only. `user/` and `patient/` scopes belong to SMART's
app launch, where a user authorizes an app on their own behalf; this platform issues none (users
call the facade with their own tokens, checked by role and compartment below), so a scope in
those contexts is refused rather than read as something it is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

# The resource types the facade serves (issue #16), in the order documents list them. A feature
# that adds a type adds it here; the `system` resource server's scopes follow (SCOPE_NAMES).
FACADE_RESOURCE_TYPES: tuple[str, ...] = (
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Schedule",
    "Slot",
    "Appointment",
    "Encounter",
    "Observation",
    "Consent",
    "AuditEvent",
    "ServiceRequest",
    "RelatedPerson",
    "Device",
    # A patient's insurance (a health system writes it) and the payer's last answer about it.
    "Coverage",
    "CoverageEligibilityResponse",
    # What a completed visit was billed as, and the patient's invoice (the clinic's biller's).
    "ChargeItem",
    "Invoice",
    # The clinician's signed note (its sections, its rendered copies) and its diagnoses; the
    # patient's allergies and medicines.
    "Composition",
    "DocumentReference",
    "Condition",
    "AllergyIntolerance",
    "MedicationStatement",
)

# What the platform serves from its own table rather than HealthLake's (which has no subscriptions):
# health systems' Subscriptions (the R5 Backport on R4).
PLATFORM_RESOURCE_TYPES: tuple[str, ...] = ("Subscription",)
SERVED_TYPES: tuple[str, ...] = (*FACADE_RESOURCE_TYPES, *PLATFORM_RESOURCE_TYPES)

# The Cognito resource server whose scopes are the SMART scopes: with this identifier, Cognito
# writes a scope named `Patient.rs` into the token as `system/Patient.rs`, SMART's own spelling.
RESOURCE_SERVER = "system"
WILDCARD = "*"


class Permission(Enum):
    """SMART v2's letters, in the order a scope must list them."""

    CREATE = "c"
    READ = "r"
    UPDATE = "u"
    DELETE = "d"
    SEARCH = "s"


_ORDER = "cruds"


class Interaction(Enum):
    """A FHIR RESTful interaction (R4's TypeRestfulInteraction code: the CapabilityStatement's and
    the AuditEvent's subtype), with the SMART v2 letter that allows it: `r` is the instance's read,
    vread and history; `s` is search and the type's history (SMART App Launch v2, scopes). The one
    enum for the facade, its access rules, HealthLake's support table and the audit trail."""

    READ = ("read", Permission.READ)
    VREAD = ("vread", Permission.READ)
    HISTORY_INSTANCE = ("history-instance", Permission.READ)
    HISTORY_TYPE = ("history-type", Permission.SEARCH)
    SEARCH = ("search-type", Permission.SEARCH)
    CREATE = ("create", Permission.CREATE)
    UPDATE = ("update", Permission.UPDATE)
    DELETE = ("delete", Permission.DELETE)

    def __init__(self, code: str, permission: Permission) -> None:
        self.code = code  # CapabilityStatement's TypeRestfulInteraction code
        self.permission = permission

    @property
    def writes(self) -> bool:
        return self.permission in (Permission.CREATE, Permission.UPDATE, Permission.DELETE)

    @property
    def action(self) -> str:
        """AuditEvent.action: C, R, U or D (a search and a history are reads)."""
        return {Permission.SEARCH: "R"}.get(self.permission, self.permission.value.upper())


# SMART v1's permissions, as v2 reads them: `read` is read and search, `write` is create, update
# and delete, `*` is all five.
V1_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "read": frozenset({Permission.READ, Permission.SEARCH}),
    "write": frozenset({Permission.CREATE, Permission.UPDATE, Permission.DELETE}),
    "*": frozenset(Permission),
}


class InvalidScope(ValueError):  # noqa: N818 (OAuth's own word: invalid_scope)
    """A scope this platform does not understand or does not issue; the message says which part."""


@dataclass(frozen=True)
class SmartScope:
    """One system-level scope: a resource type (or `*`) and what it allows on it."""

    resource_type: str
    permissions: frozenset[Permission]
    text: str  # as written, for the audit record and error messages
    version: int  # 1 or 2: the syntax it was written in

    def allows(self, interaction: Interaction, resource_type: str) -> bool:
        return self.resource_type in (WILDCARD, resource_type) and interaction.permission in self.permissions


# context / resource type or * . permissions; a `?` (v2's finer-grained query) or anything else
# outside this shape is malformed.
_SCOPE = re.compile(r"(?P<context>[a-z]+)/(?P<type>\*|[A-Z][A-Za-z]*)\.(?P<permissions>[a-z*]+)")
_V2 = re.compile(r"c?r?u?d?s?")


def parse_scope(text: str) -> SmartScope:
    """A SMART scope in v2 (`system/Patient.rs`) or v1 (`system/Patient.read`) syntax, for a
    resource type the facade serves or `*`. Refused: other contexts (`user/`, `patient/`: this
    platform issues none), v2's query suffix (`?category=...`: not supported), unknown types,
    letters out of order or repeated, and anything else."""
    if "?" in text:
        raise InvalidScope("Scopes with a query (SMART v2 finer-grained scopes) are not supported.")
    match = _SCOPE.fullmatch(text)
    if match is None:
        raise InvalidScope("A SMART scope reads context/ResourceType.permissions, e.g. system/Patient.rs.")
    context, resource_type, written = match["context"], match["type"], match["permissions"]
    if context in ("user", "patient"):
        raise InvalidScope(
            f"{context}/ scopes are not issued by this platform: machine clients carry system/ scopes, "
            "and users call the facade with their own tokens."
        )
    if context != "system":
        raise InvalidScope("The context of a SMART scope is system, user or patient.")
    if resource_type != WILDCARD and resource_type not in SERVED_TYPES:
        raise InvalidScope("The facade serves no such resource type.")
    if written in V1_PERMISSIONS:
        return SmartScope(resource_type, V1_PERMISSIONS[written], text, version=1)
    if not _V2.fullmatch(written):
        raise InvalidScope("Permissions are read, write or * (v1), or letters of cruds in that order (v2).")
    return SmartScope(resource_type, frozenset(Permission(letter) for letter in written), text, version=2)


def granted_scopes(scope_claim: str) -> tuple[SmartScope, ...]:
    """The SMART scopes in an access token's space-separated `scope` claim. Scopes of other
    resource servers (`telehealth/appointments.read`) grant nothing here and are passed over; a
    `system/` scope that does not parse is refused (InvalidScope), not ignored, though Cognito
    grants only the scopes the resource server defines."""
    return tuple(parse_scope(s) for s in scope_claim.split() if s.startswith(f"{RESOURCE_SERVER}/"))


def machine_may(scopes: Iterable[SmartScope], interaction: Interaction, resource_type: str) -> bool:
    """Whether a machine client holding `scopes` may do `interaction` on `resource_type`. Only
    the facade's types: a wildcard scope does not reach a type the facade does not serve."""
    if resource_type not in SERVED_TYPES:
        return False
    return any(s.allows(interaction, resource_type) for s in scopes)


# --- The scopes the resource server defines --------------------------------------------------------

# Cognito allows 100 scopes per resource server (ResourceServerType.Scopes). Each resource type,
# and the wildcard, costs SCOPE_FORMS: v2's `rs` and `cruds` (read-only, and everything; other
# letter sets are not defined, so a client asks for one of these) and v1's `read`. v1's `write`
# and `*` went when the clinical record's types came (docs/decisions.md, SMART scopes): 23 types
# (Subscription among them) and the wildcard make 72; the list holds 32 types before a form must go.
COGNITO_SCOPES_PER_RESOURCE_SERVER = 100
SCOPE_FORMS: tuple[tuple[str, str], ...] = (
    ("rs", "Read and search {what} (SMART v2)"),
    ("cruds", "Create, read, update, delete and search {what} (SMART v2)"),
    ("read", "Read and search {what} (SMART v1)"),
)


def _scope_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for subject in (*SERVED_TYPES, WILDCARD):
        what = "every resource type the facade serves" if subject == WILDCARD else subject
        for form, description in SCOPE_FORMS:
            names[f"{subject}.{form}"] = description.format(what=what)
    if len(names) > COGNITO_SCOPES_PER_RESOURCE_SERVER:
        raise ValueError(f"{len(names)} SMART scopes: Cognito allows a resource server 100")
    return names


# Scope name (within the resource server) -> its description.
SCOPE_NAMES: dict[str, str] = _scope_names()


def token_scope(name: str) -> str:
    """How a scope of the resource server reads in a token: `system/Patient.rs`."""
    return f"{RESOURCE_SERVER}/{name}"


SUPPORTED_SCOPES: tuple[str, ...] = tuple(token_scope(name) for name in SCOPE_NAMES)


# --- Users: role and compartment --------------------------------------------------------------------


class ClinicRole(Enum):
    PATIENT = "patient"  # the patient pool
    PROVIDER = "provider"  # the workforce pool's `providers` group
    STAFF = "staff"  # `staff`: the front desk and care coordinators
    ADMIN = "admin"  # `admins`: the clinic's administrators


# Types with no patient in them: the clinic's directory and its calendar (a patient books from them).
DIRECTORY_TYPES = frozenset({"Practitioner", "PractitionerRole", "Schedule", "Slot"})
# Types in the patient compartment: each resource names the patient it is about.
COMPARTMENT_TYPES = frozenset(FACADE_RESOURCE_TYPES) - DIRECTORY_TYPES - {"AuditEvent"}
# A patient's money: their insurance, the payer's answers, charges and invoices. The patient's own
# and the front desk's to read; not a clinician's (minimum necessary: the app's payment routes
# refuse providers too).
MONEY_TYPES = frozenset({"Coverage", "CoverageEligibilityResponse", "ChargeItem", "Invoice"})
# What the front desk works with: scheduling, the referrals it books from, and the money (insurance,
# charges, invoices); not clinical notes, observations, consents or devices: the minimum necessary
# for their work.
STAFF_TYPES = DIRECTORY_TYPES | {"Patient", "Appointment", "ServiceRequest"} | MONEY_TYPES
# Administrators see who accessed what (AuditEvent) and the directory; no clinical record.
ADMIN_TYPES = DIRECTORY_TYPES | {"AuditEvent"}


@dataclass(frozen=True)
class UserAccess:
    """What the facade knows about a user, looked up by the caller: their roles (a workforce
    member may hold several groups), their own patient id (patients), and the patients they have
    or had an appointment with in this clinic (providers), from the clinic's own table."""

    roles: frozenset[ClinicRole]
    own_patient_id: str | None = None
    patients_in_care: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # for the OperationOutcome and the audit record: names no patient


ALLOWED = Decision(True, "allowed")


def patients_of(resource: Mapping[str, Any]) -> frozenset[str]:
    """The patients a resource belongs to (its patient compartment): a Patient itself, and the
    `Patient/<id>` references in its subject, patient, participants' actors, agents, entities and
    beneficiary. A resource naming none belongs to no patient (a directory entry)."""
    kind = resource.get("resourceType")
    if kind == "Patient":
        return frozenset({str(resource.get("id", ""))}) - {""}
    actor = resource.get("actor")  # Schedule's: a list of references
    references: list[Any] = [
        resource.get("subject"),
        resource.get("patient"),
        resource.get("beneficiary"),
        *(p.get("actor") for p in resource.get("participant", []) if isinstance(p, Mapping)),
        *(a.get("who") for a in resource.get("agent", []) if isinstance(a, Mapping)),
        *(e.get("what") for e in resource.get("entity", []) if isinstance(e, Mapping)),
        *(actor if isinstance(actor, list) else [actor]),
    ]
    found = set()
    for reference in references:
        if isinstance(reference, Mapping):
            kind_, _, id_ = str(reference.get("reference", "")).partition("/")
            if kind_ == "Patient" and id_:
                found.add(id_)
    return frozenset(found)


def _patients_allowed(user: UserAccess) -> frozenset[str] | None:
    """The patients whose compartment the user may read; None: any patient of the clinic."""
    allowed: set[str] = set()
    if ClinicRole.PATIENT in user.roles and user.own_patient_id:
        allowed.add(user.own_patient_id)
    if ClinicRole.PROVIDER in user.roles:
        allowed |= user.patients_in_care
    return frozenset(allowed)


def role_may(roles: frozenset[ClinicRole], interaction: Interaction, resource_type: str) -> Decision:
    """What a user's roles alone decide, before any record is read: a refusal, or ALLOWED where
    the type is open to the role or the role has a compartment in it (patients and providers;
    `user_may` then decides on the record's patients).

    Users read through the facade; they change things through the app API, where the clinic's
    rules (booking, licensure, consent) run. So every write is refused here, for every role.
    """
    if resource_type not in FACADE_RESOURCE_TYPES:
        return Decision(False, "The facade serves no such resource type.")
    if interaction.writes:
        return Decision(False, "Users change records through the clinic's app, not the FHIR facade.")
    if not roles:
        return Decision(False, "Your account has no role in this clinic.")
    if resource_type in DIRECTORY_TYPES:
        return ALLOWED  # every role: the directory and calendar name no patient
    if ClinicRole.ADMIN in roles and resource_type in ADMIN_TYPES:
        return ALLOWED
    if ClinicRole.STAFF in roles and resource_type in STAFF_TYPES:
        return ALLOWED
    if resource_type in COMPARTMENT_TYPES and ClinicRole.PATIENT in roles:
        return ALLOWED
    if resource_type in COMPARTMENT_TYPES - MONEY_TYPES and ClinicRole.PROVIDER in roles:
        return ALLOWED
    return Decision(False, "Your role may not read this resource type.")


def _open_by_role(roles: frozenset[ClinicRole], resource_type: str) -> bool:
    return (
        resource_type in DIRECTORY_TYPES
        or (ClinicRole.ADMIN in roles and resource_type in ADMIN_TYPES)
        or (ClinicRole.STAFF in roles and resource_type in STAFF_TYPES)
    )


def user_may(
    user: UserAccess, interaction: Interaction, resource_type: str, patients: frozenset[str]
) -> Decision:
    """Whether a user may do `interaction` on a resource (or search) of `resource_type` whose
    patients are `patients`: for a read, `patients_of(resource)`; for a search, the patients the
    search is confined to (its `patient`/`subject` parameter, or `_id` for Patient; an empty set
    for a search confined to no patient, which a compartment type refuses)."""
    by_role = role_may(user.roles, interaction, resource_type)
    if not by_role.allowed or _open_by_role(user.roles, resource_type):
        return by_role
    allowed = _patients_allowed(user)
    if not allowed:
        return Decision(False, "Your role may not read this resource type.")
    if not patients:
        return Decision(False, "Confine the request to a patient in your care (the patient parameter).")
    if patients <= allowed:
        return ALLOWED
    return Decision(False, "The record belongs to a patient outside your care.")
