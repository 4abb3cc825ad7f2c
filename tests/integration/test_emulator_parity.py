"""moto as the local emulator patches it, held against what AWS does: limits refused with AWS's
error just over them and let through at them, stream records only for writes that happened,
scheduled rules that fire on their schedule alone, executions aborted whenever a stop lands, and
no errors under concurrent requests.

One moto server for the module, on loopback, after `apply_aws_parity` (the patches are
process-wide, as in the platform). Everything is created in a region no tenant lives in, because
the platform's own emulator may share this process and moto's state.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra import limits
from infra.limits import Enforcer, Limit
from local.emulator import ACCOUNT, item_size
from tests.integration.conftest import REGION, MotoServer

TABLE = "parity"


@pytest.fixture(scope="module", autouse=True)
def parity_table(emulator: MotoServer) -> None:
    create_table(emulator, TABLE)


def create_table(emulator: MotoServer, name: str, *, stream: bool = False) -> None:
    """The clinic table's key design (infra.topology.CLINIC_TABLE), one index."""
    emulator.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gsi1pk")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=(
            {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
            if stream
            else {"StreamEnabled": False}
        ),
    )


def zipped_handler() -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return code.getvalue()


def create_function(emulator: MotoServer) -> str:
    name = f"parity-{uuid.uuid4().hex[:12]}"
    role = emulator.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    emulator.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": zipped_handler()},
    )
    return name


def refused(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def aws_error(limit: Limit) -> tuple[str, int | None]:
    return limit.error.code, limit.error.http_status


# --- the table itself ------------------------------------------------------------------------------


def test_every_limit_has_a_value_an_error_a_checked_source_and_an_enforcer() -> None:
    assert len({limit.name for limit in limits.LIMITS}) == len(limits.LIMITS)
    for limit in limits.LIMITS:
        assert limit.value > 0 and limit.unit, limit.name
        assert limit.error.service and limit.error.code, limit.name
        assert limit.sources, limit.name
        for source in limit.sources:
            assert source.title and source.url.startswith("https://"), limit.name
            assert limits.CHECKED in source.checked, limit.name
            assert source.checked in (limits.STORED, limits.NOT_FOUND), limit.name
        assert limit.enforced_by, limit.name
        if Enforcer.NOT_REACHABLE in limit.enforced_by:
            assert limit.enforced_by == (Enforcer.NOT_REACHABLE,) and limit.note, f"{limit.name}: say why"


# --- DynamoDB limits -------------------------------------------------------------------------------


def item(pk: str, size: int, sk: str = "s") -> dict[str, Any]:
    """An item of exactly `size` bytes as DynamoDB counts them."""
    keys = {"pk": {"S": pk}, "sk": {"S": sk}}
    filler = size - item_size(keys) - len("data")
    assert filler >= 0
    return {**keys, "data": {"S": "x" * filler}}


def put(pk: str, size: int = 64, table: str = TABLE) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": item(pk, size)}}


def test_a_transaction_of_100_actions_is_written_and_one_of_101_is_refused(emulator: MotoServer) -> None:
    ddb, run = emulator.client("dynamodb"), uuid.uuid4().hex
    limit = limits.DYNAMODB_TRANSACTION_ACTIONS.value
    ddb.transact_write_items(TransactItems=[put(f"{run}-{i}") for i in range(limit)])
    assert refused(
        lambda: ddb.transact_write_items(TransactItems=[put(f"{run}-more-{i}") for i in range(limit + 1)])
    ) == aws_error(limits.DYNAMODB_TRANSACTION_ACTIONS)


def test_a_transaction_of_4_mib_is_written_and_one_byte_more_is_refused(emulator: MotoServer) -> None:
    ddb, run = emulator.client("dynamodb"), uuid.uuid4().hex
    largest, total = limits.DYNAMODB_ITEM_BYTES.value, limits.DYNAMODB_TRANSACTION_BYTES.value
    sizes = [largest] * (total // largest) + [total % largest]
    assert sum(sizes) == total
    ddb.transact_write_items(TransactItems=[put(f"{run}-{i}", s) for i, s in enumerate(sizes)])
    sizes[-1] += 1
    assert refused(
        lambda: ddb.transact_write_items(
            TransactItems=[put(f"{run}-more-{i}", s) for i, s in enumerate(sizes)]
        )
    ) == aws_error(limits.DYNAMODB_TRANSACTION_BYTES)


def test_an_item_of_400_kib_is_stored_and_one_byte_more_is_refused(emulator: MotoServer) -> None:
    ddb, run = emulator.client("dynamodb"), uuid.uuid4().hex
    limit = limits.DYNAMODB_ITEM_BYTES.value
    ddb.put_item(TableName=TABLE, Item=item(run, limit))
    assert refused(lambda: ddb.put_item(TableName=TABLE, Item=item(f"{run}-more", limit + 1))) == aws_error(
        limits.DYNAMODB_ITEM_BYTES
    )
    grown = item(f"{run}-grown", limit)
    ddb.put_item(TableName=TABLE, Item={**grown, "data": {"S": ""}})
    key = {"pk": grown["pk"], "sk": grown["sk"]}
    ddb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": grown["data"]},
    )
    assert refused(
        lambda: ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET more = :m",
            ExpressionAttributeValues={":m": {"BOOL": True}},
        )
    ) == aws_error(limits.DYNAMODB_ITEM_BYTES)


def test_a_transaction_putting_an_item_over_400_kib_is_cancelled_for_that_item(emulator: MotoServer) -> None:
    ddb, run = emulator.client("dynamodb"), uuid.uuid4().hex
    limit = limits.DYNAMODB_TRANSACTION_ITEM_BYTES.value
    ddb.transact_write_items(TransactItems=[put(f"{run}-a"), put(f"{run}-b", limit)])
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=[put(f"{run}-c"), put(f"{run}-d", limit + 1)])
    response = caught.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == aws_error(
        limits.DYNAMODB_TRANSACTION_ITEM_BYTES
    )
    assert [r["Code"] for r in response["CancellationReasons"]] == ["None", "ValidationError"]
    assert "Item" not in ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"{run}-c"}, "sk": {"S": "s"}})


def test_two_actions_on_one_item_in_a_transaction_are_refused(emulator: MotoServer) -> None:
    ddb, run = emulator.client("dynamodb"), uuid.uuid4().hex
    ddb.transact_write_items(TransactItems=[put(f"{run}-a"), put(f"{run}-b")])
    check = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"pk": {"S": f"{run}-c"}, "sk": {"S": "s"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    assert refused(lambda: ddb.transact_write_items(TransactItems=[put(f"{run}-c"), check])) == aws_error(
        limits.DYNAMODB_TRANSACTION_SAME_ITEM
    )


def test_a_batch_write_of_25_requests_is_written_and_one_of_26_is_refused(emulator: MotoServer) -> None:
    ddb, run = emulator.client("dynamodb"), uuid.uuid4().hex
    limit = limits.DYNAMODB_BATCH_WRITE_REQUESTS.value

    def batch(count: int) -> dict[str, Any]:
        return {TABLE: [{"PutRequest": {"Item": item(f"{run}-{count}-{i}", 64)}} for i in range(count)]}

    assert ddb.batch_write_item(RequestItems=batch(limit))["UnprocessedItems"] == {}
    assert refused(lambda: ddb.batch_write_item(RequestItems=batch(limit + 1))) == aws_error(
        limits.DYNAMODB_BATCH_WRITE_REQUESTS
    )


# --- Step Functions limits -------------------------------------------------------------------------


def json_of(size: int) -> str:
    """A JSON document of exactly `size` bytes."""
    return json.dumps({"d": "x" * (size - len(json.dumps({"d": ""})))})


def state_machine(emulator: MotoServer, states: dict[str, Any], start: str) -> str:
    arn: str = emulator.client("stepfunctions").create_state_machine(
        name=f"parity-{uuid.uuid4().hex[:12]}",
        definition=json.dumps({"StartAt": start, "States": states}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/parity",
    )["stateMachineArn"]
    return arn


def finished(emulator: MotoServer, execution_arn: str) -> dict[str, Any]:
    sfn, deadline = emulator.client("stepfunctions"), time.monotonic() + 10
    while True:
        execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING" or time.monotonic() > deadline:
            return execution
        time.sleep(0.05)


def test_an_execution_input_of_256_kib_starts_and_one_byte_more_is_refused(emulator: MotoServer) -> None:
    sfn, limit = emulator.client("stepfunctions"), limits.SFN_EXECUTION_INPUT_BYTES.value
    arn = state_machine(emulator, {"Done": {"Type": "Succeed"}}, "Done")
    started = sfn.start_execution(stateMachineArn=arn, input=json_of(limit))
    assert finished(emulator, started["executionArn"])["status"] == "SUCCEEDED"
    assert refused(lambda: sfn.start_execution(stateMachineArn=arn, input=json_of(limit + 1))) == aws_error(
        limits.SFN_EXECUTION_INPUT_BYTES
    )


def test_a_task_output_over_256_kib_is_refused_for_its_size(emulator: MotoServer) -> None:
    sfn, limit = emulator.client("stepfunctions"), limits.SFN_TASK_OUTPUT_BYTES.value
    # No task waits on this token: at the limit the answer is about the token, not the size.
    token = uuid.uuid4().hex
    assert refused(lambda: sfn.send_task_success(taskToken=token, output=json_of(limit)))[0] != (
        limits.SFN_TASK_OUTPUT_BYTES.error.code
    )
    assert refused(lambda: sfn.send_task_success(taskToken=token, output=json_of(limit + 1))) == aws_error(
        limits.SFN_TASK_OUTPUT_BYTES
    )


def test_a_state_carrying_256_kib_runs_and_one_byte_more_fails_the_execution(emulator: MotoServer) -> None:
    sfn, limit = emulator.client("stepfunctions"), limits.SFN_STATE_PAYLOAD_BYTES.value

    def run(size: int) -> dict[str, Any]:
        arn = state_machine(
            emulator,
            {
                "Grow": {"Type": "Pass", "Result": json.loads(json_of(size)), "Next": "Carry"},
                "Carry": {"Type": "Pass", "End": True},
            },
            "Grow",
        )
        return finished(emulator, sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"])

    assert run(limit)["status"] == "SUCCEEDED"
    failed = run(limit + 1)
    assert (failed["status"], failed.get("error")) == ("FAILED", limits.SFN_STATE_PAYLOAD_BYTES.error.code)


# --- a stopped execution is aborted, whenever the stop lands ---------------------------------------


LINGERING = {
    "First": {"Type": "Pass", "Next": "Linger"},
    "Linger": {"Type": "Wait", "Seconds": 30, "End": True},
}


@contextmanager
def held_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, state_machine_arn: str, *, until: str = "environment"
) -> Iterator[None]:
    """The state machine's executions stay just after StartExecution until the block is done:
    before their thread has built their environment (`until="environment"`), or after it but
    before their program has started (`until="program"`). What a request meets in the instant
    after another's start."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    done = threading.Event()
    step = {"environment": "_get_evaluation_entrypoint", "program": "_get_evaluation_environment"}[until]
    original = getattr(ExecutionWorker, step)

    def held(worker: ExecutionWorker) -> Any:
        ours = worker._evaluation_details.state_machine_details.arn == state_machine_arn
        if ours and until == "environment":
            done.wait(timeout=10)
        built = original(worker)
        if ours and until == "program":
            done.wait(timeout=10)
        return built

    monkeypatch.setattr(ExecutionWorker, step, held)
    try:
        yield
    finally:
        done.set()


@pytest.mark.parametrize("until", ["environment", "program"])
def test_an_execution_stopped_before_its_first_state_is_aborted_and_runs_none(
    emulator: MotoServer, monkeypatch: pytest.MonkeyPatch, until: str
) -> None:
    sfn = emulator.client("stepfunctions")
    arn = state_machine(emulator, LINGERING, "First")
    # A restart stopping a lifecycle it had just started.
    with held_before_it_starts(monkeypatch, arn, until=until):
        execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        sfn.stop_execution(executionArn=execution, error="Restart", cause="stopped at once")

    def history() -> list[str]:
        return [event["type"] for event in sfn.get_execution_history(executionArn=execution)["events"]]

    deadline = time.monotonic() + 10
    while history()[-1:] != ["ExecutionAborted"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the execution's thread writes its history after the stop is answered
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], described.get("error"), described.get("cause")) == (
        "ABORTED",
        "Restart",
        "stopped at once",
    )
    assert history() == ["ExecutionStarted", "ExecutionAborted"]


def test_a_task_token_resumes_its_execution_while_another_is_starting(
    emulator: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sfn, sqs = emulator.client("stepfunctions"), emulator.client("sqs")
    # The service integration calls moto at MOTO_PORT, as the platform configures it.
    monkeypatch.setenv("MOTO_PORT", emulator.url.rsplit(":", 1)[1])
    queue = sqs.create_queue(QueueName=f"parity-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    # Created first, so that its executions are looked in first.
    starting = state_machine(emulator, LINGERING, "First")
    waiting = state_machine(
        emulator,
        {
            "Await": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        },
        "Await",
    )
    resumed = sfn.start_execution(stateMachineArn=waiting, input="{}")["executionArn"]
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    token = json.loads(messages[0]["Body"])["token"]

    with held_before_it_starts(monkeypatch, starting):
        other = sfn.start_execution(stateMachineArn=starting, input="{}")["executionArn"]
        sfn.send_task_success(taskToken=token, output=json.dumps({"admitted": True}))
    assert finished(emulator, resumed)["status"] == "SUCCEEDED"
    sfn.stop_execution(executionArn=other)


# --- EventBridge, SQS and Lambda limits ------------------------------------------------------------


def test_put_events_of_1_mib_is_accepted_and_one_byte_more_is_refused(emulator: MotoServer) -> None:
    events, limit = emulator.client("events"), limits.EVENTS_PUT_EVENTS_BYTES.value

    def entry(size: int) -> dict[str, str]:
        # Source and DetailType count, as EventBridge sizes an entry.
        return {"Source": "parity", "DetailType": "Sized", "Detail": json_of(size - len("parity" + "Sized"))}

    assert events.put_events(Entries=[entry(limit // 2), entry(limit // 2)])["FailedEntryCount"] == 0
    assert refused(
        lambda: events.put_events(Entries=[entry(limit // 2), entry(limit // 2 + 1)])
    ) == aws_error(limits.EVENTS_PUT_EVENTS_BYTES)


def test_an_sqs_message_of_1_mib_is_sent_and_one_byte_more_is_refused(emulator: MotoServer) -> None:
    sqs, limit = emulator.client("sqs"), limits.SQS_MESSAGE_BYTES.value
    url = sqs.create_queue(QueueName=f"parity-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * limit)
    # Bytes, not characters; attributes included.
    over_in_bytes = "é" + "x" * (limit - 1)
    assert refused(lambda: sqs.send_message(QueueUrl=url, MessageBody=over_in_bytes)) == aws_error(
        limits.SQS_MESSAGE_BYTES
    )
    attribute = {"k": {"DataType": "String", "StringValue": "v"}}
    assert refused(
        lambda: sqs.send_message(QueueUrl=url, MessageBody="x" * (limit - 7), MessageAttributes=attribute)
    ) == aws_error(limits.SQS_MESSAGE_BYTES)


@pytest.fixture(scope="module")
def function(emulator: MotoServer) -> Iterator[tuple[str, list[bytes]]]:
    """A function whose responses the test sets, in this region's Lambda backend alone."""
    from moto.awslambda.utils import get_backend

    name = create_function(emulator)
    responses: list[bytes] = []
    backend = get_backend(ACCOUNT, REGION)

    def invoke(function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        return responses.pop(0) if responses else b"{}"

    # On this region's backend only: the platform's Lambda, patched to its dispatcher, stays as is.
    backend.invoke = invoke  # type: ignore[method-assign]
    try:
        yield name, responses
    finally:
        del backend.invoke


def test_a_synchronous_invoke_of_6_mib_is_run_and_one_byte_more_is_refused(
    emulator: MotoServer, function: tuple[str, list[bytes]]
) -> None:
    awslambda, (name, _) = emulator.client("lambda"), function
    limit = limits.LAMBDA_SYNC_REQUEST_BYTES.value
    assert awslambda.invoke(FunctionName=name, Payload=json_of(limit))["StatusCode"] == 200
    assert refused(lambda: awslambda.invoke(FunctionName=name, Payload=json_of(limit + 1))) == aws_error(
        limits.LAMBDA_SYNC_REQUEST_BYTES
    )


def test_an_asynchronous_invoke_of_1_mib_is_queued_and_one_byte_more_is_refused(
    emulator: MotoServer, function: tuple[str, list[bytes]]
) -> None:
    awslambda, (name, _) = emulator.client("lambda"), function
    limit = limits.LAMBDA_ASYNC_REQUEST_BYTES.value
    assert (
        awslambda.invoke(FunctionName=name, InvocationType="Event", Payload=json_of(limit))["StatusCode"]
        == 202
    )
    assert refused(
        lambda: awslambda.invoke(FunctionName=name, InvocationType="Event", Payload=json_of(limit + 1))
    ) == aws_error(limits.LAMBDA_ASYNC_REQUEST_BYTES)


def test_a_response_of_6_mib_is_returned_and_one_byte_more_is_a_function_error(
    emulator: MotoServer, function: tuple[str, list[bytes]]
) -> None:
    awslambda, (name, responses) = emulator.client("lambda"), function
    limit = limits.LAMBDA_SYNC_RESPONSE_BYTES.value
    responses[:] = [json_of(limit).encode(), json_of(limit + 1).encode()]
    returned = awslambda.invoke(FunctionName=name, Payload="{}")
    assert "FunctionError" not in returned and len(returned["Payload"].read()) == limit
    too_large = awslambda.invoke(FunctionName=name, Payload="{}")
    assert too_large["StatusCode"] == limits.LAMBDA_SYNC_RESPONSE_BYTES.error.http_status
    assert too_large["FunctionError"] == "Unhandled"
    assert (
        json.loads(too_large["Payload"].read())["errorType"] == limits.LAMBDA_SYNC_RESPONSE_BYTES.error.code
    )


def test_every_limit_moto_or_the_emulator_enforces_is_tested_here() -> None:
    tested = {
        limits.DYNAMODB_TRANSACTION_ACTIONS,
        limits.DYNAMODB_TRANSACTION_BYTES,
        limits.DYNAMODB_ITEM_BYTES,
        limits.DYNAMODB_TRANSACTION_ITEM_BYTES,
        limits.DYNAMODB_TRANSACTION_SAME_ITEM,
        limits.DYNAMODB_BATCH_WRITE_REQUESTS,
        limits.SFN_EXECUTION_INPUT_BYTES,
        limits.SFN_TASK_OUTPUT_BYTES,
        limits.SFN_STATE_PAYLOAD_BYTES,
        limits.EVENTS_PUT_EVENTS_BYTES,
        limits.SQS_MESSAGE_BYTES,
        limits.LAMBDA_SYNC_REQUEST_BYTES,
        limits.LAMBDA_SYNC_RESPONSE_BYTES,
        limits.LAMBDA_ASYNC_REQUEST_BYTES,
    }
    ours = {Enforcer.MOTO, Enforcer.EMULATOR}
    assert {limit for limit in limits.LIMITS if ours & set(limit.enforced_by)} == tested


# --- stream records only for writes that happened ---------------------------------------------------


@dataclass
class Stream:
    table: str
    # What the table's event source mapping hands its function: (event, pk) per record, a list
    # per batch.
    batches: list[list[tuple[str, str]]]


@pytest.fixture
def stream(emulator: MotoServer) -> Iterator[Stream]:
    """A table with a stream and a mapping to a function, deliveries recorded on this region's
    Lambda backend alone."""
    from moto.awslambda.utils import get_backend

    table = f"parity-stream-{uuid.uuid4().hex[:12]}"
    create_table(emulator, table, stream=True)
    arn = emulator.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    emulator.client("lambda").create_event_source_mapping(
        FunctionName=create_function(emulator), EventSourceArn=arn, StartingPosition="TRIM_HORIZON"
    )
    recorded = Stream(table, [])
    backend = get_backend(ACCOUNT, REGION)

    def send_dynamodb_items(function_arn: str, items: Any, source: str) -> str:
        records = [i.to_json() for i in items]
        recorded.batches.append([(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records])
        return "consumed"  # moto empties its buffer for any answer

    backend.send_dynamodb_items = send_dynamodb_items  # type: ignore[method-assign]
    try:
        yield recorded
    finally:
        del backend.send_dynamodb_items


def test_a_cancelled_transaction_reaches_no_stream_consumer(emulator: MotoServer, stream: Stream) -> None:
    ddb, table = emulator.client("dynamodb"), stream.table
    ddb.put_item(TableName=table, Item=item("slot", 64))
    stream.batches.clear()
    taken = put("slot", table=table)
    taken["Put"]["ConditionExpression"] = "attribute_not_exists(pk)"
    assert refused(lambda: ddb.transact_write_items(TransactItems=[put("outbox", table=table), taken]))[
        0
    ] == ("TransactionCanceledException")
    assert stream.batches == []
    ddb.transact_write_items(TransactItems=[put("outbox", table=table), put("booking", table=table)])
    assert stream.batches == [[("INSERT", "outbox"), ("INSERT", "booking")]]


def test_a_failed_write_emits_nothing_and_an_update_creating_its_item_emits_one_insert(
    emulator: MotoServer, stream: Stream
) -> None:
    ddb, table = emulator.client("dynamodb"), stream.table
    ddb.put_item(TableName=table, Item=item("visit", 64))
    stream.batches.clear()
    assert (
        refused(
            lambda: ddb.put_item(
                TableName=table, Item=item("visit", 64), ConditionExpression="attribute_not_exists(pk)"
            )
        )[0]
        == "ConditionalCheckFailedException"
    )
    assert stream.batches == []

    key = {"pk": {"S": "reminder"}, "sk": {"S": "s"}}
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET reminder_status = :s",
        ExpressionAttributeValues={":s": {"S": "due"}},
    )
    assert stream.batches == [[("INSERT", "reminder")]]
    stream.batches.clear()

    # An update creating an item too large to store: nothing emitted, nothing left behind.
    grown = {"pk": {"S": "big"}, "sk": {"S": "s"}}
    assert (
        refused(
            lambda: ddb.update_item(
                TableName=table,
                Key=grown,
                UpdateExpression="SET big = :b",
                ExpressionAttributeValues={":b": {"S": "x" * limits.DYNAMODB_ITEM_BYTES.value}},
            )
        )[0]
        == "ValidationException"
    )
    assert stream.batches == []
    assert "Item" not in ddb.get_item(TableName=table, Key=grown)


# --- rules fire as EventBridge fires them ------------------------------------------------------------


def test_a_scheduled_rule_and_a_disabled_rule_match_no_event(emulator: MotoServer) -> None:
    events, sqs, run = emulator.client("events"), emulator.client("sqs"), uuid.uuid4().hex[:12]
    queues = {}
    for name in ("scheduled", "disabled", "both", "pattern"):
        url = sqs.create_queue(QueueName=f"{name}-{run}")["QueueUrl"]
        queues[name] = (
            url,
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
        )
    chime = json.dumps({"source": ["aws.chime"]})
    rules: dict[str, dict[str, Any]] = {
        "scheduled": {"ScheduleExpression": "rate(1 minute)"},
        "disabled": {"EventPattern": chime, "State": "DISABLED"},
        "both": {"ScheduleExpression": "rate(1 minute)", "EventPattern": chime},
        "pattern": {"EventPattern": chime},
    }
    for name, rule in rules.items():
        events.put_rule(Name=f"{name}-{run}", **rule)
        events.put_targets(Rule=f"{name}-{run}", Targets=[{"Id": name, "Arn": queues[name][1]}])

    events.put_events(
        Entries=[
            {
                "Source": "aws.chime",
                "DetailType": "Chime Meeting State Change",
                "Detail": json.dumps({"run": run}),
            }
        ]
    )

    def received(name: str) -> int:
        return len(sqs.receive_message(QueueUrl=queues[name][0], MaxNumberOfMessages=10).get("Messages", []))

    assert {name: received(name) for name in rules} == {
        "scheduled": 0,
        "disabled": 0,
        "both": 1,
        "pattern": 1,
    }
    for name in rules:
        events.remove_targets(Rule=f"{name}-{run}", Ids=[name])
        events.delete_rule(Name=f"{name}-{run}")


# --- no errors under concurrent requests -----------------------------------------------------------

HAMMER_S = 3.0
HAMMER_CAP_S = 30.0  # a slow machine keeps hammering until every outcome has been seen, up to this
SLOTS = 6  # few enough that bookings collide however slowly the emulator answers


def test_concurrent_transactions_queries_and_reads_get_no_server_errors(emulator: MotoServer) -> None:
    ddb, run, table = emulator.client("dynamodb"), uuid.uuid4().hex, f"parity-busy-{uuid.uuid4().hex[:12]}"
    create_table(emulator, table)
    failures: list[str] = []
    answered = {"written": 0, "cancelled": 0, "read": 0}
    lock = threading.Lock()
    started = time.monotonic()

    def hammering() -> bool:
        elapsed = time.monotonic() - started
        with lock:
            every_outcome = all(answered.values())
        return elapsed < HAMMER_S or (not every_outcome and elapsed < HAMMER_CAP_S)

    def count(outcome: str) -> None:
        with lock:
            answered[outcome] += 1

    def booking(worker: int) -> None:
        while hammering():
            slot = str(int(time.monotonic() * 100) % SLOTS)  # racing for a handful of slots
            outbox = {"pk": {"S": f"{run}-outbox-{uuid.uuid4().hex}"}, "sk": {"S": "o"}, "gsi1pk": {"S": run}}
            claim = {"pk": {"S": f"{run}-slot"}, "sk": {"S": slot}, "gsi1pk": {"S": run}}
            try:
                ddb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": table, "Item": outbox}},
                        {
                            "Put": {
                                "TableName": table,
                                "Item": claim,
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
                count("written")
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    failures.append(f"transaction: {error}")
                else:
                    count("cancelled")

    def reading(worker: int) -> None:
        while hammering():
            # Reads of absent partitions: the kind that made moto change a table being copied.
            for _ in range(3):
                ddb.get_item(
                    TableName=table, Key={"pk": {"S": f"{run}-{uuid.uuid4().hex}"}, "sk": {"S": "s"}}
                )
            ddb.query(
                TableName=table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :p",
                ExpressionAttributeValues={":p": {"S": run}},
                Limit=25,
            )
            count("read")

    def guarded(work: Callable[[int], None], worker: int) -> None:
        try:
            work(worker)
        except Exception as error:  # a 5xx or a dropped connection: the test's finding
            failures.append(f"{work.__name__}: {error!r}")

    threads = [
        threading.Thread(target=guarded, args=(booking if i % 2 else reading, i), name=f"hammer-{i}")
        for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], f"{len(failures)} failures, first: {failures[:3]}"
    assert answered["written"] and answered["cancelled"] and answered["read"], answered
