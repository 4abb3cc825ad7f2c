"""A health system's interface engine posting HL7 v2 ADT over HTTPS to the local platform, with
the tenant's `adt-feed` client's token (client credentials at the gateway, as the engine gets
one): A04 → A08 → A40 ends with one surviving patient; the retired record's visit and portal
account move to the survivor, its FHIR Patient is linked `replaced-by`; staff undo the merge.
Every name and number is synthetic."""

from __future__ import annotations

import base64
import json
import secrets
import urllib.parse
from typing import Any

import hl7

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.fhir.projection import source_version
from tests.conftest import Reply, eventually, http, user_tokens
from tests.e2e.test_fhir_facade import Facade, machine_token
from tests.e2e.test_patient_details import DETAILS, _sign_up
from tests.e2e.test_scheduling import book, call, fresh_slot

RIVERSIDE = "riverside"
ADT = "/integrations/hl7v2/adt"
ER7 = "application/hl7-v2"


def client_token(platform: LocalPlatform, gateway: str, name: str, tenant: str = RIVERSIDE) -> str:
    """The tenant file's machine client `name`, signing in with client credentials."""
    client_id, secret, _ = platform.provisioned[tenant].machine_clients[name]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    base = "" if tenant == RIVERSIDE else f"/tenants/{tenant}"
    reply = http(
        "POST",
        f"{gateway}{base}/oauth2/token",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        body=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
    )
    assert reply.status == 200, reply.body
    return str(reply.json()["access_token"])


def message(event: str, control_id: str, pid: str, *extra: str) -> bytes:
    structure = "ADT_A39" if event == "A40" else "ADT_A01"
    header = (
        "MSH|^~\\&|EPIC|RIVERSIDE_HOSP|TELEHEALTH|CLINIC|20261201090000|"
        f"|ADT^{event}^{structure}|{control_id}|P|2.5.1"
    )
    return "\r".join([header, f"EVN|{event}|20261201090000", pid, *extra]).encode()


def pid(mrn: str, state: str = "NY") -> str:
    return f"PID|1||{mrn}^^^RVH^MR||TESTMERGE^AVERY||19870512|F|||9 River Rd^^Albany^{state}^12207"


def post(gateway: str, token: str, body: bytes, content_type: str = ER7) -> Reply:
    return http(
        "POST", f"{gateway}{ADT}", headers={"Authorization": token, "Content-Type": content_type}, body=body
    )


def acknowledged(reply: Reply) -> tuple[str, str, str]:
    """An ACK answered 200 in HL7's type: MSA-1, MSA-2 and ERR-2 (the location at fault)."""
    assert reply.status == 200, reply.body[:300]
    assert reply.headers["Content-Type"].startswith(ER7)
    ack = hl7.parse(reply.body.decode())
    err = [str(s(2)) for s in ack if str(s(0)) == "ERR"]
    return str(ack.segment("MSA")(1)), str(ack.segment("MSA")(2)), err[0] if err else ""


def test_a_register_update_merge_sequence_ends_with_one_surviving_patient_and_staff_can_undo_it(
    platform: LocalPlatform, gateway: str, fhir: HealthLakeFhirStore
) -> None:
    system = platform.provisioned[RIVERSIDE].environment["MRN_SYSTEM"]
    feed = client_token(platform, gateway, "adt-feed")
    survivor_mrn, retired_mrn = f"E{secrets.token_hex(4)}", f"E{secrets.token_hex(4)}"

    # A portal patient with a visit booked, whom the health system knows by an MRN.
    email, sub, idp, client_id = _sign_up(platform)
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode="123456")
    patient = user_tokens(platform, RIVERSIDE, email)["access"]
    assert call(gateway, "PUT", "/v1/me/details", patient, {**DETAILS, "version": 1}).status == 200
    booked = book(gateway, patient, fresh_slot(gateway, patient, provider=None, days_ahead=2, span_hours=12))
    assert booked.status == 201, booked.body
    appointment = booked.json()["appointment_id"]
    writer = Facade(gateway, machine_token(platform, "system/Patient.cruds", client_id="ehr-mrn"))
    given = {
        "resourceType": "Patient",
        "id": sub,
        "identifier": [{"system": system, "value": retired_mrn}],
        "name": [{"family": "Testmerge", "given": ["Avery"]}],
        "birthDate": "1987-05-12",
        "address": [{"use": "home", "state": "NY"}],
    }
    assert (
        writer.call("PUT", f"Patient/{sub}", json.dumps(given).encode(), "application/fhir+json").status
        == 200
    )

    # Registered, updated; sent again, nothing more happens.
    assert acknowledged(post(gateway, feed, message("A04", "C1", pid(survivor_mrn)))) == ("AA", "C1", "")
    first = post(gateway, feed, message("A08", "C2", pid(survivor_mrn, "NJ")))
    assert acknowledged(first)[0] == "AA"
    reader = Facade(gateway, machine_token(platform, "system/*.rs", client_id="ehr-reader"))

    def on_file() -> dict[str, Any]:
        found = reader.get(f"Patient?identifier={system}|{survivor_mrn}")
        assert found.status == 200, found.body
        (entry,) = found.json()["entry"]
        return dict(entry["resource"])

    survivor = on_file()
    assert (survivor["address"][0]["state"], source_version(survivor)) == ("NJ", 2)
    survivor_id = survivor["id"]
    # The engine sends the same message again (it lost the answer): the first ACK, no new version;
    # the same update under a new control id changes nothing either.
    again = post(gateway, feed, message("A08", "C2", pid(survivor_mrn, "NJ")))
    assert again.body == first.body
    assert acknowledged(post(gateway, feed, message("A08", "C2b", pid(survivor_mrn, "NJ"))))[0] == "AA"
    assert source_version(on_file()) == 2

    # What the clinic cannot take is acknowledged as such, never a 5xx, nothing changed.
    assert acknowledged(post(gateway, feed, message("A08", "C3", pid(f"E{secrets.token_hex(4)}")))) == (
        "AE",
        "C3",
        "PID^1^3",
    )
    assert acknowledged(post(gateway, feed, b"not a message"))[0] == "AR"
    refused = post(gateway, feed, b"{}", "application/json")
    assert refused.status == 415 and refused.headers["Content-Type"].startswith("application/problem+json")
    other_client = client_token(platform, gateway, "ehr-sync")  # no hl7.adt scope
    # The authorizer refuses a token without the route's scope, as API Gateway does: 401.
    assert post(gateway, other_client, message("A04", "C4", pid(survivor_mrn))).status == 401

    # The merge: the portal patient's record is retired into the survivor.
    merged = post(gateway, feed, message("A40", "C5", pid(survivor_mrn), f"MRG|{retired_mrn}^^^RVH^MR"))
    assert acknowledged(merged) == ("AA", "C5", "")
    mine = call(gateway, "GET", "/v1/me/details", patient)
    assert mine.status == 200 and mine.json()["patient_id"] == survivor_id
    listed = call(gateway, "GET", "/v1/appointments", patient).json()["appointments"]
    assert appointment in {a["appointment_id"] for a in listed}

    def linked() -> dict[str, Any] | None:
        retired = fhir.read_if_present("Patient", sub) or {}
        moved = fhir.read_if_present("Appointment", appointment) or {}
        ok = retired.get("link") and moved.get("participant", [{}])[0].get("actor", {}).get("reference") == (
            f"Patient/{survivor_id}"
        )
        return retired if ok else None

    retired = eventually(linked, timeout_s=30)
    assert retired["active"] is False
    assert retired["link"] == [{"other": {"reference": f"Patient/{survivor_id}"}, "type": "replaced-by"}]

    # Staff see the merge and undo it: the portal account is its own again, the visit back with it.
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    merges = call(gateway, "GET", "/v1/patients/merges", staff)
    assert merges.status == 200, merges.body
    (ours,) = [m for m in merges.json()["merges"] if m["retired"]["patient_id"] == sub]
    assert (ours["survivor"]["patient_id"], ours["appointments_moved"]) == (survivor_id, 1)
    assert call(gateway, "GET", "/v1/patients/merges", patient).status == 403
    key = {"Idempotency-Key": f"undo-{secrets.token_hex(6)}"}
    undone = call(gateway, "DELETE", f"/v1/patients/merges/{sub}", staff, **key)
    assert undone.status == 204 and undone.body == b""
    # A retry after a lost answer gets the first answer; without the key, there is none to undo.
    assert call(gateway, "DELETE", f"/v1/patients/merges/{sub}", staff, **key).status == 204
    assert call(gateway, "DELETE", f"/v1/patients/merges/{sub}", staff).status == 404
    assert call(gateway, "GET", "/v1/me/details", patient).json()["patient_id"] == sub
    back = call(gateway, "GET", f"/v1/appointments/{appointment}", patient)
    assert back.status == 200, back.body
    eventually(lambda: (fhir.read_if_present("Patient", sub) or {}).get("active") is True, timeout_s=30)
