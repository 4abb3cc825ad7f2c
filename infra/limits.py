"""The AWS limits the platform's code can reach, each with the error AWS answers a call over it, where
the value comes from, and what enforces it on this machine.

Something that works locally and fails in AWS is a bug in the parity: the local emulator reads its
values from here (`local.emulator`), and `tests/integration/test_emulator_parity.py` holds every
limit that moto or the emulator enforces against a call just over it and one at it. Plain data,
no CDK imports, like `infra.topology`.

Sizes are bytes. AWS's KB, MB, KiB and MiB in these limits are all binary (1 KB = 1,024 bytes), as
DynamoDB's and Lambda's documentation state and Step Functions' byte counts (262,144) show.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

CHECKED = "2026-11-29"
STORED = f"stored documentation, checked {CHECKED}"
NOT_FOUND = f"not found in the stored documentation (searched {CHECKED}); unverified"

KIB = 1024
MIB = 1024 * KIB


class Enforcer(Enum):
    MOTO = "moto"  # moto 5.2.5 as it ships
    EMULATOR = "local.emulator"  # moto as local/emulator.py patches it
    LAMBDAS = "local.lambdas"  # the Lambda dispatcher (API Gateway events, event deliveries)
    GATEWAY = "local.gateway"  # the API Gateway stand-in
    CHIME_STANDIN = "local.standins.chime"
    NOT_REACHABLE = "not reachable"  # the note says why


@dataclass(frozen=True)
class Source:
    title: str
    url: str
    checked: str  # STORED, or NOT_FOUND with the page where the value is usually documented


@dataclass(frozen=True)
class AwsError:
    service: str
    code: str
    # None: no call is refused; the running execution fails with `code` instead.
    http_status: int | None
    message: str = ""  # AWS's wording where known; tests compare the code and status only


@dataclass(frozen=True)
class Limit:
    name: str
    value: int
    unit: str
    error: AwsError
    sources: tuple[Source, ...]
    enforced_by: tuple[Enforcer, ...]
    # How the value is counted, where local enforcement falls short, why a limit is not reachable.
    note: str = ""


# --- DynamoDB -------------------------------------------------------------------------------------

_TRANSACT_WRITE = Source(
    "TransactWriteItems (Amazon DynamoDB API Reference)",
    "https://docs.amazonaws.cn/goto/WebAPI/dynamodb-2012-08-10/TransactWriteItems",
    STORED,
)
_TRANSACTION_CANCELED = Source(
    "DynamoDB / Client / exceptions / TransactionCanceledException (botocore reference)",
    "https://docs.aws.amazon.com/botocore/latest/reference/services/dynamodb/client/exceptions/"
    "TransactionCanceledException.html",
    STORED,
)
_ITEM_SIZES = Source(
    "DynamoDB item sizes and formats",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html",
    STORED,
)
_BATCH_WRITE = Source(
    "BatchWriteItem (Amazon DynamoDB API Reference)",
    "https://docs.amazonaws.cn/goto/WebAPI/dynamodb-2012-08-10/BatchWriteItem",
    STORED,
)

DYNAMODB_TRANSACTION_ACTIONS = Limit(
    name="DynamoDB TransactWriteItems actions per transaction",
    value=100,
    unit="actions",
    error=AwsError(
        "dynamodb",
        "ValidationException",
        400,
        "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
        "Member must have length less than or equal to 100",
    ),
    sources=(_TRANSACT_WRITE,),
    enforced_by=(Enforcer.MOTO,),
)

DYNAMODB_TRANSACTION_BYTES = Limit(
    name="DynamoDB TransactWriteItems aggregate size of the items",
    value=4 * MIB,
    unit="bytes",
    error=AwsError("dynamodb", "ValidationException", 400, "Transaction request cannot be larger than 4 MB"),
    sources=(_TRANSACT_WRITE,),
    enforced_by=(Enforcer.EMULATOR,),
    note="Counted locally as the sizes of the Put items plus the keys of the other actions (the "
    "documentation does not say how an Update counts). The message is not in the stored "
    "documentation; the code is.",
)

DYNAMODB_ITEM_BYTES = Limit(
    name="DynamoDB item size (PutItem, UpdateItem, BatchWriteItem)",
    value=400 * KIB,
    unit="bytes",
    error=AwsError("dynamodb", "ValidationException", 400, "Item size has exceeded the maximum allowed size"),
    sources=(_ITEM_SIZES, _BATCH_WRITE),
    enforced_by=(Enforcer.EMULATOR,),
    note="Attribute names plus values, sized as 'DynamoDB item sizes and formats' says (numbers by "
    "significant digits, binary by raw bytes, 3 bytes per list or map and 1 per element). moto 5.2.5 "
    "refuses items over 405,000 bytes of its own count, so items AWS stores were refused locally; "
    "the emulator counts as DynamoDB does. UpdateItem answers 'Item size to update has exceeded "
    "the maximum allowed size'.",
)

DYNAMODB_TRANSACTION_ITEM_BYTES = Limit(
    name="DynamoDB item size within TransactWriteItems",
    value=400 * KIB,
    unit="bytes",
    error=AwsError(
        "dynamodb",
        "TransactionCanceledException",
        400,
        "Transaction cancelled, please refer cancellation reasons for specific reasons [ValidationError]",
    ),
    sources=(_TRANSACTION_CANCELED,),
    enforced_by=(Enforcer.EMULATOR,),
    note="The cancellation reason of the oversized Put is ValidationError, the others None. moto "
    "answers a plain ValidationException; the emulator checks Puts before moto sees them. An "
    "Update that grows an item past the limit still gets moto's ValidationException.",
)

DYNAMODB_TRANSACTION_SAME_ITEM = Limit(
    name="DynamoDB TransactWriteItems actions on one item",
    value=1,
    unit="actions per item",
    error=AwsError(
        "dynamodb",
        "ValidationException",
        400,
        "Transaction request cannot include multiple operations on one item",
    ),
    sources=(_TRANSACT_WRITE,),
    enforced_by=(Enforcer.MOTO,),
    note="The TransactionCanceledException reference lists this among its reasons too; the service "
    "answers ValidationException with the message above (AWS knowledge-center article "
    "'Why is my TransactWriteItems API call failing in Amazon DynamoDB?').",
)

DYNAMODB_BATCH_WRITE_REQUESTS = Limit(
    name="DynamoDB BatchWriteItem put or delete requests per call",
    value=25,
    unit="requests",
    error=AwsError(
        "dynamodb",
        "ValidationException",
        400,
        "Too many items requested for the BatchWriteItem call",
    ),
    sources=(_BATCH_WRITE,),
    enforced_by=(Enforcer.EMULATOR,),
    note="Counted across the request's tables. No platform code calls BatchWriteItem today; the "
    "emulator refuses it as DynamoDB does so that the first caller finds out locally.",
)

# --- Step Functions -------------------------------------------------------------------------------

_SFN_QUOTAS = Source(
    "Step Functions service quotas",
    "https://docs.amazonaws.cn/en_us/step-functions/latest/dg/service-quotas.md",
    STORED,
)
_SFN_EXECUTION_STARTED = Source(
    "ExecutionStartedEventDetails - AWS Step Functions",
    "https://docs.aws.amazon.com/step-functions/latest/apireference/API_ExecutionStartedEventDetails.html",
    STORED,
)
_SFN_STATE_ENTERED = Source(
    "StateEnteredEventDetails - AWS Step Functions",
    "https://docs.aws.amazon.com/step-functions/latest/apireference/API_StateEnteredEventDetails.html",
    STORED,
)

SFN_EXECUTION_INPUT_BYTES = Limit(
    name="Step Functions StartExecution input",
    value=256 * KIB,
    unit="bytes (UTF-8)",
    error=AwsError(
        "states",
        "ValidationException",
        400,
        "1 validation error detected: Value at 'input' failed to satisfy constraint: "
        "Member must have length less than or equal to 262144",
    ),
    sources=(_SFN_EXECUTION_STARTED, _SFN_QUOTAS),
    enforced_by=(Enforcer.EMULATOR,),
    note="The API's length constraint (262,144, bytes in UTF-8); the error is the one AWS answers a "
    "modelled length constraint with, not quoted by the stored pages.",
)

SFN_TASK_OUTPUT_BYTES = Limit(
    name="Step Functions SendTaskSuccess output",
    value=256 * KIB,
    unit="bytes (UTF-8)",
    error=AwsError(
        "states",
        "ValidationException",
        400,
        "1 validation error detected: Value at 'output' failed to satisfy constraint: "
        "Member must have length less than or equal to 262144",
    ),
    sources=(
        Source(
            "SendTaskSuccess - AWS Step Functions",
            "https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html",
            NOT_FOUND,
        ),
        _SFN_QUOTAS,
    ),
    enforced_by=(Enforcer.EMULATOR,),
    note="The visit workflow's task tokens are answered with SendTaskSuccess.",
)

SFN_STATE_PAYLOAD_BYTES = Limit(
    name="Step Functions state or task input and output within an execution",
    value=256 * KIB,
    unit="bytes (UTF-8)",
    error=AwsError("states", "States.DataLimitExceeded", None),
    sources=(_SFN_STATE_ENTERED, _SFN_QUOTAS),
    enforced_by=(Enforcer.MOTO, Enforcer.EMULATOR),
    note="moto's interpreter fails the execution with States.DataLimitExceeded but refused a payload "
    "of exactly 262,144 bytes; the emulator lets it through, as the documented maximum length does.",
)

# --- EventBridge ----------------------------------------------------------------------------------

EVENTS_PUT_EVENTS_BYTES = Limit(
    name="EventBridge PutEvents entries in one request",
    value=1 * MIB,
    unit="bytes",
    error=AwsError(
        "events", "ValidationException", 400, "Total size of the entries in the request is over the limit."
    ),
    sources=(
        Source(
            "More room to build: serverless services now support payloads up to 1 MB (AWS Compute Blog)",
            "https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb",
            NOT_FOUND,
        ),
        Source(
            "Calculating Amazon EventBridge PutEvents event entry size",
            "https://docs.aws.amazon.com/AmazonCloudWatch/latest/events/CalculatePutEventsEntrySize.html",
            STORED,
        ),
    ),
    enforced_by=(Enforcer.EMULATOR,),
    note="Raised from 256 KB to 1 MB on 2026-01-29 (the blog, a stored web page, not documentation); "
    "the stored EventBridge documentation pages still say 256 KB. Entry size as the sizing page "
    "counts it: Time 14 bytes, Source, DetailType, Detail and each Resources entry in UTF-8, summed "
    "over the request's entries. The error is not in the stored documentation.",
)

# --- SQS ------------------------------------------------------------------------------------------

SQS_MESSAGE_BYTES = Limit(
    name="SQS message size (body and attributes)",
    value=1 * MIB,
    unit="bytes",
    error=AwsError(
        "sqs",
        "InvalidParameterValue",
        400,
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
    ),
    sources=(
        Source(
            "messageBody (AWS SDK for Kotlin, SQS SendMessageRequest)",
            "https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/sqs/aws.sdk.kotlin.services.sqs.model/"
            "-send-message-request/message-body.html",
            STORED,
        ),
    ),
    enforced_by=(Enforcer.MOTO, Enforcer.EMULATOR),
    note="Raised from 256 KiB to 1 MiB (AWS Compute Blog, 2026-01-29, under EventBridge). moto 5.2.5 "
    "has the new value as the default "
    "MaximumMessageSize but counts characters of the body alone, the emulator UTF-8 bytes of the "
    "body and the message attributes.",
)

# --- Lambda ---------------------------------------------------------------------------------------

_LAMBDA_INVOKE = Source(
    "Invoke - AWS Lambda", "https://docs.aws.amazon.com/lambda/latest/dg//API_Invoke.html", STORED
)
_REQUEST_TOO_LARGE = AwsError(
    "lambda",
    "RequestTooLargeException",
    413,
    "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
)

LAMBDA_SYNC_REQUEST_BYTES = Limit(
    name="Lambda synchronous invocation request payload",
    value=6 * MIB,
    unit="bytes",
    error=_REQUEST_TOO_LARGE,
    sources=(_LAMBDA_INVOKE,),
    enforced_by=(Enforcer.EMULATOR, Enforcer.LAMBDAS),
    note="The emulator refuses it on Lambda's Invoke API (Step Functions' Lambda tasks, SDK calls); "
    "local.lambdas refuses the events it delivers itself (API Gateway proxy events), and the gateway "
    "stand-in answers that 500 Internal server error, as a proxy integration answers any invoke "
    "Lambda refused (unverified for this case). Through API Gateway the ceiling is lower in "
    "practice: a binary body is proxied base64-encoded inside the JSON event, so 6 MiB of event "
    "carries at most 4.5 MiB (6,291,456 x 3/4 = 4,718,592 bytes) of body, less the event's "
    "headers and request context.",
)

LAMBDA_SYNC_RESPONSE_BYTES = Limit(
    name="Lambda synchronous invocation response payload",
    value=6 * MIB,
    unit="bytes",
    error=AwsError(
        "lambda",
        "Function.ResponseSizeTooLarge",
        200,
        "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    ),
    sources=(_LAMBDA_INVOKE,),
    enforced_by=(Enforcer.EMULATOR, Enforcer.LAMBDAS),
    note="Not an HTTP error: Invoke answers 200 with X-Amz-Function-Error: Unhandled and the error "
    "as the payload. moto 5.2.5 compared sys.getsizeof(payload) with 6,000,000, refusing responses "
    "under 6 MiB; the emulator compares the payload's length with 6,291,456, and local.lambdas "
    "does the same on its own paths (API Gateway, whose proxied binary responses are base64 too).",
)

LAMBDA_ASYNC_REQUEST_BYTES = Limit(
    name="Lambda asynchronous invocation request payload",
    value=1 * MIB,
    unit="bytes",
    error=AwsError(
        "lambda",
        "RequestTooLargeException",
        413,
        "Request must be smaller than 1048576 bytes for the InvokeFunction operation",
    ),
    sources=(_LAMBDA_INVOKE,),
    enforced_by=(Enforcer.EMULATOR, Enforcer.LAMBDAS),
    note="Raised from 256 KB to 1 MB (AWS Compute Blog, 2026-01-29, under EventBridge); the stored "
    "Invoke page says 1 MB. local.lambdas refuses the asynchronous invokes it delivers itself; an "
    "EventBridge target cannot exceed it, PutEvents' own entry limit being the same.",
)

# --- API Gateway ----------------------------------------------------------------------------------

APIGW_INTEGRATION_TIMEOUT = Limit(
    name="API Gateway REST API integration timeout",
    value=29,
    unit="seconds",
    error=AwsError("apigateway", "INTEGRATION_TIMEOUT", 504, "Endpoint request timed out"),
    sources=(
        Source(
            "Amazon API Gateway integration timeout limit increase beyond 29 seconds",
            "https://aws.amazon.com/about-aws/whats-new/2024/06/amazon-api-gateway-integration-timeout-limit-29-seconds/",
            STORED,
        ),
        Source(
            "Gateway response types for API Gateway",
            "https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html",
            STORED,
        ),
    ),
    enforced_by=(Enforcer.GATEWAY,),
    note="The default; Regional and private REST APIs may raise it by a quota request. The gateway "
    "stand-in waits INTEGRATION_TIMEOUT_S = 29 s.",
)

APIGW_PAYLOAD_BYTES = Limit(
    name="API Gateway REST API payload size",
    value=10 * MIB,
    unit="bytes",
    error=AwsError("apigateway", "REQUEST_TOO_LARGE", 413, "Request Too Long"),
    sources=(
        Source(
            "Quotas for configuring and running a REST API in API Gateway",
            "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html",
            NOT_FOUND,
        ),
        Source(
            "Quotas for configuring and running an HTTP API in API Gateway",
            "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html",
            STORED,
        ),
    ),
    enforced_by=(Enforcer.GATEWAY,),
    note="The stored REST quotas page is cut off before its payload row; the stored HTTP API page "
    "says 10 MB. The gateway stand-in refuses a larger body unread; with a Lambda proxy "
    "integration the Lambda limits above bind first.",
)

# --- Chime SDK ------------------------------------------------------------------------------------

CHIME_ATTENDEES_PER_MEETING = Limit(
    name="Chime SDK attendees per meeting",
    value=250,
    unit="attendees",
    error=AwsError("chime-sdk-meetings", "LimitExceededException", 400),
    sources=(
        Source(
            "AttendeeFeatures - Amazon Chime SDK",
            "https://docs.aws.amazon.com/chime-sdk/latest/APIReference/API_meeting-chime_AttendeeFeatures.html",
            STORED,
        ),
    ),
    enforced_by=(Enforcer.CHIME_STANDIN,),
    note="25 when the meeting asks for FHD video or UHD content. A visit has two or three attendees; "
    "the stand-in refuses the 251st with LimitExceededException (the error code is from the "
    "CreateAttendee API reference, not in the stored pages).",
)

CHIME_BATCH_CREATE_ATTENDEES = Limit(
    name="Chime SDK BatchCreateAttendee attendees per call",
    value=100,
    unit="attendees",
    error=AwsError("chime-sdk-meetings", "BadRequestException", 400),
    sources=(
        Source(
            "BatchCreateAttendee - Amazon Chime SDK",
            "https://docs.aws.amazon.com/goto/WebAPI/chime-sdk-meetings-2021-07-15/BatchCreateAttendee",
            STORED,
        ),
    ),
    enforced_by=(Enforcer.NOT_REACHABLE,),
    note="The platform creates attendees one at a time with CreateAttendee.",
)

# --- HealthLake -----------------------------------------------------------------------------------

_HEALTHLAKE_QUOTAS = Source(
    "AWS HealthLake endpoints and quotas",
    "https://docs.aws.amazon.com/healthlake/latest/devguide/quotas.html",
    STORED,
)

HEALTHLAKE_MEDICAL_NOTE_CHARACTERS = Limit(
    name="HealthLake characters in a medical note (DocumentReference POST/PUT)",
    value=10_000,
    unit="characters",
    error=AwsError("healthlake", "OperationOutcome", 400),
    sources=(_HEALTHLAKE_QUOTAS,),
    enforced_by=(Enforcer.NOT_REACHABLE,),
    note="The platform writes no DocumentReference yet. When the scribe's signed notes become "
    "DocumentReferences, the HealthLake stand-in must refuse longer notes. The error shape is not "
    "in the stored documentation.",
)

HEALTHLAKE_BUNDLE_RESOURCES = Limit(
    name="HealthLake resources per bundle request",
    value=160,
    unit="resources",
    error=AwsError("healthlake", "OperationOutcome", 400),
    sources=(_HEALTHLAKE_QUOTAS,),
    enforced_by=(Enforcer.NOT_REACHABLE,),
    note="HealthLakeFhirStore.transaction exists but nothing calls it; every projection writes one "
    "resource per request. The error shape is not in the stored documentation. The stand-in is "
    "stricter than HealthLake here: Medplum refuses a transaction of more than 50 updates (its "
    "`maxUpdates`), which HealthLake takes; a caller of transactions must lift that first.",
)


LIMITS: tuple[Limit, ...] = (
    DYNAMODB_TRANSACTION_ACTIONS,
    DYNAMODB_TRANSACTION_BYTES,
    DYNAMODB_ITEM_BYTES,
    DYNAMODB_TRANSACTION_ITEM_BYTES,
    DYNAMODB_TRANSACTION_SAME_ITEM,
    DYNAMODB_BATCH_WRITE_REQUESTS,
    SFN_EXECUTION_INPUT_BYTES,
    SFN_TASK_OUTPUT_BYTES,
    SFN_STATE_PAYLOAD_BYTES,
    EVENTS_PUT_EVENTS_BYTES,
    SQS_MESSAGE_BYTES,
    LAMBDA_SYNC_REQUEST_BYTES,
    LAMBDA_SYNC_RESPONSE_BYTES,
    LAMBDA_ASYNC_REQUEST_BYTES,
    APIGW_INTEGRATION_TIMEOUT,
    APIGW_PAYLOAD_BYTES,
    CHIME_ATTENDEES_PER_MEETING,
    CHIME_BATCH_CREATE_ATTENDEES,
    HEALTHLAKE_MEDICAL_NOTE_CHARACTERS,
    HEALTHLAKE_BUNDLE_RESOURCES,
)
