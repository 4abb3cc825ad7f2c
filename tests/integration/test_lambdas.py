"""Lambda's execution environments as the dispatcher keeps them: reused when idle, one more per
invocation running side by side up to the reserved concurrency, throttled past it (a synchronous
caller) or queued (an asynchronous one), and stopped when a handler outlives its timeout."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.lambdas import (
    Environment,
    Environments,
    FunctionThrottledError,
    HostedFunction,
    LambdaDispatcher,
)

NAME = "telehealth-acme-api"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(event.get("sleep_s", 0))
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Handler-Ms", "1.0")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeHost:
    """Starts an "environment" per request: a loopback server, and a process standing for it."""

    def __init__(self) -> None:
        self.started: list[Environment] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.servers: list[ThreadingHTTPServer] = []

    def start(self, key: str) -> Environment:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        process = subprocess.Popen(["sleep", "60"])
        self.servers.append(server)
        self.processes.append(process)
        environment = Environment(f"http://127.0.0.1:{server.server_address[1]}/invoke", process.pid)
        self.started.append(environment)
        return environment

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
        for process in self.processes:
            process.kill()
            process.wait()


@pytest.fixture
def host() -> Iterator[FakeHost]:
    found = FakeHost()
    yield found
    found.close()


def _dispatcher(host: FakeHost, limit: int, timeout_s: float = 5) -> LambdaDispatcher:
    dispatcher = LambdaDispatcher(lambda *_: None)
    dispatcher.register(HostedFunction(NAME, "api", Environments("api", limit, host), timeout_s, None))  # type: ignore[arg-type]
    return dispatcher


def test_an_idle_environment_takes_the_next_invocation(host: FakeHost) -> None:
    dispatcher = _dispatcher(host, limit=3)
    for _ in range(5):
        assert not dispatcher.invoke(NAME, b"{}").function_error
    assert len(host.started) == 1


def test_past_the_reserved_concurrency_a_synchronous_invoke_is_throttled(host: FakeHost) -> None:
    dispatcher = _dispatcher(host, limit=2)
    slow = json.dumps({"sleep_s": 1.0}).encode()

    def attempt(_: int) -> str:
        try:
            dispatcher.invoke(NAME, slow, throttle=True)
            return "ran"
        except FunctionThrottledError:
            return "throttled"

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = sorted(pool.map(attempt, range(3)))
    assert outcomes == ["ran", "ran", "throttled"]
    assert dispatcher.resolve(NAME).environments.peak == 2


def test_a_waiting_caller_gets_the_next_free_environment(host: FakeHost) -> None:
    dispatcher = _dispatcher(host, limit=1)
    slow = json.dumps({"sleep_s": 0.5}).encode()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: dispatcher.invoke(NAME, slow), range(3)))
    assert not any(r.function_error for r in results)
    assert len(host.started) == 1


def test_a_handler_past_its_timeout_is_stopped_with_its_environment(host: FakeHost) -> None:
    dispatcher = _dispatcher(host, limit=1, timeout_s=0.5)
    result = dispatcher.invoke(NAME, json.dumps({"sleep_s": 3}).encode())
    assert result.function_error
    assert json.loads(result.payload)["errorType"] == "Sandbox.Timedout"
    assert host.processes[0].wait(timeout=5) != 0  # the environment's process was killed
    assert not dispatcher.invoke(NAME, b"{}").function_error  # a new one took its place
    assert len(host.started) == 2
