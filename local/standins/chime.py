"""Amazon Chime SDK meetings and media pipelines, as far as the platform calls them.

It speaks the REST-JSON protocol of the `chime-sdk-meetings` and `chime-sdk-media-pipelines`
APIs (paths, status codes, `x-amzn-ErrorType` errors, the response shapes), so boto3 and the
production adapter talk to it unchanged through `AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS` and
`AWS_ENDPOINT_URL_CHIME_SDK_MEDIA_PIPELINES`. Like Chime, it publishes `aws.chime` events to the
account's **default** event bus. Like Chime, a meeting nobody is connected to ends by itself
after five minutes (`empty_timeout_s`). Tests and the demo play the participants' clients through
`POST /_sim/join|leave|drop` with an attendee's join token: a deleted attendee's token no longer
joins. Browsers connect through the signalling relay (`local.standins.signalling`), which the
meetings' `MediaPlacement.SignalingUrl` names and which joins, leaves and drops by the same path.
Meetings and pipelines keep the tags they were created with (`ListTagsForResource` answers them:
IAM decides on them), and tags Chime would refuse are refused.

Given a state file, the meetings still open (attendees, join tokens, tags) and the pipelines still
running are written through to it on every change the API acknowledges, and loaded at start: a
restart keeps them, and nobody is connected across it (an empty meeting ends itself after the
timeout, counted from the start). Nothing kept names the stand-in's port.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from local.loopback import LoopbackServer

# (source, detail-type, detail) -> published on the default bus
Publish = Callable[[str, str, dict[str, Any]], None]
# (bucket, key, body) -> an object written where a pipeline's sink points (S3 in the emulator)
StoreObject = Callable[[str, str, bytes], None]
# (meeting id, attendee id, or None for the whole meeting) -> the clients connected to what is gone
# are told and disconnected; called after the change, outside the state's lock.
Disconnect = Callable[[str, str | None], None]

ACCOUNT = "123456789012"
MEETING_EVENT = "Chime Meeting State Change"
PIPELINE_EVENT = "Chime Media Pipeline State Change"
MAX_ATTENDEES = 250
# Tags, as each API's model bounds them: a meeting's keys and values also have a pattern; a
# pipeline takes more of them, but at least one if `Tags` is given.
MEETING_TAGS = (0, 50)
PIPELINE_TAGS = (1, 200)
MEETING_TAG_KEY = re.compile(r"[a-zA-Z+-=._:/]+")  # `+-=` is a range, as in Chime's own pattern
MEETING_TAG_VALUE = re.compile(r"[\s\w+-=\.:/@]*")
# Where Chime's own signalling answers; the local relay's origin replaces it while the relay runs.
CHIME_SIGNALLING = "wss://signal.m1.ue1.app.chime.aws"


class ChimeError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


def _bad_request(message: str) -> ChimeError:
    return ChimeError(400, "BadRequestException", message)


def _not_found(what: str) -> ChimeError:
    return ChimeError(404, "NotFoundException", f"The requested resource was not found: {what}")


@dataclass
class Attendee:
    attendee_id: str
    external_user_id: str
    join_token: str
    connected: bool = False
    video: bytes | None = None  # what the simulated client's camera sent, for the recording

    def shape(self) -> dict[str, Any]:
        return {
            "ExternalUserId": self.external_user_id,
            "AttendeeId": self.attendee_id,
            "JoinToken": self.join_token,
            "Capabilities": {"Audio": "SendReceive", "Video": "SendReceive", "Content": "SendReceive"},
        }


@dataclass
class Meeting:
    meeting_id: str
    external_meeting_id: str
    media_region: str
    host_id: str | None
    attendees: dict[str, Attendee] = field(default_factory=dict)
    empty_since: float = field(default_factory=time.monotonic)
    transcribing: bool = False
    tags: list[dict[str, str]] = field(default_factory=list)

    def saved(self) -> dict[str, Any]:
        """What a restart keeps: not who is connected, nor their video."""
        return {
            "MeetingId": self.meeting_id,
            "ExternalMeetingId": self.external_meeting_id,
            "MediaRegion": self.media_region,
            "MeetingHostId": self.host_id,
            "Transcribing": self.transcribing,
            "Tags": self.tags,
            "Attendees": [
                {"AttendeeId": a.attendee_id, "ExternalUserId": a.external_user_id, "JoinToken": a.join_token}
                for a in self.attendees.values()
            ],
        }

    @classmethod
    def restored(cls, saved: dict[str, Any]) -> Meeting:
        """A kept meeting, its attendees disconnected and its empty time counted from now."""
        meeting = cls(
            saved["MeetingId"],
            saved["ExternalMeetingId"],
            saved["MediaRegion"],
            saved["MeetingHostId"],
            transcribing=saved["Transcribing"],
            tags=saved["Tags"],
        )
        for a in saved["Attendees"]:
            meeting.attendees[a["AttendeeId"]] = Attendee(
                a["AttendeeId"], a["ExternalUserId"], a["JoinToken"]
            )
        return meeting

    def shape(self, signalling: str = CHIME_SIGNALLING) -> dict[str, Any]:
        """Chime's answer; `signalling` is the origin the clients' signalling connects to."""
        host = f"{self.meeting_id[:8]}.k.m1.ue1.app.chime.aws"
        return {
            "MeetingId": self.meeting_id,
            "MeetingHostId": self.host_id,
            "ExternalMeetingId": self.external_meeting_id,
            "MediaRegion": self.media_region,
            "MediaPlacement": {
                "AudioHostUrl": f"{host}:3478",
                "AudioFallbackUrl": f"wss://haxrp.m1.ue1.app.chime.aws:443/calls/{self.meeting_id}",
                "SignalingUrl": f"{signalling}/control/{self.meeting_id}",
                "TurnControlUrl": "https://2713.cell.us-east-1.meetings.chime.aws/v2/turn_sessions",
                "ScreenDataUrl": f"wss://bitpw.m1.ue1.app.chime.aws:443/v2/screen/{self.meeting_id}",
                "ScreenViewingUrl": f"wss://bitpw.m1.ue1.app.chime.aws:443/ws/connect?passcode=null&viewer_uuid=null&X-BitHub-Call-Id={self.meeting_id}",
                "ScreenSharingUrl": f"wss://bitpw.m1.ue1.app.chime.aws:443/v2/screen/{self.meeting_id}",
                "EventIngestionUrl": "https://data.svc.ue1.ingest.chime.aws/v1/client-events",
            },
            "MeetingArn": f"arn:aws:chime:us-east-1:{ACCOUNT}:meeting/{self.meeting_id}",
        }


def _check_length(name: str, value: Any, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise _bad_request(f"{name} must be a string of {low} to {high} characters")
    return value


def _check_tags(value: Any, count: tuple[int, int], *, patterns: bool) -> list[dict[str, str]]:
    """Tags as Chime takes them: `[{"Key", "Value"}]`, within the API's bounds, each key once, and
    none under the `aws:` prefix AWS keeps for itself."""
    if value is None:
        return []
    low, high = count
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise _bad_request(f"Tags must list {low} to {high} tags")
    keys = set()
    for tag in value:
        if not isinstance(tag, dict) or set(tag) != {"Key", "Value"}:
            raise _bad_request("Each tag must have a Key and a Value")
        key = _check_length("Tag Key", tag["Key"], 1, 128)
        text = _check_length("Tag Value", tag["Value"], 0, 256)
        if patterns and not (MEETING_TAG_KEY.fullmatch(key) and MEETING_TAG_VALUE.fullmatch(text)):
            raise _bad_request("Tag Key or Value does not match the allowed pattern")
        if key.lower().startswith("aws:"):
            raise _bad_request("Tag keys beginning with aws: are reserved")
        if key in keys:
            raise _bad_request("Tag keys must be unique")
        keys.add(key)
    return [{"Key": t["Key"], "Value": t["Value"]} for t in value]


class ChimeState:
    """The meetings, attendees and pipelines, and the events their changes publish."""

    def __init__(
        self,
        publish: Publish,
        empty_timeout_s: float = 300.0,
        store: StoreObject | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.publish = publish
        self.store = store
        self.empty_timeout_s = empty_timeout_s
        # Attendees' camera video by meeting, kept after the meeting ends for concatenation.
        self.videos: dict[str, dict[str, bytes]] = {}
        self.meetings: dict[str, Meeting] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self._idempotency: dict[str, str] = {}
        self._lock = threading.RLock()
        self.state_file = state_file
        # Set by the signalling relay while it runs: its origin goes into every meeting's answer
        # (computed when answering, never kept: the relay's port changes with each start).
        self.signalling = CHIME_SIGNALLING
        self.disconnect: Disconnect | None = None
        if state_file is not None and state_file.exists():
            self._load(state_file)

    # --- what a restart keeps ------------------------------------------------------------------

    def _load(self, state_file: Path) -> None:
        saved = json.loads(state_file.read_text())
        self.meetings = {m["MeetingId"]: Meeting.restored(m) for m in saved["meetings"]}
        self.pipelines = {p["MediaPipelineId"]: p for p in saved["pipelines"]}
        self._idempotency = saved["idempotency"]

    def _save(self) -> None:
        """Write the open meetings and running pipelines through to the state file: called with
        the lock held, after a change and before the API answers it."""
        if self.state_file is None:
            return
        running = {k: p for k, p in self.pipelines.items() if p["Status"] == "InProgress"}
        saved = {
            "meetings": [m.saved() for m in self.meetings.values()],
            "pipelines": list(running.values()),
            "idempotency": {
                token: kept
                for token, kept in self._idempotency.items()
                if kept in self.meetings or kept in running
            },
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        temp = self.state_file.with_name(f"{self.state_file.name}.tmp")
        # Join tokens are secrets: the file is its owner's alone.
        with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(json.dumps(saved))
        temp.replace(self.state_file)

    def resume(self) -> None:
        """Finish the concatenations a restart interrupted (their videos did not survive it)."""
        with self._lock:
            running = [
                p
                for p in self.pipelines.values()
                if p["_kind"] == "concatenation" and p["Status"] == "InProgress"
            ]
        for pipeline in running:
            threading.Thread(target=self._concatenate, args=(pipeline,), daemon=True).start()

    # --- events ----------------------------------------------------------------------------

    def _meeting_event(self, meeting: Meeting, event_type: str, attendee: Attendee | None = None) -> None:
        detail: dict[str, Any] = {
            "version": "0",
            "eventType": f"chime:{event_type}",
            "timestamp": int(time.time() * 1000),
            "meetingId": meeting.meeting_id,
            "externalMeetingId": meeting.external_meeting_id,
            "mediaRegion": meeting.media_region,
        }
        if attendee:
            detail |= {"attendeeId": attendee.attendee_id, "externalUserId": attendee.external_user_id}
        self.publish("aws.chime", MEETING_EVENT, detail)

    def _pipeline_event(self, pipeline: dict[str, Any], event_type: str) -> None:
        meeting = self.meetings.get(pipeline["_meeting_id"])
        self.publish(
            "aws.chime",
            PIPELINE_EVENT,
            {
                "version": "0",
                "eventType": f"chime:{event_type}",
                "timestamp": int(time.time() * 1000),
                "meetingId": pipeline["_meeting_id"],
                "externalMeetingId": meeting.external_meeting_id
                if meeting
                else pipeline["_external_meeting_id"],
                "mediaPipelineId": pipeline["MediaPipelineId"],
                "mediaRegion": meeting.media_region if meeting else "us-east-1",
            },
        )

    # --- meetings --------------------------------------------------------------------------

    def create_meeting(self, body: dict[str, Any]) -> Meeting:
        token = _check_length("ClientRequestToken", body.get("ClientRequestToken"), 2, 64)
        region = _check_length("MediaRegion", body.get("MediaRegion"), 2, 64)
        external = _check_length("ExternalMeetingId", body.get("ExternalMeetingId"), 2, 64)
        tags = _check_tags(body.get("Tags"), MEETING_TAGS, patterns=True)
        with self._lock:
            if token in self._idempotency and self._idempotency[token] in self.meetings:
                return self.meetings[self._idempotency[token]]
            meeting = Meeting(str(uuid.uuid4()), external, region, body.get("MeetingHostId"), tags=tags)
            self.meetings[meeting.meeting_id] = meeting
            self._idempotency[token] = meeting.meeting_id
            self._save()
        self._meeting_event(meeting, "MeetingStarted")
        return meeting

    def meeting(self, meeting_id: str) -> Meeting:
        with self._lock:
            meeting = self.meetings.get(meeting_id)
        if meeting is None:
            raise _not_found(f"meeting {meeting_id}")
        return meeting

    def end_meeting(self, meeting_id: str) -> None:
        with self._lock:
            meeting = self.meetings.pop(meeting_id, None)
            if meeting is None:
                raise _not_found(f"meeting {meeting_id}")
            stopped = [
                p
                for p in self.pipelines.values()
                if p["_meeting_id"] == meeting_id and p["Status"] == "InProgress"
            ]
            for pipeline in stopped:
                pipeline["Status"] = "Stopped"
            self._save()
        if self.disconnect is not None:
            self.disconnect(meeting_id, None)
        self._meeting_event(meeting, "MeetingEnded")
        for pipeline in stopped:
            self._pipeline_event(pipeline, "MediaPipelineDeleted")

    def create_attendee(self, meeting_id: str, body: dict[str, Any]) -> Attendee:
        meeting = self.meeting(meeting_id)
        external = _check_length("ExternalUserId", body.get("ExternalUserId"), 2, 64)
        with self._lock:
            # ExternalUserId is Chime's idempotency token: the same one gets the existing attendee.
            for existing in meeting.attendees.values():
                if existing.external_user_id == external:
                    return existing
            if len(meeting.attendees) >= MAX_ATTENDEES:
                raise ChimeError(400, "LimitExceededException", "Attendee limit reached")
            attendee = Attendee(str(uuid.uuid4()), external, secrets.token_urlsafe(48))
            meeting.attendees[attendee.attendee_id] = attendee
            self._save()
        return attendee

    def attendee(self, meeting_id: str, attendee_id: str) -> Attendee:
        found = self.meeting(meeting_id).attendees.get(attendee_id)
        if found is None:
            raise _not_found(f"attendee {attendee_id}")
        return found

    def delete_attendee(self, meeting_id: str, attendee_id: str) -> None:
        meeting = self.meeting(meeting_id)
        with self._lock:
            attendee = meeting.attendees.pop(attendee_id, None)
            self._save()
        if attendee is None:
            raise _not_found(f"attendee {attendee_id}")
        if self.disconnect is not None:
            self.disconnect(meeting_id, attendee_id)
        if attendee.connected:
            self._meeting_event(meeting, "AttendeeLeft", attendee)
            self._maybe_empty(meeting)
        self._meeting_event(meeting, "AttendeeDeleted", attendee)

    def transcribe(self, meeting_id: str, on: bool) -> None:
        with self._lock:
            self.meeting(meeting_id).transcribing = on
            self._save()

    # --- the participants' clients, simulated --------------------------------------------------

    def _by_token(self, join_token: str) -> tuple[Meeting, Attendee]:
        with self._lock:
            for meeting in self.meetings.values():
                for attendee in meeting.attendees.values():
                    if secrets.compare_digest(attendee.join_token, join_token):
                        return meeting, attendee
        raise ChimeError(403, "ForbiddenException", "Join token is not valid")

    def simulate(
        self, action: str, join_token: str, video: bytes | None = None, meeting_id: str | None = None
    ) -> dict[str, Any]:
        """An attendee's client joins, leaves or drops; with `meeting_id` (the relay's socket is
        for one meeting) a token of another meeting is refused as a bad one."""
        if action not in ("join", "leave", "drop"):
            raise _bad_request("action must be join, leave or drop")
        with self._lock:  # a token revoked meanwhile must not join; a joining meeting must not end
            meeting, attendee = self._by_token(join_token)
            if meeting_id is not None and meeting.meeting_id != meeting_id:
                raise ChimeError(403, "ForbiddenException", "Join token is not valid")
            attendee.connected = action == "join"
            if video is not None:
                self.videos.setdefault(meeting.meeting_id, {})[attendee.attendee_id] = video
            if action != "join":
                self._maybe_empty(meeting)
        kind = {"join": "AttendeeJoined", "leave": "AttendeeLeft", "drop": "AttendeeDropped"}[action]
        self._meeting_event(meeting, kind, attendee)
        return {
            "MeetingId": meeting.meeting_id,
            "AttendeeId": attendee.attendee_id,
            "Connected": attendee.connected,
        }

    def _maybe_empty(self, meeting: Meeting) -> None:
        if not any(a.connected for a in meeting.attendees.values()):
            meeting.empty_since = time.monotonic()

    def sweep(self) -> None:
        """End meetings nobody has been connected to for the empty timeout, as Chime does."""
        now = time.monotonic()
        with self._lock:
            idle = [
                m.meeting_id
                for m in self.meetings.values()
                if not any(a.connected for a in m.attendees.values())
                and now - m.empty_since >= self.empty_timeout_s
            ]
        for meeting_id in idle:
            with contextlib.suppress(ChimeError):  # deleted meanwhile
                self.end_meeting(meeting_id)

    # --- media pipelines -------------------------------------------------------------------

    def create_pipeline(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("ClientRequestToken")
        with self._lock:  # a retried request with its token gets the same pipeline, as in Chime
            if token and f"pipeline:{token}" in self._idempotency:
                return self.pipelines[self._idempotency[f"pipeline:{token}"]]
        tags = _check_tags(body.get("Tags"), PIPELINE_TAGS, patterns=False)
        if kind == "capture":
            source_arn = _check_length("SourceArn", body.get("SourceArn"), 1, 1024)
            if body.get("SourceType") != "ChimeSdkMeeting" or body.get("SinkType") != "S3Bucket":
                raise _bad_request("SourceType must be ChimeSdkMeeting and SinkType S3Bucket")
            meeting = self.meeting(source_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
            meeting_id, external = meeting.meeting_id, meeting.external_meeting_id
        else:
            sources = body.get("Sources") or []
            capture_arn = (
                sources[0].get("MediaCapturePipelineSourceConfiguration", {}).get("MediaPipelineArn", "")
                if sources
                else ""
            )
            capture = self.pipelines.get(capture_arn.rsplit("/", 1)[-1])
            if capture is None:
                raise _bad_request("Sources must name an existing media capture pipeline")
            meeting_id, external = capture["_meeting_id"], capture["_external_meeting_id"]
        pipeline_id = str(uuid.uuid4())
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        pipeline = {
            "MediaPipelineId": pipeline_id,
            "MediaPipelineArn": f"arn:aws:chime:us-east-1:{ACCOUNT}:media-pipeline/{pipeline_id}",
            "Status": "InProgress",
            "CreatedTimestamp": now,
            "UpdatedTimestamp": now,
            "_kind": kind,
            "_meeting_id": meeting_id,
            "_external_meeting_id": external,
            "_tags": tags,
            **{
                k: v
                for k, v in body.items()
                if k in ("SourceType", "SourceArn", "SinkType", "SinkArn", "Sources", "Sinks")
            },
        }
        with self._lock:
            self.pipelines[pipeline_id] = pipeline
            if token:
                self._idempotency[f"pipeline:{token}"] = pipeline_id
            self._save()
        self._pipeline_event(pipeline, "MediaPipelineInProgress")
        if kind == "concatenation":
            threading.Thread(target=self._concatenate, args=(pipeline,), daemon=True).start()
        return pipeline

    def _concatenate(self, pipeline: dict[str, Any]) -> None:
        """What concatenation leaves in the sink: one video file per attendee whose client sent
        video (`video/<attendee id>.mp4`); then, as Chime does when a pipeline has finished, the
        pipeline-deleted event."""
        time.sleep(1.0)  # Chime starts only once the capture has stopped (the meeting ended)
        sink = pipeline["Sinks"][0]["S3BucketSinkConfiguration"]["Destination"]
        bucket, _, prefix = sink.removeprefix("arn:aws:s3:::").partition("/")
        for attendee_id, video in self.videos.get(pipeline["_meeting_id"], {}).items():
            if self.store is not None:
                self.store(bucket, f"{prefix}/video/{attendee_id}.mp4", video)
        self._stop_pipeline(pipeline)
        self._pipeline_event(pipeline, "MediaPipelineDeleted")

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        found = self.pipelines.get(pipeline_id)
        if found is None:
            raise _not_found(f"media pipeline {pipeline_id}")
        return found

    def tags(self, arn: str) -> list[dict[str, str]]:
        """A meeting's or a media pipeline's tags, by its ARN (gone or unknown: not found, the
        error each API names: the meetings API's ResourceNotFound, the pipelines' NotFound)."""
        kind, _, resource_id = arn.rpartition(":")[2].partition("/")
        with self._lock:
            if kind == "meeting" and resource_id in self.meetings:
                return list(self.meetings[resource_id].tags)
            if kind == "media-pipeline" and resource_id in self.pipelines:
                return list(self.pipelines[resource_id]["_tags"])
        if kind == "meeting":
            raise ChimeError(404, "ResourceNotFoundException", f"The resource was not found: {arn}")
        raise _not_found(arn)

    def delete_pipeline(self, pipeline_id: str) -> None:
        pipeline = self.pipeline(pipeline_id)
        self._stop_pipeline(pipeline)
        self._pipeline_event(pipeline, "MediaPipelineDeleted")

    def _stop_pipeline(self, pipeline: dict[str, Any]) -> None:
        with self._lock:
            pipeline["Status"] = "Stopped"
            self._save()


def _public(pipeline: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in pipeline.items() if not k.startswith("_")}


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), name)
    for m, p, name in (
        ("POST", r"^/meetings$", "create_meeting"),
        ("GET", r"^/meetings/(?P<meeting>[^/]+)$", "get_meeting"),
        ("DELETE", r"^/meetings/(?P<meeting>[^/]+)$", "delete_meeting"),
        ("POST", r"^/meetings/(?P<meeting>[^/]+)/attendees$", "create_attendee"),
        ("GET", r"^/meetings/(?P<meeting>[^/]+)/attendees$", "list_attendees"),
        ("GET", r"^/meetings/(?P<meeting>[^/]+)/attendees/(?P<attendee>[^/]+)$", "get_attendee"),
        ("DELETE", r"^/meetings/(?P<meeting>[^/]+)/attendees/(?P<attendee>[^/]+)$", "delete_attendee"),
        ("POST", r"^/meetings/(?P<meeting>[^/]+)/transcription$", "transcription"),
        ("POST", r"^/sdk-media-capture-pipelines$", "create_capture"),
        ("POST", r"^/sdk-media-concatenation-pipelines$", "create_concatenation"),
        ("GET", r"^/sdk-media-capture-pipelines/(?P<pipeline>[^/]+)$", "get_capture"),
        ("DELETE", r"^/sdk-media-capture-pipelines/(?P<pipeline>[^/]+)$", "delete_capture"),
        ("GET", r"^/tags$", "list_tags"),  # both APIs' ListTagsForResource: the ARN says which
        ("POST", r"^/_sim/(?P<action>join|leave|drop)$", "simulate"),
        ("GET", r"^/_health$", "health"),
    )
]


class ChimeStandIn:
    def __init__(
        self,
        port: int,
        publish: Publish,
        empty_timeout_s: float = 300.0,
        store: StoreObject | None = None,
        state_file: Path | None = None,
        signalling_port: int = 0,
    ) -> None:
        # The relay is built on the state and imports this module for it.
        from local.standins.signalling import SignallingRelay

        self.state = ChimeState(publish, empty_timeout_s, store, state_file)
        self.relay = SignallingRelay(self.state, signalling_port)
        state = self.state

        class Handler(_Handler):
            chime = state

        self._server = LoopbackServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.relay.start()
        threading.Thread(target=self._server.serve_forever, name="chime", daemon=True).start()
        threading.Thread(target=self._sweep, name="chime-sweeper", daemon=True).start()
        self.state.resume()

    def _sweep(self) -> None:
        while not self._stop.wait(1.0):
            self.state.sweep()

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self.relay.stop()


class _Handler(BaseHTTPRequestHandler):
    chime: ChimeState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else {}
            for method, pattern, name in _ROUTES:
                found = pattern.match(path)
                if method == self.command and found:
                    if not name.startswith(("simulate", "health")) and not self.headers.get(
                        "Authorization", ""
                    ).startswith("AWS4-HMAC-SHA256 "):
                        raise ChimeError(403, "ForbiddenException", "Missing Authentication Token")
                    status, payload = getattr(self, name)(body, params, **found.groupdict())
                    self._reply(status, payload)
                    return
            raise ChimeError(404, "NotFoundException", "No such operation")
        except json.JSONDecodeError:
            self._error(ChimeError(400, "BadRequestException", "Request body is not JSON"))
        except ChimeError as error:
            self._error(error)

    def _reply(self, status: int, payload: dict[str, Any] | None) -> None:
        body = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error: ChimeError) -> None:
        body = json.dumps(
            {"Code": error.error_type.removesuffix("Exception"), "Message": error.message}
        ).encode()
        self.send_response(error.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", error.error_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # --- operations ----------------------------------------------------------------------------

    def create_meeting(self, body: dict[str, Any], params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if params.get("operation") == "create-attendees":
            requested = body.get("Attendees") or []
            if not 1 <= len(requested) <= 10:
                raise _bad_request("Attendees must list 1 to 10 attendees")
            meeting = self.chime.create_meeting(body)
            attendees = [self.chime.create_attendee(meeting.meeting_id, a).shape() for a in requested]
            answer = {"Meeting": meeting.shape(self.chime.signalling), "Attendees": attendees, "Errors": []}
            return 200, answer
        return 200, {"Meeting": self.chime.create_meeting(body).shape(self.chime.signalling)}

    def get_meeting(self, body: Any, params: Any, meeting: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Meeting": self.chime.meeting(meeting).shape(self.chime.signalling)}

    def delete_meeting(self, body: Any, params: Any, meeting: str) -> tuple[int, None]:
        self.chime.end_meeting(meeting)
        return 204, None

    def create_attendee(
        self, body: dict[str, Any], params: dict[str, str], meeting: str
    ) -> tuple[int, dict[str, Any]]:
        if params.get("operation") == "batch-create":
            created = [self.chime.create_attendee(meeting, a).shape() for a in body.get("Attendees") or []]
            return 200, {"Attendees": created, "Errors": []}
        return 200, {"Attendee": self.chime.create_attendee(meeting, body).shape()}

    def list_attendees(self, body: Any, params: Any, meeting: str) -> tuple[int, dict[str, Any]]:
        found = self.chime.meeting(meeting)
        with self.chime._lock:
            attendees = [a.shape() for a in found.attendees.values()]
        return 200, {"Attendees": attendees}

    def get_attendee(self, body: Any, params: Any, meeting: str, attendee: str) -> tuple[int, dict[str, Any]]:
        return 200, {"Attendee": self.chime.attendee(meeting, attendee).shape()}

    def delete_attendee(self, body: Any, params: Any, meeting: str, attendee: str) -> tuple[int, None]:
        self.chime.delete_attendee(meeting, attendee)
        return 204, None

    def transcription(self, body: Any, params: dict[str, str], meeting: str) -> tuple[int, dict[str, Any]]:
        self.chime.meeting(meeting)
        if params.get("operation") not in ("start", "stop"):
            raise _bad_request("operation must be start or stop")
        self.chime.transcribe(meeting, params["operation"] == "start")
        return 200, {}

    def create_capture(self, body: dict[str, Any], params: Any) -> tuple[int, dict[str, Any]]:
        return 201, {"MediaCapturePipeline": _public(self.chime.create_pipeline("capture", body))}

    def create_concatenation(self, body: dict[str, Any], params: Any) -> tuple[int, dict[str, Any]]:
        return 201, {"MediaConcatenationPipeline": _public(self.chime.create_pipeline("concatenation", body))}

    def get_capture(self, body: Any, params: Any, pipeline: str) -> tuple[int, dict[str, Any]]:
        return 200, {"MediaCapturePipeline": _public(self.chime.pipeline(pipeline))}

    def delete_capture(self, body: Any, params: Any, pipeline: str) -> tuple[int, None]:
        self.chime.delete_pipeline(pipeline)
        return 204, None

    def list_tags(self, body: Any, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        arn = _check_length("ResourceARN", params.get("arn"), 1, 1011)
        return 200, {"Tags": self.chime.tags(arn)}

    def simulate(self, body: dict[str, Any], params: Any, action: str) -> tuple[int, dict[str, Any]]:
        """`{"JoinToken": ..., "VideoBase64": ...}`: the client's camera video is optional."""
        video = base64.b64decode(body["VideoBase64"]) if body.get("VideoBase64") else None
        token = _check_length("JoinToken", body.get("JoinToken"), 1, 2048)
        return 200, self.chime.simulate(action, token, video)

    def health(self, body: Any, params: Any) -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok", "meetings": len(self.chime.meetings)}
