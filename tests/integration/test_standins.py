"""Each stand-in through the production adapter that talks to the real service in AWS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.platform import STRIPE_KEY, LocalPlatform
from telehealth.adapters.healthlake import FhirStoreError, HealthLakeFhirStore
from telehealth.adapters.meetings import ChimeMeetings, MeetingNotFoundError
from telehealth.adapters.payments import StripePayments
from tests.conftest import eventually, http

# --- HealthLake ------------------------------------------------------------------------------------


@pytest.fixture
def fhir(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> HealthLakeFhirStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return HealthLakeFhirStore(platform.fhir_endpoints["riverside"], region="us-east-1")


def _patient(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p-{uuid.uuid4().hex[:12]}",
        "name": [{"family": "Synthetic"}],
        **fields,
    }


def test_create_read_update_vread_and_history(fhir: HealthLakeFhirStore) -> None:
    created = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Okafor"}]})
    assert fhir.read("Practitioner", created["id"])["name"] == [{"family": "Okafor"}]
    first = created["meta"]["versionId"]
    updated = fhir.put({**created, "active": True})
    assert updated["meta"]["versionId"] != first
    assert "active" not in fhir.vread("Practitioner", created["id"], first)
    history = fhir.history("Practitioner", created["id"])
    assert history["type"] == "history" and len(history["entry"]) == 2


def test_put_to_a_new_id_creates_and_a_retry_updates_rather_than_duplicates(
    fhir: HealthLakeFhirStore,
) -> None:
    patient = _patient(birthDate="1980-02-29")
    fhir.put(patient)
    fhir.put(patient)
    matches = list(fhir.search("Patient", {"_id": patient["id"]}))
    assert [m["id"] for m in matches] == [patient["id"]]


def test_search_pages_with_next_links_until_every_match_is_read(fhir: HealthLakeFhirStore) -> None:
    family = f"Pager{uuid.uuid4().hex[:6]}"
    for _ in range(7):
        fhir.create({"resourceType": "Patient", "name": [{"family": family}]})
    found = list(fhir.search("Patient", {"family": family, "_count": "3", "_sort": "_lastUpdated"}))
    assert len(found) == 7 and len({p["id"] for p in found}) == 7


def test_an_invalid_resource_is_refused_with_an_operation_outcome_and_nothing_is_stored(
    fhir: HealthLakeFhirStore,
) -> None:
    patient = _patient(birthDate="1990-13-45")
    with pytest.raises(FhirStoreError) as refused:
        fhir.put(patient)
    assert refused.value.status == 400
    assert refused.value.codes and "Patient.birthDate" in refused.value.diagnostics
    assert "1990-13-45" not in str(refused.value)  # the error never echoes the value
    with pytest.raises(FhirStoreError) as missing:
        fhir.read("Patient", patient["id"])
    assert missing.value.status == 404


def test_a_transaction_is_all_or_nothing_and_a_batch_applies_entries(fhir: HealthLakeFhirStore) -> None:
    good, bad = _patient(), _patient(birthDate="1990-13-45")
    with pytest.raises(FhirStoreError):
        fhir.transaction([_put(good), _put(bad)])
    with pytest.raises(FhirStoreError):
        fhir.read("Patient", good["id"])
    result = fhir.transaction([_put(good)], kind="batch")
    assert result["type"] == "batch-response"
    assert fhir.read("Patient", good["id"])["id"] == good["id"]


def test_a_transaction_that_fails_on_a_later_entry_leaves_nothing_behind(fhir: HealthLakeFhirStore) -> None:
    existing = fhir.put(_patient())
    newcomer = _patient()
    stale = {**_put(existing), "request": {**_put(existing)["request"], "ifMatch": 'W/"not-the-version"'}}
    with pytest.raises(FhirStoreError):
        fhir.transaction([_put(newcomer), stale])
    assert fhir.read_if_present("Patient", newcomer["id"]) is None


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {"request": {"method": "PUT", "url": f"Patient/{resource['id']}"}, "resource": resource}


def test_each_data_store_is_its_own_repository(platform: LocalPlatform, fhir: HealthLakeFhirStore) -> None:
    patient = fhir.put(_patient())
    other = HealthLakeFhirStore(platform.fhir_endpoints["desert-clinic"], region="us-east-1")
    with pytest.raises(FhirStoreError) as missing:
        other.read("Patient", patient["id"])
    assert missing.value.status == 404


def _signed(
    url: str,
    service: str,
    secret: str = "testing",  # noqa: S107 (the emulator's published test secret)
    *,
    method: str = "GET",
    body: bytes | None = None,
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers={"Accept": "application/json"})
    SigV4Auth(Credentials("testing", secret), service, "us-east-1").add_auth(request)
    return request


@pytest.mark.parametrize(
    ("how", "headers"),
    [
        ("unsigned", lambda url: {}),
        ("another service", lambda url: dict(_signed(url, "execute-api").headers)),
        ("wrong secret", lambda url: dict(_signed(url, "healthlake", secret="not-it").headers)),  # noqa: S106
    ],
)
def test_requests_without_a_valid_healthlake_signature_are_refused(
    platform: LocalPlatform, how: str, headers: Any
) -> None:
    url = platform.fhir_endpoints["riverside"] + "Patient"
    reply = http("GET", url, headers=headers(url))
    assert reply.status == 403, how


# --- Chime ------------------------------------------------------------------------------------------


@pytest.fixture
def meetings(platform: LocalPlatform) -> ChimeMeetings:
    return ChimeMeetings(
        meetings_client=platform.client("chime-sdk-meetings", endpoint=platform.urls["chime"]),
        pipelines_client=platform.client("chime-sdk-media-pipelines", endpoint=platform.urls["chime"]),
        tenant_id="riverside",
    )


def _simulate(platform: LocalPlatform, action: str, join_token: str) -> int:
    return http(
        "POST", f"{platform.urls['chime']}/_sim/{action}", body=json.dumps({"JoinToken": join_token}).encode()
    ).status


def _event_types(platform: LocalPlatform, meeting_id: str) -> list[str]:
    return [
        event["detail"]["eventType"]
        for function, event in list(platform.dispatcher.completed)
        if function == "telehealth-riverside-chime-events" and event["detail"].get("meetingId") == meeting_id
    ]


@pytest.fixture
def visit(meetings: ChimeMeetings) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    meeting, attendees = meetings.create_meeting_with_attendees(
        external_meeting_id=f"riverside:visit-{uuid.uuid4().hex[:8]}",
        media_region="us-east-1",
        external_user_ids=["patient:p-1", "practitioner:pr-1"],
        idempotency_key=str(uuid.uuid4()),
    )
    yield meeting, attendees
    meetings.delete_meeting(meeting["MeetingId"])


def test_a_meeting_with_attendees_has_chimes_shapes(meetings: ChimeMeetings, visit: Any) -> None:
    meeting, attendees = visit
    assert meeting["MediaPlacement"]["SignalingUrl"].startswith("wss://")
    assert [a["ExternalUserId"] for a in attendees] == ["patient:p-1", "practitioner:pr-1"]
    assert all(len(a["JoinToken"]) > 20 for a in attendees)
    assert meetings.get_meeting(meeting["MeetingId"])["ExternalMeetingId"] == meeting["ExternalMeetingId"]
    assert {a["AttendeeId"] for a in meetings.list_attendees(meeting["MeetingId"])} == {
        a["AttendeeId"] for a in attendees
    }


def test_join_leave_and_drop_reach_the_tenant_as_chime_events(platform: LocalPlatform, visit: Any) -> None:
    meeting, (patient, provider) = visit
    assert _simulate(platform, "join", patient["JoinToken"]) == 200
    assert _simulate(platform, "join", provider["JoinToken"]) == 200
    assert _simulate(platform, "drop", patient["JoinToken"]) == 200
    assert _simulate(platform, "leave", provider["JoinToken"]) == 200
    expected = [
        "chime:MeetingStarted",
        "chime:AttendeeJoined",
        "chime:AttendeeJoined",
        "chime:AttendeeDropped",
        "chime:AttendeeLeft",
    ]
    assert eventually(lambda: sorted(_event_types(platform, meeting["MeetingId"])) == sorted(expected))


def test_a_deleted_attendees_join_token_dies_with_it(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, (patient, _) = visit
    meetings.delete_attendee(meeting["MeetingId"], patient["AttendeeId"])
    assert _simulate(platform, "join", patient["JoinToken"]) == 403
    fresh = meetings.create_attendee(meeting["MeetingId"], "patient:p-1")
    assert fresh["JoinToken"] != patient["JoinToken"]
    assert _simulate(platform, "join", fresh["JoinToken"]) == 200


def test_a_meeting_nobody_joins_ends_itself(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, _ = visit
    # The test platform's empty-meeting timeout is seconds; Chime's is five minutes.
    eventually(lambda: "chime:MeetingEnded" in _event_types(platform, meeting["MeetingId"]), timeout_s=15)
    with pytest.raises(MeetingNotFoundError):
        meetings.get_meeting(meeting["MeetingId"])


def test_a_missing_meeting_is_the_adapters_not_found(meetings: ChimeMeetings) -> None:
    with pytest.raises(MeetingNotFoundError):
        meetings.create_attendee(str(uuid.uuid4()), "patient:p-1")


def test_the_stand_in_validates_what_chime_validates(platform: LocalPlatform) -> None:
    url = f"{platform.urls['chime']}/meetings"
    body = json.dumps(
        {"ClientRequestToken": "t", "MediaRegion": "us-east-1", "ExternalMeetingId": "v"}
    ).encode()
    reply = http(
        "POST", url, headers=dict(_signed(url, "chime", method="POST", body=body).headers), body=body
    )
    assert reply.status == 400
    assert reply.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert http("POST", url, body=body).status == 403  # unsigned


RECORDINGS = "arn:aws:s3:::telehealth-riverside-recordings-123456789012"


def test_a_capture_pipeline_reports_its_state_on_the_default_bus(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, _ = visit
    pipeline = meetings.start_capture(
        meeting_arn=meeting["MeetingArn"],
        bucket_arn=RECORDINGS,
        prefix="captures/v1",
        request_token="visit-1-capture",  # noqa: S106 (a request token, not a secret)
    )
    assert pipeline["Status"] == "InProgress"
    eventually(lambda: "chime:MediaPipelineInProgress" in _event_types(platform, meeting["MeetingId"]))


def test_meetings_and_pipelines_keep_the_tenant_tag_they_were_created_with(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    """IAM decides on these tags: the stand-in keeps them and answers ListTagsForResource, in
    each API's own shape (a gone meeting is the meetings API's ResourceNotFound)."""
    meeting, _ = visit
    chime = platform.urls["chime"]
    api = platform.client("chime-sdk-meetings", endpoint=chime)
    tenant = [{"Key": "telehealth:tenant", "Value": "riverside"}]
    assert api.list_tags_for_resource(ResourceARN=meeting["MeetingArn"])["Tags"] == tenant
    capture = meetings.start_capture(
        meeting_arn=meeting["MeetingArn"],
        bucket_arn=RECORDINGS,
        prefix="captures/v3",
        request_token="visit-3-capture",  # noqa: S106 (a request token, not a secret)
    )
    pipelines = platform.client("chime-sdk-media-pipelines", endpoint=chime)
    assert pipelines.list_tags_for_resource(ResourceARN=capture["MediaPipelineArn"])["Tags"] == tenant
    meetings.delete_meeting(meeting["MeetingId"])
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.list_tags_for_resource(ResourceARN=meeting["MeetingArn"])
    with pytest.raises(pipelines.exceptions.NotFoundException):
        pipelines.list_tags_for_resource(
            ResourceARN=f"arn:aws:chime:us-east-1:123456789012:media-pipeline/{uuid.uuid4()}"
        )


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ([{"Key": f"k{n}", "Value": "v"} for n in range(51)], "at most 50"),
        ([{"Key": "k" * 129, "Value": "v"}], "a key of 129 characters"),
        ([{"Key": "k", "Value": "v" * 257}], "a value of 257 characters"),
        ([{"Key": "aws:tenant", "Value": "v"}], "the aws: prefix is AWS's"),
        ([{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}], "a key twice"),
        ([{"Key": "tenant?", "Value": "v"}], "outside the key pattern"),
    ],
)
def test_tags_chime_would_refuse_are_refused(platform: LocalPlatform, tags: Any, why: str) -> None:
    api = platform.client("chime-sdk-meetings", endpoint=platform.urls["chime"])
    with pytest.raises(api.exceptions.BadRequestException):
        api.create_meeting(
            ClientRequestToken=uuid.uuid4().hex,
            MediaRegion="us-east-1",
            ExternalMeetingId="riverside:tags",
            Tags=tags,
        )


def test_a_pipeline_given_tags_needs_at_least_one(platform: LocalPlatform, visit: Any) -> None:
    meeting, _ = visit
    url = f"{platform.urls['chime']}/sdk-media-capture-pipelines"
    body = json.dumps(
        {
            "SourceType": "ChimeSdkMeeting",
            "SourceArn": meeting["MeetingArn"],
            "SinkType": "S3Bucket",
            "SinkArn": f"{RECORDINGS}/captures/v4",
            "Tags": [],
        }
    ).encode()
    signed = _signed(url, "chime", method="POST", body=body)
    reply = http("POST", url, headers=dict(signed.headers), body=body)
    assert reply.status == 400 and reply.headers["x-amzn-ErrorType"] == "BadRequestException"


def test_the_adapter_creates_nothing_without_its_tenant(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENANT_ID", raising=False)
    untenanted = ChimeMeetings(
        meetings_client=platform.client("chime-sdk-meetings", endpoint=platform.urls["chime"]),
        pipelines_client=platform.client("chime-sdk-media-pipelines", endpoint=platform.urls["chime"]),
    )
    with pytest.raises(ValueError, match="TENANT_ID"):
        untenanted.create_meeting_with_attendees(
            external_meeting_id="riverside:none",
            media_region="us-east-1",
            external_user_ids=["patient:p-1"],
            idempotency_key=str(uuid.uuid4()),
        )


# --- Stripe -----------------------------------------------------------------------------------------


def test_a_copay_is_authorised_then_captured_or_voided(platform: LocalPlatform) -> None:
    payments = StripePayments(api_key=STRIPE_KEY, api_base=platform.urls["stripe"])
    held = payments.authorize(
        amount_minor=2500,
        currency="USD",
        payment_method="pm_card_visa",
        idempotency_key=str(uuid.uuid4()),
        metadata={"visit": "v-1"},
    )
    assert (held.status, held.amount, held.currency) == ("requires_capture", 2500, "usd")
    assert payments.capture(held.id, idempotency_key=str(uuid.uuid4())).status == "succeeded"
    other = payments.authorize(
        amount_minor=1500,
        currency="USD",
        payment_method="pm_card_visa",
        idempotency_key=str(uuid.uuid4()),
        metadata={"visit": "v-2"},
    )
    assert payments.void(other.id, idempotency_key=str(uuid.uuid4())).status == "canceled"


def test_transcription_starts_and_stops_on_a_live_meeting_only(meetings: ChimeMeetings, visit: Any) -> None:
    meeting, _ = visit
    meetings.start_transcription(meeting["MeetingId"])
    meetings.stop_transcription(meeting["MeetingId"])
    meetings.delete_meeting(meeting["MeetingId"])
    with pytest.raises(Exception, match="NotFound"):
        meetings.start_transcription(meeting["MeetingId"])


def test_a_concatenation_pipeline_follows_a_capture(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, _ = visit
    capture = meetings.start_capture(
        meeting_arn=meeting["MeetingArn"],
        bucket_arn=RECORDINGS,
        prefix="captures/v2",
        request_token="visit-2-capture",  # noqa: S106
    )
    concatenation = meetings.concatenate(
        capture_pipeline_arn=capture["MediaPipelineArn"],
        bucket_arn=RECORDINGS,
        prefix="concatenated/v2",
        request_token="visit-2-concatenation",  # noqa: S106
    )
    assert concatenation["Status"] == "InProgress"
    meetings.delete_meeting(meeting["MeetingId"])
    eventually(
        lambda: _event_types(platform, meeting["MeetingId"]).count("chime:MediaPipelineInProgress") == 2
    )
