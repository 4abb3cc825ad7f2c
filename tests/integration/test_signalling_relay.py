"""The Chime stand-in's signalling relay, driven as the browsers drive it: over a WebSocket, with
the join token a redeemed link hands out, against the stand-in's state in this process."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.standins.chime import ChimeState
from local.standins.signalling import SignallingRelay

Events = list[tuple[str, str, dict[str, Any]]]


@dataclass
class Chime:
    state: ChimeState
    relay: SignallingRelay
    events: Events = field(default_factory=list)

    def meeting(self, *users: str) -> tuple[str, str, list[dict[str, Any]]]:
        """A meeting with these attendees: its id, its SignalingUrl and the attendees as Chime
        answers them (each with its join token)."""
        meeting = self.state.create_meeting(
            {
                "ClientRequestToken": uuid.uuid4().hex,
                "MediaRegion": "us-east-1",
                "ExternalMeetingId": f"riverside:visit-{uuid.uuid4().hex[:8]}",
            }
        )
        attendees = [
            self.state.create_attendee(meeting.meeting_id, {"ExternalUserId": u}).shape() for u in users
        ]
        url = meeting.shape(self.state.signalling)["MediaPlacement"]["SignalingUrl"]
        return meeting.meeting_id, url, attendees

    def attendee_events(self, meeting_id: str) -> list[tuple[str, str]]:
        return [
            (d["eventType"].removeprefix("chime:"), d.get("attendeeId", ""))
            for _, _, d in self.events
            if d["meetingId"] == meeting_id and "attendeeId" in d
        ]


@pytest.fixture
def chime() -> Iterator[Chime]:
    events: Events = []
    state = ChimeState(lambda *event: events.append(event), empty_timeout_s=0.5)
    relay = SignallingRelay(state)
    relay.start()
    try:
        yield Chime(state, relay, events)
    finally:
        relay.stop()


def join(url: str, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    socket = connect(url, open_timeout=5, close_timeout=2, legacy=True)
    socket.send(json.dumps({"type": "join", "joinToken": token}))
    return socket, receive(socket)


def receive(socket: ClientConnection, timeout_s: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(socket.recv(timeout=timeout_s))
    return frame


def refused(url: str, first: str) -> tuple[int | None, str | None]:
    """The close code and reason of a socket whose first frame is `first`."""
    with connect(url, open_timeout=5, close_timeout=2) as socket:
        socket.send(first)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=5)
        return socket.close_code, socket.close_reason


def closed(socket: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """The frames a socket still receives before the relay closes it, and the close code."""
    frames = []
    with pytest.raises(ConnectionClosed):
        while True:
            frames.append(receive(socket))
    return frames, socket.close_code


def quiet(socket: ClientConnection) -> bool:
    """Nothing more arrives (within a moment: the relay answers in milliseconds)."""
    try:
        socket.recv(timeout=0.3)
    except TimeoutError:
        return True
    return False


def signal(socket: ClientConnection, to: str, data: dict[str, Any]) -> None:
    socket.send(json.dumps({"type": "signal", "to": to, "data": data}))


def test_offer_answer_and_candidates_reach_the_named_peer_alone_in_order(
    chime: Chime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # whatever the process logs, no frame's content is in it
    meeting_id, url, (patient, provider, interpreter) = chime.meeting(
        "patient:p-1", "practitioner:pr-1", "interpreter:i-1"
    )
    _, other_url, (stranger,) = chime.meeting("patient:p-2")
    assert url == f"{chime.relay.origin}/control/{meeting_id}"

    provider_socket, joined = join(url, provider["JoinToken"])
    assert joined == {"type": "joined", "attendeeId": provider["AttendeeId"], "peers": []}
    interpreter_socket, joined = join(url, interpreter["JoinToken"])
    assert joined["peers"] == [provider["AttendeeId"]]
    patient_socket, joined = join(url, patient["JoinToken"])
    assert sorted(joined["peers"]) == sorted([provider["AttendeeId"], interpreter["AttendeeId"]])
    assert receive(provider_socket) == {"type": "peer-joined", "attendeeId": interpreter["AttendeeId"]}
    for socket in (provider_socket, interpreter_socket):
        assert receive(socket) == {"type": "peer-joined", "attendeeId": patient["AttendeeId"]}

    # The later joiner offers; each side trickles its candidates after its description.
    offer = {"sdp": {"type": "offer", "sdp": "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\n"}}
    on = "1 udp 2122260223 127.0.0.1"
    candidates = [{"candidate": {"candidate": f"candidate:{n} {on} {50000 + n} typ host"}} for n in range(20)]
    for data in (offer, *candidates):
        signal(patient_socket, provider["AttendeeId"], data)
    assert [receive(provider_socket) for _ in range(21)] == [
        {"type": "signal", "from": patient["AttendeeId"], "data": data} for data in (offer, *candidates)
    ]
    answer = {"sdp": {"type": "answer", "sdp": "v=0\r\no=- 7219 2 IN IP4 127.0.0.1\r\n"}}
    for data in (answer, *candidates[:3]):
        signal(provider_socket, patient["AttendeeId"], data)
    assert [receive(patient_socket)["data"] for _ in range(4)] == [answer, *candidates[:3]]
    assert quiet(interpreter_socket)  # addressed to nobody else

    # Another meeting's attendee cannot reach them, nor join this meeting with its own token.
    stranger_socket, joined = join(other_url, stranger["JoinToken"])
    assert joined["peers"] == []
    signal(stranger_socket, provider["AttendeeId"], offer)
    assert receive(stranger_socket)["type"] == "error"
    assert refused(url, json.dumps({"type": "join", "joinToken": stranger["JoinToken"]})) == (
        4403,
        "Join token is not valid",
    )
    # Nor can an attendee signal itself, or someone not connected.
    signal(patient_socket, patient["AttendeeId"], offer)
    assert receive(patient_socket)["type"] == "error"
    assert quiet(provider_socket)

    for socket in (provider_socket, interpreter_socket, patient_socket, stranger_socket):
        socket.close()
    logged = caplog.text
    assert "v=0" not in logged and "candidate:" not in logged
    assert not [a for a in (patient, provider, interpreter, stranger) if a["JoinToken"] in logged]


def test_joining_leaving_and_dropping_publish_what_chime_would(chime: Chime) -> None:
    meeting_id, url, (patient, provider) = chime.meeting("patient:p-1", "practitioner:pr-1")
    provider_socket, _ = join(url, provider["JoinToken"])
    patient_socket, _ = join(url, patient["JoinToken"])
    assert receive(provider_socket)["type"] == "peer-joined"
    time.sleep(0.6)  # past the empty timeout: connected sockets keep the meeting
    chime.state.sweep()
    assert chime.state.meeting(meeting_id)

    patient_socket.send(json.dumps({"type": "leave"}))
    assert receive(provider_socket) == {"type": "peer-left", "attendeeId": patient["AttendeeId"]}
    provider_socket.close()  # without a leave: the connection dropped
    _, closed_code = closed(patient_socket)
    assert closed_code == 1000

    def settled() -> list[tuple[str, str]]:
        deadline = time.monotonic() + 5
        while len(chime.attendee_events(meeting_id)) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        return chime.attendee_events(meeting_id)

    assert settled() == [
        ("AttendeeJoined", provider["AttendeeId"]),
        ("AttendeeJoined", patient["AttendeeId"]),
        ("AttendeeLeft", patient["AttendeeId"]),
        ("AttendeeDropped", provider["AttendeeId"]),
    ]
    # The same as Chime's simulated clients publish (the `/_sim/` path), detail for detail.
    relayed = [d for _, _, d in chime.events if d["meetingId"] == meeting_id and "attendeeId" in d]
    chime.state.simulate("join", provider["JoinToken"])
    simulated = chime.events[-1][2]
    assert {k: v for k, v in simulated.items() if k != "timestamp"} == {
        k: v for k, v in relayed[0].items() if k != "timestamp"
    }
    chime.state.simulate("drop", provider["JoinToken"])
    # Nobody connected now: the meeting ends itself after the empty timeout.
    time.sleep(0.6)
    chime.state.sweep()
    assert meeting_id not in chime.state.meetings


def test_bad_tokens_ended_meetings_tokens_in_urls_and_oversized_frames_are_refused(chime: Chime) -> None:
    meeting_id, url, (patient, provider, caregiver) = chime.meeting(
        "patient:p-1", "practitioner:pr-1", "caregiver:c-1"
    )
    ended_id, ended_url, (ended_patient,) = chime.meeting("patient:p-3")
    chime.state.delete_attendee(meeting_id, caregiver["AttendeeId"])
    chime.state.end_meeting(ended_id)
    before = len(chime.events)

    bad = (4403, "Join token is not valid")
    assert refused(url, json.dumps({"type": "join", "joinToken": "not-a-token"})) == bad
    assert refused(url, json.dumps({"type": "join", "joinToken": caregiver["JoinToken"]})) == bad  # revoked
    assert refused(url, json.dumps({"type": "signal", "to": provider["AttendeeId"], "data": {}})) == bad
    assert refused(url, "not json") == bad
    assert refused(ended_url, json.dumps({"type": "join", "joinToken": ended_patient["JoinToken"]})) == (
        4410,
        "Meeting has ended",
    )
    with pytest.raises(InvalidStatus) as in_url:
        connect(f"{url}?joinToken={patient['JoinToken']}", open_timeout=5)
    assert in_url.value.response.status_code == 400
    with pytest.raises(InvalidStatus) as elsewhere:
        connect(f"{chime.relay.origin}/other/{meeting_id}", open_timeout=5)
    assert elsewhere.value.response.status_code == 404
    assert len(chime.events) == before  # nobody joined

    provider_socket, _ = join(url, provider["JoinToken"])
    patient_socket, _ = join(url, patient["JoinToken"])
    assert receive(provider_socket)["type"] == "peer-joined"
    signal(patient_socket, provider["AttendeeId"], {"sdp": {"type": "offer", "sdp": "x" * 70_000}})
    frames, code = closed(patient_socket)
    assert (frames, code) == ([], 1009)
    assert receive(provider_socket) == {"type": "peer-left", "attendeeId": patient["AttendeeId"]}
    assert quiet(provider_socket)  # nothing of the oversized frame got through
    provider_socket.close()


def test_a_reconnect_with_the_same_token_replaces_the_old_socket(chime: Chime) -> None:
    meeting_id, url, (patient, provider) = chime.meeting("patient:p-1", "practitioner:pr-1")
    provider_socket, _ = join(url, provider["JoinToken"])
    old_socket, _ = join(url, patient["JoinToken"])
    assert receive(provider_socket)["type"] == "peer-joined"

    new_socket, joined = join(url, patient["JoinToken"])
    assert joined["attendeeId"] == patient["AttendeeId"] and joined["peers"] == [provider["AttendeeId"]]
    assert closed(old_socket) == ([], 4409)
    # The provider hears the patient (re)join, and signals reach the new socket only.
    assert receive(provider_socket) == {"type": "peer-joined", "attendeeId": patient["AttendeeId"]}
    signal(provider_socket, patient["AttendeeId"], {"sdp": {"type": "offer", "sdp": "v=0"}})
    assert receive(new_socket)["from"] == provider["AttendeeId"]
    assert chime.relay.connected(meeting_id) == [provider["AttendeeId"], patient["AttendeeId"]]
    # The replaced socket did not drop the patient.
    assert chime.attendee_events(meeting_id) == [
        ("AttendeeJoined", provider["AttendeeId"]),
        ("AttendeeJoined", patient["AttendeeId"]),
        ("AttendeeJoined", patient["AttendeeId"]),
    ]
    for socket in (provider_socket, new_socket):
        socket.close()


def test_ending_the_meeting_or_removing_an_attendee_closes_their_sockets(chime: Chime) -> None:
    meeting_id, url, (patient, provider, guest, absent) = chime.meeting(
        "patient:p-1", "practitioner:pr-1", "caregiver:c-1", "interpreter:i-1"
    )
    sockets = {a["AttendeeId"]: join(url, a["JoinToken"])[0] for a in (provider, patient, guest)}
    assert receive(sockets[provider["AttendeeId"]])["type"] == "peer-joined"
    for attendee in (provider, patient):  # the guest joined last
        assert receive(sockets[attendee["AttendeeId"]])["type"] == "peer-joined"

    chime.state.delete_attendee(meeting_id, absent["AttendeeId"])  # never connected: nobody hears
    chime.state.delete_attendee(meeting_id, guest["AttendeeId"])
    assert closed(sockets[guest["AttendeeId"]]) == ([{"type": "removed"}], 4403)
    for attendee in (provider, patient):
        assert receive(sockets[attendee["AttendeeId"]]) == {
            "type": "peer-left",
            "attendeeId": guest["AttendeeId"],
        }

    chime.state.end_meeting(meeting_id)  # the provider ends the visit: DeleteMeeting
    for attendee in (provider, patient):
        assert closed(sockets[attendee["AttendeeId"]]) == ([{"type": "meeting-ended"}], 4410)
    assert chime.attendee_events(meeting_id) == [
        *[("AttendeeJoined", a["AttendeeId"]) for a in (provider, patient, guest)],
        ("AttendeeDeleted", absent["AttendeeId"]),
        ("AttendeeLeft", guest["AttendeeId"]),
        ("AttendeeDeleted", guest["AttendeeId"]),
    ]  # and no drop for the sockets Chime itself closed


def test_the_relay_stops_with_the_platform_and_counts_nobody_as_dropped(chime: Chime) -> None:
    meeting_id, url, (patient,) = chime.meeting("patient:p-1")
    socket, _ = join(url, patient["JoinToken"])
    chime.relay.stop()  # the fixture's stop after it is harmless: stopping is idempotent
    assert closed(socket) == ([], 1001)  # going away
    with pytest.raises(OSError):
        connect(url, open_timeout=2)
    assert chime.attendee_events(meeting_id) == [("AttendeeJoined", patient["AttendeeId"])]
