"""AWS from moto in server mode, on loopback, with Lambda routed to the function hosts.

moto runs Step Functions with its ASL interpreter, whose Lambda tasks call moto's Lambda API over
HTTP (`localhost:$MOTO_PORT`); moto's Lambda then asks the `LambdaDispatcher`. moto does not deliver
EventBridge events to Lambda targets nor run schedules: matched events go to the dispatcher with
the rule's real target (retry policy, DLQ), and the platform's scheduler fires scheduled rules.
DynamoDB stream batches reach their consumer asynchronously, as they do in AWS.

Where moto differs from AWS in ways the platform reaches, `apply_aws_parity` puts it right: DynamoDB
requests take turns, stream records leave only for writes that happened, scheduled rules fire on
their schedule alone, a stopped execution is aborted whenever the stop lands, and the AWS limits
in `infra.limits` are refused with AWS's errors (the upstream write-ups are in docs/upstream/).
"""

from __future__ import annotations

import base64
import copy
import functools
import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from infra import limits
from local import persistence
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
    from moto.events.models import EventPattern, Rule
    from moto.utilities.arns import parse_arn

    apply_aws_parity()

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

    def as_delivered(event: Any) -> Any:
        """The event as EventBridge hands it to a target: moto keeps `time` as epoch seconds and
        adds its own `ingestion-time`; EventBridge sends `time` as an ISO 8601 instant, to the
        second, and no ingestion time."""
        if not isinstance(event, dict):
            return event
        delivered = {k: v for k, v in event.items() if k != "ingestion-time"}
        if isinstance(delivered.get("time"), int | float):
            moment = datetime.fromtimestamp(float(delivered["time"]), UTC)
            delivered["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return delivered

    original_send = Rule.send_to_targets

    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        if persistence.REPLAYING.is_set():
            return  # delivered when the write that sent it was first made
        delivered = as_delivered(original_event)
        lambda_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        if lambda_targets and self.event_pattern.matches_event(original_event):
            for target in lambda_targets:
                arn = parse_arn(target["Arn"])
                try:
                    get_backend(arn.account, arn.region).get_function(arn.resource_id)
                    exists = True
                except Exception:  # moto's ResourceNotFound: the target cannot be delivered
                    exists = False
                dispatcher.deliver_event(target, self.arn, dict(delivered), function_exists=exists)
        ecs_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "ecs"]
        if ecs_targets and run_container and self.event_pattern.matches_event(original_event):
            for target in ecs_targets:
                run_container(target, dict(delivered))
        others = [t for t in self.targets if t not in lambda_targets and t not in ecs_targets]
        if others:
            # A copy carrying the other targets: the rule itself is shared by concurrent requests.
            rest = copy.copy(self)
            rest.targets = others
            original_send(rest, original_event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]

    _user_pools_call_their_triggers(dispatcher)

    from moto.sqs.models import sqs_backends

    original_mapping = LambdaBackend.create_event_source_mapping

    def create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> Any:
        """moto invokes an SQS mapping's function inside SendMessage, a message at a time, with
        no partial batch response; Lambda polls the queue. The platform's poller
        (`LambdaDispatcher.consume_queue`) reads the mapping and does what Lambda does."""
        if str(spec.get("EventSourceArn", "")).endswith(".fifo") and spec.get(
            "MaximumBatchingWindowInSeconds"
        ):
            from moto.awslambda.exceptions import InvalidParameterValueException

            raise InvalidParameterValueException("Batching window is not supported for FIFO queues.")
        mapping = original_mapping(self, spec)
        source = parse_arn(mapping.event_source_arn)
        if source.service == "sqs":
            queue = sqs_backends[source.account][source.region].get_queue(source.resource_id)
            queue.lambda_event_source_mappings.pop(mapping.function_arn, None)
        return mapping

    LambdaBackend.create_event_source_mapping = create_event_source_mapping  # type: ignore[method-assign]

    def send_dynamodb_items(self: LambdaBackend, function_arn: str, items: Any, source: str) -> Any:
        if persistence.REPLAYING.is_set():
            return True  # its consumer had these records when the write was first made
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
                configuration = mapping.get_configuration()
                # Lambda's event filtering: records no filter matches are dropped, not delivered.
                filters = [
                    EventPattern.load(f["Pattern"])
                    for f in (configuration.get("FilterCriteria") or {}).get("Filters", [])
                ]
                matched: Any = [f.matches_event for f in filters]  # moto types events narrowly
                wanted = [r for r in records if not matched or any(m(r) for m in matched)]
                if wanted:
                    dispatcher.deliver_stream_batch(configuration, {"Records": wanted})
        return True  # moto then drops the items from its buffer, as a consumed batch

    LambdaBackend.send_dynamodb_items = send_dynamodb_items  # type: ignore[method-assign]


def _user_pools_call_their_triggers(dispatcher: LambdaDispatcher) -> None:
    """moto keeps a user pool's `LambdaConfig` and never calls it. Cognito calls the
    post-confirmation trigger, synchronously, once ConfirmSignUp, AdminConfirmSignUp or
    ConfirmForgotPassword has confirmed the user, with the user's attributes; if the function
    fails, the user stays confirmed and the call answers UserLambdaValidationException."""
    from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpUser, CognitoIdpUserPool
    from moto.core.exceptions import JsonRESTError

    class UserLambdaValidationError(JsonRESTError):
        def __init__(self, message: str) -> None:
            super().__init__("UserLambdaValidationException", message)

    def post_confirmation(pool: CognitoIdpUserPool, user: CognitoIdpUser, source: str, client: str) -> None:
        arn = (pool.extended_config.get("LambdaConfig") or {}).get("PostConfirmation")
        if not arn or persistence.REPLAYING.is_set():
            return
        event = {
            "version": "1",
            "region": pool.region,
            "userPoolId": pool.id,
            "userName": user.username,
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client},
            "triggerSource": source,
            "request": {
                "userAttributes": {
                    **{a["Name"]: a["Value"] for a in user.attributes},
                    "cognito:user_status": getattr(user.status, "value", user.status),
                }
            },
            "response": {},
        }
        # Called once the confirmation has left its turn: the trigger's own writes take theirs.
        persistence.after_turn(lambda: call(arn, event))

    def call(arn: str, event: dict[str, Any]) -> None:
        result = dispatcher.invoke(arn, json.dumps(event).encode(), timeout_s=5)  # Cognito waits 5 s
        if result.function_error:
            message = json.loads(result.payload or b"{}").get("errorMessage", "")
            raise UserLambdaValidationError(f"PostConfirmation failed with error {message}.")

    def pool_of_client(backend: CognitoIdpBackend, client_id: str) -> CognitoIdpUserPool | None:
        return next((p for p in backend.user_pools.values() if client_id in p.clients), None)

    original_confirm = CognitoIdpBackend.confirm_sign_up

    def confirm_sign_up(self: CognitoIdpBackend, client_id: str, username: str) -> str:
        answer = original_confirm(self, client_id, username)
        pool = pool_of_client(self, client_id)
        if pool is not None:
            user = pool._get_user(username)
            post_confirmation(pool, user, "PostConfirmation_ConfirmSignUp", client_id)
        return answer

    CognitoIdpBackend.confirm_sign_up = confirm_sign_up  # type: ignore[method-assign]

    original_admin_confirm = CognitoIdpBackend.admin_confirm_sign_up

    def admin_confirm_sign_up(self: CognitoIdpBackend, user_pool_id: str, username: str) -> str:
        answer = original_admin_confirm(self, user_pool_id, username)
        pool = self.describe_user_pool(user_pool_id)
        post_confirmation(
            pool, pool._get_user(username), "PostConfirmation_ConfirmSignUp", "CLIENT_ID_NOT_APPLICABLE"
        )
        return answer

    CognitoIdpBackend.admin_confirm_sign_up = admin_confirm_sign_up  # type: ignore[method-assign]

    original_confirm_forgot = CognitoIdpBackend.confirm_forgot_password

    def confirm_forgot_password(
        self: CognitoIdpBackend, client_id: str, username: str, password: str, confirmation_code: str
    ) -> None:
        original_confirm_forgot(self, client_id, username, password, confirmation_code)
        pool = pool_of_client(self, client_id)
        if pool is not None:
            user = pool._get_user(username)
            post_confirmation(pool, user, "PostConfirmation_ConfirmForgotPassword", client_id)

    CognitoIdpBackend.confirm_forgot_password = confirm_forgot_password  # type: ignore[method-assign]


# --- Where moto 5.2.5 differs from AWS in ways the platform reaches ------------------------------
#
# Each function below patches one difference, at the narrowest point that puts it right, and says
# what AWS does. `apply_aws_parity` applies them once per process (they replace methods on moto's
# classes, which every moto server and `mock_aws` in the process share). The upstream write-ups
# are in docs/upstream/.

# Every DynamoDB request takes its turn, reads included: moto's reads are not read-only (a GetItem
# for an absent partition key adds an empty partition to the table, an UpdateItem changes the
# stored item while another request serialises it), and a transaction deep-copies whole tables to
# roll back, so any request touching a table while that copy is taken breaks it ("dictionary
# changed size during iteration", answered as a 500). Reentrant: a transaction's writes run inside
# its turn.
DYNAMODB_TURNS = threading.RLock()
# moto's DynamoDB backend methods that change items.
WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

_applied = False
_applying = threading.Lock()


def apply_aws_parity() -> None:
    """Patch moto where it differs from AWS in ways the platform reaches; idempotent."""
    global _applied
    with _applying:
        if _applied:
            return
        _dynamodb_takes_turns()
        _dynamodb_writes_are_atomic()
        _dynamodb_limits()
        _scheduled_rules_fire_on_schedule_only()
        _payload_limits()
        _transactions_roll_back_what_they_touched()  # last: it must see each write first
        _routes_are_remembered()
        _state_machines_parsed_once()
        _executions_stop_when_asked()
        _task_tokens_pass_executions_still_starting()
        _user_pools_parse_their_key_once()
        _user_pools_lock_out_repeated_failures()
        _queries_read_their_partition()
        _s3_post_policies_enforced()
        _applied = True


def _s3_post_policies_enforced() -> None:
    """A browser's POST upload is held to its signed policy (`local/s3_post_policy.py`: size, type,
    key, expiry, signature, checksum), as S3 holds it; moto stores whatever is posted. What the
    form asks of the object (its encryption) is kept on it, as S3 keeps it."""
    from moto.s3.responses import S3Response

    from local.s3_post_policy import check

    original = S3Response._bucket_response_post
    secrets = {"testing": "testing"}  # the platform's credentials (local/platform.py CREDENTIALS)

    def post(self: S3Response, request: Any, bucket_name: str) -> Any:
        form = {str(k): str(v) for k, v in request.form.items()}
        if "policy" not in {k.lower() for k in form} or "delete" in self.querystring:
            return original(self, request, bucket_name)
        body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode()
        refused = check(form, bucket_name, len(body), body, secrets)
        if refused is not None:
            return refused.status, {"Content-Type": "application/xml"}, refused.xml()
        answer = original(self, request, bucket_name)
        fields = {k.lower(): v for k, v in form.items()}
        if fields.get("x-amz-server-side-encryption"):
            stored = self.backend.get_object(bucket_name, self.querystring["key"][0])
            if stored is not None:
                stored.encryption = fields["x-amz-server-side-encryption"]
                stored.kms_key_id = fields.get("x-amz-server-side-encryption-aws-kms-key-id")
        return answer

    S3Response._bucket_response_post = post  # type: ignore[method-assign]


def _in_turn(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def in_turn(*args: Any, **kwargs: Any) -> Any:
        with DYNAMODB_TURNS:
            return method(*args, **kwargs)

    return in_turn


def _dynamodb_takes_turns() -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    # The whole request, through the serialisation of its answer: items are live objects.
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        handler.call_action = _in_turn(handler.call_action)  # type: ignore[method-assign]
    # Callers inside moto that reach the tables without a request of their own.
    for name in ("create_table", "delete_table", "update_table", "get_item", "query", "scan", *WRITES):
        setattr(DynamoDBBackend, name, _in_turn(getattr(DynamoDBBackend, name)))
    # A mapping is registered on the table's own dictionary, which a transaction copies.
    for name in ("create_event_source_mapping", "update_event_source_mapping", "delete_event_source_mapping"):
        setattr(LambdaBackend, name, _in_turn(getattr(LambdaBackend, name)))


# The stream changes of the write in progress on this thread; None outside a write.
_write = threading.local()


def _dynamodb_writes_are_atomic() -> None:
    """A write's stream records leave only when the write has happened, one per item it changed.

    moto emits a record per item as a transaction applies its actions one at a time, and hands it
    to the table's event source mappings at once; a later action's failed condition rolls the
    tables back, but the records have gone, so a consumer sees writes that never happened. It also
    emits two INSERTs for an UpdateItem that creates its item (the key, then the item), and leaves
    that key-only item behind when the update then fails. DynamoDB emits nothing for a write that
    fails and one record per changed item for one that succeeds.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    original_add = StreamShard.add

    def add(self: StreamShard, old: Any, new: Any) -> None:
        changes: list[tuple[StreamShard, Any, Any]] | None = getattr(_write, "changes", None)
        if changes is None:  # a change no request made (a table import): as moto does
            original_add(self, old, new)
        else:
            changes.append((self, old, new))

    StreamShard.add = add  # type: ignore[method-assign]

    def atomic(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def write(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
            if getattr(_write, "changes", None) is not None:
                return method(self, *args, **kwargs)  # part of the write in progress
            with DYNAMODB_TURNS:
                _write.changes = []
                try:
                    result = method(self, *args, **kwargs)
                    changes = _write.changes
                finally:
                    _write.changes = None
                _emit(changes)
                return result

        return write

    original_update = DynamoDBBackend.update_item

    def update_item(
        self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        table = self.get_table(table_name)
        slot = _slot(table, key)
        before = copy.deepcopy(table.get_item(*slot)) if slot else None
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        except Exception:
            if slot:  # moto may have stored the key alone, or half the update
                _restore(table, slot, before)
            raise

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    for name in WRITES:
        setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))


# The items a transaction in progress on this thread changed, each with its state before.
_journal = threading.local()


def _transactions_roll_back_what_they_touched() -> None:
    """A transaction keeps the items it changes, not a copy of every table it names.

    moto deep-copies each table a transaction names (every item, every index) to roll it back,
    inside the turn every DynamoDB request takes: a transaction cost time in proportion to the
    table, and twenty concurrent bookings on a table of a few thousand items took seconds each,
    one after another. Here the table is not copied; each write inside the transaction records the
    item's state before it, and a cancelled transaction puts those back, newest first.
    """
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class TablesStayPut:
        """What moto's module calls `copy`: tables are not copied (the journal stands in)."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    setattr(models, "copy", TablesStayPut)  # noqa: B010 (moto's module-level name)

    def journaled(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def write(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
            entries: list[tuple[Any, Any, Any]] | None = getattr(_journal, "entries", None)
            if entries is not None:
                table = self.get_table(table_name)
                given: dict[str, Any] = args[0] if args else kwargs.get("key", kwargs.get("item_attrs", {}))
                if method.__name__ == "put_item":  # the key is in the item
                    given = {
                        k: v for k, v in given.items() if k in (table.hash_key_attr, table.range_key_attr)
                    }
                slot = _slot(table, given)
                if slot is not None:
                    entries.append((table, slot, copy.deepcopy(table.get_item(*slot))))
            return method(self, table_name, *args, **kwargs)

        return write

    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, journaled(getattr(DynamoDBBackend, name)))

    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with DYNAMODB_TURNS:
            _journal.entries = []
            try:
                return original(self, *args, **kwargs)
            except BaseException:
                for table, slot, before in reversed(_journal.entries):
                    _restore(table, slot, before)
                raise
            finally:
                _journal.entries = None

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _state_machines_parsed_once() -> None:
    """A definition is parsed once, not at every execution's start: moto's ASL parser (ANTLR in
    Python) took about 350 ms of the emulator's one interpreter for the visit lifecycle, which was
    most of what a burst of bookings waited for. The parsed program holds no execution's state;
    each execution evaluates it with an environment of its own."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse
    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> Any:
        with lock:
            if definition not in parsed:
                parsed[definition] = original(definition)
            return parsed[definition]

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


def _executions_stop_when_asked() -> None:
    """StopExecution ends a running execution ABORTED at once, whatever it is doing, and
    DescribeExecution names the stop's error and cause, as in Step Functions. moto differs:
    - it reflects a stop only when the running state finishes, which a `.waitForTaskToken` state
      never does;
    - a stop that lands while a task is being set up makes its interpreter trip over its own stack
      and end the execution FAILED ("'>' not supported between 'dict' and 'int'");
    - a stop that lands before the execution's thread has started its program (just after
      StartExecution) raises AttributeError, a 500, or is ignored, and the execution runs on;
    - it drops the request's error and cause.
    Here a stop is ABORTED at once, and a program not yet started runs no state: its history is
    ExecutionStarted, ExecutionAborted."""
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.utils import TMP_THREADS
    from moto.stepfunctions.responses import StepFunctionResponse

    # Whether a stop came before the program started, decided on one side of the start or the other.
    starting = threading.Lock()
    original_environment = ExecutionWorker._get_evaluation_environment

    def environment(self: ExecutionWorker) -> Environment:
        built = original_environment(self)
        built._execution_worker = self  # type: ignore[attr-defined]  # not copied to a branch's frame
        return built

    ExecutionWorker._get_evaluation_environment = environment  # type: ignore[method-assign]

    def evaluate(self: Program, env: Environment) -> None:
        # moto's Program.eval, but the first state is named under the lock and never again: named
        # again after a stop, moto raises in the execution's thread, which then never ends.
        worker = getattr(env, "_execution_worker", None)  # None in a Map's or Parallel's frame
        if worker is None:
            env.next_state_name = self.start_at.start_at_name
        else:
            with starting:
                early = getattr(worker, "_stopped_before_it_ran", None)
                env.next_state_name = self.start_at.start_at_name  # from here env.set_stop stops it
            if early is not None:
                stop_date, error, cause = early
                env.set_stop(stop_date=stop_date, cause=cause, error=error)
                self._eval_body(env)  # runs no state; records ExecutionAborted
                return
        timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
        running = threading.Thread(target=EvalComponent.eval, args=(self, env), daemon=True)
        TMP_THREADS.append(running)
        running.start()
        running.join(timeout=timeout)
        if running.is_alive():
            env.set_timed_out()

    Program.eval = evaluate  # type: ignore[method-assign]

    original_stop = Execution.stop

    def stop(self: Execution, stop_date: datetime, error: str | None, cause: str | None) -> None:
        worker = self.exec_worker
        with starting:
            before_it_ran = worker is not None and getattr(worker.env, "_program_state", None) is None
            if before_it_ran and getattr(worker, "_stopped_before_it_ran", None) is None:
                worker._stopped_before_it_ran = (stop_date, error, cause)  # type: ignore[union-attr]
        # Aborted only where the stop takes: an execution whose program has just ended keeps its
        # outcome (its thread has yet to report it). Read before the stop: a stop that lands while
        # a task is being set up is soon overwritten by the interpreter's own error.
        took = before_it_ran or (
            worker is not None and isinstance(getattr(worker.env, "_program_state", None), ProgramRunning)
        )
        if not before_it_ran:
            original_stop(self, stop_date, error, cause)
        if took and self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
            self.error, self.cause = error, cause
            self._aborted_by_request = (stop_date, error, cause)  # type: ignore[attr-defined]

    Execution.stop = stop  # type: ignore[method-assign]

    def stop_execution(self: StepFunctionResponse) -> ActionResult:
        # moto's StopExecution drops the request's error and cause (it stops with ""): the
        # reconciler tells a lifecycle replaced on purpose from one that failed by its error.
        # Neither given, DescribeExecution names neither.
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        execution.stop(stop_date=utcnow(), error=self._get_param("error"), cause=self._get_param("cause"))
        return ActionResult({"stopDate": execution.stop_date})

    StepFunctionResponse.stop_execution = stop_execution  # type: ignore[method-assign]

    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def reflect(self: BaseExecutionWorkerCommunication) -> None:
        original_reflect(self)  # type: ignore[no-untyped-call]
        stopped = getattr(self.execution, "_aborted_by_request", None)
        if stopped is not None:
            self.execution.exec_status = ExecutionStatus.ABORTED
            self.execution.stop_date, self.execution.error, self.execution.cause = stopped

    BaseExecutionWorkerCommunication._reflect_execution_status = reflect  # type: ignore[method-assign]


def _task_tokens_pass_executions_still_starting() -> None:
    """SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat find a token's execution whatever
    others are doing, as in Step Functions. moto looks for the token in every execution's
    environment, and an execution started a moment before has none yet (its thread builds it):
    the lookup raises AttributeError, answered as a 500, and the token's own execution is not
    resumed. A restart that starts many lifecycles at once while steps resume themselves met it.
    An execution without an environment holds no token yet, so the lookup passes it by."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._get_executions

    def executions(self: StepFunctionsParserBackend, execution_status: Any = None) -> list[Any]:
        found: list[Any] = original(self, execution_status)
        return [e for e in found if e.exec_worker is not None and e.exec_worker.env is not None]

    StepFunctionsParserBackend._get_executions = executions  # type: ignore[method-assign]


def _queries_read_their_partition() -> None:
    """A query of a table reads its partition, and a query of an index its candidates unsorted.

    moto's Query starts from every item of the table, sorted by the table's keys, and keeps the
    partition's; the sort alone made each query cost time in proportion to n log n of the whole
    table, and the outbox sweeper's 24 lane queries per sweep (every five seconds per tenant in
    the test session) grew slower as the session's tables grew. What a query answers is sorted
    again after the candidates are chosen (by the index's keys and then the table's, which no two
    items share), so the order they arrive in cannot change the answer. Scans keep moto's order:
    their pages follow it.
    """
    from moto.dynamodb.models.table import Table

    original_query, original_all_items = Table.query, Table.all_items
    querying = threading.local()  # (table, partition key or None for an index) while a query runs

    def all_items(self: Table) -> list[Any]:
        scope = getattr(querying, "scope", None)
        if scope is None or scope[0] is not self:
            return original_all_items(self)
        partitions = self.items.values() if scope[1] is None else [self.items.get(scope[1], {})]
        if not self.range_key_attr:
            return [p for p in partitions if p]
        return [item for partition in partitions for item in partition.values()]

    @functools.wraps(original_query)
    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name") if len(args) < 7 else args[6]
        partition = None if index_name else hash_key
        if partition is None and not index_name:  # no partition named: as moto does
            return original_query(self, hash_key, *args, **kwargs)
        querying.scope = (self, partition)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            querying.scope = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def _user_pools_parse_their_key_once() -> None:
    """moto signs every user pool's tokens with the one private key it bundles, and parsed that
    key again for each new pool: importing an RSA key from its JWK recovers its primes, about a
    third of a second of the emulator's one interpreter per pool. Parsed once here; the key object
    is only read (to sign), so the pools share it."""
    import moto.cognitoidp.models as models
    from joserfc import jwk

    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    class RSAKey:
        @staticmethod
        def import_key(value: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs or not isinstance(value, dict):
                return jwk.RSAKey.import_key(value, *args, **kwargs)
            text = json.dumps(value, sort_keys=True)
            with lock:
                if text not in parsed:
                    parsed[text] = jwk.RSAKey.import_key(value)
                return parsed[text]

    class Jwk:
        """What moto's module calls `jwk`: joserfc's, with RSA keys parsed once."""

        def __getattr__(self, name: str) -> Any:
            return RSAKey if name == "RSAKey" else getattr(jwk, name)

    setattr(models, "jwk", Jwk())  # noqa: B010 (moto's module-level name)


# Cognito's lockout of a user whose password sign-ins keep failing (its developer guide, "Lockout
# behavior for failed sign-in attempts"); moto has none.
LOCKOUT_AFTER = 5
LOCKOUT_LONGEST_S = 15 * 60
LOCKOUT_FORGOTTEN_AFTER_S = 15 * 60


def _user_pools_lock_out_repeated_failures() -> None:
    """After five failed password sign-ins Cognito locks the user out for 2^(n-5) seconds (n the
    failures so far, about 15 minutes at most); an attempt meanwhile, even with the right
    password, answers NotAuthorizedException "Password attempts exceeded" and does not count. A
    success, or 15 minutes without an attempt after a lockout, starts over."""
    import time

    from moto.cognitoidp.exceptions import NotAuthorizedError
    from moto.cognitoidp.models import CognitoIdpBackend

    failures: dict[tuple[str, str], tuple[int, float]] = {}  # (pool, user's sub) -> (n, last at)
    guard = threading.Lock()
    original = CognitoIdpBackend.initiate_auth

    def initiate_auth(
        self: CognitoIdpBackend, client_id: str, auth_flow: str, auth_parameters: dict[str, str]
    ) -> dict[str, Any]:
        pool = next((p for p in self.user_pools.values() if client_id in p.clients), None)
        user = pool._get_user(auth_parameters.get("USERNAME", "")) if pool else None
        if auth_flow != "USER_PASSWORD_AUTH" or pool is None or user is None:
            return original(self, client_id, auth_flow, auth_parameters)
        key, now = (pool.id, user.id), time.monotonic()
        with guard:
            n, last = failures.get(key, (0, 0.0))
            if n >= LOCKOUT_AFTER and now - last >= LOCKOUT_FORGOTTEN_AFTER_S:
                n = 0
            if n >= LOCKOUT_AFTER and now < last + min(2 ** (n - LOCKOUT_AFTER), LOCKOUT_LONGEST_S):
                raise NotAuthorizedError("Password attempts exceeded")
        try:
            answer = original(self, client_id, auth_flow, auth_parameters)
        except NotAuthorizedError as error:
            if "Incorrect username or password" in error.message:
                with guard:
                    failures[key] = (n + 1, time.monotonic())
            raise
        with guard:
            failures.pop(key, None)
        return answer

    CognitoIdpBackend.initiate_auth = initiate_auth  # type: ignore[method-assign]


def _routes_are_remembered() -> None:
    """Which moto backend serves a host, found once: moto's server matches every request's host
    against a few hundred URL patterns, under one lock, which made the emulator's routing a
    bottleneck of its own when twenty requests arrived at once."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in found:
            found[host] = original(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _slot(table: Any, key: dict[str, Any]) -> tuple[Any, Any] | None:
    """The item's place in moto's table, or None when the key is malformed (moto says how)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if not isinstance(key, dict) or table.hash_key_attr not in key:
        return None
    if table.range_key_attr is not None and table.range_key_attr not in key:
        return None
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return DynamoType(key[table.hash_key_attr]), range_key


def _restore(table: Any, slot: tuple[Any, Any], item: Any) -> None:
    hash_key, range_key = slot
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items[hash_key].pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def _emit(changes: list[tuple[Any, Any, Any]]) -> None:
    """One record per item the write changed (its first old image, its last new one), then the
    shard's buffer to its event source mappings, as moto's StreamShard.add does per record."""
    from moto.awslambda.utils import get_backend
    from moto.dynamodb.models.table import StreamRecord

    merged: dict[tuple[int, Any, Any], list[Any]] = {}
    for shard, old, new in changes:
        item = old if old is not None else new
        slot = (id(shard), item.hash_key, item.range_key)
        if slot in merged:
            merged[slot][2] = new
        else:
            merged[slot] = [shard, old, new]
    by_shard: dict[int, tuple[Any, list[tuple[Any, Any]]]] = {}
    for shard, old, new in merged.values():
        if old is not None or new is not None:
            by_shard.setdefault(id(shard), (shard, []))[1].append((old, new))
    for shard, pairs in by_shard.values():
        view = shard.table.stream_specification["StreamViewType"]
        for old, new in pairs:
            event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
            sequence = len(shard.items) + shard.starting_sequence_number
            shard.items.append(StreamRecord(shard.table, view, event, old, new, sequence))
        consumed = None
        for function_arn, mapping in shard.table.lambda_event_source_mappings.items():
            backend = get_backend(shard.account_id, function_arn.split(":")[3])
            consumed = backend.send_dynamodb_items(function_arn, shard.items, mapping.event_source_arn)
        if consumed:
            shard.items = []


def item_size(attributes: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it ('DynamoDB item sizes and formats'), from moto's
    DynamoType values or from request JSON ({"S": ...})."""
    return sum(len(name.encode()) + _value_size(value) for name, value in attributes.items())


def _value_size(value: Any) -> int:
    from moto.dynamodb.models.dynamo_type import DynamoType

    if isinstance(value, DynamoType):
        typed = value
    elif isinstance(value, dict) and len(value) == 1:
        typed = DynamoType(value)
    else:  # not an attribute value; moto sizes these as text
        return len(str(value).encode())
    kind, raw = typed.type, typed.value
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return _binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in raw)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in raw)
    if kind == "BS":
        return sum(_binary_size(v) for v in raw)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in raw.items())
    return len(str(raw).encode())


def _number_size(number: str) -> int:
    mantissa = number.lstrip("+-").lower().split("e")[0]
    digits = mantissa.replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes):
        return len(value)
    try:  # binary travels base64-encoded; its raw bytes count
        return len(base64.b64decode(value))
    except ValueError:  # not base64: moto refuses it elsewhere, or stores it as text
        return len(str(value).encode())


def _dynamodb_limits() -> None:
    from moto.dynamodb.exceptions import (
        ItemSizeTooLarge,
        MockValidationException,
        TransactionCanceledException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.dynamodb.responses import DynamoHandler

    # moto refuses items over 405,000 bytes of its own count (names and values, no list or map
    # overheads): items DynamoDB stores were refused. Count and compare as DynamoDB does.
    def set_attribute(self: LimitedSizeDict, key: str, value: Any) -> None:
        others = item_size({k: v for k, v in self.items() if k != key})
        if others + len(key.encode()) + _value_size(value) > limits.DYNAMODB_ITEM_BYTES.value:
            raise ItemSizeTooLarge
        dict.__setitem__(self, key, value)

    LimitedSizeDict.__setitem__ = set_attribute  # type: ignore[method-assign]

    original_transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        sizes = _action_sizes(transact_items)
        # Over 100 actions, or actions moto cannot read: moto's own answer.
        if sizes is not None and len(sizes) <= limits.DYNAMODB_TRANSACTION_ACTIONS.value:
            oversized = [
                kind == "Put" and size > limits.DYNAMODB_TRANSACTION_ITEM_BYTES.value for kind, size in sizes
            ]
            if any(oversized):
                raise TransactionCanceledException(
                    [
                        ("ValidationError", ItemSizeTooLarge.item_size_too_large_msg, None)
                        if big
                        else (None, None, None)
                        for big in oversized
                    ]
                )
            if sum(size for _, size in sizes) > limits.DYNAMODB_TRANSACTION_BYTES.value:
                raise MockValidationException(limits.DYNAMODB_TRANSACTION_BYTES.error.message)
        original_transact(self, transact_items)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    original_batch_write = DynamoHandler.batch_write_item

    def batch_write_item(self: DynamoHandler) -> Any:
        requests = self.body.get("RequestItems", {})
        if sum(len(r) for r in requests.values()) > limits.DYNAMODB_BATCH_WRITE_REQUESTS.value:
            raise MockValidationException(limits.DYNAMODB_BATCH_WRITE_REQUESTS.error.message)
        return original_batch_write(self)

    DynamoHandler.batch_write_item = batch_write_item  # type: ignore[method-assign]


def _action_sizes(transact_items: Any) -> list[tuple[str, int]] | None:
    """Each action's kind and the size it adds to the transaction: a Put its item, the others their
    key. None when the request is malformed."""
    try:
        sizes = []
        for action in transact_items:
            kind, operation = next(iter(action.items()))
            sizes.append((kind, item_size(operation["Item"] if kind == "Put" else operation["Key"])))
        return sizes
    except (AttributeError, KeyError, StopIteration, TypeError, ValueError):
        return None


def _scheduled_rules_fire_on_schedule_only() -> None:
    """A rule with a schedule and no event pattern matches no event, and a disabled rule none.

    moto's empty event pattern matches every event, so every event put on the default bus also
    "fired" each scheduled rule there (the outbox sweep, once per Chime event), and it matches
    events to rules whatever their state. EventBridge runs a scheduled rule on its schedule only
    (the platform's scheduler does that locally) and sends nothing to a disabled rule.
    """
    from moto.events.models import EventPattern, Rule

    class RulePattern(EventPattern):
        def __init__(self, rule: Rule, pattern: EventPattern) -> None:
            super().__init__(pattern.dump(), pattern.get_pattern())
            self._rule = rule

        def matches_event(self, event: Any) -> bool:
            if not str(self._rule.state).startswith("ENABLED"):
                return False
            if self._rule.scheduled_expression and not self.get_pattern():
                return False
            return super().matches_event(event)

        def __reduce__(self) -> tuple[Any, ...]:
            return _rule_pattern, (self._rule, self.dump())

    global _RulePattern
    _RulePattern = RulePattern
    original_init = Rule.__init__

    def init(self: Rule, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.event_pattern = RulePattern(self, self.event_pattern)

    Rule.__init__ = init  # type: ignore[method-assign]


_RulePattern: Any = None


def _rule_pattern(rule: Any, dump: str) -> Any:
    """A rule's pattern from a saved state (`local.persistence`)."""
    from moto.events.models import EventPattern

    return _RulePattern(rule, EventPattern.load(dump))


def _payload_limits() -> None:
    """The size limits moto does not check, or checks against other numbers than AWS."""
    from moto.awslambda.responses import LambdaResponse
    from moto.core.exceptions import JsonRESTError
    from moto.events.exceptions import ValidationException as EventsValidationException
    from moto.events.models import EventsBackend
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import SQSBackend
    from moto.stepfunctions.exceptions import ValidationException as StatesValidationException
    from moto.stepfunctions.responses import StepFunctionResponse
    from moto.utilities.aws_headers import amz_crc32

    # Step Functions: the execution input and a task's output, refused at the API.
    def bounded(method: Callable[..., Any], parameter: str, limit: limits.Limit) -> Callable[..., Any]:
        @functools.wraps(method)
        def checked(self: StepFunctionResponse) -> Any:
            value = self._get_param(parameter)
            if isinstance(value, str) and len(value.encode()) > limit.value:
                raise StatesValidationException(limit.error.message)
            return method(self)

        return checked

    StepFunctionResponse.start_execution = bounded(  # type: ignore[method-assign]
        StepFunctionResponse.start_execution, "input", limits.SFN_EXECUTION_INPUT_BYTES
    )
    StepFunctionResponse.send_task_success = bounded(  # type: ignore[method-assign]
        StepFunctionResponse.send_task_success, "output", limits.SFN_TASK_OUTPUT_BYTES
    )

    # Step Functions: states within an execution. moto fails an execution whose state carries
    # exactly 262,144 bytes (it compares with `<`); the documented maximum length lets it through.
    from moto.stepfunctions.parser import quotas

    quotas.MAX_STATE_SIZE_UTF8_BYTES = limits.SFN_STATE_PAYLOAD_BYTES.value + 1  # type: ignore[misc]

    # EventBridge: the request's entries, sized as EventBridge sizes them.
    original_put_events = EventsBackend.put_events

    def put_events(self: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if sum(_entry_size(e) for e in events) > limits.EVENTS_PUT_EVENTS_BYTES.value:
            raise EventsValidationException(limits.EVENTS_PUT_EVENTS_BYTES.error.message)
        return original_put_events(self, events)

    EventsBackend.put_events = put_events  # type: ignore[method-assign]

    # SQS: moto counts the body's characters; SQS counts bytes, message attributes included.
    original_send = SQSBackend.send_message

    def send_message(self: SQSBackend, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        queue: Any = self.get_queue(queue_name)  # its attributes are set dynamically
        maximum = int(queue.maximum_message_size)
        attributes = kwargs.get("message_attributes") or (args[0] if args else None) or {}
        size = len(message_body.encode()) + sum(_attribute_size(n, v) for n, v in attributes.items())
        if size > maximum:
            raise InvalidParameterValue(
                f"One or more parameters are invalid. Reason: Message must be shorter than {maximum} bytes."
            )
        return original_send(self, queue_name, message_body, *args, **kwargs)

    SQSBackend.send_message = send_message  # type: ignore[method-assign]

    # Lambda's Invoke API: the request by invocation type, and the response by its length (moto
    # compares sys.getsizeof with 6,000,000, refusing responses AWS returns). moto's answer
    # otherwise, as LambdaResponse.invoke gives it.
    class InvokeTooLargeError(JsonRESTError):  # moto's error shape for the Invoke API
        code = 413

    @amz_crc32
    def invoke(self: LambdaResponse) -> Any:
        invocation_type = self.headers.get("X-Amz-Invocation-Type")
        body = self.body if isinstance(self.body, bytes) else str(self.body or "").encode()
        limit = (
            limits.LAMBDA_ASYNC_REQUEST_BYTES
            if invocation_type == "Event"
            else limits.LAMBDA_SYNC_REQUEST_BYTES
        )
        if len(body) > limit.value:
            raise InvokeTooLargeError(limit.error.code, limit.error.message)
        response_headers: dict[str, str] = {}
        function_name = unquote(self.path.rsplit("/", 2)[-2])
        qualifier = self._get_param("qualifier")
        payload = self.backend.invoke(function_name, qualifier, self.body, self.headers, response_headers)
        if payload is None:
            return 404, response_headers, "{}"
        too_large = limits.LAMBDA_SYNC_RESPONSE_BYTES
        size = len(payload if isinstance(payload, bytes) else payload.encode())
        if invocation_type != "Event" and size > too_large.value:
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps({"errorMessage": too_large.error.message, "errorType": too_large.error.code})
        response_headers["content-type"] = "application/json"
        if invocation_type == "Event":
            response_headers["status"] = "202"
            return 202, response_headers, payload
        if invocation_type == "DryRun":
            response_headers["status"] = "204"
            return 204, response_headers, payload
        if self.headers.get("X-Amz-Log-Type") != "Tail":
            response_headers.pop("x-amz-log-result", None)
        return 200, response_headers, payload

    LambdaResponse.invoke = invoke  # type: ignore[method-assign]


def _entry_size(entry: dict[str, Any]) -> int:
    """'Calculating Amazon EventBridge PutEvents event entry size'."""
    size = 14 if entry.get("Time") is not None else 0
    for field_name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(field_name) or "").encode())
    return size + sum(len(str(r).encode()) for r in entry.get("Resources") or [] if r is not None)


def _attribute_size(name: str, value: dict[str, Any]) -> int:
    """An SQS message attribute counts its name, its data type and its value."""
    if value.get("BinaryValue") is not None:
        data = value["BinaryValue"]
        size = len(data) if isinstance(data, bytes) else len(base64.b64decode(data))
    else:
        size = len(str(value.get("StringValue") or "").encode())
    return len(name.encode()) + len(str(value.get("DataType", "")).encode()) + size


class RequestMeter:
    """Every AWS request the emulator answers, by service and operation, with the items each
    DynamoDB write touched: what a deployment would be billed for (the bench's cost figures), the
    largest transaction, and every answer the emulator failed to give (a 5xx of its own, which
    AWS would not have answered), written to `error_log` as the service and operation only."""

    def __init__(self, error_log: Path | None = None) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.written_items: Counter[str] = Counter()
        self.largest_transaction: Counter[str] = Counter()  # operation -> most items in one call
        self.server_errors: list[tuple[str, str, int]] = []
        self.error_log = error_log
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
            self.largest_transaction[operation] = max(self.largest_transaction[operation], items)

    def failed(self, environ: dict[str, Any], status: int) -> None:
        scope = str(environ.get("HTTP_AUTHORIZATION", "")).split("Credential=", 1)[-1].split("/")
        service = scope[3] if len(scope) > 3 else "unknown"
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = target.rsplit(".", 1)[-1] if target else f"{environ.get('REQUEST_METHOD')}"
        with self._lock:
            self.server_errors.append((service, operation, status))
            if self.error_log is not None:
                with self.error_log.open("a") as log:
                    log.write(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {status} {service} {operation}\n")


def meter_requests(meter: RequestMeter) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def metered(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        meter.record(environ)

        def answered(status: str, headers: Any, *rest: Any) -> Any:
            if int(status.split()[0]) >= 500:
                meter.failed(environ, int(status.split()[0]))
            return start_response(status, headers, *rest)

        return original(self, environ, answered)

    DomainDispatcherApplication.__call__ = metered  # type: ignore[method-assign]


@dataclass
class Fault:
    """One armed refusal: requests for `operation` of `service` (its signing name, `states`,
    `dynamodb`...) whose JSON body `when` accepts are answered with AWS's error shape, `times`
    times."""

    service: str
    operation: str
    code: str
    message: str
    status: int = 400
    when: Callable[[dict[str, Any]], bool] | None = None
    times: int = 1


class Faults:
    """A test facility, never armed by the platform itself: the emulator refuses the next
    matching requests as AWS would when it refuses them (throttled past the SDK's retries, a
    service error), so a test can show what the platform does about a call that failed. Only
    JSON-protocol services (`X-Amz-Target`: Step Functions, DynamoDB, EventBridge...)."""

    def __init__(self) -> None:
        self._armed: list[Fault] = []
        self.fired: list[tuple[str, str, str]] = []  # (service, operation, code), in order
        self._lock = threading.Lock()

    def fail_next(
        self,
        service: str,
        operation: str,
        code: str,
        message: str,
        *,
        status: int = 400,
        when: Callable[[dict[str, Any]], bool] | None = None,
        times: int = 1,
    ) -> Fault:
        fault = Fault(service, operation, code, message, status, when, times)
        with self._lock:
            self._armed.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, environ: dict[str, Any]) -> Fault | None:
        """The armed fault this request meets, if any (spent by one), leaving the body readable."""
        if not self._armed:
            return None
        scope = str(environ.get("HTTP_AUTHORIZATION", "")).split("Credential=", 1)[-1].split("/")
        service = scope[3] if len(scope) > 3 else ""
        operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).rsplit(".", 1)[-1]
        with self._lock:
            candidates = [f for f in self._armed if (f.service, f.operation) == (service, operation)]
            if not candidates:
                return None
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads it after us
            request = json.loads(body or b"{}")
            for fault in candidates:
                if fault.when is None or fault.when(request):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._armed.remove(fault)
                    self.fired.append((service, operation, fault.code))
                    return fault
        return None


def inject_faults(faults: Faults) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def faulty(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        fault = faults.take(environ)
        if fault is None:
            return original(self, environ, start_response)
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
        start_response(
            f"{fault.status} Refused",
            [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
        )
        return [body]

    DomainDispatcherApplication.__call__ = faulty  # type: ignore[method-assign]


class Emulator:
    """moto's threaded server on a loopback port."""

    def __init__(self, port: int, error_log: Path | None = None) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        configure_moto(port)
        apply_aws_parity()
        # moto's server logs every request line; the platform's output is its own.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = port
        self.meter = RequestMeter(error_log)
        meter_requests(self.meter)
        self.faults = Faults()  # tests arm it; nothing else does
        inject_faults(self.faults)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        if self._server._thread is not None:  # not for a start refused before it served
            self._server.stop()
        # moto keeps its state in this process: a platform started here later begins empty.
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
