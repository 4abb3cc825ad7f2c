"""The FHIR facade over the local platform, as a health system and the clinic's users meet it:
the CapabilityStatement held against what is served, scopes and compartments at the door, paging
by opaque links, OperationOutcomes that echo nothing, and one AuditEvent per request.

Behind it the HealthLake stand-in, which refuses what HealthLake refuses."""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD
from local.tokens import mint_client_credentials_token
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.domain.fhir_access import FACADE_RESOURCE_TYPES, SERVED_TYPES
from telehealth.domain.subscriptions import Topic
from telehealth.fhir.projection import source_version
from telehealth.ports import FhirStoreError
from tests.conftest import Reply, eventually, http, user_tokens
from tests.e2e.test_scheduling import book, fresh_slot, patient_id

RIVERSIDE, DESERT = "riverside", "desert-clinic"
FHIR = "/fhir/r4"
PATIENT, OTHER_PATIENT = "patient.one@riverside.example", "patient.two@riverside.example"
PROVIDER = "dr.ramirez@riverside.example"
# A value searched for that must never come back in a link, an error or a log.
SEARCHED_NAME = "Zyxwvu-Searchedname"


class Facade:
    """The facade as a client calls it: a token, and GETs and POSTs under the FHIR base."""

    def __init__(self, gateway: str, token: str | None) -> None:
        self.base, self.token = f"{gateway}{FHIR}", token

    def get(self, path: str) -> Reply:
        return self.call("GET", path)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> Reply:
        url = path if path.startswith("http") else f"{self.base}/{path.lstrip('/')}"
        headers = {"Accept": "application/fhir+json", **(extra or {})}
        if self.token:
            headers["Authorization"] = self.token
        if content_type:
            headers["Content-Type"] = content_type
        return http(method, url, headers=headers, body=body)


def machine_token(platform: LocalPlatform, *scopes: str, client_id: str = "ehr-test") -> str:
    """An access token as Cognito issues it for client credentials, with exactly these scopes."""
    issuer = platform.provisioned[RIVERSIDE].issuers["workforce"]
    return mint_client_credentials_token(issuer=issuer, client_id=client_id, scopes=scopes)


def outcome(reply: Reply, status: int) -> dict[str, Any]:
    """The OperationOutcome of a refusal, checked for its shape; its one issue."""
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["Content-Type"].startswith("application/fhir+json")
    body = reply.json()
    assert body["resourceType"] == "OperationOutcome", body
    get_fhir_model_class("OperationOutcome").model_validate(body)
    (issue,) = body["issue"]
    assert "Traceback" not in issue["diagnostics"]
    return dict(issue)


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


@pytest.fixture(scope="module")
def people(platform: LocalPlatform, gateway: str) -> dict[str, Any]:
    """A booked appointment (patient one with Dr Ramirez), in the record; and a patient nobody
    has seen (signed up now, so no other test's bookings put them in anyone's care)."""
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    booked = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez"))
    assert booked.status == 201, booked.body
    tenant = platform.provisioned[RIVERSIDE]
    idp = platform.client("cognito-idp", tenant.region)
    stranger = f"patient.new{secrets.token_hex(3)}@riverside.example"
    idp.sign_up(
        ClientId=tenant.portal_clients["patients"],
        Username=stranger,
        Password=DEMO_PASSWORD,
        UserAttributes=[{"Name": "email", "Value": stranger}],
    )
    idp.admin_confirm_sign_up(UserPoolId=tenant.user_pools["patients"], Username=stranger)
    found = {
        "patient": patient_id(platform, PATIENT),
        "other": patient_id(platform, OTHER_PATIENT),
        "stranger": patient_id(platform, stranger),
        "appointment": booked.json()["appointment_id"],
        "tokens": {
            "patient": patient,
            "provider": user_tokens(platform, RIVERSIDE, PROVIDER)["access"],
            "staff": user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"],
            "admin": user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"],
            "machine": machine_token(platform, "system/*.rs"),
        },
    }
    machine = Facade(gateway, found["tokens"]["machine"])

    def in_the_record() -> bool:
        appointments = machine.get(f"Appointment?patient={found['patient']}&_count=100")
        assert appointments.status == 200, appointments.body[:300]
        ids = {e["resource"]["id"] for e in appointments.json()["entry"]}
        assert found["appointment"] in ids, (found["appointment"], ids)
        stranger_there = machine.get(f"Patient/{found['stranger']}")
        assert stranger_there.status == 200, stranger_there.body[:300]
        return True

    eventually(in_the_record, timeout_s=30)
    return found


# --- the CapabilityStatement --------------------------------------------------------------------


def test_the_capability_statement_is_public_valid_and_true_to_what_is_served(
    platform: LocalPlatform, gateway: str, people: dict[str, Any]
) -> None:
    reply = Facade(gateway, None).get("metadata")  # no token: clients read it first
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/fhir+json")
    statement = valid(reply.json())
    assert statement["implementation"]["url"] == f"{gateway}{FHIR}"  # the facade's, not HealthLake's
    assert "healthlake" not in reply.body.decode().lower()
    (rest,) = statement["rest"]
    (token_uri,) = rest["security"]["extension"][0]["extension"]
    assert token_uri["valueUri"].endswith("/oauth2/token")
    described = {r["type"]: r for r in rest["resource"]}
    assert list(described) == list(SERVED_TYPES)

    machine = Facade(gateway, people["tokens"]["machine"])
    writer = Facade(gateway, machine_token(platform, "system/*.cruds"))
    # Subscriptions, from the platform's table: their own interactions, topics and $status.
    subscriptions = described.pop("Subscription")
    assert {i["code"] for i in subscriptions["interaction"]} == {"read", "search-type", "create", "delete"}
    assert [o["name"] for o in subscriptions["operation"]] == ["status"]
    assert {e["valueCanonical"] for e in subscriptions["extension"]} == {t.value for t in Topic}
    assert outcome(machine.get("Subscription?_content=x"), 400)["code"] == "not-supported"
    for method, path in (("PUT", "Subscription/x"), ("GET", "Subscription/x/_history/1")):
        assert (
            outcome(writer.call(method, path, b"{}", "application/fhir+json"), 405)["code"] == "not-supported"
        )
    for kind, resource in described.items():
        codes = {i["code"] for i in resource["interaction"]}
        writes = {
            "Patient": {"create", "update"},
            "ServiceRequest": {"create"},
            "Coverage": {"create", "update"},  # one per patient: a create replaces it, as it says
        }.get(kind, set())
        assert codes == {"read", "vread", "history-instance", "search-type"} | writes, kind
        assert resource["conditionalCreate"] is (kind == "Patient")
        if kind == "Coverage":  # what a create of a patient who has coverage does, said
            assert "one coverage per patient" in resource["documentation"]
        # Every search parameter it lists is taken (a value of its type); one it does not is refused.
        for parameter in resource["searchParam"]:
            value = _sample(parameter["type"])
            answered = machine.get(f"{kind}?{parameter['name']}={urllib.parse.quote(value)}&_count=1")
            assert answered.status == 200, (kind, parameter, answered.body[:300])
            assert answered.json()["type"] == "searchset"
        listed = {p["name"] for p in resource["searchParam"]}
        assert "_content" not in listed
        refused = outcome(machine.get(f"{kind}?_content=x"), 400)
        assert "_content" in refused["diagnostics"]
        # A write it does not list answers 405, saying so, even to a client allowed every write.
        listed = {{"create": "POST", "update": "PUT"}[w] for w in writes}
        for method, path in (("POST", kind), ("PUT", f"{kind}/x"), ("DELETE", f"{kind}/x")):
            if method in listed:
                continue
            written = writer.call(method, path, b"{}", "application/fhir+json")
            assert outcome(written, 405)["code"] == "not-supported", (method, path)
    # Read, vread and history on a resource that exists.
    patient = machine.get(f"Patient/{people['patient']}")
    assert patient.status == 200 and valid(patient.json())["id"] == people["patient"]
    version = patient.json()["meta"]["versionId"]
    assert machine.get(f"Patient/{people['patient']}/_history/{version}").json()["id"] == people["patient"]
    history = machine.get(f"Patient/{people['patient']}/_history").json()
    assert valid(history)["type"] == "history" and history["entry"]
    assert all(e["fullUrl"].startswith(f"{gateway}{FHIR}/Patient/") for e in history["entry"])


def _sample(kind: str) -> str:
    return {"date": "ge2020-01-01", "reference": "Patient/none", "string": "x", "token": "none"}.get(
        kind, "x"
    )


# --- paging ----------------------------------------------------------------------------------------


def test_a_search_pages_by_opaque_links_that_carry_nothing_searched_and_only_for_the_searcher(
    platform: LocalPlatform, gateway: str, people: dict[str, Any]
) -> None:
    machine = Facade(gateway, people["tokens"]["machine"])
    seen: list[str] = []
    page = machine.get("Practitioner?active=true&_count=2")
    assert page.status == 200, page.body
    first = page.json()
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "next" in links and links["next"].startswith(f"{gateway}{FHIR}/Practitioner?_cursor=")
    assert "active" not in links["next"] and "healthlake" not in json.dumps(first).lower()
    while True:
        bundle = valid(page.json())
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        assert all(
            e["fullUrl"] == f"{gateway}{FHIR}/Practitioner/{e['resource']['id']}" for e in bundle["entry"]
        )
        following = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if following is None:
            break
        page = machine.get(following)
        assert page.status == 200, page.body
    assert len(seen) == len(set(seen)) >= 13  # every seeded provider, none twice

    # Values searched for stay out of the next link (a patient's name is PHI).
    named = machine.get(f"Patient?family={SEARCHED_NAME}&_count=1")
    assert (
        named.status == 200
        and SEARCHED_NAME not in named.body.decode().split('"link"', 1)[-1].split("entry")[0]
    )
    # Another client's cursor is no cursor of this one; a made-up one neither.
    other = Facade(gateway, machine_token(platform, "system/*.rs", client_id="ehr-other"))
    assert outcome(other.get(links["next"]), 404)["code"] == "not-found"
    assert outcome(machine.get("Practitioner?_cursor=made-up"), 404)["code"] == "not-found"


# --- scopes ---------------------------------------------------------------------------------------


def test_each_resource_type_opens_to_its_own_scope_and_no_other(
    platform: LocalPlatform, gateway: str, people: dict[str, Any]
) -> None:
    """Every type by search and read, with the type's own scope (v2 and v1) and another type's;
    the domain's unit test covers every interaction by every scope form. (A write-only scope the
    pool does not define is refused by API Gateway's authorizer: 401.)"""
    for kind in FACADE_RESOURCE_TYPES:
        other = "Patient" if kind != "Patient" else "Slot"
        for scope, allowed in (
            (f"system/{kind}.rs", True),
            (f"system/{kind}.read", True),
            (f"system/{other}.cruds", False),
        ):
            facade = Facade(gateway, machine_token(platform, scope))
            reply = facade.get(f"{kind}?_count=1")
            if allowed:
                assert reply.status == 200, (kind, scope, reply.body[:200])
            else:
                assert outcome(reply, 403)["code"] == "forbidden", (kind, scope)
    # A token of the other tenant's pool, with every scope, never reaches the function.
    desert = platform.provisioned[DESERT].issuers["workforce"]
    foreign = mint_client_credentials_token(issuer=desert, client_id="ehr-elsewhere", scopes=["system/*.rs"])
    assert outcome(Facade(gateway, foreign).get("Patient"), 401)["code"] == "login"


# --- users: role and compartment -----------------------------------------------------------------------


def test_a_patient_and_a_provider_reach_for_what_is_not_theirs_and_are_refused(
    gateway: str, people: dict[str, Any]
) -> None:
    tokens = people["tokens"]
    patient, provider = Facade(gateway, tokens["patient"]), Facade(gateway, tokens["provider"])
    staff, admin = Facade(gateway, tokens["staff"]), Facade(gateway, tokens["admin"])
    own, other, stranger = people["patient"], people["other"], people["stranger"]

    # The patient: their own record, their own appointments; nobody else's.
    assert patient.get(f"Patient/{own}").status == 200
    mine = patient.get(f"Appointment?patient={own}")
    assert mine.status == 200 and mine.json()["entry"]
    assert all(f"Patient/{own}" in json.dumps(e["resource"]) for e in mine.json()["entry"])
    assert outcome(patient.get(f"Patient/{other}"), 403)["code"] == "forbidden"
    assert outcome(patient.get(f"Appointment?patient={other}"), 403)["code"] == "forbidden"
    assert outcome(patient.get(f"Appointment?patient={own},{other}"), 403)["code"] == "forbidden"
    assert outcome(patient.get("Appointment"), 403)["code"] == "forbidden"  # confined to no one
    assert outcome(patient.get("AuditEvent"), 403)["code"] == "forbidden"
    # The directory is everyone's.
    assert patient.get("Practitioner?_count=1").status == 200

    # The provider: the patient they see, not one they never saw.
    assert provider.get(f"Patient/{own}").status == 200
    appointment = provider.get(f"Appointment?patient={own}")
    assert appointment.status == 200 and appointment.json()["entry"]
    assert outcome(provider.get(f"Patient/{stranger}"), 403)["code"] == "forbidden"
    assert outcome(provider.get(f"Appointment?patient={stranger}"), 403)["code"] == "forbidden"
    assert outcome(provider.get(f"Observation?patient={stranger}"), 403)["code"] == "forbidden"

    # Staff: the front desk's types for any patient, no clinical record; admins: the audit trail.
    assert staff.get(f"Patient/{stranger}").status == 200
    assert outcome(staff.get(f"Observation?patient={own}"), 403)["code"] == "forbidden"
    assert admin.get("AuditEvent?_count=1").status == 200
    assert outcome(admin.get(f"Patient/{own}"), 403)["code"] == "forbidden"
    # No user writes through the facade.
    for facade in (patient, provider, staff, admin):
        written = facade.call("POST", "Patient", b"{}", "application/fhir+json")
        assert outcome(written, 403)["code"] == "forbidden"


# --- errors -----------------------------------------------------------------------------------------


def test_errors_are_operation_outcomes_with_the_right_status_that_echo_nothing(
    gateway: str, people: dict[str, Any]
) -> None:
    machine = Facade(gateway, people["tokens"]["machine"])
    cases: list[tuple[Callable[[], Reply], int, str]] = [
        (lambda: machine.get("Specimen/x"), 404, "not-supported"),
        (lambda: machine.get("Patient/no-such-patient"), 404, "not-found"),
        (lambda: machine.get("Patient/bad_id!"), 400, "invalid"),
        (lambda: machine.get(f"Patient?family:fuzzy={SEARCHED_NAME}"), 400, "invalid"),
        (lambda: machine.get(f"Patient?address-city={SEARCHED_NAME}"), 400, "not-supported"),
        (lambda: machine.get(f"Patient?birthdate=zz{SEARCHED_NAME}"), 400, "invalid"),
        (lambda: machine.get("Patient?_count=1000"), 400, "invalid"),
        (lambda: machine.get("Patient/x/y/z/w"), 404, "not-found"),
        # What API Gateway answers itself, before the function: no token, or a forged one.
        (lambda: Facade(gateway, None).get("Patient"), 401, "login"),
        (lambda: Facade(gateway, "Bearer not.a.token").get(f"Patient?name={SEARCHED_NAME}"), 401, "login"),
    ]
    for ask, status, code in cases:
        reply = ask()
        issue = outcome(reply, status)
        assert issue["code"] == code, (status, issue)
        assert SEARCHED_NAME not in reply.body.decode()
    # A search by POST keeps its values in the body, and answers the same as by GET.
    posted = machine.call(
        "POST",
        "Patient/_search",
        urllib.parse.urlencode({"_id": people["patient"]}).encode(),
        "application/x-www-form-urlencoded",
    )
    assert posted.status == 200 and [e["resource"]["id"] for e in posted.json()["entry"]] == [
        people["patient"]
    ]
    assert (
        outcome(machine.call("POST", "Patient/_search", b"{}", "application/json"), 415)["code"]
        == "not-supported"
    )


# --- the audit trail -----------------------------------------------------------------------------


def test_every_request_is_audited_once_naming_the_client_and_what_it_returned_refusals_too(
    platform: LocalPlatform, fhir: HealthLakeFhirStore, gateway: str, people: dict[str, Any]
) -> None:
    client_id = f"ehr-audit-{secrets.token_hex(3)}"
    facade = Facade(gateway, machine_token(platform, "system/Patient.rs", client_id=client_id))
    assert facade.get(f"Patient/{people['patient']}").status == 200
    assert facade.get(f"Appointment?patient={people['patient']}").status == 403  # a refusal
    agent = f"Device/client-{client_id}"

    def audited() -> list[dict[str, Any]]:
        found = list(fhir.search("AuditEvent", {"agent": agent}))
        assert len(found) == 2, len(found)
        return found

    events = sorted(eventually(audited, timeout_s=30), key=lambda e: e["outcome"])
    read, refused = events
    assert read["outcome"] == "0" and read["subtype"][0]["code"] == "read"
    assert [e["what"]["reference"] for e in read["entity"]] == [f"Patient/{people['patient']}"]
    assert read["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert refused["outcome"] == "4" and refused["subtype"][0]["code"] == "search-type"
    assert refused["outcomeDesc"] == "forbidden" and "entity" not in refused

    # The Device is committed to the outbox before the first AuditEvent naming it, but the two are
    # different items, so their projections into the record may land in either order.
    def device() -> dict[str, Any]:
        try:
            return fhir.read("Device", f"client-{client_id}")
        except FhirStoreError as error:
            assert error.status == 404, error
            raise AssertionError("the Device is not in the record yet") from error

    assert eventually(device, timeout_s=30)["identifier"][0]["value"] == client_id
    for event in events:
        valid(event)


# --- writes: a patient registered by the health system ------------------------------------------------


def _patient(mrn: str, system: str, **changes: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Patient",
        "identifier": [{"system": system, "value": mrn}],
        "name": [{"use": "official", "family": "Registered", "given": ["Quinn"]}],
        "gender": "female",
        "birthDate": "1984-07-02",
        "address": [{"use": "home", "state": "NJ"}],
        "telecom": [{"system": "phone", "value": "+12015550123"}],
    }
    resource.update(changes)
    return resource


def test_a_history_pages_newest_first_by_links_only_its_reader_can_follow(
    platform: LocalPlatform, fhir: HealthLakeFhirStore, gateway: str
) -> None:
    """A resource's history a page at a time (a long-lived record's versions would not fit one
    answer), through the same opaque cursors as a search."""
    system = platform.provisioned[RIVERSIDE].environment["MRN_SYSTEM"]
    writer = Facade(gateway, machine_token(platform, "system/Patient.cruds", client_id="ehr-history"))
    created = writer.call(
        "POST",
        "Patient",
        json.dumps(_patient(f"MRN{secrets.token_hex(4)}", system)).encode(),
        "application/fhir+json",
    )
    assert created.status == 201, created.body
    patient = created.json()

    def delivered(version: int) -> None:  # each version its own in HealthLake, none overtaken
        eventually(
            lambda: source_version(fhir.read_if_present("Patient", patient["id"]) or {}) == version,
            timeout_s=30,
        )

    delivered(1)
    for version, state in ((2, "CT"), (3, "NY")):
        patient = dict(patient, address=[{"use": "home", "state": state}])
        updated = writer.call(
            "PUT", f"Patient/{patient['id']}", json.dumps(patient).encode(), "application/fhir+json"
        )
        assert updated.status == 200, updated.body
        patient = updated.json()
        delivered(version)

    here = f"{gateway}{FHIR}/Patient/{patient['id']}/_history"
    first = writer.get(f"Patient/{patient['id']}/_history?_count=2")
    assert first.status == 200, first.body
    bundle = valid(first.json())
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert links["next"].startswith(f"{here}?_cursor=") and "healthlake" not in first.body.decode().lower()
    states = [e["resource"]["address"][0]["state"] for e in bundle["entry"]]
    following = writer.get(links["next"])
    assert following.status == 200, following.body
    rest = valid(following.json())
    assert [link["relation"] for link in rest["link"]] == ["self"]
    states += [e["resource"]["address"][0]["state"] for e in rest["entry"]]
    assert states == ["NY", "CT", "NJ"]  # newest first, each version once

    # The cursor is its reader's, and this history's; a history takes a page size and no more.
    other = Facade(gateway, machine_token(platform, "system/*.rs", client_id="ehr-other"))
    assert outcome(other.get(links["next"]), 404)["code"] == "not-found"
    assert outcome(writer.get(links["next"].replace("/_history?", "?").replace(f"/{patient['id']}", "")), 404)
    assert (
        outcome(writer.get(f"Patient/{patient['id']}/_history?_since=2020-01-01"), 400)["code"] == "invalid"
    )
    assert outcome(writer.get(f"Patient/{patient['id']}/_history?_count=101"), 400)["code"] == "invalid"


def test_a_patient_registered_by_mrn_is_read_and_found_at_once_and_a_second_create_returns_them(
    platform: LocalPlatform, fhir: HealthLakeFhirStore, gateway: str, people: dict[str, Any]
) -> None:
    system = platform.provisioned[RIVERSIDE].environment["MRN_SYSTEM"]
    mrn = f"MRN{secrets.token_hex(4)}"
    client_id = f"ehr-writer-{secrets.token_hex(3)}"
    writer = Facade(gateway, machine_token(platform, "system/Patient.cruds", client_id=client_id))
    body = json.dumps(_patient(mrn, system)).encode()
    condition = {"If-None-Exist": f"identifier={system}|{mrn}"}

    created = writer.call("POST", "Patient", body, "application/fhir+json", condition)
    assert created.status == 201, created.body
    patient = valid(created.json())
    patient_id = patient["id"]
    assert created.headers["Location"] == f"{gateway}{FHIR}/Patient/{patient_id}/_history/1"
    assert created.headers["ETag"] == 'W/"1"'
    assert patient["identifier"] == [{"use": "usual", "system": system, "value": mrn}]
    # Read, and found by the MRN, at once: from the platform's own record until HealthLake has it.
    read = writer.get(f"Patient/{patient_id}")
    assert read.status == 200 and read.json()["name"] == patient["name"]
    found = writer.get(f"Patient?identifier={urllib.parse.quote(f'{system}|{mrn}')}")
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [patient_id]
    # The same MRN again, conditionally or not: the patient on file, nothing new.
    for headers in (condition, {}):
        again = writer.call("POST", "Patient", body, "application/fhir+json", headers)
        assert again.status == 200 and again.json()["id"] == patient_id and "Location" not in again.headers

    # An update at the version read; the same version again is stale (412), and nothing changes.
    moved = dict(patient, address=[{"use": "home", "state": "CT"}])
    updated = writer.call(
        "PUT",
        f"Patient/{patient_id}",
        json.dumps(moved).encode(),
        "application/fhir+json",
        {"If-Match": 'W/"1"'},
    )
    assert updated.status == 200 and updated.headers["ETag"] == 'W/"2"', updated.body
    stale = writer.call(
        "PUT",
        f"Patient/{patient_id}",
        json.dumps(moved).encode(),
        "application/fhir+json",
        {"If-Match": 'W/"1"'},
    )
    assert outcome(stale, 412)["code"] == "conflict"
    assert writer.get(f"Patient/{patient_id}").json()["address"] == [{"use": "home", "state": "CT"}]
    # HealthLake has it by the outbox, with its MRN; the staff's search by name and birth date too.
    eventually(lambda: source_version(fhir.read_if_present("Patient", patient_id) or {}) == 2, timeout_s=30)
    staff = Facade(gateway, people["tokens"]["staff"])
    assert staff.get(f"Patient/{patient_id}").json()["identifier"][0]["value"] == mrn

    # Refused, saying where and never what: another system's MRN, no name, a future birth date.
    for wrong, where in (
        (_patient(mrn, "urn:oid:9.9.9"), "Patient.identifier"),
        (_patient(mrn, system, name=[]), "Patient.name"),
        (_patient(mrn, system, birthDate="2999-01-01"), "Patient.birthDate"),
    ):
        refused = outcome(
            writer.call("POST", "Patient", json.dumps(wrong).encode(), "application/fhir+json"), 422
        )
        assert where in refused["diagnostics"] and mrn not in refused["diagnostics"]
    # A condition that is not this MRN; a body that is not JSON; a changed MRN.
    other = {"If-None-Exist": f"identifier={system}|someone-else"}
    assert (
        outcome(writer.call("POST", "Patient", body, "application/fhir+json", other), 400)["code"]
        == "invalid"
    )
    assert (
        outcome(writer.call("POST", "Patient", b"{nope", "application/fhir+json"), 400)["code"] == "invalid"
    )
    assert outcome(writer.call("POST", "Patient", body, "text/plain"), 415)["code"] == "not-supported"
    renumbered = dict(moved, identifier=[{"system": system, "value": mrn + "X"}])
    changed = writer.call(
        "PUT", f"Patient/{patient_id}", json.dumps(renumbered).encode(), "application/fhir+json"
    )
    assert outcome(changed, 422)["code"] == "business-rule"
    # A client allowed to read patients only may not write one.
    reader = Facade(gateway, machine_token(platform, "system/Patient.rs"))
    assert outcome(reader.call("POST", "Patient", body, "application/fhir+json"), 403)["code"] == "forbidden"

    # Every write audited, by the client, refusals included.
    def audited() -> list[dict[str, Any]]:
        events = list(fhir.search("AuditEvent", {"agent": f"Device/client-{client_id}"}))
        # Stale, three unprocessable, a wrong condition, a body not JSON, one not even sent as
        # JSON, a changed MRN.
        assert sum(e["outcome"] == "4" for e in events) == 8, len(events)
        # The create, the update; the read, the search, two creates that found them, a read.
        assert len(events) == 15, len(events)
        return events

    events = eventually(audited, timeout_s=30)
    actions = sorted(e["action"] for e in events if e["outcome"] == "0")
    assert actions == ["C", "R", "R", "R", "R", "R", "U"]


# --- writes: a referral, onto the front desk's worklist ------------------------------------------------


def referral_resource(patient_id: str, **changes: Any) -> dict[str, Any]:
    """A referral as a health system's software sends it (urgent, for follow-up of palpitations)."""
    resource = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "subject": {"reference": f"Patient/{patient_id}"},
        "requester": {"display": "Dr. Example, Riverside Cardiology"},
        "reasonCode": [{"text": "Follow-up of palpitations"}],
        "code": {"text": "Telehealth follow-up"},
    }
    resource.update(changes)
    return resource


def test_a_referral_is_on_the_worklist_at_once_and_booking_it_takes_it_off_and_names_it(
    platform: LocalPlatform, fhir: HealthLakeFhirStore, gateway: str, people: dict[str, Any]
) -> None:
    patient_id, staff = people["other"], people["tokens"]["staff"]
    writer = Facade(gateway, machine_token(platform, "system/*.rs", "system/ServiceRequest.cruds"))
    sent = writer.call(
        "POST", "ServiceRequest", json.dumps(referral_resource(patient_id)).encode(), "application/fhir+json"
    )
    assert sent.status == 201, sent.body
    referral = valid(sent.json())
    referral_id = referral["id"]
    assert sent.headers["Location"] == f"{gateway}{FHIR}/ServiceRequest/{referral_id}/_history/1"
    # Read and found at once, from the platform's own record.
    assert writer.get(f"ServiceRequest/{referral_id}").json()["reasonCode"] == [
        {"text": "Follow-up of palpitations"}
    ]
    found = writer.get(f"ServiceRequest?patient={patient_id}").json()
    assert referral_id in {e["resource"]["id"] for e in found["entry"]}

    # On the worklist, with who the patient is; booked from it, and off it.
    listed = http("GET", f"{gateway}/v1/referrals", headers={"Authorization": staff}).json()["referrals"]
    waiting = next(r for r in listed if r["referral_id"] == referral_id)
    assert waiting["patient"]["patient_id"] == patient_id and waiting["priority"] == "urgent"
    slot = fresh_slot(gateway, staff, None)
    booked = book(gateway, staff, slot, patient_id=patient_id, referral_id=referral_id)
    assert booked.status == 201, booked.body
    appointment_id = booked.json()["appointment_id"]
    listed = http("GET", f"{gateway}/v1/referrals", headers={"Authorization": staff}).json()["referrals"]
    assert referral_id not in {r["referral_id"] for r in listed}
    again = book(
        gateway,
        staff,
        fresh_slot(gateway, staff, None),
        patient_id=patient_id,
        referral_id=referral_id,
    )
    assert again.status == 409 and again.json()["type"] == "/problems/referral-not-open"
    # The health system sees the visit booked for its request.
    appointment = eventually(lambda: fhir.read_if_present("Appointment", appointment_id), timeout_s=30)
    assert appointment["basedOn"] == [{"reference": f"ServiceRequest/{referral_id}"}]
    assert (
        eventually(lambda: fhir.read_if_present("ServiceRequest", referral_id), timeout_s=30)["id"]
        == referral_id
    )

    # A retry with the same Idempotency-Key gets the first answer back, and no second referral;
    # the key with another body is refused and changes nothing.
    key = {"Idempotency-Key": f"referral-{secrets.token_hex(6)}"}
    body = json.dumps(referral_resource(patient_id, reasonCode=[{"text": "Retried once"}])).encode()
    first = writer.call("POST", "ServiceRequest", body, "application/fhir+json", key)
    retried = writer.call("POST", "ServiceRequest", body, "application/fhir+json", key)
    assert first.status == retried.status == 201 and retried.json()["id"] == first.json()["id"]
    assert retried.headers["Location"] == first.headers["Location"]
    other = json.dumps(referral_resource(patient_id, reasonCode=[{"text": "Another"}])).encode()
    assert outcome(writer.call("POST", "ServiceRequest", other, "application/fhir+json", key), 422)
    listed = http("GET", f"{gateway}/v1/referrals", headers={"Authorization": staff}).json()["referrals"]
    assert [r["reason"] for r in listed].count("Retried once") == 1
    assert "Another" not in [r["reason"] for r in listed]

    # The worklist is the front desk's: admins act as staff; patients, providers and machines
    # are refused, by the API (403) or by the gateway (401: a machine token has no user scope).
    tokens = people["tokens"]
    for who, status in (("admin", 200), ("patient", 403), ("provider", 403), ("machine", 401)):
        for path in ("/v1/referrals", f"/v1/referrals/{referral_id}"):
            answered = http("GET", f"{gateway}{path}", headers={"Authorization": tokens[who]})
            assert answered.status == status, (who, path, answered.status)

    # Refused: a patient the clinic does not have; no reason; a patient may not write one.
    for wrong, where in (
        (referral_resource("no-such-patient"), "ServiceRequest.subject"),
        (referral_resource(patient_id, reasonCode=[]), "ServiceRequest.reasonCode"),
    ):
        refused = writer.call("POST", "ServiceRequest", json.dumps(wrong).encode(), "application/fhir+json")
        assert where in outcome(refused, 422)["diagnostics"]
    patient = Facade(gateway, people["tokens"]["patient"])
    posted = patient.call(
        "POST",
        "ServiceRequest",
        json.dumps(referral_resource(people["patient"])).encode(),
        "application/fhir+json",
    )
    assert outcome(posted, 403)["code"] == "forbidden"


def test_every_resource_the_facade_returns_is_valid_r4_and_every_reference_in_it_resolves(
    platform: LocalPlatform, gateway: str, people: dict[str, Any]
) -> None:
    """A page of every type (after the tests above wrote patients, referrals and audit events):
    each resource validates against FHIR's own models, and each reference it makes is read back
    through the facade (by `_id` searches, a type at a time)."""
    machine = Facade(gateway, machine_token(platform, "system/*.rs"))
    wanted: dict[str, set[str]] = {}
    seen = 0
    for kind in FACADE_RESOURCE_TYPES:
        page = machine.get(f"{kind}?_count=50")
        assert page.status == 200, (kind, page.body[:200])
        for entry in valid(page.json())["entry"]:
            valid(entry["resource"])
            seen += 1
            for reference in _references(entry["resource"]):
                target, _, target_id = reference.partition("/")
                wanted.setdefault(target, set()).add(target_id)
    assert seen >= 50
    for target, ids in wanted.items():
        listed = sorted(ids)
        for i in range(0, len(listed), 50):
            chunk = listed[i : i + 50]
            found = machine.get(f"{target}?_id={','.join(chunk)}&_count=50").json()
            assert {e["resource"]["id"] for e in found["entry"]} == set(chunk), target


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []
