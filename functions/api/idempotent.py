"""`Idempotency-Key` on every state-changing POST: one rule, opted into by a route in one line.

A key is scoped to the caller and the route (the table is the tenant's own, so the tenant too) and
kept 24 hours. The same key with the same request (path and body) replays the first answer, its
status and body, even after the record moved on; with another request it is a 422; another
caller's same key is theirs alone. The key is looked up before the route runs, so before its rules:
a late retry of a booking that went through gets its 201, not the 409 its own success made true.

Two ways to keep the answer, one rule:

- `in_transaction()`: the route's write is one DynamoDB transaction, and the idempotency record
  is one of its items (the design guide's rule): the change and its answer commit together, so no
  crash between them leaves a retry meeting the change's own rule. The route hands the service
  `context.idempotency(answer)`, the function that makes its response from the change.
- `by_record()`: the route does more than one write (a Chime meeting, then the table), so
  Powertools' idempotency utility keeps its answer: a record in progress before the route runs,
  completed with the answer after it; a failure deletes it, so a retry runs again.

    @router.post("/v1/...", middlewares=[idempotent.by_record()])

Answers that carry a secret (a join link, a join token) are kept sealed by the key itself, so the
table never holds a working link or token: `sealed` names those fields.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.encoders import jsonable_encoder
from pydantic import BaseModel

from telehealth.domain.scheduling import SchedulingError

if TYPE_CHECKING:  # the services' types: the services load on first use, not at import
    from telehealth.application.booking import Idempotency
    from telehealth.ports import IdempotencyClaim

KEY_HEADER = "Idempotency-Key"
KEPT_FOR = timedelta(hours=24)
SEALED = "sealed:"

Middleware = Callable[[Any, NextMiddleware], Response[Any]]

_current: ContextVar[KeyedRequest | None] = ContextVar("keyed_request", default=None)


@dataclass(frozen=True)
class KeyedRequest:
    caller: str
    route: str  # method and resource template: the path's ids are in the payload hash
    key: str
    payload_hash: str
    sealed: tuple[str, ...]

    def claim(self, response: str = "") -> IdempotencyClaim:
        from telehealth.ports import IdempotencyClaim

        return IdempotencyClaim(self.caller, self.route, self.key, self.payload_hash, response)

    def kept(self, response: Response[Any]) -> str:
        """The answer as a retry will get it back (secrets sealed by the key)."""
        body = response.body
        if isinstance(body, BaseModel):
            body = jsonable_encoder(body)  # as the resolver serialises it
        elif isinstance(body, str | bytes):
            body = json.loads(body) if body else None
        for field in self.sealed:
            _at(body, field, self._sealing(field))
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        return json.dumps(
            {"status": response.status_code, "body": body, "type": response.content_type, "headers": headers}
        )

    def replayed(self, kept: str) -> Response[str]:
        answer = json.loads(kept)
        body = answer["body"]
        for field in self.sealed:
            _at(body, field, self._unsealed(field))
        return Response(
            status_code=answer["status"],
            content_type=answer["type"],
            body=json.dumps(body) if body is not None else "",
            headers=answer["headers"],
        )

    def _sealing(self, field: str) -> Callable[[str], str]:
        def seal(value: str) -> str:
            return SEALED + _xor(self._pad(field, len(value.encode())), value.encode())

        return seal

    def _unsealed(self, field: str) -> Callable[[str], str]:
        def unseal(value: str) -> str:
            raw = base64.urlsafe_b64decode(value.removeprefix(SEALED))
            return _xor(self._pad(field, len(raw)), raw, encode=False)

        return unseal

    def _pad(self, field: str, length: int) -> bytes:
        """A one-time pad from the client's key: only a request carrying the key can open it, and
        a key seals one answer (its record is written once)."""
        pad, block = b"", 0
        while len(pad) < length:
            scope = f"{self.caller}|{self.route}|{field}|{block}".encode()
            pad += hmac.new(self.key.encode(), scope, hashlib.sha256).digest()
            block += 1
        return pad[:length]


def _xor(pad: bytes, data: bytes, *, encode: bool = True) -> str:
    mixed = bytes(a ^ b for a, b in zip(data, pad, strict=True))
    return base64.urlsafe_b64encode(mixed).decode() if encode else mixed.decode()


def _at(body: Any, field: str, change: Callable[[str], str]) -> None:
    """Apply `change` to the string at a dotted path of a JSON body, if it is there (a number
    steps into a list: `extension.0.valueString`)."""
    *parents, last = field.split(".")
    for name in parents:
        body = _step(body, name)
    if (
        isinstance(body, list)
        and last.isdigit()
        and int(last) < len(body)
        and isinstance(body[int(last)], str)
    ):
        body[int(last)] = change(body[int(last)])
    elif isinstance(body, dict) and isinstance(body.get(last), str):
        body[last] = change(body[last])


def _step(body: Any, name: str) -> Any:
    if isinstance(body, dict):
        return body.get(name)
    if isinstance(body, list) and name.isdigit() and int(name) < len(body):
        return body[int(name)]
    return None


def keyed(app: Any, sealed: Sequence[str] = ()) -> KeyedRequest | None:
    """The request's key, scope and payload hash; None when it carries no key."""
    from functions.api import context

    headers = app.current_event.headers or {}
    key = next((v for k, v in headers.items() if k.lower() == KEY_HEADER.lower()), None)
    if not key:
        return None
    if not 8 <= len(key) <= 128 or not key.isascii() or not key.isprintable():
        raise SchedulingError("Idempotency-Key must be 8 to 128 printable ASCII characters")
    event = app.current_event
    body = event.body
    try:
        payload = json.loads(body) if body else None
    except ValueError:  # validation has passed by now; a body that is not JSON is hashed as it is
        payload = body
    asked = json.dumps({"path": event.path, "body": payload}, sort_keys=True, default=str)
    return KeyedRequest(
        caller=context.caller(app).subject,
        route=f"{event.http_method} {event.resource or event.path}",
        key=key,
        payload_hash=hashlib.sha256(asked.encode()).hexdigest(),
        sealed=tuple(sealed),
    )


@contextmanager
def _current_request(request: KeyedRequest) -> Iterator[None]:
    token = _current.set(request)
    try:
        yield
    finally:
        _current.reset(token)


def current(answer: Callable[[Any], Response[Any]]) -> Idempotency | None:
    """For a route under `in_transaction()`: the key, and how to keep the route's answer to the
    change, for the service to write inside the change's transaction."""
    from telehealth.application.booking import Idempotency

    request = _current.get()
    if request is None:
        return None
    return Idempotency(
        caller=request.caller,
        route=request.route,
        key=request.key,
        payload_hash=request.payload_hash,
        answer=lambda result: request.kept(answer(result)),
    )


def in_transaction(sealed: Sequence[str] = ()) -> Middleware:
    def idempotent_in_transaction(app: Any, next_middleware: NextMiddleware) -> Response[Any]:
        from functions import services
        from telehealth.ports import IdempotentReplay

        request = keyed(app, sealed)
        if request is None:
            return next_middleware(app)
        try:
            # Raises the mismatch (422) too; an expired record counts as none.
            services.idempotency_records().replay_if_claimed(request.claim(), services.now())
            with _current_request(request):
                return next_middleware(app)
        except IdempotentReplay as replay:  # kept before, or by a twin request that committed first
            return request.replayed(replay.response)

    return idempotent_in_transaction


def by_record(sealed: Sequence[str] = ()) -> Middleware:
    def idempotent_by_record(app: Any, next_middleware: NextMiddleware) -> Response[Any]:
        from aws_lambda_powertools.utilities.idempotency import idempotent_function

        request = keyed(app, sealed)
        if request is None:
            return next_middleware(app)
        config = _config()
        if app.lambda_context is not None:
            # A record left in progress by a crash frees the key when this invocation would have
            # timed out, rather than blocking retries for the key's whole life.
            config.register_lambda_context(app.lambda_context)

        @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
            data_keyword_argument="asked",
            persistence_store=_records(request.caller),
            config=config,
            key_prefix="api",
        )
        def answer(asked: dict[str, str]) -> dict[str, Any]:
            kept: dict[str, Any] = json.loads(request.kept(next_middleware(app)))
            return kept

        kept = answer(asked={"route": request.route, "key": request.key, "payload": request.payload_hash})
        return request.replayed(json.dumps(kept))

    return idempotent_by_record


def _config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="[route, key]",
        payload_validation_jmespath="payload",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=int(KEPT_FOR.total_seconds()),
        hash_function="sha256",
    )


def _records(caller: str) -> Any:
    """Powertools' records in the clinic table: partitioned by caller (so one caller's key never
    finds another's answer, and no one partition takes every record), expiring by the table's TTL
    attribute."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from functions import services

    return DynamoDBPersistenceLayer(
        table_name=os.environ["TABLE_NAME"],
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=f"IDEMPOTENCY#{caller}",
        expiry_attr="expires_at",
        boto3_client=services.table_client(),
    )
