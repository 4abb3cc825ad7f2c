"""The signalling relay: what the Chime stand-in's `MediaPlacement.SignalingUrl` names.

Chime's media servers cannot be stood in for on one machine, so locally the browsers send their
audio and video to each other, peer to peer over loopback, and this relay carries what WebRTC
needs to connect them: the offer, the answer and the ICE candidates, in order, between the
attendees of one meeting. It is the Chime stand-in's door for real clients as `POST /_sim/join`
is for simulated ones, and goes through the same state: a join marks the attendee connected and
publishes `AttendeeJoined`; `leave` publishes `AttendeeLeft`; a socket closed without it,
`AttendeeDropped`; a connected socket keeps its meeting from ending as empty.

The protocol (JSON text frames on `ws://127.0.0.1:<port>/control/<MeetingId>`):
- first frame `{"type": "join", "joinToken": ...}` (never in the URL) ->
  `{"type": "joined", "attendeeId": own, "peers": [each other connected attendee]}`, or the socket
  is closed: 4403 for a bad, revoked or another meeting's token, 4410 if the meeting has ended;
- the others hear `{"type": "peer-joined" | "peer-left", "attendeeId": ...}`;
- `{"type": "signal", "to": attendee, "data": {...}}` reaches that attendee alone, in order, as
  `{"type": "signal", "from": sender, "data": {...}}`; a `to` that is not connected to this
  meeting gets `{"type": "error", "message": ...}` back;
- a second socket with the same token replaces the first (closed with 4409): a reconnect;
- DeleteMeeting: `{"type": "meeting-ended"}`, close 4410; DeleteAttendee: `{"type": "removed"}`,
  close 4403; frames over 64 KiB: close 1009.

Nothing of a frame's content is logged: SDP and candidates name the participants' addresses, and a
join token is a credential.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from local.standins.chime import ChimeError, ChimeState

MAX_FRAME = 64 * 1024  # an SDP offer with a few tracks is a few KiB; a candidate, a few hundred bytes
JOIN_TIMEOUT_S = 10.0  # a socket that has not said who it is by then is closed
BAD_TOKEN = (4403, "Join token is not valid")
ENDED = (4410, "Meeting has ended")
REPLACED = (4409, "Replaced by a newer connection")
REMOVED = (4403, "Attendee was removed")
_PATH = re.compile(r"^/control/(?P<meeting>[0-9a-fA-F-]{1,64})$")

_LOG = logging.getLogger("local.signalling")
# websockets logs every frame, content and all, at DEBUG on the logger it is given: never here,
# whatever level the process's logging is set to.
_LOG.setLevel(logging.INFO)


@dataclass(eq=False)
class _Client:
    socket: ServerConnection
    meeting_id: str
    attendee_id: str
    join_token: str
    # Why the relay let go of it, if it did: "left", "replaced", "ended" or "removed" (then the
    # state has said so already); None when the socket just closes: a drop.
    gone: str | None = None


class SignallingRelay:
    """The relay, on its own loopback port, in threads of the platform's process."""

    def __init__(self, chime: ChimeState, port: int = 0) -> None:
        self.chime = chime
        # meeting id -> attendee id -> its one socket; at most one per attendee, so a meeting
        # holds no more than Chime's attendee limit.
        self._rooms: dict[str, dict[str, _Client]] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._server = serve(
            self._serve,
            "127.0.0.1",
            port,
            process_request=_route,
            max_size=MAX_FRAME,
            compression=None,  # the limit is on what arrives, and the frames are small anyway
            server_header=None,
            logger=_LOG,
        )
        self.port: int = self._server.socket.getsockname()[1]

    @property
    def origin(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.chime.signalling = self.origin
        self.chime.disconnect = self._disconnect
        threading.Thread(target=self._server.serve_forever, name="signalling", daemon=True).start()

    def stop(self) -> None:
        """Close every socket (1001, going away) and wait for their threads. Nobody counts as
        dropped: the meeting outlives the platform's run in the state file, its clients do not."""
        self._stopping = True
        self._server.shutdown()
        self.chime.disconnect = None

    def connected(self, meeting_id: str) -> list[str]:
        """The attendees with a socket open on this meeting (for tests and the bench)."""
        with self._lock:
            return list(self._rooms.get(meeting_id, {}))

    # --- one socket ----------------------------------------------------------------------------

    def _serve(self, socket: ServerConnection) -> None:
        try:
            client = self._join(socket)
            if client is not None:
                try:
                    self._relay(client)
                finally:
                    self._closed(client)
        except ConnectionClosed:
            pass
        except Exception as error:  # the type alone: a message could quote a frame
            _LOG.error("signalling socket failed: %s", type(error).__name__)

    def _join(self, socket: ServerConnection) -> _Client | None:
        path = _PATH.match(socket.request.path) if socket.request else None
        if path is None:  # the handshake refused it already
            return None
        meeting_id = path["meeting"]
        try:
            first = socket.recv(timeout=JOIN_TIMEOUT_S)
        except TimeoutError:
            socket.close(*BAD_TOKEN)
            return None
        token = _join_token(first)
        if token is None:
            socket.close(*BAD_TOKEN)
            return None
        # Joining publishes AttendeeJoined, which reaches the tenant: never under the relay's lock.
        try:
            joined = self.chime.simulate("join", token, meeting_id=meeting_id)
        except ChimeError:
            socket.close(*(BAD_TOKEN if self._meeting_open(meeting_id) else ENDED))
            return None
        client = _Client(socket, meeting_id, joined["AttendeeId"], token)
        refused: tuple[int, str] | None = None
        with self._lock:
            try:
                self.chime.attendee(meeting_id, client.attendee_id)
            except ChimeError:  # ended or removed since it joined, before the relay knew of it
                refused = REMOVED if self._meeting_open(meeting_id) else ENDED
            else:
                room = self._rooms.setdefault(meeting_id, {})
                replaced = room.get(client.attendee_id)
                if replaced is not None:
                    replaced.gone = "replaced"
                room[client.attendee_id] = client
                others = [c for c in room.values() if c is not client]
                # Sent before the lock is let go, so that nothing reaches the socket before it.
                _send(
                    client,
                    {
                        "type": "joined",
                        "attendeeId": client.attendee_id,
                        "peers": [c.attendee_id for c in others],
                    },
                )
        if refused is not None:
            socket.close(*refused)
            return None
        if replaced is not None:
            _close_later(replaced, None, REPLACED)
        for other in others:
            _send(other, {"type": "peer-joined", "attendeeId": client.attendee_id})
        return client

    def _meeting_open(self, meeting_id: str) -> bool:
        try:
            self.chime.meeting(meeting_id)
        except ChimeError:
            return False
        return True

    def _relay(self, client: _Client) -> None:
        for message in client.socket:
            if not isinstance(message, str):
                client.socket.close(1003, "Frames are JSON text")
                return
            try:
                frame = json.loads(message)
            except ValueError:
                frame = None
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "signal":
                self._signal(client, frame)
            elif kind == "leave":
                client.gone = "left"
                return  # the connection closes (1000) as the handler returns
            else:
                _send(client, {"type": "error", "message": "Expected a signal or leave frame"})

    def _signal(self, client: _Client, frame: dict[str, Any]) -> None:
        to, data = frame.get("to"), frame.get("data")
        if not isinstance(data, dict):
            _send(client, {"type": "error", "message": "A signal carries its data as an object"})
            return
        with self._lock:
            room = self._rooms.get(client.meeting_id, {})
            peer = room.get(to) if isinstance(to, str) and to != client.attendee_id else None
            current = room.get(client.attendee_id) is client
        # From this socket's thread alone, so each peer gets this sender's signals in order.
        if (
            not current
            or peer is None
            or not _send(peer, {"type": "signal", "from": client.attendee_id, "data": data})
        ):
            _send(client, {"type": "error", "message": "That attendee is not connected to this meeting"})

    def _closed(self, client: _Client) -> None:
        """The socket is closed: unless the relay let go of it, the attendee left or dropped."""
        with self._lock:
            room = self._rooms.get(client.meeting_id, {})
            current = room.get(client.attendee_id) is client
            if current:
                del room[client.attendee_id]
                if not room:
                    del self._rooms[client.meeting_id]
            others = list(room.values())
        if not current or self._stopping:
            return
        with contextlib.suppress(ChimeError):  # the token was revoked or the meeting ended meanwhile
            self.chime.simulate("leave" if client.gone == "left" else "drop", client.join_token)
        for other in others:
            _send(other, {"type": "peer-left", "attendeeId": client.attendee_id})

    # --- what the Chime API ended ------------------------------------------------------------------

    def _disconnect(self, meeting_id: str, attendee_id: str | None) -> None:
        """DeleteMeeting (attendee None) or DeleteAttendee: the state has changed and publishes the
        events itself; the relay tells the sockets why and closes them."""
        gone: list[_Client]
        others: list[_Client] = []
        with self._lock:
            room = self._rooms.get(meeting_id, {})
            if attendee_id is None:
                gone = list(room.values())
                self._rooms.pop(meeting_id, None)
            else:
                removed = room.pop(attendee_id, None)
                # The others heard of it only if it had joined here (not through `/_sim/`).
                gone = [removed] if removed else []
                if removed:
                    others = list(room.values())
            for client in gone:
                client.gone = "ended" if attendee_id is None else "removed"
        for client in gone:
            if attendee_id is None:
                _close_later(client, {"type": "meeting-ended"}, ENDED)
            else:
                _close_later(client, {"type": "removed"}, REMOVED)
        for other in others:
            _send(other, {"type": "peer-left", "attendeeId": attendee_id})


def _route(connection: ServerConnection, request: Request) -> Response | None:
    """Only `/control/<MeetingId>`, and nothing in a query string: the token goes in a frame."""
    if "?" in request.path:
        return connection.respond(400, "The join token goes in the first frame, not the URL\n")
    if not _PATH.match(request.path):
        return connection.respond(404, "Not found\n")
    return None


def _join_token(frame: str | bytes) -> str | None:
    try:
        parsed = json.loads(frame) if isinstance(frame, str) else None
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("type") != "join":
        return None
    token = parsed.get("joinToken")
    return token if isinstance(token, str) and 0 < len(token) <= 2048 else None


def _send(client: _Client, frame: dict[str, Any]) -> bool:
    """Whether the frame went out (a socket closing meanwhile is no error of the sender's)."""
    try:
        client.socket.send(json.dumps(frame))
    except ConnectionClosed:
        return False
    return True


def _close_later(client: _Client, frame: dict[str, Any] | None, close: tuple[int, str]) -> None:
    """Tell and close in a thread of its own: closing waits for the client's answer, and the
    Chime API call that ended the meeting does not."""

    def close_now() -> None:
        with contextlib.suppress(ConnectionClosed):
            if frame is not None:
                client.socket.send(json.dumps(frame))
            client.socket.close(*close)

    threading.Thread(target=close_now, name="signalling-close", daemon=True).start()
