"""The video visit over HTTP, as the portal and a provider drive it: the waiting room, admission
into a Chime meeting, single-use join links, Chime's events deciding who came, and the end."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from infra import topology
from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.adapters.meetings import ChimeMeetings
from telehealth.ports import MeetingGoneError
from tests.conftest import Reply, eventually, user_tokens
from tests.e2e.test_scheduling import RIVERSIDE, book, call
from tests.e2e.test_visits import check_in_when_open, execution, soon_slot


def provider_email(slot_id: str) -> str:
    return f"{slot_id.split('.')[0].replace('-', '.', 1)}@{RIVERSIDE}.example"


def simulate(
    platform: LocalPlatform, action: str, join_token: str, video: bytes | None = None
) -> dict[str, Any]:
    """What a participant's Chime client does: connect with its join token (sending its camera's
    video, for the recording), or leave or drop."""
    body = {"JoinToken": join_token, **({"VideoBase64": base64.b64encode(video).decode()} if video else {})}
    request = urllib.request.Request(  # noqa: S310 (the loopback stand-in)
        f"{platform.urls['chime']}/_sim/{action}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (loopback stand-in)
        answer: dict[str, Any] = json.loads(reply.read())
        return answer


@pytest.fixture(scope="module")
def patient(platform: LocalPlatform) -> str:
    return user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")["access"]


@pytest.fixture(scope="module")
def other_patient(platform: LocalPlatform) -> str:
    return user_tokens(platform, RIVERSIDE, "patient.two@riverside.example")["access"]


def waiting(gateway: str, token: str, appointment_id: str) -> dict[str, Any]:
    reply = call(gateway, "GET", f"/v1/appointments/{appointment_id}/waiting-room", token)
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.json()
    return body


def checked_in_visit(platform: LocalPlatform, gateway: str, patient: str) -> tuple[dict[str, Any], str]:
    """A booked, checked-in visit with a soon-starting urgent-care slot, and its provider's token."""
    slot = soon_slot(gateway, patient)
    booked = book(gateway, patient, slot)
    assert booked.status == 201, booked.body
    appointment = booked.json()
    check_in_when_open(gateway, patient, appointment["appointment_id"], True)
    provider = user_tokens(platform, RIVERSIDE, provider_email(slot))["access"]
    return appointment, provider


def admit_when_waiting(gateway: str, provider: str, appointment_id: str) -> Reply:
    """Admit as soon as the lifecycle waits for admission (moments after check-in)."""
    reply: Reply = eventually(
        lambda: (
            (r := call(gateway, "POST", f"/v1/appointments/{appointment_id}/admit", provider)).status == 200
            and r
        ),
        timeout_s=30,
    )
    return reply


PATIENT_VIDEO = b"\x00\x00\x00\x18ftypmp42 the patient's camera"


@pytest.fixture(scope="module")
def probe(platform: LocalPlatform) -> str:
    """A queue that receives every telehealth event on the riverside bus."""
    events, sqs = platform.client("events"), platform.client("sqs")
    bus = topology.TENANT_BUS.name(RIVERSIDE)
    url: str = sqs.create_queue(QueueName="probe-visit-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="probe-visit-events",
        EventBusName=bus,
        EventPattern=json.dumps({"source": [{"prefix": "telehealth."}]}),
    )
    events.put_targets(Rule="probe-visit-events", EventBusName=bus, Targets=[{"Id": "probe", "Arn": arn}])
    return url


def announced(platform: LocalPlatform, probe: str, detail_type: str, visit_id: str) -> dict[str, Any] | None:
    """The detail of a `detail_type` event about this visit, if the probe queue has received it."""
    sqs = platform.client("sqs")
    for message in sqs.receive_message(QueueUrl=probe, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        event = json.loads(message["Body"])
        if event["detail-type"] == detail_type and event["detail"]["appointment_id"] == visit_id:
            return dict(event["detail"])
    return None


def test_a_whole_visit_from_waiting_room_to_encounter_and_recording(
    platform: LocalPlatform, gateway: str, patient: str, probe: str, fhir: HealthLakeFhirStore
) -> None:
    appointment, provider = checked_in_visit(platform, gateway, patient)
    visit_id = appointment["appointment_id"]

    status = waiting(gateway, patient, visit_id)
    assert status["state"] == "checked-in" and status["position"] >= 1
    assert status["estimated_wait_s"] >= 0
    queue = call(gateway, "GET", "/v1/waiting-room", provider).json()
    mine = [w for w in queue["waiting"] if w["appointment_id"] == visit_id]
    assert mine and mine[0]["reason"] == "sore throat" and mine[0]["waited_s"] >= 0
    positions = [w["appointment_id"] for w in queue["waiting"]]
    assert positions.index(visit_id) + 1 == status["position"]

    admitted = admit_when_waiting(gateway, provider, visit_id).json()
    assert admitted["state"] == "admitted" and admitted["meeting_id"]
    assert waiting(gateway, patient, visit_id)["state"] == "admitted"

    # Each party redeems their own link, once; the provider's came with the admission.
    provider_join = call(gateway, "POST", "/v1/join", provider, {"link": admitted["link"]["link"]})
    assert provider_join.status == 200
    assert provider_join.json()["Meeting"]["ExternalMeetingId"] == f"{RIVERSIDE}:{visit_id}"
    issued = call(gateway, "POST", f"/v1/appointments/{visit_id}/join-link", patient)
    assert issued.status == 201 and issued.headers.get("Cache-Control") == "no-store"
    patient_join = call(gateway, "POST", "/v1/join", patient, {"link": issued.json()["link"]})
    assert patient_join.status == 200
    assert patient_join.json()["Attendee"]["AttendeeId"] != provider_join.json()["Attendee"]["AttendeeId"]
    again = call(gateway, "POST", "/v1/join", patient, {"link": issued.json()["link"]})
    assert again.status == 410 and again.json()["type"] == "/problems/link-gone"

    simulate(platform, "join", provider_join.json()["Attendee"]["JoinToken"], b"provider camera")
    simulate(platform, "join", patient_join.json()["Attendee"]["JoinToken"], PATIENT_VIDEO)
    assert eventually(lambda: waiting(gateway, patient, visit_id)["state"] == "in-call", timeout_s=20)
    # Join tokens are handed out at redemption and kept nowhere: not in the table, not in its stream.
    tokens = [j.json()["Attendee"]["JoinToken"] for j in (provider_join, patient_join)]
    table = platform.client("dynamodb").get_paginator("scan")
    rows = [
        json.dumps(page["Items"]) for page in table.paginate(TableName=topology.CLINIC_TABLE.name(RIVERSIDE))
    ]
    written = list(platform.dispatcher.streamed)
    assert any(visit_id in record for record in written)
    assert not [t for t in tokens if any(t in row for row in rows) or any(t in record for record in written)]
    # In call, the lifecycle starts the recording (the patient consented) before anyone hangs up.
    assert eventually(lambda: waiting(gateway, patient, visit_id)["recording"] == "recording", timeout_s=20)

    ended = call(gateway, "POST", f"/v1/appointments/{visit_id}/end", provider)
    assert ended.status == 200 and ended.json()["state"] == "completed"
    assert eventually(lambda: execution(platform, appointment)["status"] == "SUCCEEDED", timeout_s=30)
    read = call(gateway, "GET", f"/v1/appointments/{visit_id}", patient).json()
    assert read["status"] == "fulfilled"

    def finished() -> dict[str, Any] | None:
        found = fhir.read_if_present("Encounter", f"{visit_id.lower()}-v1")
        return found if found and found["status"] == "finished" else None

    encounter = eventually(finished, timeout_s=30)
    # The patient consented to recording: the capture was concatenated into one file per stream,
    # and the patient's own stream is announced for the media workers, by key and ids only.
    available = eventually(lambda: announced(platform, probe, "Recording.Available", visit_id), timeout_s=30)
    assert set(available) == {
        "outbox_id",
        "schema_version",
        "appointment_id",
        "version",
        "bucket",
        "patient_stream_key",
        "encounter_id",
        "patient_id",
    }
    patient_attendee = patient_join.json()["Attendee"]["AttendeeId"]
    assert available["patient_stream_key"] == f"recordings/{visit_id}/v1/video/{patient_attendee}.mp4"
    stored = platform.client("s3").get_object(Bucket=available["bucket"], Key=available["patient_stream_key"])
    assert stored["Body"].read() == PATIENT_VIDEO
    assert [h["status"] for h in encounter["statusHistory"]] == ["arrived", "in-progress"]
    assert encounter["class"]["code"] == "VR"
    assert encounter["identifier"][0]["value"] == admitted["meeting_id"]
    assert encounter["subject"]["reference"] == f"Patient/{appointment['patient_id']}"


def test_with_the_fhir_store_frozen_a_whole_visit_keeps_its_pace_and_the_record_catches_up(
    platform: LocalPlatform, gateway: str, patient: str, fhir: HealthLakeFhirStore
) -> None:
    """HealthLake's lane is its own: with the FHIR store hanging (no answer at all), the visit's
    workflow resumptions and events still go through at once, and the record follows the resume."""
    platform.pause("healthlake")
    try:
        appointment, provider = checked_in_visit(platform, gateway, patient)
        visit_id = appointment["appointment_id"]
        began = time.monotonic()
        admitted = admit_when_waiting(gateway, provider, visit_id).json()
        provider_join = call(gateway, "POST", "/v1/join", provider, {"link": admitted["link"]["link"]})
        issued = call(gateway, "POST", f"/v1/appointments/{visit_id}/join-link", patient)
        patient_join = call(gateway, "POST", "/v1/join", patient, {"link": issued.json()["link"]})
        for joined in (provider_join, patient_join):
            # Said in full when it fails: once in five clean runs (session 34) a join here was
            # refused, and the answer was not kept to say why.
            assert joined.status == 200, (joined.status, joined.body[:300])
            simulate(platform, "join", joined.json()["Attendee"]["JoinToken"])
        assert eventually(lambda: waiting(gateway, patient, visit_id)["state"] == "in-call", timeout_s=30)
        assert call(gateway, "POST", f"/v1/appointments/{visit_id}/end", provider).status == 200
        assert eventually(lambda: execution(platform, appointment)["status"] == "SUCCEEDED", timeout_s=30)
        took = time.monotonic() - began
        print(f"admission to a finished lifecycle with the FHIR store frozen: {took:.1f} s")
        # Unhindered this takes about 8 s; waiting behind the FHIR writes it took over a minute.
        assert took < 20, f"admission to a finished lifecycle took {took:.1f} s with the FHIR store frozen"
        assert fhir_is_frozen(platform.fhir_endpoints[RIVERSIDE])
    finally:
        platform.resume("healthlake")

    def finished() -> dict[str, Any] | None:
        found = fhir.read_if_present("Encounter", f"{visit_id.lower()}-v1")
        return found if found and found["status"] == "finished" else None

    assert eventually(finished, timeout_s=90)

    def fulfilled() -> bool:
        found = fhir.read_if_present("Appointment", visit_id)
        return found is not None and found["status"] == "fulfilled"

    assert eventually(fulfilled, timeout_s=60)


def fhir_is_frozen(endpoint: str) -> bool:
    """The stand-in did not answer during the visit (so the test tested what it says)."""
    frozen = HealthLakeFhirStore(endpoint, region="us-east-1", timeout_s=0.5)
    try:
        frozen.read_if_present("Patient", "nobody")
    except Exception:
        return True
    return False


def test_links_are_bound_to_their_holder_and_a_fresh_one_replaces_the_attendee(
    platform: LocalPlatform, gateway: str, patient: str, other_patient: str
) -> None:
    appointment, provider = checked_in_visit(platform, gateway, patient)
    visit_id = appointment["appointment_id"]
    admitted = admit_when_waiting(gateway, provider, visit_id).json()
    # Keep the meeting alive: the provider is in it, joined as a browser joins: the SignalingUrl
    # of the redeemed link is the local signalling relay, and it takes the attendee's join token.
    joined = call(gateway, "POST", "/v1/join", provider, {"link": admitted["link"]["link"]}).json()
    signalling = joined["Meeting"]["MediaPlacement"]["SignalingUrl"]
    assert signalling == f"{platform.urls['signalling']}/control/{admitted['meeting_id']}"
    provider_socket = connect(signalling, open_timeout=10, legacy=True)
    provider_socket.send(json.dumps({"type": "join", "joinToken": joined["Attendee"]["JoinToken"]}))
    assert json.loads(provider_socket.recv(timeout=10)) == {
        "type": "joined",
        "attendeeId": joined["Attendee"]["AttendeeId"],
        "peers": [],
    }

    first = call(gateway, "POST", f"/v1/appointments/{visit_id}/join-link", patient).json()["link"]
    stranger = call(gateway, "POST", "/v1/join", other_patient, {"link": first})
    assert stranger.status == 403 and stranger.json()["type"] == "/problems/link-not-yours"
    forged = call(gateway, "POST", "/v1/join", patient, {"link": first[:-4] + "AAAA"})
    assert forged.status == 403
    spent = call(gateway, "POST", "/v1/join", patient, {"link": first}).ok()
    old_token = spent["Attendee"]["JoinToken"]

    # The patient's connection drops; they ask again and get a new attendee, and the old join
    # token dies with the old attendee.
    second = call(gateway, "POST", f"/v1/appointments/{visit_id}/join-link", patient).json()["link"]
    fresh = call(gateway, "POST", "/v1/join", patient, {"link": second}).json()
    assert fresh["Attendee"]["AttendeeId"] != spent["Attendee"]["AttendeeId"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        simulate(platform, "join", old_token)
    assert refused.value.code == 403
    simulate(platform, "join", fresh["Attendee"]["JoinToken"])
    assert eventually(lambda: waiting(gateway, patient, visit_id)["state"] == "in-call", timeout_s=20)
    # A third link revokes the second, unredeemed or not.
    third = call(gateway, "POST", f"/v1/appointments/{visit_id}/join-link", patient).json()["link"]
    fourth = call(gateway, "POST", f"/v1/appointments/{visit_id}/join-link", patient).json()["link"]
    revoked = call(gateway, "POST", "/v1/join", patient, {"link": third})
    assert revoked.status == 410
    assert call(gateway, "POST", "/v1/join", patient, {"link": fourth}).status == 200
    call(gateway, "POST", f"/v1/appointments/{visit_id}/end", provider)
    # Ending the visit deletes the meeting: the provider's browser hears it.
    assert json.loads(provider_socket.recv(timeout=30)) == {"type": "meeting-ended"}
    with pytest.raises(ConnectionClosed):
        provider_socket.recv(timeout=10)
    assert provider_socket.close_code == 4410


def test_a_patient_who_never_joins_is_a_no_show_decided_from_chime(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    appointment, provider = checked_in_visit(platform, gateway, patient)
    visit_id = appointment["appointment_id"]
    admitted = admit_when_waiting(gateway, provider, visit_id).json()
    joined = call(gateway, "POST", "/v1/join", provider, {"link": admitted["link"]["link"]}).json()
    simulate(platform, "join", joined["Attendee"]["JoinToken"])
    # The join window (6 s in the test platform, 4 minutes in a clinic) runs out.
    assert eventually(lambda: waiting(gateway, patient, visit_id)["state"] == "no-show", timeout_s=40)
    assert eventually(lambda: execution(platform, appointment)["status"] == "SUCCEEDED", timeout_s=30)
    assert call(gateway, "GET", f"/v1/appointments/{visit_id}", patient).json()["status"] == "noshow"


def test_a_meeting_nobody_joins_sends_the_patient_back_to_the_waiting_room(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    appointment, provider = checked_in_visit(platform, gateway, patient)
    visit_id = appointment["appointment_id"]
    admit_when_waiting(gateway, provider, visit_id)
    # Chime ends the empty meeting (3 s here); the visit is not left half-open: the patient waits
    # again and the provider can admit them into a new meeting.
    assert eventually(lambda: waiting(gateway, patient, visit_id)["state"] == "checked-in", timeout_s=40)
    again = admit_when_waiting(gateway, provider, visit_id).json()
    assert again["state"] == "admitted"
    call(gateway, "POST", f"/v1/appointments/{visit_id}/end", provider)


def test_only_the_visits_provider_admits_and_only_a_waiting_patient(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    appointment, provider = checked_in_visit(platform, gateway, patient)
    visit_id = appointment["appointment_id"]
    someone_else = user_tokens(platform, RIVERSIDE, "dr.okafor@riverside.example")["access"]
    assert call(gateway, "POST", f"/v1/appointments/{visit_id}/admit", someone_else).status == 404
    assert call(gateway, "POST", f"/v1/appointments/{visit_id}/admit", patient).status == 403
    admit_when_waiting(gateway, provider, visit_id)
    twice = call(gateway, "POST", f"/v1/appointments/{visit_id}/admit", provider)
    assert twice.status == 409 and twice.json()["type"] == "/problems/not-waiting"
    call(gateway, "POST", f"/v1/appointments/{visit_id}/end", provider)


def test_cancelling_an_admitted_visit_compensates_meeting_encounter_and_slot(
    platform: LocalPlatform, gateway: str, patient: str, probe: str, fhir: HealthLakeFhirStore
) -> None:
    from tests.e2e.test_scheduling import stamp

    now = datetime.now(UTC)
    # A slot at least two minutes out, so the cancellation lands before the visit starts.
    query = (
        f"/v1/slots?state=NY&from={stamp(now + timedelta(minutes=2))}&to={stamp(now + timedelta(minutes=15))}"
    )
    slot = call(gateway, "GET", f"{query}&specialty=urgent-care", patient).ok()["slots"][-1]["slot_id"]
    appointment = book(gateway, patient, slot).json()
    visit_id = appointment["appointment_id"]
    check_in_when_open(gateway, patient, visit_id, False)
    provider = user_tokens(platform, RIVERSIDE, provider_email(slot))["access"]
    admitted = admit_when_waiting(gateway, provider, visit_id).json()

    assert call(gateway, "POST", f"/v1/appointments/{visit_id}/cancel", provider).status == 200
    assert waiting(gateway, patient, visit_id)["state"] == "cancelled"
    chime = platform.urls["chime"]
    meetings = ChimeMeetings(
        meetings_client=platform.client("chime-sdk-meetings", endpoint=chime),
        pipelines_client=platform.client("chime-sdk-media-pipelines", endpoint=chime),
    )
    with pytest.raises(MeetingGoneError):
        meetings.get_meeting(admitted["meeting_id"])
    assert eventually(lambda: execution(platform, appointment)["status"] == "ABORTED", timeout_s=30)
    # The slot is free again: it is offered to the next patient.
    offered = call(gateway, "GET", f"{query}&specialty=urgent-care&limit=100", patient).ok()["slots"]
    assert slot in [s["slot_id"] for s in offered]

    # The patient had arrived, so the encounter began and is over (`finished`: FHIR's `cancelled`
    # is one that ended before it began), with no call in its history; the appointment says why.
    encounter = eventually(
        lambda: (
            (e := fhir.read_if_present("Encounter", f"{visit_id.lower()}-v1"))
            and e["status"] == "finished"
            and e
        ),
        timeout_s=30,
    )
    assert [h["status"] for h in encounter["statusHistory"]] == ["arrived"]
    record = eventually(
        lambda: (e := fhir.read_if_present("Appointment", visit_id)) and e["status"] == "cancelled" and e,
        timeout_s=30,
    )
    assert [p["status"] for p in record["participant"]] == ["declined", "declined"]

    cancelled = eventually(lambda: announced(platform, probe, "Visit.Cancelled", visit_id), timeout_s=30)
    assert cancelled["reason"] == "cancelled"


def test_a_reminder_says_when_and_where_never_why(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    from local.emulator import ACCOUNT
    from tests.e2e.test_scheduling import fresh_slot

    appointment = book(gateway, patient, fresh_slot(gateway, patient)).json()
    # The visit-tasks function's reminder step, as the lifecycle calls it when a Wait ends.
    next_timer = platform.dispatcher.invoke_or_raise(
        topology.VISIT_TASKS.name(RIVERSIDE),
        {
            "task": "remind",
            "appointment_id": appointment["appointment_id"],
            "version": 1,
            "reminder": "24h",
            "start": appointment["start"],
        },
    )
    assert next_timer["sent"] is True, next_timer
    assert next_timer["next_key"] in ("1h", ""), next_timer
    email = ses_backends[ACCOUNT]["us-east-1"].sent_messages[-1]
    assert email.destinations["ToAddresses"] == ["patient.one@riverside.example"]
    assert email.source == "visits@care.riverside.example"
    sms = list(sns_backends[ACCOUNT]["us-east-1"].sms_messages.values())[-1]
    for text in (email.body, sms[1]):
        assert "video visit" in text and "https://care.riverside.example" in text
        # Nothing that reveals why: not the specialty, the service or the provider.
        for secret in ("pediatric", "behavioral", "family", "urgent", "general", "Dr", "dr-"):
            assert secret not in text


def recorded_visit(platform: LocalPlatform, gateway: str, patient: str, video: bytes) -> tuple[str, str]:
    """A visit taken through to its recording, the patient's camera sending `video`; returns the
    visit and its provider's token."""
    appointment, provider = checked_in_visit(platform, gateway, patient)
    visit_id = appointment["appointment_id"]
    admitted = admit_when_waiting(gateway, provider, visit_id).json()
    provider_join = call(gateway, "POST", "/v1/join", provider, {"link": admitted["link"]["link"]}).json()
    link = call(gateway, "POST", f"/v1/appointments/{visit_id}/join-link", patient).json()["link"]
    patient_join = call(gateway, "POST", "/v1/join", patient, {"link": link}).json()
    simulate(platform, "join", provider_join["Attendee"]["JoinToken"], b"provider camera")
    simulate(platform, "join", patient_join["Attendee"]["JoinToken"], video)
    assert eventually(lambda: waiting(gateway, patient, visit_id)["recording"] == "recording", timeout_s=20)
    assert call(gateway, "POST", f"/v1/appointments/{visit_id}/end", provider).status == 200
    assert eventually(lambda: waiting(gateway, patient, visit_id)["recording"] == "available", timeout_s=30)
    return visit_id, provider


def test_the_recording_starts_the_rppg_worker_and_the_provider_reviews_its_estimates(
    platform: LocalPlatform, gateway: str, patient: str, patient_clip: Any, fhir: HealthLakeFhirStore
) -> None:
    visit_id, provider = recorded_visit(platform, gateway, patient, patient_clip.path.read_bytes())
    # Recording.Available ran the worker (locally a process, on the same event) and it recorded
    # preliminary estimates for the provider.
    estimates = eventually(
        lambda: (
            (r := call(gateway, "GET", f"/v1/appointments/{visit_id}/vitals", provider)).status == 200
            and r.json()
        ),
        timeout_s=90,
    )
    heart = next(r for r in estimates["readings"] if r["sign"] == "heart-rate")
    assert heart["status"] == "preliminary"
    assert abs(heart["per_minute"] - patient_clip.heart_rate_bpm) <= 5.0
    assert "not diagnostic" in estimates["note"].lower() or "not a diagnostic" in estimates["note"].lower()
    assert call(gateway, "GET", f"/v1/appointments/{visit_id}/vitals", patient).status == 403

    observation = eventually(
        lambda: fhir.read_if_present("Observation", heart["observation_id"]), timeout_s=30
    )
    assert observation["status"] == "preliminary"
    assert observation["code"]["coding"][0]["code"] == "8867-4"
    assert observation["encounter"]["reference"] == f"Encounter/{visit_id.lower()}-v1"
    assert observation["valueQuantity"]["code"] == "/min"

    review = f"/v1/appointments/{visit_id}/vitals/review"
    key = {"Idempotency-Key": f"review-{visit_id}"}
    confirm = {"sign": "heart-rate", "decision": "confirm"}
    assert heart["reviewed_at"] is None
    confirmed = call(gateway, "POST", review, provider, confirm, **key)
    assert confirmed.status == 200 and confirmed.json()["status"] == "final"
    reviewed_at = datetime.fromisoformat(confirmed.json()["reviewed_at"])
    assert abs(datetime.now(UTC) - reviewed_at) < timedelta(minutes=1)
    # A retry under its key gets the first answer, though the estimate is reviewed by now; the
    # key with another decision is refused and changes nothing.
    retried = call(gateway, "POST", review, provider, confirm, **key)
    assert (retried.status, retried.json()) == (200, confirmed.json())
    reused = call(gateway, "POST", review, provider, {"sign": "heart-rate", "decision": "reject"}, **key)
    assert reused.status == 422 and reused.headers["Content-Type"] == "application/problem+json"
    again = call(
        gateway,
        "POST",
        f"/v1/appointments/{visit_id}/vitals/review",
        provider,
        {"sign": "heart-rate", "decision": "reject"},
    )
    assert again.status == 409 and again.json()["type"] == "/problems/already-reviewed"
    assert eventually(
        lambda: (
            (o := fhir.read_if_present("Observation", heart["observation_id"])) and o["status"] == "final"
        ),
        timeout_s=30,
    )


def test_an_interpreter_and_a_caregiver_join_through_links_of_their_own(
    platform: LocalPlatform, gateway: str, patient: str, other_patient: str, fhir: HealthLakeFhirStore
) -> None:
    from tests.e2e.test_scheduling import patient_id

    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    idp, pools = platform.client("cognito-idp"), platform.provisioned[RIVERSIDE].user_pools
    interpreter = next(
        a["Value"]
        for a in idp.admin_get_user(UserPoolId=pools["workforce"], Username="staff@riverside.example")[
            "UserAttributes"
        ]
        if a["Name"] == "sub"
    )
    caregiver = patient_id(platform, "patient.two@riverside.example")
    appointment, provider = checked_in_visit(platform, gateway, patient)
    visit_id = appointment["appointment_id"]
    path = f"/v1/appointments/{visit_id}"
    as_patient = call(
        gateway,
        "POST",
        f"{path}/admit",
        provider,
        {"guests": [{"role": "caregiver", "user_id": appointment["patient_id"]}]},
    )
    assert as_patient.status in (409, 422)  # 409 while the lifecycle is not yet waiting
    guests = {
        "guests": [
            {"role": "interpreter", "user_id": interpreter},
            {"role": "caregiver", "user_id": caregiver},
        ]
    }
    admitted: Reply = eventually(
        lambda: (r := call(gateway, "POST", f"{path}/admit", provider, guests)).status == 200 and r,
        timeout_s=30,
    )
    provider_join = call(
        gateway, "POST", "/v1/join", provider, {"link": admitted.json()["link"]["link"]}
    ).json()
    simulate(platform, "join", provider_join["Attendee"]["JoinToken"])

    joined: dict[str, Any] = {}
    for who, token in (("interpreter", staff), ("caregiver", other_patient), ("patient", patient)):
        link = call(gateway, "POST", f"{path}/join-link", token)
        assert link.status == 201, (who, link.body)
        redeemed = call(gateway, "POST", "/v1/join", token, {"link": link.json()["link"]})
        assert redeemed.status == 200, who
        joined[who] = redeemed.json()["Attendee"]
        simulate(platform, "join", joined[who]["JoinToken"])
    assert len({a["AttendeeId"] for a in joined.values()}) == 3
    assert joined["interpreter"]["ExternalUserId"] == f"interpreter-{interpreter}"
    # Someone the provider did not invite has no place in the meeting.
    okafor = user_tokens(platform, RIVERSIDE, "dr.okafor@riverside.example")["access"]
    assert call(gateway, "POST", f"{path}/join-link", okafor).status == 404
    assert eventually(lambda: waiting(gateway, patient, visit_id)["state"] == "in-call", timeout_s=20)
    assert call(gateway, "POST", f"{path}/end", provider).status == 200

    encounter = eventually(
        lambda: (
            (e := fhir.read_if_present("Encounter", f"{visit_id.lower()}-v1"))
            and e["status"] == "finished"
            and e
        ),
        timeout_s=30,
    )
    kinds = {p["type"][0]["coding"][0]["code"] for p in encounter["participant"]}
    assert kinds == {"PPRF", "translator", "ESC", "emergency"}


def test_a_patient_not_checked_in_by_the_grace_period_is_a_no_show(
    platform: LocalPlatform, gateway: str, patient: str, probe: str
) -> None:
    from tests.e2e.test_local_platform import start_lifecycle
    from tests.e2e.test_scheduling import fresh_slot

    appointment = book(gateway, patient, fresh_slot(gateway, patient)).json()
    visit_id = appointment["appointment_id"]
    # The lifecycle's clock, moved on: an execution for this appointment whose input says the
    # visit started 9 min 57 s ago, so its check-in wait times out in about three seconds (the
    # no-show deadline is start + 10 minutes), as the booked one would after its real wait.
    sfn, execution = start_lifecycle(
        platform, RIVERSIDE, visit_id, -timedelta(minutes=9, seconds=57), name_suffix="-clock"
    )
    assert eventually(
        lambda: sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED", timeout_s=40
    )
    events = sfn.get_execution_history(executionArn=execution)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert "CheckInDeadline" in entered and "UntilAdmission" not in entered
    assert call(gateway, "GET", f"/v1/appointments/{visit_id}", patient).json()["status"] == "noshow"
    assert waiting(gateway, patient, visit_id)["state"] == "no-show"
    no_show = eventually(lambda: announced(platform, probe, "Visit.NoShow", visit_id), timeout_s=30)
    assert no_show["absent"] == "patient"
    late = call(
        gateway,
        "POST",
        f"/v1/appointments/{visit_id}/check-in",
        patient,
        {
            "state": "NY",
            "emergency_contact": "+1 555 0100",
            "consent_to_telehealth": True,
            "consent_to_recording": False,
        },
    )
    assert late.status == 409 and late.json()["type"] == "/problems/appointment-closed"


def test_the_most_guests_the_api_accepts_fit_one_admission(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    """Four guests (an interpreter and caregivers), the most an admission takes: one meeting with
    six attendees and one transaction far inside DynamoDB's 100 actions; a fifth is refused."""
    appointment, provider = checked_in_visit(platform, gateway, patient)
    path = f"/v1/appointments/{appointment['appointment_id']}/admit"
    roles = ("interpreter", "caregiver", "caregiver", "caregiver", "caregiver")
    five = {"guests": [{"role": r, "user_id": f"guest-{n}"} for n, r in enumerate(roles)]}
    refused = call(gateway, "POST", path, provider, five)
    assert refused.status == 400, refused.body
    meter = platform.emulator.meter.largest_transaction
    meter.clear()
    four = {"guests": five["guests"][:4]}
    admitted: Reply = eventually(
        lambda: (r := call(gateway, "POST", path, provider, four)).status == 200 and r, timeout_s=30
    )
    meeting = admitted.json()["meeting_id"]
    attendees = platform.chime.state.meetings[meeting].attendees if platform.chime else {}
    assert len(attendees) == 6
    assert meter["TransactWriteItems"] <= 20, meter
