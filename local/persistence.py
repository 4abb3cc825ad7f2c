"""The emulated AWS on disk: what `make run` keeps across a restart, and a kill -9.

moto keeps every service's state in this process's memory and offers nothing to save it, so the
platform keeps two files per state directory:

- `snapshot.pickle`: every moto backend as it stood when the emulator was quiet (taken after start-up
  and at a clean stop), pickled with reducers for what moto holds that pickle refuses (locks, keys,
  weak maps). Step Functions executions are left out: they are threads, and they do not survive
  moto's process in any case; the visit reconciler starts a lifecycle again for every open visit.
- `journal.bin`: every request that changed state since that snapshot, appended before its answer
  leaves, so a write the emulator acknowledged survives a kill -9. At start the snapshot is loaded
  and the journal replayed in the order the writes were applied (journaled writes take turns), each
  with the random seed it was first answered with: moto draws its ids (a user's `sub`, a pool
  client's secret, a queue message's id) from one random source, so a replayed write makes the same
  ids the first one did.

What is not journaled: reads, and requests whose effect is not state that outlives the process
(invocations, executions, events put on a bus, messages received). A message received and deleted
since the snapshot comes back after a kill -9 (SQS is at-least-once; every consumer here is
idempotent); a clean stop keeps its deletion.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import io
import json
import os
import pickle
import random
import secrets
import struct
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SNAPSHOT = "snapshot.pickle"
JOURNAL = "journal.bin"

# Set while the journal is replayed: moto's side effects of a write (stream records to a consumer,
# events to a rule's targets) happened when the write was first made.
REPLAYING = threading.Event()

# Journaled writes take turns: the journal's order is the order they were applied in.
_WRITES = threading.Lock()


class _Turn(threading.local):
    deferred: list[Callable[[], None]] | None = None  # set while this thread's write has the turn


_turn = _Turn()


def after_turn(work: Callable[[], None]) -> None:
    """Run `work` once the write being answered has left its turn, or now outside one. For what a
    write sets off that makes writes of its own (a user pool's trigger writing to a table), which
    would otherwise wait on the turn it is in. An error `work` raises (moto's, a werkzeug
    HTTPException) is the request's answer, as it would have been had it run in the write."""
    if _turn.deferred is None:
        work()
    else:
        _turn.deferred.append(work)


# --- moto's one random source, per request -------------------------------------------------------


class _RequestRandom(threading.local):
    generator: random.Random | None = None


_request_random = _RequestRandom()


def _draws_per_request() -> None:
    """While a thread answers a journaled request, moto's random source draws from a generator
    seeded for that request alone: other threads' draws cannot change what it makes."""
    from moto.moto_api._internal.moto_random import MotoRandom

    if getattr(MotoRandom, "_per_request", False):
        return
    shared_random, shared_bits = MotoRandom.random, MotoRandom.getrandbits

    def draw(self: random.Random) -> float:
        own = _request_random.generator
        return own.random() if own is not None else shared_random(self)

    def bits(self: random.Random, k: int) -> int:
        own = _request_random.generator
        return own.getrandbits(k) if own is not None else shared_bits(self, k)

    MotoRandom.random = draw  # type: ignore[method-assign,assignment]
    MotoRandom.getrandbits = bits  # type: ignore[method-assign,assignment]
    MotoRandom._per_request = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    _request_random.generator = random.Random(seed)  # noqa: S311 (ids of an emulator, not secrets)
    try:
        yield
    finally:
        _request_random.generator = None


# --- Which requests change state -----------------------------------------------------------------

_READ_PREFIXES: tuple[str, ...] = (
    *("Get", "Describe", "List", "Query", "Scan", "BatchGet", "TransactGet", "Head", "Search"),
    *("Decrypt", "Encrypt", "GenerateDataKey", "GenerateRandom", "Sign", "Verify", "Test"),
)
# Effects that are not state outliving the process, or that a replay must not repeat.
_NOT_STATE = frozenset(
    {
        "StartExecution",
        "StartSyncExecution",
        "StopExecution",
        "SendTaskSuccess",
        "SendTaskFailure",
        "SendTaskHeartbeat",
        "PutEvents",
        "ReceiveMessage",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "DeleteMessage",
        "DeleteMessageBatch",
        "PutMetricData",
        "PutLogEvents",
        "AssumeRole",
        "GetCallerIdentity",
    }
)
# Writes whose names read like reads.
_WRITES_NAMED_LIKE_READS = frozenset({"VerifySoftwareToken", "VerifyUserAttribute", "VerifyEmailIdentity"})


def operation_of(environ: dict[str, Any], body: bytes) -> str:
    """The request's operation: the JSON protocol's target, the query protocol's Action, or (for
    REST services) the method and path."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rsplit(".", 1)[-1]
    query = str(environ.get("QUERY_STRING", ""))
    form = body.decode("latin-1") if "x-www-form-urlencoded" in str(environ.get("CONTENT_TYPE")) else ""
    for pair in f"{query}&{form}".split("&"):
        if pair.startswith("Action="):
            return pair.removeprefix("Action=")
    return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


def changes_state(operation: str) -> bool:
    if " " in operation:  # REST: S3, Lambda
        method, path = operation.split(" ", 1)
        return method not in ("GET", "HEAD", "OPTIONS") and not path.endswith("/invocations")
    # Cognito's administrators read too: AdminGetUser, AdminListGroupsForUser.
    if operation in _WRITES_NAMED_LIKE_READS:
        return True
    return operation not in _NOT_STATE and not operation.removeprefix("Admin").startswith(_READ_PREFIXES)


# --- The journal -----------------------------------------------------------------------------------

_HEADER = struct.Struct(">III")  # meta length, body length, crc32 of both
# A journal opens with the generation of the snapshot it follows: a journal the snapshot already
# holds (a kill between writing the snapshot and emptying the journal) is not replayed on top.
_GENERATION = struct.Struct(">8sQ")
_MAGIC = b"THJRNL01"
_CGI = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_NAME")


@dataclass(frozen=True)
class Entry:
    environ: dict[str, str]  # the CGI and HTTP_* variables of the request
    body: bytes
    seed: int


def _encode(entry: Entry) -> bytes:
    meta = json.dumps({"environ": entry.environ, "seed": entry.seed}).encode()
    return _HEADER.pack(len(meta), len(entry.body), zlib.crc32(meta + entry.body)) + meta + entry.body


def read_journal(path: Path) -> tuple[int | None, list[Entry], int]:
    """The generation the journal follows (None: empty), its whole entries, and the length they end
    at: a write cut short by a kill (its answer never left) is not an entry."""
    data = path.read_bytes() if path.exists() else b""
    if len(data) < _GENERATION.size:
        return None, [], 0
    magic, generation = _GENERATION.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError(f"{path} is not a journal of this platform")
    entries, at = [], _GENERATION.size
    while at + _HEADER.size <= len(data):
        meta_length, body_length, crc = _HEADER.unpack_from(data, at)
        start, end = at + _HEADER.size, at + _HEADER.size + meta_length + body_length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        meta = json.loads(data[start : start + meta_length])
        entries.append(Entry(meta["environ"], data[start + meta_length : end], meta["seed"]))
        at = end
    return generation, entries, at


class Journal:
    """Appends each acknowledged write; a write's answer waits for its entry. Once an append has
    failed (a full disk) nothing more is acknowledged: a later entry replayed without the lost one
    would make another state than the one answered."""

    def __init__(self, path: Path, generation: int) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.entries = 0
        self.broken: OSError | None = None
        if os.fstat(self._fd).st_size == 0:
            self._write(_GENERATION.pack(_MAGIC, generation))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # in the kernel's hands once written: a kill of this process keeps it
            view = view[os.write(self._fd, view) :]

    def append(self, entry: Entry) -> None:
        if self.broken is not None:
            raise self.broken
        try:
            self._write(_encode(entry))
        except OSError as error:
            self.broken = error
            raise
        self.entries += 1

    def restart(self, generation: int) -> None:
        """Empty, following the snapshot of `generation`."""
        os.ftruncate(self._fd, 0)
        self._write(_GENERATION.pack(_MAGIC, generation))
        self.entries = 0

    @property
    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        os.close(self._fd)


def _recorded(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if isinstance(v, str) and (k in _CGI or k.startswith("HTTP_"))}


# The journal of each emulator in this process, by its port (tests run other moto servers here).
_journals: dict[str, Journal] = {}


def _journal_requests() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from werkzeug.exceptions import HTTPException

    if getattr(DomainDispatcherApplication, "_journaled", False):
        return
    original = DomainDispatcherApplication.__call__

    def journaled(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        journal = _journals.get(str(environ.get("SERVER_PORT")))
        if journal is None or REPLAYING.is_set():
            return original(self, environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        if not changes_state(operation_of(environ, body)):
            return original(self, environ, start_response)
        if journal.broken is not None:
            refusal = json.dumps({"__type": "ServiceUnavailable", "message": "the state journal failed"})
            start_response("503 Service Unavailable", [("Content-Type", "application/x-amz-json-1.0")])
            return [refusal.encode()]
        seed = secrets.randbits(63)
        answered: list[tuple[str, Any]] = []

        def status_of(status: str, headers: Any, *rest: Any) -> Any:
            answered.append((status, headers))
            return lambda data: None  # moto answers with the iterable alone

        _turn.deferred = []
        try:
            with _WRITES, _seeded(seed):
                # The whole answer is made here, under the turn: it leaves after its entry is written.
                chunks = list(original(self, environ, status_of))
                if answered and 200 <= int(answered[0][0].split()[0]) < 300:
                    journal.append(Entry(_recorded(environ), body, seed))
        finally:
            deferred, _turn.deferred = _turn.deferred, None
        for work in deferred:
            try:
                work()
            except HTTPException as error:
                return error(environ, start_response)
        start_response(*answered[0])
        return chunks

    DomainDispatcherApplication.__call__ = journaled  # type: ignore[method-assign]
    DomainDispatcherApplication._journaled = True  # type: ignore[attr-defined]


# --- The snapshot ----------------------------------------------------------------------------------


def _backend_dicts() -> dict[tuple[str, str], Any]:
    """Every moto BackendDict in use, by the module and name it is defined under."""
    from moto.core.base_backend import BackendDict

    instances = {id(b) for b in list(BackendDict._instances)}  # type: ignore[misc]
    found: dict[tuple[str, str], Any] = {}
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("moto.") or module is None:
            continue
        for name, value in list(vars(module).items()):
            if isinstance(value, BackendDict) and id(value) in instances:
                instances.discard(id(value))  # once, under the first module that names it
                found[(module_name, name)] = value
    return found


def _new_lock() -> Any:
    return threading.RLock()


def _new_plain_lock() -> Any:
    return threading.Lock()


def _private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(pem, password=None)


def _defaults(factory: type, items: dict[Any, Any]) -> collections.defaultdict[Any, Any]:
    return collections.defaultdict(factory, items)


def _weak_values(items: dict[Any, Any]) -> weakref.WeakValueDictionary[Any, Any]:
    return weakref.WeakValueDictionary(items)


class _Pickler(pickle.Pickler):
    """Pickles moto's objects, with a stand-in for what pickle refuses and without executions."""

    def reducer_override(self, obj: Any) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from moto.stepfunctions.models import StateMachineInstance

        kind = type(obj)
        if kind is _RLOCK:
            return _new_lock, ()
        if kind is _LOCK:
            return _new_plain_lock, ()
        if isinstance(obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            pem = obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key, (pem,)
        if kind is collections.defaultdict and getattr(obj.default_factory, "__name__", "") == "<lambda>":
            # moto's `defaultdict(lambda: {})`: a factory of a plain type, by that type.
            return _defaults, (type(obj.default_factory()), dict(obj))
        if kind is weakref.WeakValueDictionary:
            return _weak_values, (dict(obj),)
        if isinstance(obj, StateMachineInstance):
            # Not its executions: they run on threads of this process, and end with it.
            return object.__new__, (kind,), {**vars(obj), "executions": []}
        return NotImplemented


_RLOCK, _LOCK = type(threading.RLock()), type(threading.Lock())


@dataclass(frozen=True)
class Restored:
    snapshot: bool  # a snapshot was loaded
    replayed: int  # journaled writes replayed
    refused: int  # of those, answered otherwise than the first time (logged by operation)
    seconds: float


class AwsState:
    """One emulator's state directory: restore it before the emulator serves, journal its writes
    while it does, and compact (snapshot, empty journal) when it is quiet."""

    def __init__(self, directory: Path, log: Callable[[str], None] = lambda _: None) -> None:
        self.directory = directory
        self.log = log
        self.journal: Journal | None = None
        self.generation = 0  # of the snapshot the state stands on
        self._port: str | None = None

    @property
    def snapshot_path(self) -> Path:
        return self.directory / SNAPSHOT

    @property
    def journal_path(self) -> Path:
        return self.directory / JOURNAL

    def exists(self) -> bool:
        return self.snapshot_path.exists() or self.journal_path.exists()

    def restore(self) -> Restored:
        """Load the snapshot and replay the journal into this process's moto."""
        _draws_per_request()
        started = time.perf_counter()
        loaded = self.snapshot_path.exists()
        if loaded:
            with self.snapshot_path.open("rb") as file:
                saved = pickle.load(file)  # noqa: S301 (the platform's own file, in its own directory)
            self.generation = saved["generation"]
            _put_back(saved["backends"])
        followed, entries, end = read_journal(self.journal_path)
        if followed is not None and followed < self.generation:
            entries, end = [], 0  # already in the snapshot
            self.log(f"journal of generation {followed} is in snapshot {self.generation}: not replayed")
        if self.journal_path.exists() and end < self.journal_path.stat().st_size:
            self.log(f"journal cut back from {self.journal_path.stat().st_size} to {end} bytes")
            os.truncate(self.journal_path, end)  # the cut-short entry of a kill, or one already held
        refused = _replay(entries, self.log)
        return Restored(loaded, len(entries), refused, time.perf_counter() - started)

    def record(self, port: int) -> None:
        """Journal the writes the emulator on `port` acknowledges from now on."""
        _draws_per_request()
        _journal_requests()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.journal_path, self.generation)
        self._port = str(port)
        _journals[self._port] = self.journal

    def compact(self) -> None:
        """Snapshot every backend and empty the journal, while writes wait their turn (DynamoDB's
        reads too: moto's reads are not read-only)."""
        from local.emulator import DYNAMODB_TURNS

        with _WRITES, DYNAMODB_TURNS:
            # Pickled in memory while writes wait; written to disk after, while they go on.
            backends = [
                (module, name, account, region, backend)
                for (module, name), backend_dict in _backend_dicts().items()
                for account, regions in list(backend_dict.items())
                for region, backend in list(regions.items())
            ]
            generation = self.generation + 1
            # On disk before the journal is emptied, so at every moment a snapshot and the journal
            # that follows it hold every acknowledged write (the writes wait for the few ms).
            buffer = io.BytesIO()
            _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
                {"generation": generation, "backends": backends}
            )
            temporary = self.snapshot_path.with_suffix(".tmp")
            try:
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(descriptor, "wb") as file:
                    file.write(buffer.getbuffer())
                    file.flush()
                    os.fsync(file.fileno())
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            temporary.replace(self.snapshot_path)
            self.generation = generation
            if self.journal is not None:
                self.journal.restart(generation)
            else:
                self.journal_path.unlink(missing_ok=True)

    def close(self) -> None:
        with _WRITES:  # not while a write is being journaled
            if self._port is not None:
                _journals.pop(self._port, None)
            if self.journal is not None:
                self.journal.close()
                self.journal = None

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in (self.snapshot_path, self.journal_path) if p.exists())


def _put_back(backends: Iterable[tuple[str, str, str, str, Any]]) -> None:
    for module, name, account, region, backend in backends:
        backend_dict = getattr(importlib.import_module(module), name)
        dict.__setitem__(backend_dict[account], region, backend)


def _replay(entries: list[Entry], log: Callable[[str], None]) -> int:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    refused = 0
    REPLAYING.set()
    try:
        for entry in entries:
            environ: dict[str, Any] = {
                **entry.environ,
                "SERVER_PORT": "replay",
                "wsgi.input": io.BytesIO(entry.body),
                "wsgi.url_scheme": "http",
                "wsgi.errors": sys.stderr,
                "CONTENT_LENGTH": str(len(entry.body)),
            }
            answered: list[int] = []

            def status_of(status: str, *_: Any, answered: list[int] = answered) -> None:
                answered.append(int(status.split()[0]))

            with _WRITES, _seeded(entry.seed):
                for _ in app(environ, status_of):
                    pass
            if not answered or answered[0] >= 300:
                refused += 1
                log(f"replay: {operation_of(environ, entry.body)} answered {answered[:1]}")
    finally:
        REPLAYING.clear()
    return refused
