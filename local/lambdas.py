"""Lambda, locally: invocations reach the functions' execution environments with Lambda's own
semantics.

Each function has environments of its own (processes forked from the tenant's function host, see
`local.function_host`): an idle one takes the next invocation, a new one starts while all are
busy, up to the function's reserved concurrency. Past it, a synchronous invoke is throttled
(`TooManyRequestsException`) and an asynchronous one waits, as Lambda queues it. A handler that
outlives the function's timeout is stopped with its environment, as Lambda does.

A synchronous invoke returns the handler's result, or Lambda's error shape with the
`X-Amz-Function-Error` header. An asynchronous invoke (EventBridge targets, `InvocationType=Event`)
is retried twice after a failure, then sent to the function's dead-letter queue with the
attributes Lambda sets. An EventBridge target that cannot be delivered at all (no such function)
is retried per the target's policy, then sent to the target's dead-letter queue. A DynamoDB
stream batch is retried, then described to the mapping's on-failure queue.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from infra import limits

# Lambda retries a failed asynchronous invocation twice (the event invoke config we set too).
ASYNC_RETRIES = 2
RETRY_DELAY_S = 0.2  # seconds, not minutes as in AWS: tests and the demo should not wait


@dataclass(frozen=True)
class Environment:
    url: str  # where it takes invocations
    pid: int  # the process, stopped when a handler outlives the timeout


class FunctionHostControl:
    """The platform's end of a tenant function host's control socket: asks it to fork an
    execution environment for a function and waits for where that environment listens."""

    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._lock = threading.Lock()
        # ticket -> (answered, [(status, port, pid)])
        self._waiting: dict[str, tuple[threading.Event, list[tuple[str, int, int]]]] = {}
        self._tickets = 0
        threading.Thread(target=self._read, name="function-host-control", daemon=True).start()

    def _ask(self, verb: str, key: str, extra: str, timeout_s: float) -> tuple[str, int, int] | None:
        with self._lock:
            self._tickets += 1
            ticket = str(self._tickets)
            done: tuple[threading.Event, list[tuple[str, int, int]]] = (threading.Event(), [])
            self._waiting[ticket] = done
            try:
                self._control.send(f"{verb} {key} {ticket}{extra}".encode())
            except OSError as error:  # the host is gone
                self._waiting.pop(ticket, None)
                raise FunctionUnreachableError(f"no function host for {key}") from error
        if not done[0].wait(timeout_s) or not done[1]:
            with self._lock:  # a late `ready` finds no ticket, and its environment is stopped
                self._waiting.pop(ticket, None)
            return None
        return done[1][0]

    def start(self, key: str, timeout_s: float = 30.0) -> Environment:
        answer = self._ask("spawn", key, "", timeout_s)
        if answer is None or answer[0] != "ready":
            raise FunctionUnreachableError(f"no execution environment for {key}")
        _, port, pid = answer
        return Environment(f"http://127.0.0.1:{port}/invoke", pid)

    def probe(self, key: str, host: str, port: int, timeout_s: float = 30.0) -> str:
        """Whether an execution environment of `key` may connect to host:port, asked of a process
        the host forks as it forks environments (the same settings, the same egress guard):
        `connected`, `refused` (the guard), `closed`, `unreachable`, or `unknown` (no such function)."""
        answer = self._ask("probe", key, f" {host} {port}", timeout_s)
        if answer is None:
            raise FunctionUnreachableError(f"no answer from the function host about {key}")
        return answer[0]

    def _read(self) -> None:
        while True:
            try:
                message = self._control.recv(256)
            except OSError:
                message = b""
            if not message:  # the host is gone: nobody waiting will be answered
                for event, _ in self._waiting.values():
                    event.set()
                return
            status, ticket, port, pid = message.decode().split()
            with self._lock:
                waiting = self._waiting.pop(ticket, None)
            if waiting is None:
                if status == "ready":  # asked for, then given up on: nobody will use it
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                continue
            event, found = waiting
            found.append((status, int(port), int(pid)))
            event.set()

    def close(self) -> None:
        self._control.close()


class Environments:
    """One function's execution environments, kept warm between invocations as Lambda keeps them."""

    def __init__(self, key: str, limit: int, host: FunctionHostControl) -> None:
        self.key, self.limit, self._host = key, limit, host
        self._idle: list[Environment] = []
        self._count = 0
        self._busy = 0
        self.peak = 0  # the most invocations that ran at once (tests reset it to watch a burst)
        self._changed = threading.Condition()

    def acquire(self, *, wait: bool) -> Environment:
        with self._changed:
            while not self._idle:
                if self._count < self.limit:
                    self._count += 1
                    break
                if not wait:
                    raise FunctionThrottledError(self.key)
                self._changed.wait()
            else:
                self._busy += 1
                self.peak = max(self.peak, self._busy)
                return self._idle.pop()
            self._busy += 1
            self.peak = max(self.peak, self._busy)
        try:
            return self._host.start(self.key)
        except Exception:
            self.discard()
            raise

    def release(self, environment: Environment) -> None:
        with self._changed:
            self._busy -= 1
            self._idle.append(environment)
            self._changed.notify()

    def discard(self) -> None:
        """An environment that is gone (stopped at its timeout, or dead): room for a new one."""
        with self._changed:
            self._busy -= 1
            self._count -= 1
            self._changed.notify()

    @property
    def started(self) -> int:
        return self._count


@dataclass(frozen=True)
class HostedFunction:
    name: str  # the deployed function name, telehealth-<tenant>-<key>
    key: str  # the topology key, what the host knows it by
    environments: Environments
    timeout_s: float  # the function's own timeout
    dlq_arn: str | None  # the function's own DLQ (asynchronous invocations)


class FunctionError(Exception):
    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage", "function error"))
        self.payload = payload


class FunctionTimeoutError(Exception):
    """The caller stopped waiting for the function."""


class FunctionUnreachableError(Exception):
    """The function does not exist or its host does not answer: a delivery failure."""


class FunctionThrottledError(Exception):
    """Every environment the reserved concurrency allows is busy (Lambda's 429)."""


class RequestTooLargeError(Exception):
    """The event is over Lambda's invocation payload limit (Lambda's 413): never delivered."""


@dataclass
class Invocation:
    payload: bytes
    function_error: bool
    handler_ms: float


# (queue ARN, message body, string message attributes)
SendToQueue = Callable[[str, str, dict[str, str]], None]


class LambdaDispatcher:
    """Routes invocations by function name (or ARN) to the function hosts."""

    def __init__(self, send_to_queue: SendToQueue) -> None:
        self._functions: dict[str, HostedFunction] = {}
        self._send_to_queue = send_to_queue
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lambda-async")
        self._lock = threading.Lock()
        # What asynchronous invocations completed, newest last: (function name, event). Events
        # carry ids only; stream batches are kept as their keys (never the item images).
        self.completed: deque[tuple[str, Any]] = deque(maxlen=500)
        # How many completed, per function, since the start (the window above forgets): an SQS
        # batch counts its messages.
        self.completions: Counter[str] = Counter()
        # Every invocation's function and handler time, newest last (the bench's GB-seconds).
        self.invocations: deque[tuple[str, float]] = deque(maxlen=100_000)
        # What the table's stream carried, newest last: each record's keys and images, as JSON (in
        # memory only, for tests that look for what must never be written, such as join tokens).
        self.streamed: deque[str] = deque(maxlen=20_000)
        # Every event a rule handed to a function: (function name, detail-type, when, monotonic).
        self.deliveries: deque[tuple[str, str, float]] = deque(maxlen=100_000)
        # One worker per stream mapping: a shard is processed in order, a batch at a time.
        self._shards: dict[str, ThreadPoolExecutor] = {}
        self._stopped = threading.Event()

    def _completed(self, function: str, event: Any, count: int = 1) -> None:
        """`count`: what the invocation completed (an SQS batch's messages; otherwise one)."""
        with self._lock:
            self.completed.append((function, event))
            self.completions[function] += count

    def stop(self) -> None:
        """Drop queued deliveries: the platform is going away and their targets with it."""
        self._stopped.set()
        for executor in (self._pool, *self._shards.values()):
            executor.shutdown(wait=False, cancel_futures=True)

    def register(self, function: HostedFunction) -> None:
        with self._lock:
            self._functions[function.name] = function

    def unregister(self, name: str) -> None:
        with self._lock:
            self._functions.pop(name, None)

    def resolve(self, name_or_arn: str) -> HostedFunction:
        name = name_or_arn.split(":function:", 1)[-1].split(":", 1)[0]
        function = self._functions.get(name)
        if function is None:
            raise FunctionUnreachableError(f"Function not found: {name}")
        return function

    # --- synchronous ---------------------------------------------------------------------------

    def invoke(
        self, name_or_arn: str, payload: bytes, timeout_s: float = 900, *, throttle: bool = False
    ) -> Invocation:
        """Synchronously; `timeout_s` is the caller's patience (API Gateway waits 29 s). With
        `throttle`, a call finding every environment busy is refused, as Lambda refuses a
        synchronous invoke past the reserved concurrency; otherwise it waits for one (Lambda's
        callers that retry a throttle, Step Functions and the event queue, amount to that)."""
        function = self.resolve(name_or_arn)
        if len(payload) > limits.LAMBDA_SYNC_REQUEST_BYTES.value:
            raise RequestTooLargeError(limits.LAMBDA_SYNC_REQUEST_BYTES.error.message)
        environment = function.environments.acquire(wait=not throttle)
        request = urllib.request.Request(  # noqa: S310 (loopback URL we built)
            environment.url,
            data=payload or b"{}",
            method="POST",
            headers={"Content-Type": "application/json", "X-Request-Id": str(uuid.uuid4())},
        )
        patience = min(timeout_s, function.timeout_s)
        try:
            with urllib.request.urlopen(request, timeout=patience + 1) as response:  # noqa: S310
                done = Invocation(
                    payload=response.read(),
                    function_error=response.headers.get("X-Function-Error") is not None,
                    handler_ms=float(response.headers.get("X-Handler-Ms", "0")),
                )
        except Exception as error:
            # The environment is stopped either way: a handler past its timeout, or one that died
            # or answered nothing a Lambda would (it is not reused).
            with contextlib.suppress(ProcessLookupError):
                os.kill(environment.pid, signal.SIGKILL)
            function.environments.discard()
            cause = error.__cause__ if isinstance(error, urllib.error.URLError) else error
            if not isinstance(cause, TimeoutError):
                raise FunctionUnreachableError(f"{function.name}: {type(error).__name__}") from error
            if timeout_s < function.timeout_s:
                raise FunctionTimeoutError(function.name) from error
            self.invocations.append((function.name, function.timeout_s * 1000))
            return Invocation(
                payload=json.dumps(
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"Task timed out after {function.timeout_s:.2f} seconds",
                    }
                ).encode(),
                function_error=True,
                handler_ms=function.timeout_s * 1000,
            )
        function.environments.release(environment)
        self.invocations.append((function.name, done.handler_ms))
        if len(done.payload) > limits.LAMBDA_SYNC_RESPONSE_BYTES.value:
            # What the handler returned never reaches the caller: Lambda answers with its error.
            refused = limits.LAMBDA_SYNC_RESPONSE_BYTES.error
            return Invocation(
                json.dumps({"errorType": refused.code, "errorMessage": refused.message}).encode(),
                function_error=True,
                handler_ms=done.handler_ms,
            )
        return done

    def invoke_or_raise(self, name_or_arn: str, event: Any) -> Any:
        result = self.invoke(name_or_arn, json.dumps(event).encode())
        body = json.loads(result.payload or b"null")
        if result.function_error:
            raise FunctionError(body)
        return body

    # --- asynchronous (Lambda's event invocations) ---------------------------------------------

    def invoke_async(self, name_or_arn: str, event: Any) -> None:
        function = self.resolve(name_or_arn)
        if len(json.dumps(event).encode()) > limits.LAMBDA_ASYNC_REQUEST_BYTES.value:
            raise RequestTooLargeError(limits.LAMBDA_ASYNC_REQUEST_BYTES.error.message)
        if not self._stopped.is_set():
            self._pool.submit(self._run_async, function, event)

    def _run_async(self, function: HostedFunction, event: Any) -> None:
        error: dict[str, Any] = {}
        for attempt in range(ASYNC_RETRIES + 1):
            if self._stopped.is_set():
                return
            try:
                self.invoke_or_raise(function.name, event)
                self._completed(function.name, event)
                return
            except FunctionError as failure:
                error = failure.payload
            except FunctionUnreachableError as failure:
                error = {"errorType": "ServiceException", "errorMessage": str(failure)}
            if attempt < ASYNC_RETRIES:
                time.sleep(RETRY_DELAY_S * (attempt + 1))
        if function.dlq_arn:
            self._send_to_queue(
                function.dlq_arn,
                json.dumps(event),
                {
                    "RequestID": str(uuid.uuid4()),
                    "ErrorCode": "200",
                    "ErrorMessage": str(error.get("errorMessage", "Unhandled"))[:1024],
                },
            )

    # --- EventBridge targets -----------------------------------------------------------------

    def deliver_event(
        self, target: dict[str, Any], rule_arn: str, event: dict[str, Any], *, function_exists: bool = True
    ) -> None:
        """A rule matched: hand the event to Lambda asynchronously, or to the target's DLQ."""
        if self._stopped.is_set():
            return
        function = target["Arn"].split(":function:", 1)[-1].split(":", 1)[0]
        self.deliveries.append((function, str(event.get("detail-type", "")), time.monotonic()))
        self._pool.submit(self._deliver, target, rule_arn, event, function_exists)

    def _deliver(
        self, target: dict[str, Any], rule_arn: str, event: dict[str, Any], function_exists: bool
    ) -> None:
        # EventBridge retries a failed delivery with back-off for up to a day; three quick tries
        # stand in for that here.
        attempts = min(int(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 185)), 3)
        for attempt in range(attempts + 1 if function_exists else 0):
            if self._stopped.is_set():
                return
            try:
                self.invoke_async(target["Arn"], event)
                return
            except FunctionUnreachableError:
                time.sleep(RETRY_DELAY_S * (attempt + 1))
        dlq_arn = target.get("DeadLetterConfig", {}).get("Arn")
        if dlq_arn:
            self._send_to_queue(
                dlq_arn,
                json.dumps(event),
                {
                    "ERROR_CODE": "RESOURCE_NOT_FOUND",
                    "ERROR_MESSAGE": "Function not found",
                    "RULE_ARN": rule_arn,
                    "TARGET_ARN": target["Arn"],
                },
            )

    # --- DynamoDB streams ------------------------------------------------------------------------

    # --- SQS event sources (Lambda's pollers) -----------------------------------------------------

    def consume_queue(self, mapping: dict[str, Any], sqs: Any, queue_url: str) -> None:
        """Poll the mapping's queue as Lambda does: a batch of up to `BatchSize` messages (within
        the batching window), the function's partial batch response honoured (the messages it
        names stay in the queue, visible again after the queue's visibility timeout, and the
        queue's redrive policy sets them aside after their last receive); the rest deleted."""
        thread = threading.Thread(
            target=self._poll, args=(mapping, sqs, queue_url), name="lambda-sqs", daemon=True
        )
        thread.start()

    def _poll(self, mapping: dict[str, Any], sqs: Any, queue_url: str) -> None:
        size = int(mapping.get("BatchSize", 10))
        partial = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
        while not self._stopped.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:  # the emulator going away with the platform
                if self._stopped.wait(1):
                    return
                continue
            if not messages:
                continue
            event = {"Records": [_sqs_record(m, mapping) for m in messages]}
            try:
                result = self.invoke_or_raise(mapping["FunctionArn"], event)
                named = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
                ids = {m["MessageId"] for m in messages}
                # An id that is not in the batch fails the whole batch, as Lambda treats it.
                failed = ids if not partial and named else named if named <= ids else ids
            except (FunctionError, FunctionUnreachableError):
                failed = {m["MessageId"] for m in messages}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                with contextlib.suppress(Exception):
                    sqs.delete_message_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                        ],
                    )
                self._completed(
                    self.resolve(mapping["FunctionArn"]).name,
                    {"Records": [m["MessageId"] for m in done]},
                    count=len(done),
                )

    def deliver_stream_batch(self, mapping: dict[str, Any], event: dict[str, Any]) -> None:
        if self._stopped.is_set():
            return
        self.streamed.extend(json.dumps(r["dynamodb"]) for r in event["Records"])
        with self._lock:
            shard = self._shards.setdefault(
                mapping["UUID"], ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-stream")
            )
        shard.submit(self._stream, mapping, event)

    def _stream(self, mapping: dict[str, Any], event: dict[str, Any]) -> None:
        attempts = int(mapping.get("MaximumRetryAttempts", 2))
        records = event["Records"]
        for attempt in range(attempts + 1):
            if self._stopped.is_set():
                return
            try:
                result = self.invoke_or_raise(mapping["FunctionArn"], {"Records": records})
                failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                if not failed:
                    keys = [{"eventName": r["eventName"], "Keys": r["dynamodb"]["Keys"]} for r in records]
                    self._completed(self.resolve(mapping["FunctionArn"]).name, {"Records": keys})
                    return
                # Partial batch response: retry from the first failed record onwards; an id that
                # is not in the batch makes the whole batch a failure, as Lambda treats it.
                numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
                first = min((numbers.index(n) for n in failed if n in numbers), default=0)
                records = records[first:]
            except (FunctionError, FunctionUnreachableError):
                pass
            if attempt < attempts:
                time.sleep(RETRY_DELAY_S * (attempt + 1))
        destination = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination:
            # Like Lambda: the failure record describes the batch; it does not carry the items.
            self._send_to_queue(
                destination,
                json.dumps(
                    {
                        "requestContext": {
                            "condition": "RetryAttemptsExhausted",
                            "approximateInvokeCount": attempts + 1,
                        },
                        "DDBStreamBatchInfo": {
                            "shardId": "shard-local",
                            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                            "batchSize": len(records),
                            "streamArn": mapping.get("EventSourceArn"),
                        },
                    }
                ),
                {},
            )


def _sqs_record(message: dict[str, Any], mapping: dict[str, Any]) -> dict[str, Any]:
    """A received message as Lambda's SQS event carries it."""
    arn = mapping["EventSourceArn"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "dataType": value.get("DataType"),
                "stringListValues": [],
                "binaryListValues": [],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": arn.split(":")[3],
    }
