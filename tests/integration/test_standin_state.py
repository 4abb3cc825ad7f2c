"""The stand-ins keep their state across a restart (issue #13): each is stopped, or killed, and
started again on another port with the same state."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.platform import free_port, wait_for
from local.standins import stripe
from local.standins.chime import ChimeStandIn
from tests.conftest import eventually, http

# --- Chime ------------------------------------------------------------------------------------------

RECORDINGS = "arn:aws:s3:::telehealth-riverside-recordings-123456789012"
TAGS = [{"Key": "telehealth:tenant", "Value": "riverside"}]
Events = list[tuple[str, str, dict[str, Any]]]


@pytest.fixture
def chime(tmp_path: Path) -> Iterator[Callable[..., tuple[ChimeStandIn, Events]]]:
    """Start a Chime stand-in on a port of its own with the test's state file; each is stopped at
    the end (stopping one twice is harmless for a test's restart)."""
    started: list[ChimeStandIn] = []

    def start(empty_timeout_s: float = 300.0) -> tuple[ChimeStandIn, Events]:
        events: Events = []
        stand_in = ChimeStandIn(
            0, lambda *event: events.append(event), empty_timeout_s, state_file=tmp_path / "chime.json"
        )
        stand_in.start()
        started.append(stand_in)
        return stand_in, events

    yield start
    for stand_in in started:
        stand_in.stop()


def _client(service: str, stand_in: ChimeStandIn) -> Any:
    return boto3.client(
        service,
        endpoint_url=stand_in.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (the emulator's published test secret)
    )


def _answer(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k != "ResponseMetadata"}


def _join(stand_in: ChimeStandIn, join_token: str, action: str = "join") -> int:
    body = json.dumps({"JoinToken": join_token}).encode()
    return http("POST", f"{stand_in.url}/_sim/{action}", body=body).status


def _meeting(api: Any, *users: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    created = api.create_meeting_with_attendees(
        ClientRequestToken=uuid.uuid4().hex,
        MediaRegion="us-east-1",
        ExternalMeetingId=f"riverside:visit-{uuid.uuid4().hex[:8]}",
        Tags=TAGS,
        Attendees=[{"ExternalUserId": u} for u in users],
    )
    return created["Meeting"], created["Attendees"]


def test_open_meetings_attendees_and_running_pipelines_survive_a_restart_on_another_port(
    chime: Callable[..., tuple[ChimeStandIn, Events]], tmp_path: Path
) -> None:
    first, _ = chime()
    api, pipelines = _client("chime-sdk-meetings", first), _client("chime-sdk-media-pipelines", first)
    meeting, (patient, provider) = _meeting(api, "patient:p-1", "practitioner:pr-1")
    meeting_id = meeting["MeetingId"]
    interpreter = api.create_attendee(MeetingId=meeting_id, ExternalUserId="interpreter:i-1")["Attendee"]
    capture = pipelines.create_media_capture_pipeline(
        SourceType="ChimeSdkMeeting",
        SourceArn=meeting["MeetingArn"],
        SinkType="S3Bucket",
        SinkArn=f"{RECORDINGS}/captures/v1",
        Tags=TAGS,
    )["MediaCapturePipeline"]
    api.start_meeting_transcription(
        MeetingId=meeting_id,
        TranscriptionConfiguration={"EngineTranscribeSettings": {"LanguageCode": "en-US"}},
    )
    assert _join(first, patient["JoinToken"]) == 200  # nobody stays connected across the restart

    def answers(stand_in: ChimeStandIn) -> list[dict[str, Any]]:
        api, pipelines = (
            _client("chime-sdk-meetings", stand_in),
            _client("chime-sdk-media-pipelines", stand_in),
        )
        return [
            _answer(api.get_meeting(MeetingId=meeting_id)),
            *[
                _answer(api.get_attendee(MeetingId=meeting_id, AttendeeId=a["AttendeeId"]))
                for a in (patient, provider, interpreter)
            ],
            _answer(api.list_attendees(MeetingId=meeting_id)),
            _answer(api.list_tags_for_resource(ResourceARN=meeting["MeetingArn"])),
            _answer(pipelines.get_media_capture_pipeline(MediaPipelineId=capture["MediaPipelineId"])),
            _answer(pipelines.list_tags_for_resource(ResourceARN=capture["MediaPipelineArn"])),
        ]

    before = answers(first)
    # Written through as each change was answered: nothing waits for the stop.
    kept = (tmp_path / "chime.json").read_text()
    assert interpreter["JoinToken"] in kept and capture["MediaPipelineId"] in kept
    assert "127.0.0.1" not in kept  # nothing kept names where the stand-in listened
    first.stop()

    second, _ = chime()
    assert second.port != first.port
    after = answers(second)
    # The signalling relay listens where this start put it: its URL is made when answering.
    for answer, stand_in in ((before, first), (after, second)):
        placement = answer[0]["Meeting"]["MediaPlacement"]
        assert placement.pop("SignalingUrl") == f"{stand_in.relay.origin}/control/{meeting_id}"
    assert after == before
    assert before[4]["Attendees"] == [patient, provider, interpreter]
    assert second.state.meetings[meeting_id].transcribing
    assert not any(a.connected for a in second.state.meetings[meeting_id].attendees.values())
    for attendee in (patient, provider, interpreter):
        assert _join(second, attendee["JoinToken"]) == 200


def test_an_ended_meeting_and_a_deleted_attendee_are_not_kept(
    chime: Callable[..., tuple[ChimeStandIn, Events]],
) -> None:
    first, _ = chime()
    api = _client("chime-sdk-meetings", first)
    ended, _ = _meeting(api, "patient:p-2")
    kept, (patient, provider) = _meeting(api, "patient:p-3", "practitioner:pr-3")
    api.delete_meeting(MeetingId=ended["MeetingId"])
    api.delete_attendee(MeetingId=kept["MeetingId"], AttendeeId=patient["AttendeeId"])
    first.stop()

    second, _ = chime()
    api = _client("chime-sdk-meetings", second)
    with pytest.raises(api.exceptions.NotFoundException):
        api.get_meeting(MeetingId=ended["MeetingId"])
    with pytest.raises(api.exceptions.NotFoundException):
        api.get_attendee(MeetingId=kept["MeetingId"], AttendeeId=patient["AttendeeId"])
    assert api.list_attendees(MeetingId=kept["MeetingId"])["Attendees"] == [provider]
    assert _join(second, patient["JoinToken"]) == 403
    assert _join(second, provider["JoinToken"]) == 200


def test_a_kept_meeting_nobody_rejoins_ends_itself_counted_from_the_restart(
    chime: Callable[..., tuple[ChimeStandIn, Events]], tmp_path: Path
) -> None:
    first, _ = chime()
    meeting, (patient,) = _meeting(_client("chime-sdk-meetings", first), "patient:p-4")
    assert _join(first, patient["JoinToken"]) == 200  # connected: it would not end here
    first.stop()

    second, events = chime(empty_timeout_s=2.0)
    api = _client("chime-sdk-meetings", second)
    assert api.get_meeting(MeetingId=meeting["MeetingId"])  # not ended at once by the restart
    ended = ("aws.chime", "Chime Meeting State Change")
    eventually(
        lambda: any(
            e[:2] == ended
            and e[2]["eventType"] == "chime:MeetingEnded"
            and e[2]["meetingId"] == meeting["MeetingId"]
            for e in events
        ),
        timeout_s=10,
    )
    with pytest.raises(api.exceptions.NotFoundException):
        api.get_meeting(MeetingId=meeting["MeetingId"])
    assert meeting["MeetingId"] not in (tmp_path / "chime.json").read_text()


# --- Stripe (localstripe) ----------------------------------------------------------------------------

LOCALSTRIPE = Path(sys.executable).parent / "localstripe"
HOST_PICKLE = Path("/tmp/localstripe.pickle")  # noqa: S108 (localstripe's own path, only read here)
BEARER = {"Authorization": "Bearer sk_test_x"}


@pytest.fixture
def localstripe(tmp_path: Path) -> Iterator[Callable[[Path], tuple[str, subprocess.Popen[bytes]]]]:
    """Start localstripe, as the platform does, with a state directory: its URL and process."""
    started: list[subprocess.Popen[bytes]] = []

    def start(state_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        command, reason = stripe.stripe_command(LOCALSTRIPE, port, state_dir)
        assert reason is None, reason  # without namespaces payments are not kept: that is a failure
        log = (tmp_path / f"localstripe-{port}.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/v1/customers")
        return url, process

    yield start
    for process in started:
        kill(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    """kill -9 of its whole group, as a crash or a killed terminal would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _customer(url: str, email: str) -> str:
    body = urllib.parse.urlencode({"email": email}).encode()
    headers = BEARER | {"Content-Type": "application/x-www-form-urlencoded"}
    reply = http("POST", f"{url}/v1/customers", headers=headers, body=body)
    assert reply.status == 200, reply.body
    customer_id: str = reply.json()["id"]
    return customer_id


def _host_pickle() -> bytes:
    return HOST_PICKLE.read_bytes() if HOST_PICKLE.exists() else b""


def test_a_customer_survives_a_kill_9_right_after_it_was_answered(
    localstripe: Callable[[Path], tuple[str, subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    state_dir = tmp_path / "stripe"
    url, process = localstripe(state_dir)
    customer = _customer(url, "patient@example.com")
    kill(process)
    assert (state_dir / stripe.PICKLE).exists()

    again, _ = localstripe(state_dir)
    assert again != url
    reply = http("GET", f"{again}/v1/customers/{customer}", headers=BEARER)
    assert reply.status == 200 and reply.json()["email"] == "patient@example.com"
    assert customer.encode() not in _host_pickle()  # the host's /tmp was not written


def test_two_state_directories_never_share_payments(
    localstripe: Callable[[Path], tuple[str, subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    one, _ = localstripe(tmp_path / "one")
    other, _ = localstripe(tmp_path / "other")
    mine, theirs = _customer(one, "one@example.com"), _customer(other, "other@example.com")
    assert http("GET", f"{one}/v1/customers/{theirs}", headers=BEARER).status == 404
    assert http("GET", f"{other}/v1/customers/{mine}", headers=BEARER).status == 404
    assert http("GET", f"{one}/v1/customers/{mine}", headers=BEARER).status == 200
    host = _host_pickle()
    assert mine.encode() not in host and theirs.encode() not in host


def test_a_pickle_torn_mid_write_is_set_aside_so_localstripe_still_starts(
    localstripe: Callable[[Path], tuple[str, subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    state_dir = tmp_path / "stripe"
    url, process = localstripe(state_dir)
    _customer(url, "torn@example.com")
    kill(process)
    pickle = state_dir / stripe.PICKLE
    whole = pickle.read_bytes()
    pickle.write_bytes(whole[: len(whole) // 2])  # what a kill between its truncate and write leaves

    _, reason = stripe.stripe_command(LOCALSTRIPE, free_port(), state_dir)
    assert reason is not None and "torn" in reason
    assert not pickle.exists() and (state_dir / f"{stripe.PICKLE}.torn").exists()
    url, _ = localstripe(state_dir)  # starts, empty
    assert http("GET", f"{url}/v1/customers", headers=BEARER).json()["data"] == []


def test_without_namespaces_localstripe_starts_from_scratch_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(stripe, "_unshare", lambda: None)
    command, reason = stripe.stripe_command(LOCALSTRIPE, 4242, tmp_path)
    assert command == [str(LOCALSTRIPE), "--port", "4242", "--from-scratch"]
    assert reason == stripe.NOT_KEPT
    assert stripe.stripe_command(LOCALSTRIPE, 4242, None) == (command, None)
