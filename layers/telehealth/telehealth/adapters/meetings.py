"""Video visits on the Amazon Chime SDK: meetings, attendees and media pipelines.

The client is built from the standard chain, so `AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS` (and
`..._MEDIA_PIPELINES`) point it at the local stand-in without a branch here.

Every meeting and pipeline is created tagged with its tenant (`telehealth:tenant`): the tenant's
role may create only what carries its own tag, and act only on meetings and pipelines that do not
carry another tenant's (docs/operations.md, Video isolation).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from telehealth.ports import MeetingGoneError

NIL_MEETING = "00000000-0000-0000-0000-000000000000"
TENANT_TAG = "telehealth:tenant"  # the tag the stacks put on everything of a tenant's, too


@dataclass(frozen=True)
class JoinInfo:
    """What one participant's client needs to join: secret (the join token), never logged."""

    meeting: dict[str, Any]
    attendee: dict[str, Any]


MeetingNotFoundError = MeetingGoneError


class ChimeMeetings:
    """Clients come from the standard chain unless given (the tests hand in their own); the
    tenant, from the function's `TENANT_ID` unless given."""

    def __init__(
        self, *, meetings_client: Any = None, pipelines_client: Any = None, tenant_id: str | None = None
    ) -> None:
        import boto3

        self._meetings = meetings_client or boto3.client("chime-sdk-meetings")
        self._pipelines = pipelines_client or boto3.client("chime-sdk-media-pipelines")
        self._tenant_id = tenant_id or os.environ.get("TENANT_ID")

    def _tags(self) -> list[dict[str, str]]:
        """What everything created here carries. Without a tenant nothing is created: the
        tenant's role may create only meetings and pipelines tagged with it."""
        if not self._tenant_id:
            raise ValueError("ChimeMeetings needs the tenant (TENANT_ID) to create meetings and pipelines")
        return [{"Key": TENANT_TAG, "Value": self._tenant_id}]

    def create_meeting_with_attendees(
        self,
        *,
        external_meeting_id: str,
        media_region: str,
        external_user_ids: list[str],
        idempotency_key: str,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        result = self._meetings.create_meeting_with_attendees(
            ClientRequestToken=idempotency_key,
            MediaRegion=media_region,
            ExternalMeetingId=external_meeting_id,
            Attendees=[{"ExternalUserId": user} for user in external_user_ids],
            Tags=self._tags(),
        )
        return result["Meeting"], result["Attendees"]

    @contextlib.contextmanager
    def _found(self, meeting_id: str) -> Iterator[None]:
        """Chime's NotFound, for a meeting or one of its attendees, as the port's MeetingGoneError."""
        try:
            yield
        except self._meetings.exceptions.NotFoundException as error:
            raise MeetingNotFoundError(meeting_id) from error

    def get_meeting(self, meeting_id: str) -> dict[str, Any]:
        with self._found(meeting_id):
            meeting: dict[str, Any] = self._meetings.get_meeting(MeetingId=meeting_id)["Meeting"]
        return meeting

    def delete_meeting(self, meeting_id: str) -> None:
        # Already ended is fine: deleting is idempotent for the caller.
        with contextlib.suppress(self._meetings.exceptions.NotFoundException):
            self._meetings.delete_meeting(MeetingId=meeting_id)

    def create_attendee(self, meeting_id: str, external_user_id: str) -> dict[str, Any]:
        with self._found(meeting_id):
            response = self._meetings.create_attendee(MeetingId=meeting_id, ExternalUserId=external_user_id)
        attendee: dict[str, Any] = response["Attendee"]
        return attendee

    def get_attendee(self, meeting_id: str, attendee_id: str) -> dict[str, Any]:
        with self._found(meeting_id):
            response = self._meetings.get_attendee(MeetingId=meeting_id, AttendeeId=attendee_id)
        attendee: dict[str, Any] = response["Attendee"]
        return attendee

    def delete_attendee(self, meeting_id: str, attendee_id: str) -> None:
        with contextlib.suppress(self._meetings.exceptions.NotFoundException):
            self._meetings.delete_attendee(MeetingId=meeting_id, AttendeeId=attendee_id)

    def list_attendees(self, meeting_id: str) -> list[dict[str, Any]]:
        with self._found(meeting_id):
            attendees: list[dict[str, Any]] = self._meetings.list_attendees(MeetingId=meeting_id)["Attendees"]
        return attendees

    def start_transcription(self, meeting_id: str, language: str = "en-US") -> None:
        self._meetings.start_meeting_transcription(
            MeetingId=meeting_id,
            TranscriptionConfiguration={
                "EngineTranscribeMedicalSettings": {
                    "LanguageCode": language,
                    "Specialty": "PRIMARYCARE",
                    "Type": "CONVERSATION",
                }
            },
        )

    def stop_transcription(self, meeting_id: str) -> None:
        self._meetings.stop_meeting_transcription(MeetingId=meeting_id)

    def start_capture(
        self,
        *,
        meeting_arn: str,
        bucket_arn: str,
        prefix: str,
        request_token: str,
        kms_key_arn: str | None = None,
        sink_role_arn: str | None = None,
    ) -> dict[str, Any]:
        """Per-attendee video and audio of the meeting into the tenant's recordings bucket,
        encrypted with the tenant's key (through `sink_role_arn`). `request_token` is derived
        from the visit, so a retried step does not start a second pipeline."""
        encryption: dict[str, Any] = {}
        if kms_key_arn and sink_role_arn:
            encryption = {
                "SseAwsKeyManagementParams": {"AwsKmsKeyId": kms_key_arn},
                "SinkIamRoleArn": sink_role_arn,
            }
        pipeline: dict[str, Any] = self._pipelines.create_media_capture_pipeline(
            SourceType="ChimeSdkMeeting",
            SourceArn=meeting_arn,
            SinkType="S3Bucket",
            SinkArn=f"{bucket_arn}/{prefix}",
            ClientRequestToken=request_token,
            Tags=self._tags(),
            **encryption,
            ChimeSdkMeetingConfiguration={
                "ArtifactsConfiguration": {
                    "Audio": {"MuxType": "AudioOnly"},
                    "Video": {"State": "Enabled", "MuxType": "VideoOnly"},
                    "Content": {"State": "Disabled"},
                }
            },
        )["MediaCapturePipeline"]
        return pipeline

    def concatenate(
        self, *, capture_pipeline_arn: str, bucket_arn: str, prefix: str, request_token: str
    ) -> dict[str, Any]:
        """Once the meeting ends: one file per stream from the capture's chunks."""
        pipeline: dict[str, Any] = self._pipelines.create_media_concatenation_pipeline(
            Sources=[
                {
                    "Type": "MediaCapturePipeline",
                    "MediaCapturePipelineSourceConfiguration": {
                        "MediaPipelineArn": capture_pipeline_arn,
                        "ChimeSdkMeetingConfiguration": {
                            "ArtifactsConfiguration": {
                                "Audio": {"State": "Enabled"},
                                "Video": {"State": "Enabled"},
                                "Content": {"State": "Disabled"},
                                "DataChannel": {"State": "Disabled"},
                                "TranscriptionMessages": {"State": "Disabled"},
                                "MeetingEvents": {"State": "Disabled"},
                                "CompositedVideo": {"State": "Disabled"},
                            }
                        },
                    },
                }
            ],
            Sinks=[
                {
                    "Type": "S3Bucket",
                    "S3BucketSinkConfiguration": {"Destination": f"{bucket_arn}/{prefix}"},
                }
            ],
            ClientRequestToken=request_token,
            Tags=self._tags(),
        )["MediaConcatenationPipeline"]
        return pipeline

    def ping(self) -> None:
        """Reachable and authorised: asking for a meeting that cannot exist answers NotFound."""
        try:
            self._meetings.get_meeting(MeetingId=NIL_MEETING)
        except self._meetings.exceptions.NotFoundException:
            return
