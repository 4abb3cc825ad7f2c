"""A health system's software finds the facade's SMART configuration, gets a token with SMART
scopes where it says, and the gateway's authorizer lets that token into /fhir; a token without a
SMART scope, or from the other tenant, is refused before the function runs.

What the facade answers behind the authorizer is the facade's business (a later issue): these
tests hold only the authorizer's verdict."""

from __future__ import annotations

import base64
import urllib.parse

from local.platform import LocalPlatform
from local.tokens import mint_client_credentials_token
from telehealth.domain.fhir_access import SUPPORTED_SCOPES
from tests.conftest import Reply, http, user_tokens

RIVERSIDE, DESERT = "riverside", "desert-clinic"
DISCOVERY = "/fhir/r4/.well-known/smart-configuration"


def _token(url: str, client: tuple[str, str, tuple[str, ...]], scope: str) -> Reply:
    client_id, secret, _ = client
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return http(
        "POST",
        url,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        body=urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}).encode(),
    )


def _refused_by_the_authorizer(reply: Reply) -> bool:
    """API Gateway's 401, which on the facade's API is an OperationOutcome (`login`)."""
    if reply.status != 401:
        return False
    body = reply.json()
    return bool(body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "login")


def test_the_smart_configuration_says_what_is_supported_without_a_token(gateway: str) -> None:
    reply = http("GET", f"{gateway}{DISCOVERY}")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    document = reply.json()
    assert document["token_endpoint"].endswith("/oauth2/token")
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["scopes_supported"] == list(SUPPORTED_SCOPES)
    assert {"system/Patient.rs", "system/Appointment.cruds", "system/*.rs"} <= set(SUPPORTED_SCOPES)
    # Nothing it cannot do: no authorization endpoint, no launch, no OpenID Connect, no JWT auth.
    assert set(document) == {
        "token_endpoint",
        "token_endpoint_auth_methods_supported",
        "grant_types_supported",
        "scopes_supported",
        "capabilities",
    }
    capabilities = {"client-confidential-symmetric", "permission-v1", "permission-v2"}
    assert set(document["capabilities"]) == capabilities


def test_a_machine_token_with_smart_scopes_passes_the_authorizer_and_one_without_does_not(
    platform: LocalPlatform, gateway: str
) -> None:
    client = platform.provisioned[RIVERSIDE].machine_clients["ehr-sync"]
    token_endpoint = http("GET", f"{gateway}{DISCOVERY}").json()["token_endpoint"]
    # Where the document says, with the scopes the tenant file gave the client.
    granted = _token(token_endpoint, client, "system/*.rs system/Patient.cruds")
    assert granted.status == 200, granted.body
    smart = granted.json()["access_token"]
    for method, path in (("GET", "/fhir/r4/Patient"), ("GET", "/fhir/r4/Slot/x"), ("POST", "/fhir/r4/Slot")):
        reply = http(method, f"{gateway}{path}", headers={"Authorization": smart})
        assert not _refused_by_the_authorizer(reply), (method, path, reply.status)
    # A SMART scope the client was not given, or one the server does not define, is not granted.
    assert _token(token_endpoint, client, "system/Observation.cruds").json() == {"error": "invalid_scope"}
    assert _token(token_endpoint, client, "system/Patient.r").json() == {"error": "invalid_scope"}
    # The appointments feed's token does not open the facade.
    feed = _token(token_endpoint, client, "telehealth/appointments.read").json()["access_token"]
    refused = http("GET", f"{gateway}/fhir/r4/Patient", headers={"Authorization": feed})
    assert _refused_by_the_authorizer(refused)
    # A token of the other tenant's workforce pool, with every SMART scope, is not this API's.
    desert = platform.provisioned[DESERT].issuers["workforce"]
    foreign = mint_client_credentials_token(issuer=desert, client_id="ehr-elsewhere", scopes=["system/*.*"])
    assert _refused_by_the_authorizer(
        http("GET", f"{gateway}/fhir/r4/Patient", headers={"Authorization": foreign})
    )


def test_a_users_own_token_reaches_the_facade_where_role_and_compartment_are_checked(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")
    reply = http("GET", f"{gateway}/fhir/r4/Patient", headers={"Authorization": patient["access"]})
    assert not _refused_by_the_authorizer(reply), reply.status
    # An ID token is not an access token: the authorizer wants the latter on a scoped route.
    assert _refused_by_the_authorizer(
        http("GET", f"{gateway}/fhir/r4/Patient", headers={"Authorization": patient["id"]})
    )
