"""AWS from moto in server mode, on loopback, with Lambda routed to the function hosts.

moto runs Step Functions with its ASL interpreter, whose Lambda tasks call moto's Lambda API over
HTTP (`localhost:$MOTO_PORT`); moto's Lambda then asks the `LambdaDispatcher`. moto does not deliver
EventBridge events to Lambda targets nor run schedules: matched events go to the dispatcher with
the rule's real target (retry policy, DLQ), and the platform's scheduler fires scheduled rules.
DynamoDB stream batches reach their consumer asynchronously, as they do in AWS.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from local.lambdas import LambdaDispatcher

ACCOUNT = "123456789012"  # moto's account


def configure_moto(port: int) -> None:
    """moto reads these at request time; set them before the first request."""
    import os

    from moto.core.config import default_user_config

    os.environ["MOTO_PORT"] = str(port)
    default_user_config["lambda"] = {"use_docker": False}
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["iam"] = {"load_aws_managed_policies": False}


# (the rule's target, the matched event) -> the container task run for it
RunContainer = Callable[[dict[str, Any], dict[str, Any]], None]


def route_lambda_to(dispatcher: LambdaDispatcher, run_container: RunContainer | None = None) -> None:
    """Patch moto's Lambda (invoke, rule targets, stream mappings) onto the dispatcher, and ECS
    task targets onto `run_container` (the platform runs a media worker as a process)."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.utils import get_backend
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        self.get_function(function_name, qualifier)  # moto's own ResourceNotFound if it is gone
        if headers.get("x-amz-invocation-type") == "Event":
            dispatcher.invoke_async(function_name, json.loads(body or "{}"))
            return b""
        result = dispatcher.invoke(function_name, body.encode() if isinstance(body, str) else body)
        if result.function_error:
            response_headers["x-amz-function-error"] = "Unhandled"
        return result.payload

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

    original_send = Rule.send_to_targets

    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        lambda_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        if lambda_targets and self.event_pattern.matches_event(original_event):
            for target in lambda_targets:
                arn = parse_arn(target["Arn"])
                try:
                    get_backend(arn.account, arn.region).get_function(arn.resource_id)
                    exists = True
                except Exception:  # moto's ResourceNotFound: the target cannot be delivered
                    exists = False
                dispatcher.deliver_event(target, self.arn, dict(original_event), function_exists=exists)
        ecs_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "ecs"]
        if ecs_targets and run_container and self.event_pattern.matches_event(original_event):
            for target in ecs_targets:
                run_container(target, dict(original_event))
        others = [t for t in self.targets if t not in lambda_targets and t not in ecs_targets]
        if others:
            # A copy carrying the other targets: the rule itself is shared by concurrent requests.
            rest = copy.copy(self)
            rest.targets = others
            original_send(rest, original_event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]

    def send_dynamodb_items(self: LambdaBackend, function_arn: str, items: Any, source: str) -> Any:
        records = []
        for item in items:
            record = item.to_json()
            change = dict(record["dynamodb"])
            if isinstance(change.get("ApproximateCreationDateTime"), datetime):
                change["ApproximateCreationDateTime"] = change["ApproximateCreationDateTime"].timestamp()
            records.append(
                {
                    "eventID": record["eventID"],
                    "eventName": record["eventName"],
                    "eventVersion": record["eventVersion"],
                    "eventSource": record["eventSource"],
                    "awsRegion": self.region_name,
                    "dynamodb": change,
                    "eventSourceARN": source,
                }
            )
        for mapping in self._event_source_mappings.values():
            if mapping.function_arn == function_arn and mapping.event_source_arn == source:
                dispatcher.deliver_stream_batch(mapping.get_configuration(), {"Records": records})
        return True  # moto then drops the items from its buffer, as a consumed batch

    LambdaBackend.send_dynamodb_items = send_dynamodb_items  # type: ignore[method-assign]

    # moto's DynamoDB copies whole tables to roll a transaction back, and a concurrent write
    # changing them meanwhile breaks the copy: writes take turns, as DynamoDB serialises them.
    from moto.dynamodb.models import DynamoDBBackend

    writes = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item"):
        original = getattr(DynamoDBBackend, name)

        def serialised(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with writes:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, serialised)

    # moto's interpreter only reflects a StopExecution when the running state finishes, which a
    # `.waitForTaskToken` state never does: record the abort at once, as Step Functions does.
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    original_stop = Execution.stop

    def stop(self: Execution, stop_date: datetime, error: str | None, cause: str | None) -> None:
        original_stop(self, stop_date, error, cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date

    Execution.stop = stop  # type: ignore[method-assign]


class RequestMeter:
    """Every AWS request the emulator answers, by service and operation, with the items each
    DynamoDB write touched: what a deployment would be billed for (the bench's cost figures)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.written_items: Counter[str] = Counter()
        self._lock = threading.Lock()

    def snapshot(self) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        with self._lock:
            return Counter(self.counts), Counter(self.written_items)

    # Requests signed with this access key id are an observer's (the bench watching), not the
    # platform's: left out of the counts.
    OBSERVER = "observer"

    def record(self, environ: dict[str, Any]) -> None:
        scope = str(environ.get("HTTP_AUTHORIZATION", "")).split("Credential=", 1)[-1].split("/")
        if scope[0] == self.OBSERVER:
            return
        service = scope[3] if len(scope) > 3 else "unknown"
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = target.rsplit(".", 1)[-1] if target else f"{environ.get('REQUEST_METHOD')}"
        items = 0
        if service == "dynamodb" and operation in ("TransactWriteItems", "BatchWriteItem"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads it after us
            request = json.loads(body or b"{}")
            items = len(request.get("TransactItems", [])) or sum(
                len(v) for v in request.get("RequestItems", {}).values()
            )
        with self._lock:
            self.counts[(service, operation)] += 1
            self.written_items[operation] += items


def meter_requests(meter: RequestMeter) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def metered(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        meter.record(environ)
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = metered  # type: ignore[method-assign]


class Emulator:
    """moto's threaded server on a loopback port."""

    def __init__(self, port: int) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        configure_moto(port)
        # moto's server logs every request line; the platform's output is its own.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = port
        self.meter = RequestMeter()
        meter_requests(self.meter)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
        # moto keeps its state in this process: a platform started here later begins empty.
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
