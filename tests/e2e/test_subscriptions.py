"""FHIR subscriptions (the R5 Backport on R4) over the local platform, as a health system's
software meets them: fhirpy creates one through the facade, and a receiver this test runs on
loopback (where the platform's stand-in for public DNS sends the tenant's subscriber domain)
takes its handshake and its notifications, each signed with the subscription's own secret. The
notification names what changed by id only; the subscriber reads it through the facade."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError, OperationOutcome

from local.platform import LocalPlatform
from telehealth.adapters.subscriber_delivery import SIGNATURE_HEADER, verify
from telehealth.fhir.subscriptions import SIGNING_SECRET_EXTENSION
from tests.conftest import eventually, user_tokens
from tests.e2e.test_fhir_facade import FHIR, Facade, machine_token, outcome
from tests.e2e.test_scheduling import RIVERSIDE, book, fresh_slot, patient_id

TOPIC = "urn:telehealth:subscription-topic:appointment"
HOOK = "https://hooks.riverside-health.example/fhir/notify"


class Receiver:
    """The health system's rest-hook endpoint: every POST kept (path, signature, body)."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        self.status = 200
        receiver = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append((self.path, self.headers.get(SIGNATURE_HEADER, ""), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Hook)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notifications(self, subscription_id: str) -> list[tuple[dict[str, Any], str, bytes]]:
        """Each notification of the subscription: its status Parameters, signature and raw body."""
        found = []
        for _, signature, body in list(self.received):
            bundle = json.loads(body)
            status = bundle["entry"][0]["resource"]
            reference = next(p for p in status["parameter"] if p["name"] == "subscription")
            if reference["valueReference"]["reference"].endswith(f"/Subscription/{subscription_id}"):
                found.append((status, signature, body))
        return found


def parameter(status: dict[str, Any], name: str) -> Any:
    found = next(p for p in status["parameter"] if p["name"] == name)
    return (
        next(v for k, v in found.items() if k.startswith("value")) if "part" not in found else found["part"]
    )


@pytest.fixture(scope="module")
def receiver(platform: LocalPlatform) -> Iterator[Receiver]:
    port = urllib.parse.urlsplit(platform.urls["subscribers"]).port
    assert port is not None
    running = Receiver(port)
    yield running
    running.server.shutdown()


def test_a_health_system_subscribes_gets_its_handshake_and_each_change_signed_then_deletes_it(
    platform: LocalPlatform, gateway: str, receiver: Receiver
) -> None:
    token = machine_token(platform, "system/Subscription.cruds", "system/*.rs", client_id="ehr-subscriber")
    client = SyncFHIRClient(f"{gateway}{FHIR}", authorization=token)
    subscription = client.resource(
        "Subscription",
        status="requested",
        reason="Appointments of our patients",
        criteria=TOPIC,
        channel={
            "type": "rest-hook",
            "endpoint": HOOK,
            "payload": "application/fhir+json",
            "_payload": {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                        "valueCode": "id-only",
                    }
                ]
            },
        },
    )
    subscription.save()
    subscription_id = subscription.id
    secret = next(e["valueString"] for e in subscription["extension"] if e["url"] == SIGNING_SECRET_EXTENSION)
    assert subscription["status"] == "requested"

    # The handshake, signed; then the subscription is active (read back: no secret in it).
    def handshaken() -> tuple[dict[str, Any], str, bytes] | None:
        got = receiver.notifications(subscription_id)
        return got[0] if got else None

    status, signature, body = eventually(handshaken, timeout_s=30)
    assert parameter(status, "type") == "handshake" and parameter(status, "topic") == TOPIC
    assert verify(secret, body, signature, now=int(time.time()))
    assert not verify("another secret", body, signature, now=int(time.time()))
    read = eventually(
        lambda: (
            (r := client.reference("Subscription", subscription_id).to_resource())["status"] == "active" and r
        ),
        timeout_s=15,
    )
    assert "extension" not in read and secret not in json.dumps(read.serialize())

    # A booking is told, numbered, by id only; the subscriber reads it with its own token.
    patient = user_tokens(platform, RIVERSIDE, "patient.two@riverside.example")["access"]
    booked = book(gateway, patient, fresh_slot(gateway, patient, provider=None, days_ahead=5, span_hours=12))
    assert booked.status == 201, booked.body
    appointment = booked.json()["appointment_id"]

    def told() -> tuple[dict[str, Any], str, bytes] | None:
        for status, signature, body in receiver.notifications(subscription_id):
            if parameter(status, "type") == "event-notification":
                event = parameter(status, "notification-event")
                focus = next(p for p in event if p["name"] == "focus")["valueReference"]["reference"]
                if focus.endswith(f"/Appointment/{appointment}"):
                    return status, signature, body
        return None

    status, signature, body = eventually(told, timeout_s=30)
    assert verify(secret, body, signature, now=int(time.time()))
    bundle = json.loads(body)
    assert bundle["type"] == "history" and all("resource" not in e for e in bundle["entry"][1:])
    assert patient_id(platform, "patient.two@riverside.example") not in body.decode()  # ids of the focus only
    number = int(parameter(status, "events-since-subscription-start"))
    assert number >= 1
    focus_url = bundle["entry"][1]["fullUrl"]
    assert focus_url == f"{gateway}{FHIR}/Appointment/{appointment}"
    assert Facade(gateway, token).get(focus_url).status == 200

    # $status answers the count so far.
    statused = Facade(gateway, token).get(f"Subscription/{subscription_id}/$status")
    assert statused.status == 200, statused.body
    parameters = statused.json()["entry"][0]["resource"]
    assert int(parameter(parameters, "events-since-subscription-start")) >= number
    assert parameter(parameters, "status") == "active"

    # Deleted: it reads as gone, and nothing more is delivered.
    subscription.delete()  # type: ignore[no-untyped-call]  # fhirpy leaves it unannotated
    assert outcome(Facade(gateway, token).get(f"Subscription/{subscription_id}"), 410)
    before = len(receiver.notifications(subscription_id))
    again = book(gateway, patient, fresh_slot(gateway, patient, provider=None, days_ahead=6, span_hours=12))
    assert again.status == 201, again.body
    time.sleep(3)
    assert len(receiver.notifications(subscription_id)) == before


def test_a_subscription_the_platform_cannot_serve_is_refused_naming_what_is_wrong(
    platform: LocalPlatform, gateway: str
) -> None:
    base = {"status": "requested", "reason": "x", "criteria": TOPIC}
    channel = {"type": "rest-hook", "payload": "application/fhir+json"}
    # Told of appointments is reading them: without that scope, no subscription to them.
    blind = machine_token(platform, "system/Subscription.cruds", client_id="ehr-subscriber-blind")
    with pytest.raises(ForbiddenError):
        SyncFHIRClient(f"{gateway}{FHIR}", authorization=blind).resource(
            "Subscription", **base, channel={**channel, "endpoint": HOOK}
        ).save()
    token = machine_token(
        platform, "system/Subscription.cruds", "system/Appointment.rs", client_id="ehr-subscriber-2"
    )
    client = SyncFHIRClient(f"{gateway}{FHIR}", authorization=token)
    for endpoint, said in (
        ("https://hooks.elsewhere.example/notify", "hooks.elsewhere.example"),
        ("http://hooks.riverside-health.example/notify", "https://"),
        ("https://10.0.0.7/notify", "domain"),
    ):
        with pytest.raises(OperationOutcome) as refused:
            client.resource("Subscription", **base, channel={**channel, "endpoint": endpoint}).save()
        assert said in str(refused.value)
    with pytest.raises(OperationOutcome) as refused:
        client.resource(
            "Subscription",
            **{**base, "criteria": "Appointment?status=booked"},
            channel={**channel, "endpoint": HOOK},
        ).save()
    assert "topic" in str(refused.value)
    # A create retried with its Idempotency-Key gets the first answer, secret and all; the kept
    # answer holds the secret sealed by the key, never as it was told.
    wanted = {"resourceType": "Subscription", **base, "channel": {**channel, "endpoint": HOOK}}
    facade, key = Facade(gateway, token), {"Idempotency-Key": "subscribe-once-1234"}
    first, again = (
        facade.call("POST", "Subscription", json.dumps(wanted).encode(), "application/fhir+json", key)
        for _ in range(2)
    )
    assert first.status == again.status == 201, first.body
    assert first.json()["id"] == again.json()["id"] and first.json()["extension"] == again.json()["extension"]
    secret = first.json()["extension"][0]["valueString"]
    table = platform.client("dynamodb")
    name = platform.provisioned[RIVERSIDE].environment["TABLE_NAME"]
    kept = [i for i in table.scan(TableName=name)["Items"] if i["pk"]["S"].startswith("IDEMPOTENCY#")]
    assert kept and not [i for i in kept if secret in json.dumps(i)]
    # Another client's subscriptions are not its own to read; a reader without the scope is refused.
    reader = Facade(gateway, machine_token(platform, "system/Patient.rs", client_id="ehr-no-subs"))
    assert outcome(reader.get("Subscription"), 403)["code"] == "forbidden"
