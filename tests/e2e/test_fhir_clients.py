"""Two FHIR client libraries drive the facade as a health system's code would: SMART on FHIR's
`fhirclient` and Beda's `fhirpy`. Each finds the token endpoint where the facade says, gets a
token by client credentials with the client's secret, reads the CapabilityStatement, reads a
patient, and pages through a search by the links the facade hands out."""

from __future__ import annotations

import base64
import secrets
import urllib.parse
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from local.platform import LocalPlatform
from tests.conftest import http, user_tokens

RIVERSIDE = "riverside"
SCOPE = "system/*.rs system/Patient.cruds system/ServiceRequest.cruds"


@pytest.fixture(scope="module")
def access_token(platform: LocalPlatform, gateway: str) -> str:
    """What the integration engine does first: the token endpoint from the CapabilityStatement
    (as fhirclient reads it below), then client credentials with HTTP Basic."""
    statement = http("GET", f"{gateway}/fhir/r4/metadata").json()
    (oauth,) = statement["rest"][0]["security"]["extension"]
    token_uri = next(e["valueUri"] for e in oauth["extension"] if e["url"] == "token")
    client_id, secret, _ = platform.provisioned[RIVERSIDE].machine_clients["ehr-sync"]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    reply = http(
        "POST",
        token_uri,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        body=urllib.parse.urlencode({"grant_type": "client_credentials", "scope": SCOPE}).encode(),
    )
    assert reply.status == 200, reply.body
    return str(reply.json()["access_token"])


def _patient_id(gateway: str, token: str) -> str:
    found = http(
        "GET",
        f"{gateway}/fhir/r4/Patient?_count=1",
        headers={"Authorization": token, "Accept": "application/fhir+json"},
    ).json()
    return str(found["entry"][0]["resource"]["id"])


def test_fhirclient_reads_the_capability_statement_a_patient_and_pages_a_search(
    gateway: str, access_token: str
) -> None:
    from fhirclient import client
    from fhirclient.models.bundle import Bundle
    from fhirclient.models.patient import Patient
    from fhirclient.models.practitioner import Practitioner

    smart = client.FHIRClient(settings={"app_id": "ehr-sync", "api_base": f"{gateway}/fhir/r4/"})
    smart.prepare()  # reads metadata: the OAuth endpoints from the SMART extension
    assert smart.server.auth.auth_type == "oauth2"
    assert smart.server.auth._token_uri.endswith("/oauth2/token")
    resources = {r.type for r in smart.server.capabilityStatement.rest[0].resource}
    assert {"Patient", "Appointment", "AuditEvent"} <= resources
    smart.server.auth.access_token = access_token  # client credentials: fhirclient has no secret flow

    patient_id = _patient_id(gateway, access_token)
    patient = Patient.read(patient_id, smart.server)
    assert patient.id == patient_id and patient.name

    search = Practitioner.where({"_count": "3"})
    pages: list[Bundle] = list(search.perform_iter(smart.server))  # follows the `next` links
    assert len(pages) >= 5  # thirteen providers, three a page
    ids = [e.resource.id for page in pages for e in page.entry or []]
    assert len(ids) == len(set(ids)) >= 13
    for page in pages:
        assert all(link.url.startswith(f"{gateway}/fhir/r4/") for link in page.link)


def test_fhirpy_reads_a_patient_searches_with_parameters_and_fetches_every_page(
    gateway: str, access_token: str
) -> None:
    from fhirpy import SyncFHIRClient

    fhir = SyncFHIRClient(
        f"{gateway}/fhir/r4",
        authorization=f"Bearer {access_token}",
        extra_headers={"Accept": "application/fhir+json"},
    )
    patient_id = _patient_id(gateway, access_token)
    patient = fhir.reference("Patient", patient_id).to_resource()
    assert patient["id"] == patient_id
    every: list[Any] = fhir.resources("Practitioner").search(active="true").limit(4).fetch_all()
    assert len({p["id"] for p in every}) == len(every) >= 13
    for practitioner in every:
        get_fhir_model_class("Practitioner").model_validate(practitioner.serialize())
    # A search a client gets wrong comes back as the library's own error, with the facade's words.
    from fhirpy.base.exceptions import OperationOutcome

    with pytest.raises(OperationOutcome) as refused:
        fhir.resources("Patient").search(**{"address-city": "x"}).fetch()
    assert "address-city" in str(refused.value)


def _registration(platform: LocalPlatform, mrn: str) -> dict[str, Any]:
    system = platform.provisioned[RIVERSIDE].environment["MRN_SYSTEM"]
    return {
        "resourceType": "Patient",
        "identifier": [{"system": system, "value": mrn}],
        "name": [{"use": "official", "family": "Clientmade", "given": ["Robin"]}],
        "birthDate": "1990-03-04",
        "address": [{"use": "home", "state": "PA"}],
    }


def test_fhirpy_registers_a_patient_conditionally_and_fhirclient_creates_and_reads_one(
    platform: LocalPlatform, gateway: str, access_token: str
) -> None:
    from fhirclient import client
    from fhirclient.models.patient import Patient
    from fhirpy import SyncFHIRClient

    system = platform.provisioned[RIVERSIDE].environment["MRN_SYSTEM"]
    fhir = SyncFHIRClient(f"{gateway}/fhir/r4", authorization=f"Bearer {access_token}")
    mrn = f"PY{secrets.token_hex(4)}"
    wanted = fhir.resource("Patient", **_registration(platform, mrn))
    conditional = fhir.resources("Patient").search(identifier=f"{system}|{mrn}")
    first, created = conditional.get_or_create(wanted)
    again, created_again = conditional.get_or_create(wanted)
    assert created and not created_again and first["id"] == again["id"]
    assert fhir.reference("Patient", first["id"]).to_resource()["name"][0]["family"] == "Clientmade"

    smart = client.FHIRClient(settings={"app_id": "ehr-sync", "api_base": f"{gateway}/fhir/r4/"})
    smart.prepare()
    smart.server.auth.access_token = access_token
    made = Patient(_registration(platform, f"FC{secrets.token_hex(4)}")).create(smart.server)
    patient_id = made["id"]
    assert Patient.read(patient_id, smart.server).name[0].given == ["Robin"]  # at once


def test_fhirpy_sends_a_referral_that_the_front_desk_then_sees(
    platform: LocalPlatform, gateway: str, access_token: str
) -> None:
    from fhirpy import SyncFHIRClient

    fhir = SyncFHIRClient(f"{gateway}/fhir/r4", authorization=f"Bearer {access_token}")
    mrn = f"RF{secrets.token_hex(4)}"
    system = platform.provisioned[RIVERSIDE].environment["MRN_SYSTEM"]
    patient, _ = (
        fhir.resources("Patient")
        .search(identifier=f"{system}|{mrn}")
        .get_or_create(fhir.resource("Patient", **_registration(platform, mrn)))
    )
    referral = fhir.resource(
        "ServiceRequest",
        status="active",
        intent="order",
        subject={"reference": f"Patient/{patient['id']}"},
        requester={"display": "Riverside Cardiology"},
        reasonCode=[{"text": "Shortness of breath on exertion"}],
    )
    referral.save()
    assert referral["id"] and referral["status"] == "active"
    mine = fhir.resources("ServiceRequest").search(patient=patient["id"]).fetch()
    assert [r["id"] for r in mine] == [referral["id"]]
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    worklist = http("GET", f"{gateway}/v1/referrals", headers={"Authorization": staff}).json()["referrals"]
    waiting = next(r for r in worklist if r["referral_id"] == referral["id"])
    assert waiting["patient"]["family_name"] == "Clientmade"
