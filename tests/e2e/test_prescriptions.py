"""E-prescribing over HTTP, through the stand-in network: the checks (an allergy by drug class,
duplicate therapy, the network's interaction alert, a controlled substance), an idempotent send,
and what the network sends back (transmitted, a fill, a renewal request, an error, a
cancellation), each moving the prescription, the record and the bus."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

from local.platform import PHOTON_WEBHOOK_SECRET, LocalPlatform
from local.seed import photon_refresh_token
from local.tokens import mint_client_credentials_token
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.api_conventions import PRESCRIBING_WEBHOOK
from telehealth.terminology.drugs import MEDRT, RXNORM
from tests.conftest import eventually, http, user_tokens
from tests.e2e.conftest import in_record
from tests.e2e.test_scheduling import RIVERSIDE, call
from tests.e2e.test_video_visit import admit_when_waiting, checked_in_visit, probe

__all__ = ["probe"]  # the event probe, a fixture of the video visit's tests

LISINOPRIL_10, LISINOPRIL_20 = "314076", "314077"
AMOXICILLIN_500 = "308191"
IBUPROFEN_400 = "197805"
SERTRALINE_50 = "312941"
TRAMADOL_50 = "835603"  # Schedule IV
ACCOUNT = "/v1/prescriptions/prescriber-account"


def written(rxcui: str, pharmacy_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "rxcui": rxcui,
        "dose": "1 tablet",
        "route": "oral",
        "frequency": "once a day",
        "quantity": 30,
        "days_supply": 30,
        "refills": 1,
        "substitution_allowed": True,
        "sig": "Take one tablet by mouth once a day.",
        "pharmacy_id": pharmacy_id,
        **changes,
    }


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture(scope="module")
def patient(platform: LocalPlatform) -> str:
    return user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")["access"]


@pytest.fixture(scope="module")
def seen(platform: LocalPlatform, gateway: str, patient: str) -> tuple[dict[str, Any], str]:
    """A visit its provider admitted, the patient allergic to the penicillins and taking lisinopril."""
    mine = "/v1/me/allergies-and-medications"
    penicillins = call(gateway, "GET", "/v1/allergens?q=penicillins", patient).json()["allergens"][0]
    told = call(
        gateway,
        "PUT",
        mine,
        patient,
        {
            "allergies": [{"text": "Penicillins", "code": {"system": MEDRT, "code": penicillins["code"]}}],
            "medications": [
                {"text": "Lisinopril", "code": {"system": RXNORM, "code": LISINOPRIL_10}, "dose": "daily"}
            ],
            "version": call(gateway, "GET", mine, patient).json()["version"],
        },
    )
    assert told.status == 200, told.body
    appointment, provider = checked_in_visit(platform, gateway, patient)
    admit_when_waiting(gateway, provider, appointment["appointment_id"])
    return appointment, provider


def pharmacy(gateway: str, token: str, name: str) -> str:
    found = call(gateway, "GET", f"/v1/pharmacies?state=NY&name={name}", token)
    assert found.status == 200, found.body
    (one,) = found.json()
    assert one["state"] == "NY"
    return str(one["pharmacy_id"])


def status_of(gateway: str, provider: str, visit_id: str, prescription_id: str) -> dict[str, Any]:
    listed = call(gateway, "GET", f"/v1/appointments/{visit_id}/prescriptions", provider).json()
    return next(rx for rx in listed["prescriptions"] if rx["prescription_id"] == prescription_id)


def event_of(platform: LocalPlatform, probe: str, detail_type: str, prescription_id: str) -> dict[str, Any]:
    sqs = platform.client("sqs")
    for message in sqs.receive_message(QueueUrl=probe, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        event = json.loads(message["Body"])
        if event["detail-type"] == detail_type and event["detail"].get("prescription_id") == prescription_id:
            return dict(event["detail"])
    raise AssertionError(f"no {detail_type} yet")


def test_a_prescription_is_checked_sent_once_transmitted_filled_and_then_not_cancelled(
    platform: LocalPlatform,
    gateway: str,
    patient: str,
    seen: tuple[dict[str, Any], str],
    fhir: HealthLakeFhirStore,
    probe: str,
) -> None:
    appointment, provider = seen
    visit_id = appointment["appointment_id"]
    prescriptions = f"/v1/appointments/{visit_id}/prescriptions"
    riverside = pharmacy(gateway, provider, "riverside")
    assert call(gateway, "GET", "/v1/pharmacies?state=NY", patient).status == 200  # the patient's too

    # A penicillin allergy stops amoxicillin (by its class); nothing is kept of a refused send.
    checks = call(gateway, "POST", f"{prescriptions}/checks", provider, written(AMOXICILLIN_500, riverside))
    assert checks.status == 200, checks.body
    assert checks.json()["refused"] and checks.json()["findings"][0]["code"] == "allergy"
    refused = call(gateway, "POST", prescriptions, provider, written(AMOXICILLIN_500, riverside), **key())
    assert refused.status == 422 and refused.json()["type"] == "/problems/prescription-refused", refused.body
    assert "Penicillin" in refused.json()["findings"][0]["message"]
    before = call(gateway, "GET", prescriptions, provider).json()
    assert (before["prescriptions"], before["patient_state"]) == ([], "NY")

    # Lisinopril, which the patient takes already: a duplicate to acknowledge before it goes.
    lisinopril = written(LISINOPRIL_10, riverside)
    checked = call(gateway, "POST", f"{prescriptions}/checks", provider, lisinopril).json()
    assert checked["to_acknowledge"] == ["duplicate-ingredient"] and not checked["refused"]
    unread = call(gateway, "POST", prescriptions, provider, lisinopril, **key())
    assert unread.status == 422 and unread.json()["unacknowledged"] == ["duplicate-ingredient"]
    assert call(gateway, "POST", prescriptions, provider, lisinopril).status == 428  # no key: not sent
    acknowledged = {**lisinopril, "acknowledged": ["duplicate-ingredient"]}
    same = key()
    sent = call(gateway, "POST", prescriptions, provider, acknowledged, **same)
    assert sent.status == 201, sent.body
    rx = sent.json()
    assert (rx["status"], rx["drug"], rx["quantity_unit"]) == ("submitted", rx["drug"], "tablet")
    # A retry of the same send is the same prescription, and the network has one order of it.
    again = call(gateway, "POST", prescriptions, provider, acknowledged, **same)
    assert again.status == 201 and again.json()["prescription_id"] == rx["prescription_id"]
    assert platform.photon is not None
    order = platform.photon.order_of(rx["prescription_id"])
    assert order is not None
    assert (
        sum(o.get("externalId") == rx["prescription_id"] for o in platform.photon.state.orders.values()) == 1
    )

    # The network says the pharmacy has it: Prescription.Sent, ids only.
    assert eventually(
        lambda: status_of(gateway, provider, visit_id, rx["prescription_id"])["status"] == "transmitted",
        timeout_s=30,
    )
    announced = eventually(lambda: event_of(platform, probe, "Prescription.Sent", rx["prescription_id"]))
    ids = {
        "schema_version",
        "prescription_id",
        "appointment_id",
        "case_id",
        "patient_id",
        "version",
        "outbox_id",
    }
    assert set(announced) <= ids and rx["drug"] not in json.dumps(announced)
    assert announced["appointment_id"] == visit_id and announced.get("case_id") is None

    # In the record: the MedicationRequest on the visit's Encounter, naming the pharmacy.
    request_id = rx["prescription_id"].lower()
    recorded = eventually(lambda: in_record(fhir, "MedicationRequest", request_id), timeout_s=30)
    assert recorded["status"] == "active" and recorded["intent"] == "order"
    assert recorded["medicationCodeableConcept"]["coding"][0] == {
        "system": RXNORM,
        "code": LISINOPRIL_10,
        "display": rx["drug"],
    }
    assert recorded["dispenseRequest"]["numberOfRepeatsAllowed"] == 1
    performer = recorded["dispenseRequest"]["performer"]["reference"]
    assert in_record(fhir, *performer.split("/"))["name"] == "Riverside Community Pharmacy"
    # The pharmacy is remembered for the patient's next prescription.
    remembered = call(gateway, "GET", prescriptions, provider).json()["pharmacy"]
    assert remembered["pharmacy_id"] == riverside

    # Ibuprofen now: the network's own interaction alert (with the lisinopril it has), to acknowledge.
    alerts = call(
        gateway, "POST", f"{prescriptions}/checks", provider, written(IBUPROFEN_400, riverside)
    ).json()
    assert [a["kind"] for a in alerts["alerts"]] == ["DRUG_DRUG"] and "lisinopril" in alerts["alerts"][0][
        "message"
    ]
    assert alerts["alerts"][0]["code"] in alerts["to_acknowledge"]

    # The pharmacy fills it: a MedicationDispense, Prescription.Dispensed; then it cannot be cancelled.
    assert http("POST", f"{platform.photon.url}/_control/orders/{order['id']}/fill", body=b"{}").status == 200
    filled = eventually(
        lambda: (
            (r := status_of(gateway, provider, visit_id, rx["prescription_id"]))["status"] == "dispensed"
            and r
        ),
        timeout_s=30,
    )
    assert filled["fills"][0]["quantity"] == 30
    eventually(lambda: event_of(platform, probe, "Prescription.Dispensed", rx["prescription_id"]))
    dispensed = eventually(
        lambda: in_record(fhir, "MedicationDispense", f"{request_id}-fill-1"), timeout_s=30
    )
    assert dispensed["authorizingPrescription"][0]["reference"] == f"MedicationRequest/{request_id}"
    cancel = call(gateway, "POST", f"/v1/prescriptions/{rx['prescription_id']}/cancel", provider, **key())
    assert cancel.status == 409 and cancel.json()["type"] == "/problems/prescription-dispensed"

    # The pharmacy asks to renew it: on the prescription, for the prescriber; announced.
    assert (
        http("POST", f"{platform.photon.url}/_control/orders/{order['id']}/renewal", body=b"{}").status == 200
    )
    renewed = eventually(
        lambda: status_of(gateway, provider, visit_id, rx["prescription_id"])["renewals"], timeout_s=30
    )
    assert renewed[0]["status"] == "pending"
    eventually(lambda: event_of(platform, probe, "Prescription.RenewalRequested", rx["prescription_id"]))

    # The prescriber renews it: checked again (the lisinopril the patient takes: to acknowledge),
    # a new prescription to the same pharmacy continuing the old one; answered once.
    answer = f"/v1/prescriptions/{rx['prescription_id']}/renewals/{renewed[0]['request_id']}"
    unread = call(gateway, "POST", answer, provider, {"approve": True}, **key())
    assert unread.status == 422 and unread.json()["unacknowledged"] == ["duplicate-ingredient"], unread.body
    approved = call(
        gateway,
        "POST",
        answer,
        provider,
        {"approve": True, "acknowledged": ["duplicate-ingredient"]},
        **key(),
    )
    assert approved.status == 200, approved.body
    old, new = approved.json()["prescription"], approved.json()["renewal"]
    assert (
        old["renewals"][0]["status"] == "approved"
        and old["renewals"][0]["renewed_by"] == new["prescription_id"]
    )
    assert (new["renews"], new["status"], new["pharmacy"]["pharmacy_id"]) == (
        rx["prescription_id"],
        "submitted",
        riverside,
    )
    again = call(gateway, "POST", answer, provider, {"approve": False}, **key())
    assert again.status == 409 and again.json()["type"] == "/problems/renewal-answered"
    prior = eventually(
        lambda: in_record(fhir, "MedicationRequest", new["prescription_id"].lower()), timeout_s=30
    )
    assert prior["priorPrescription"]["reference"] == f"MedicationRequest/{request_id}"
    # A second request, denied: nothing is sent.
    assert (
        http("POST", f"{platform.photon.url}/_control/orders/{order['id']}/renewal", body=b"{}").status == 200
    )
    second = eventually(
        lambda: [
            r
            for r in status_of(gateway, provider, visit_id, rx["prescription_id"])["renewals"]
            if r["status"] == "pending"
        ],
        timeout_s=30,
    )
    denied = call(
        gateway,
        "POST",
        f"/v1/prescriptions/{rx['prescription_id']}/renewals/{second[0]['request_id']}",
        provider,
        {"approve": False},
        **key(),
    )
    assert denied.status == 200 and denied.json()["renewal"] is None, denied.body
    assert [r["status"] for r in denied.json()["prescription"]["renewals"]] == ["approved", "denied"]

    # The patient sees theirs and where it stands (never another's).
    mine = call(gateway, "GET", "/v1/me/prescriptions", patient).json()
    seen_by_patient = next(p for p in mine if p["prescription_id"] == rx["prescription_id"])
    assert seen_by_patient["status"] == "dispensed"
    assert seen_by_patient["pharmacy"]["name"] == "Riverside Community Pharmacy"
    assert call(gateway, "GET", prescriptions, patient).status == 403

    # A webhook not signed by the network is refused; a repeat of a real one changes nothing.
    hook = f"{gateway}/tenants/{RIVERSIDE}{PRESCRIBING_WEBHOOK}"
    forged = http("POST", hook, headers={"X-Photon-Signature": "0" * 64}, body=b'{"id": "x"}')
    assert forged.status == 400 and forged.json()["type"] == "/problems/signature-refused"
    delivered = next(e for e in platform.photon.delivered if e["type"] == "photon:order:completed")
    body = json.dumps(delivered).encode()
    signature = hmac.new(PHOTON_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    before = status_of(gateway, provider, visit_id, rx["prescription_id"])
    repeat = http("POST", hook, headers={"X-Photon-Signature": signature}, body=body)
    assert repeat.status == 200 and repeat.json() == {"received": False}
    assert status_of(gateway, provider, visit_id, rx["prescription_id"]) == before


def test_a_pharmacy_that_takes_none_fails_with_its_reason_and_a_cancel_before_the_fill_cancels(
    platform: LocalPlatform,
    gateway: str,
    seen: tuple[dict[str, Any], str],
    fhir: HealthLakeFhirStore,
    probe: str,
) -> None:
    appointment, provider = seen
    visit_id = appointment["appointment_id"]
    prescriptions = f"/v1/appointments/{visit_id}/prescriptions"

    closed = pharmacy(gateway, provider, "closed%20door")
    sent = call(gateway, "POST", prescriptions, provider, written(SERTRALINE_50, closed), **key())
    assert sent.status == 201, sent.body
    failing = sent.json()["prescription_id"]
    failed = eventually(
        lambda: (r := status_of(gateway, provider, visit_id, failing))["status"] == "failed" and r,
        timeout_s=30,
    )
    assert "electronic prescriptions" in failed["failure_reason"]
    eventually(lambda: event_of(platform, probe, "Prescription.Failed", failing))
    stopped = eventually(
        lambda: (r := in_record(fhir, "MedicationRequest", failing.lower()))["status"] == "stopped" and r,
        timeout_s=30,
    )
    assert "electronic prescriptions" in stopped["statusReason"]["text"]

    hudson = pharmacy(gateway, provider, "hudson")
    sent = call(gateway, "POST", prescriptions, provider, written(SERTRALINE_50, hudson, refills=0), **key())
    assert sent.status == 201, sent.body
    cancelling = sent.json()["prescription_id"]
    asked = call(gateway, "POST", f"/v1/prescriptions/{cancelling}/cancel", provider, **key())
    # Asked, or already confirmed: the network's webhook may come before the answer.
    assert asked.status == 200 and asked.json()["status"] in ("cancel-requested", "cancelled"), asked.body
    assert eventually(
        lambda: status_of(gateway, provider, visit_id, cancelling)["status"] == "cancelled", timeout_s=30
    )
    eventually(lambda: event_of(platform, probe, "Prescription.Cancelled", cancelling))
    assert eventually(
        lambda: in_record(fhir, "MedicationRequest", cancelling.lower())["status"] == "cancelled",
        timeout_s=30,
    )
    # Another provider can neither see nor cancel them.
    other = user_tokens(platform, RIVERSIDE, "dr.okafor@riverside.example")["access"]
    assert call(gateway, "GET", prescriptions, other).status == 404
    assert call(gateway, "POST", f"/v1/prescriptions/{failing}/cancel", other, **key()).status == 404


def test_a_controlled_substance_needs_the_prescribers_dea_registration_in_the_patients_state(
    platform: LocalPlatform, gateway: str, patient: str, seen: tuple[dict[str, Any], str]
) -> None:
    appointment, provider = seen
    checks = f"/v1/appointments/{appointment['appointment_id']}/prescriptions/checks"
    tramadol = written(TRAMADOL_50, pharmacy(gateway, provider, "riverside"), refills=0)
    admin = user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"]
    dea = f"/v1/admin/providers/{appointment['provider_id']}/dea-registrations"
    kept = call(gateway, "GET", dea, admin).json()
    assert "NY" in [r["state"] for r in kept["registrations"]]  # seeded, II-V, where they are licensed
    assert call(gateway, "GET", dea, provider).json() == kept  # the prescriber reads their own
    assert call(gateway, "GET", dea, patient).status == 403
    assert call(gateway, "PUT", dea, provider, kept).status == 403  # only the clinic's admins change them

    # Registered in NY, by video, before the flexibilities end: no refusal for the registration.
    found = call(gateway, "POST", checks, provider, tramadol).json()
    assert "dea-registration" not in [f["code"] for f in found["findings"]], found

    # Registered elsewhere only: refused, with what is missing in words.
    elsewhere = [r for r in kept["registrations"] if r["state"] != "NY"] or [
        {"number": "FB1234563", "state": "NJ", "schedules": ["II", "III", "IV", "V"], "expires": "2028-12-31"}
    ]
    moved = call(gateway, "PUT", dea, admin, {"registrations": elsewhere, "version": kept["version"]})
    assert moved.status == 200, moved.body
    try:
        refused = call(gateway, "POST", checks, provider, tramadol).json()
        assert refused["refused"]
        (finding,) = [f for f in refused["findings"] if f["code"] == "dea-registration"]
        assert "Schedule IV" in finding["message"] and "NY" in finding["message"]
        # What an admin cannot set: a number whose check digit is wrong, a stale version.
        wrong = {**elsewhere[0], "number": "FB1234564"}
        bad = call(gateway, "PUT", dea, admin, {"registrations": [wrong], "version": moved.json()["version"]})
        assert bad.status == 422 and bad.json()["type"] == "/problems/dea-registrations"
        stale = call(gateway, "PUT", dea, admin, {"registrations": elsewhere, "version": kept["version"]})
        assert stale.status == 409
    finally:
        restored = call(gateway, "PUT", dea, admin, {**kept, "version": moved.json()["version"]})
        assert restored.status == 200, restored.body


def test_each_prescribing_route_answers_each_kind_of_caller_as_the_clinics_rules_say(
    platform: LocalPlatform, gateway: str, patient: str, seen: tuple[dict[str, Any], str]
) -> None:
    """Route by route: the visit's provider alone checks, sends, lists and cancels; patients read
    their own and search pharmacies; the desk does neither; a machine client and another tenant's
    users get the authorizer's 401."""
    appointment, provider = seen
    visit = f"/v1/appointments/{appointment['appointment_id']}/prescriptions"
    riverside = pharmacy(gateway, provider, "riverside")
    body = written(SERTRALINE_50, riverside)
    who = {
        "patient": patient,
        "other provider": user_tokens(platform, RIVERSIDE, "dr.okafor@riverside.example")["access"],
        "staff": user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"],
        "machine": mint_client_credentials_token(
            issuer=platform.provisioned[RIVERSIDE].issuers["workforce"],
            client_id="ehr-test",
            scopes=["telehealth/appointments.read", "system/*.rs"],
        ),
        "other tenant": user_tokens(platform, "desert-clinic", "patient.one@desert-clinic.example")["access"],
    }
    nobody = {"machine": 401, "other tenant": 401}
    clinicians_only = {"patient": 403, "other provider": 404, "staff": 403, **nobody}
    routes: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
        ("POST", f"{visit}/checks", body, clinicians_only),
        ("POST", visit, body, clinicians_only),
        ("GET", visit, None, clinicians_only),
        ("POST", "/v1/prescriptions/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel", None, clinicians_only),
        ("POST", "/v1/prescriptions/01ARZ3NDEKTSV4RRFFQ69G5FAV/renewals/rnw_1", {"approve": False},
         clinicians_only),
        ("GET", "/v1/me/prescriptions", None,
         {"patient": 200, "other provider": 403, "staff": 403, **nobody}),
        ("GET", "/v1/pharmacies?state=NY", None,
         {"patient": 200, "other provider": 200, "staff": 403, **nobody}),
        # A provider's own Photon account: theirs alone to see, link and unlink.
        ("GET", ACCOUNT, None, {"patient": 403, "other provider": 200, "staff": 403, **nobody}),
        ("POST", f"{ACCOUNT}/sign-in", None, {"patient": 403, "staff": 403, **nobody}),
        ("PUT", ACCOUNT, {"state": "s" * 43, "code": "c"}, {"patient": 403, "staff": 403, **nobody}),
        ("DELETE", ACCOUNT, None, {"patient": 403, "staff": 403, **nobody}),
    ]  # fmt: skip
    for method, path, sent, expected in routes:
        for role, status in expected.items():
            reply = call(gateway, method, path, who[role], sent, **key())
            assert reply.status == status, (method, path, role, reply.status, reply.body[:200])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the browser would follow it: the test reads where to


def sign_in_at_photon(authorize_url: str, email: str) -> dict[str, str]:
    """What the prescriber's browser does at Photon: open its sign-in page, send the form, and
    come back to the dashboard with the code and the state (read off the redirect)."""
    page = http("GET", authorize_url)
    assert page.status == 200 and "Sign in and allow" in page.body.decode(), page.body[:300]
    origin = authorize_url.split("/authorize", 1)[0]
    form = {**dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize_url).query)), "email": email}
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{origin}/authorize", data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    try:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=10)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302, redirect.code
        back = urllib.parse.urlsplit(redirect.headers["Location"])
        return {"to": back._replace(query="").geturl(), **dict(urllib.parse.parse_qsl(back.query))}
    raise AssertionError("the sign-in page sent the browser nowhere")


def test_a_prescriber_links_their_photon_account_by_signing_in_there_and_unlinks_it(
    platform: LocalPlatform, gateway: str, seen: tuple[dict[str, Any], str]
) -> None:
    """Unlinked, the checks refuse and nothing is sent; linked again by a sign-in at Photon
    (authorization code with PKCE), sending works. A sign-in's state finishes one link, once, for
    the provider who began it; a code Photon did not give is refused; each step changes nothing
    else. Photon refuses a callback the clinic did not register."""
    appointment, provider = seen
    visit = f"/v1/appointments/{appointment['appointment_id']}/prescriptions"
    assert platform.photon is not None
    seeded = photon_refresh_token(RIVERSIDE, appointment["provider_id"])
    assert call(gateway, "GET", ACCOUNT, provider).json()["linked"] is True

    gone = call(gateway, "DELETE", ACCOUNT, provider)
    assert gone.status == 204 and gone.body == b"" and "Content-Type" not in gone.headers, gone
    assert call(gateway, "GET", ACCOUNT, provider).json() == {"linked": False, "linked_at": None}
    assert seeded not in platform.photon.prescribers  # revoked at Photon, not only forgotten here
    assert call(gateway, "DELETE", ACCOUNT, provider).status == 204  # unlinking twice changes nothing

    draft = written(LISINOPRIL_20, pharmacy(gateway, provider, "riverside"))
    checks = call(gateway, "POST", f"{visit}/checks", provider, draft)
    assert checks.status == 200, checks.body
    unlinked = [f for f in checks.json()["findings"] if f["code"] == "prescriber-not-linked"]
    assert [f["severity"] for f in unlinked] == ["refusal"] and checks.json()["refused"] is True
    before = list(platform.photon.calls)
    refused = call(gateway, "POST", visit, provider, draft, **key())
    assert refused.status == 422 and refused.json()["type"].endswith("/prescription-refused"), refused.body
    assert "createPrescription" not in platform.photon.calls[len(before) :]

    def begun() -> dict[str, str]:
        asked = key()
        started = call(gateway, "POST", f"{ACCOUNT}/sign-in", provider, **asked)
        assert started.status == 200, started.body
        retried = call(gateway, "POST", f"{ACCOUNT}/sign-in", provider, **asked)  # the same sign-in
        assert retried.json() == started.json(), retried.body
        url = started.json()["authorize_url"]
        assert url.startswith(f"{platform.urls['photon']}/authorize?")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert query["code_challenge_method"] == "S256" and "offline_access" in query["scope"].split()
        assert query["state"] == started.json()["state"]
        back = sign_in_at_photon(url, "prescriber@riverside.example")
        assert back["to"] == platform.dashboard_url(platform.settings.tenants[0])
        assert back["state"] == query["state"]
        return back

    # Another provider cannot finish it (and it is spent).
    other = user_tokens(platform, RIVERSIDE, "dr.okafor@riverside.example")["access"]
    back = begun()
    taken = call(gateway, "PUT", ACCOUNT, other, {"state": back["state"], "code": back["code"]})
    assert taken.status == 409 and taken.json()["type"].endswith("/link-expired"), taken.body
    # A code Photon did not give for this sign-in is refused there.
    back = begun()
    forged = call(gateway, "PUT", ACCOUNT, provider, {"state": back["state"], "code": "not-photons-code"})
    assert forged.status == 422 and forged.json()["type"].endswith("/link-refused"), forged.body
    assert call(gateway, "GET", ACCOUNT, provider).json()["linked"] is False

    # Photon sends a browser back only to the callbacks the operator registered.
    elsewhere = (
        call(gateway, "POST", f"{ACCOUNT}/sign-in", provider)
        .json()["authorize_url"]
        .replace(
            urllib.parse.quote(platform.dashboard_url(platform.settings.tenants[0]), safe=""),
            urllib.parse.quote("https://attacker.example/", safe=""),
        )
    )
    assert http("GET", elsewhere).status == 400

    back = begun()
    once = key()
    finished = {"state": back["state"], "code": back["code"]}
    linked = call(gateway, "PUT", ACCOUNT, provider, finished, **once)
    assert linked.status == 200 and linked.json()["linked"] is True, linked.body
    replayed = call(gateway, "PUT", ACCOUNT, provider, finished, **once)  # the answer was lost
    assert (replayed.status, replayed.json()) == (200, linked.json()), replayed.body
    again = call(gateway, "PUT", ACCOUNT, provider, finished, **key())
    assert again.status == 409, again.body  # a state finishes one link, once
    second = call(gateway, "POST", f"{ACCOUNT}/sign-in", provider)  # unlink first to link another
    assert second.status == 409 and second.json()["type"].endswith("/already-linked"), second.body

    checks = call(gateway, "POST", f"{visit}/checks", provider, draft).json()
    assert not [f for f in checks["findings"] if f["code"] == "prescriber-not-linked"], checks
    sent = call(
        gateway, "POST", visit, provider, {**draft, "acknowledged": checks["to_acknowledge"]}, **key()
    )
    assert sent.status == 201, sent.body
    assert sent.json()["status"] in ("submitted", "transmitted")


def test_a_tenant_without_triage_has_no_prescriptions_from_cases(
    platform: LocalPlatform, gateway: str
) -> None:
    """Riverside prescribes in visits but takes no cases of photos: a case's prescriptions are not
    there (its stack has no triage resource), and not in its document. (Both demo tenants have
    e-prescribing on; with it off, the same operations answer 404 in the function:
    tests/integration/test_api_features.py.)"""
    provider = user_tokens(platform, RIVERSIDE, "dr.ramirez@riverside.example")["access"]
    case = "/v1/triage/cases/01KB0Z6W3RY1D5Q8CSJ0Y2T9VA/prescriptions"
    for method, path in (("GET", case), ("POST", case), ("POST", f"{case}/checks")):
        body = written(AMOXICILLIN_500, "phr_01") if method == "POST" else None
        reply = call(gateway, method, path, provider, body)
        assert reply.status == 404 and reply.headers["Content-Type"] == "application/problem+json", reply.body
    document = call(gateway, "GET", "/openapi.json", None).json()
    assert not [p for p in document["paths"] if p.startswith("/v1/triage/")]
