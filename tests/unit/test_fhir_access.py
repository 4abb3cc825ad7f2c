"""Who may do what through the FHIR facade: the scope matrix (every resource type the facade
serves, by every interaction, by representative SMART scopes in both syntaxes), the scopes this
platform refuses, and the compartments: a patient and a provider reaching for what is not theirs
are denied in every cell, and staff and admins see what their role is for."""

from __future__ import annotations

import re
from typing import Any

import pytest

from telehealth.domain.fhir_access import (
    FACADE_RESOURCE_TYPES,
    SCOPE_NAMES,
    SERVED_TYPES,
    SUPPORTED_SCOPES,
    ClinicRole,
    Interaction,
    InvalidScope,
    UserAccess,
    granted_scopes,
    machine_may,
    parse_scope,
    patients_of,
    user_may,
)

I = Interaction  # noqa: E741 (short, for the tables)
READS = {I.READ, I.VREAD, I.HISTORY_INSTANCE}  # SMART v2's r
SEARCHES = {I.SEARCH, I.HISTORY_TYPE}  # its s
ALL = set(Interaction)

# What each representative scope allows on its own resource type, written out from SMART App
# Launch v2's table (and its reading of v1), not from the module under test.
ON_ITS_TYPE: dict[str, set[Interaction]] = {
    "rs": READS | SEARCHES,
    "cruds": ALL,
    "r": READS,
    "s": SEARCHES,
    "c": {I.CREATE},
    "u": {I.UPDATE},
    "d": {I.DELETE},
    "cud": {I.CREATE, I.UPDATE, I.DELETE},
    "rs-v1-read": READS | SEARCHES,  # system/T.read
    "write": {I.CREATE, I.UPDATE, I.DELETE},
    "*": ALL,
}
V1 = {"rs-v1-read": "read", "write": "write", "*": "*"}


def _scope(subject: str, form: str) -> str:
    return f"system/{subject}.{V1.get(form, form)}"


@pytest.mark.parametrize("resource_type", FACADE_RESOURCE_TYPES)
def test_the_scope_matrix_allows_exactly_what_each_scope_says(resource_type: str) -> None:
    other = "Device" if resource_type != "Device" else "Patient"
    for form, allowed in ON_ITS_TYPE.items():
        own = [parse_scope(_scope(resource_type, form))]
        wildcard = [parse_scope(_scope("*", form))]
        elsewhere = [parse_scope(_scope(other, form))]
        for interaction in Interaction:
            expected = interaction in allowed
            cell = (resource_type, form, interaction.code)
            assert machine_may(own, interaction, resource_type) is expected, cell
            assert machine_may(wildcard, interaction, resource_type) is expected, ("*", *cell)
            # A scope for another type opens nothing here.
            assert machine_may(elsewhere, interaction, resource_type) is False, (other, *cell)


def test_no_scope_and_a_type_the_facade_does_not_serve_open_nothing() -> None:
    everything = [parse_scope("system/*.*")]
    for interaction in Interaction:
        assert machine_may([], interaction, "Patient") is False
        assert machine_may(everything, interaction, "Claim") is False  # not served
        assert machine_may(everything, interaction, "Patient") is True


def test_a_tokens_scope_claim_grants_only_its_system_scopes() -> None:
    # What Cognito writes into a client-credentials token: its scopes of every resource server.
    granted = granted_scopes("telehealth/appointments.read system/Patient.rs system/Appointment.cruds")
    assert [s.text for s in granted] == ["system/Patient.rs", "system/Appointment.cruds"]
    assert machine_may(granted, I.SEARCH, "Patient") and not machine_may(granted, I.CREATE, "Patient")
    assert machine_may(granted, I.DELETE, "Appointment")
    assert not machine_may(granted, I.READ, "Observation")
    # The appointments feed's token opens no FHIR resource at all.
    assert granted_scopes("telehealth/appointments.read") == ()
    with pytest.raises(InvalidScope):
        granted_scopes("system/Patient.rs system/Patient.sr")


def test_v1_and_v2_spellings_are_told_apart() -> None:
    assert parse_scope("system/Patient.read").version == 1
    assert parse_scope("system/Patient.rs").version == 2
    assert parse_scope("system/*.*").version == 1


@pytest.mark.parametrize(
    ("scope", "says"),
    [
        ("user/Patient.rs", "not issued by this platform"),
        ("patient/Observation.read", "not issued by this platform"),
        ("patient/*.rs", "not issued by this platform"),
        ("system/Observation.rs?category=vital-signs", "query"),
        ("system/Claim.rs", "no such resource type"),
        ("system/Patient.sr", "in that order"),
        ("system/Patient.rrs", "in that order"),
        ("system/Patient.RS", "context/ResourceType"),
        ("system/Patient.r*", "in that order"),
        ("system/Patient.readwrite", "in that order"),
        ("system/patient.rs", "context/ResourceType"),
        ("system/Patient", "context/ResourceType"),
        ("system/Patient.", "context/ResourceType"),
        ("Patient.rs", "context/ResourceType"),
        ("system//Patient.rs", "context/ResourceType"),
        ("system/Patient.rs ", "context/ResourceType"),
        ("launch/Patient.rs", "system, user or patient"),
        ("", "context/ResourceType"),
    ],
)
def test_malformed_and_foreign_scopes_are_refused_saying_why(scope: str, says: str) -> None:
    with pytest.raises(InvalidScope, match=re.escape(says)):
        parse_scope(scope)


# Cognito's ResourceServerScopeType.ScopeName, and its limits (the API reference).
COGNITO_SCOPE_NAME = re.compile(r"[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]+")


def test_the_resource_servers_scopes_fit_cognito_and_all_parse() -> None:
    assert len(SCOPE_NAMES) <= 100
    # Every type and the wildcard, in SMART v2's two forms and v1's read.
    assert len(SCOPE_NAMES) == (len(SERVED_TYPES) + 1) * 3
    assert not {"system/Patient.write", "system/*.*"} & set(SUPPORTED_SCOPES)
    for name, description in SCOPE_NAMES.items():
        assert COGNITO_SCOPE_NAME.fullmatch(name) and len(name) <= 256, name
        assert 1 <= len(description) <= 256, name
    for scope in SUPPORTED_SCOPES:
        parse_scope(scope)
    assert {"system/Patient.rs", "system/Appointment.cruds", "system/*.rs", "system/Patient.read"} <= set(
        SUPPORTED_SCOPES
    )


# --- Users: role and compartment ---------------------------------------------------------------------

MINE, THEIRS = "pat-mine", "pat-theirs"
DIRECTORY = {"Practitioner", "PractitionerRole", "Schedule", "Slot"}


def _resource(kind: str, patient: str) -> dict[str, Any]:
    """A resource of `kind` as the facade would hold it for `patient` (directory ones name none)."""
    ref = {"reference": f"Patient/{patient}"}
    doctor = {"reference": "Practitioner/dr-okafor"}
    resources: dict[str, dict[str, Any]] = {
        "Patient": {"resourceType": "Patient", "id": patient},
        "Appointment": {"resourceType": "Appointment", "participant": [{"actor": ref}, {"actor": doctor}]},
        "Encounter": {"resourceType": "Encounter", "subject": ref, "participant": [{"individual": doctor}]},
        "Observation": {"resourceType": "Observation", "subject": ref},
        "Consent": {"resourceType": "Consent", "patient": ref},
        "ServiceRequest": {"resourceType": "ServiceRequest", "subject": ref, "requester": doctor},
        "RelatedPerson": {"resourceType": "RelatedPerson", "patient": ref},
        "Device": {"resourceType": "Device", "patient": ref},
        "Coverage": {"resourceType": "Coverage", "beneficiary": ref},
        "CoverageEligibilityResponse": {"resourceType": "CoverageEligibilityResponse", "patient": ref},
        "ChargeItem": {"resourceType": "ChargeItem", "subject": ref, "performer": [{"actor": doctor}]},
        "Invoice": {
            "resourceType": "Invoice",
            "subject": ref,
            "recipient": ref,
            "participant": [{"actor": doctor}],
        },
        "AuditEvent": {"resourceType": "AuditEvent", "agent": [{"who": doctor}], "entity": [{"what": ref}]},
        "Composition": {"resourceType": "Composition", "subject": ref, "author": [doctor]},
        "DocumentReference": {"resourceType": "DocumentReference", "subject": ref, "author": [doctor]},
        "Condition": {"resourceType": "Condition", "subject": ref, "recorder": doctor},
        "AllergyIntolerance": {"resourceType": "AllergyIntolerance", "patient": ref, "recorder": ref},
        "MedicationStatement": {
            "resourceType": "MedicationStatement",
            "subject": ref,
            "informationSource": ref,
        },
        "Practitioner": {"resourceType": "Practitioner", "id": "dr-okafor"},
        "PractitionerRole": {"resourceType": "PractitionerRole", "practitioner": doctor},
        "Schedule": {"resourceType": "Schedule", "actor": [doctor]},
        "Slot": {"resourceType": "Slot", "schedule": {"reference": "Schedule/dr-okafor-schedule"}},
    }
    return resources[kind]


PATIENT = UserAccess(frozenset({ClinicRole.PATIENT}), own_patient_id=MINE)
PROVIDER = UserAccess(frozenset({ClinicRole.PROVIDER}), patients_in_care=frozenset({MINE}))
STAFF = UserAccess(frozenset({ClinicRole.STAFF}))
ADMIN = UserAccess(frozenset({ClinicRole.ADMIN}))
NOBODY = UserAccess(frozenset())
READING = (I.READ, I.VREAD, I.HISTORY_INSTANCE)
WRITING = (I.CREATE, I.UPDATE, I.DELETE)

# What each role may read, as docs/decisions.md (FHIR facade: users) writes it down. Compartment
# types: the patient's own and the provider's patients only; the rest of the clinic for staff.
# The clinical record: the patient's own (their notes too), and their clinicians'; never the desk's.
CLINICAL = {"Composition", "DocumentReference", "Condition", "AllergyIntolerance", "MedicationStatement"}
MAY_READ_OWN = {
    "patient": DIRECTORY
    | {"Patient", "Appointment", "Encounter", "Observation", "Consent"}
    | {"ServiceRequest", "RelatedPerson", "Device", "Coverage", "CoverageEligibilityResponse"}
    | {"ChargeItem", "Invoice"}
    | CLINICAL,
    # Not the patient's money (Coverage, CoverageEligibilityResponse, ChargeItem, Invoice).
    "provider": DIRECTORY
    | {"Patient", "Appointment", "Encounter", "Observation", "Consent"}
    | {"ServiceRequest", "RelatedPerson", "Device"}
    | CLINICAL,
}
MAY_READ_ANY = {
    "staff": DIRECTORY
    | {"Patient", "Appointment", "ServiceRequest"}
    | {"Coverage", "CoverageEligibilityResponse", "ChargeItem", "Invoice"},
    "admin": DIRECTORY | {"AuditEvent"},
}
USERS = {"patient": PATIENT, "provider": PROVIDER, "staff": STAFF, "admin": ADMIN}


def test_each_resource_belongs_to_the_patient_it_names() -> None:
    for kind in FACADE_RESOURCE_TYPES:
        expected = frozenset() if kind in DIRECTORY else frozenset({MINE})
        assert patients_of(_resource(kind, MINE)) == expected, kind


@pytest.mark.parametrize("who", ["patient", "provider"])
def test_a_patient_and_a_provider_reach_for_what_is_not_theirs_and_every_cell_is_denied(who: str) -> None:
    user = USERS[who]
    for kind in FACADE_RESOURCE_TYPES:
        mine, theirs = (patients_of(_resource(kind, p)) for p in (MINE, THEIRS))
        for interaction in READING:
            assert user_may(user, interaction, kind, mine).allowed is (kind in MAY_READ_OWN[who]), (who, kind)
            if kind not in DIRECTORY:
                denied = user_may(user, interaction, kind, theirs)
                assert not denied.allowed, (who, kind, interaction)
                assert THEIRS not in denied.reason  # the refusal names no patient
        # A search must be confined to patients of theirs: unconfined, or reaching past them, no.
        for interaction in (I.SEARCH, I.HISTORY_TYPE):
            if kind in DIRECTORY:
                assert user_may(user, interaction, kind, frozenset()).allowed, (who, kind)
                continue
            assert not user_may(user, interaction, kind, frozenset()).allowed, (who, kind)
            assert not user_may(user, interaction, kind, frozenset({MINE, THEIRS})).allowed, (who, kind)
            assert not user_may(user, interaction, kind, frozenset({THEIRS})).allowed, (who, kind)
            assert user_may(user, interaction, kind, frozenset({MINE})).allowed is (kind in MAY_READ_OWN[who])


@pytest.mark.parametrize("who", ["staff", "admin"])
def test_staff_and_admins_read_what_their_role_is_for_and_nothing_else(who: str) -> None:
    user = USERS[who]
    for kind in FACADE_RESOURCE_TYPES:
        mine, theirs = (patients_of(_resource(kind, p)) for p in (MINE, THEIRS))
        for patients in (mine, theirs, frozenset()):
            for interaction in (*READING, I.SEARCH, I.HISTORY_TYPE):
                assert user_may(user, interaction, kind, patients).allowed is (kind in MAY_READ_ANY[who]), (
                    who,
                    kind,
                    interaction,
                )


def test_no_user_writes_through_the_facade_and_no_role_reads_nothing() -> None:
    everyone = UserAccess(frozenset(ClinicRole), own_patient_id=MINE, patients_in_care=frozenset({MINE}))
    for user in (*USERS.values(), everyone):
        for kind in FACADE_RESOURCE_TYPES:
            for interaction in WRITING:
                assert not user_may(user, interaction, kind, frozenset({MINE})).allowed, (user, kind)
    for kind in FACADE_RESOURCE_TYPES:
        assert not user_may(NOBODY, I.READ, kind, frozenset({MINE})).allowed, kind
    # AuditEvent is the administrators' alone, even about one's own record.
    assert not user_may(PATIENT, I.READ, "AuditEvent", frozenset({MINE})).allowed
    assert not user_may(PROVIDER, I.SEARCH, "AuditEvent", frozenset({MINE})).allowed
    assert not user_may(everyone, I.READ, "Claim", frozenset({MINE})).allowed


def test_a_provider_who_is_also_staff_gets_both_and_a_patient_without_an_id_sees_no_record() -> None:
    both = UserAccess(frozenset({ClinicRole.PROVIDER, ClinicRole.STAFF}), patients_in_care=frozenset({MINE}))
    assert user_may(both, I.READ, "Patient", frozenset({THEIRS})).allowed  # the front desk's
    assert user_may(both, I.READ, "Observation", frozenset({MINE})).allowed  # their patient's
    assert not user_may(both, I.READ, "Observation", frozenset({THEIRS})).allowed
    unenrolled = UserAccess(frozenset({ClinicRole.PATIENT}))
    assert not user_may(unenrolled, I.READ, "Patient", frozenset()).allowed
    assert user_may(unenrolled, I.SEARCH, "Slot", frozenset()).allowed
