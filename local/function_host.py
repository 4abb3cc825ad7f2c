"""A tenant's functions, hosted the way Lambda hosts them: `python -m local.function_host`.

The host imports every handler once, with the tenant's environment (the one environment all its
functions share in the stack too, so no setting leaks between tenants), and then starts nothing
by itself: on `spawn <function key> <ticket>` from the platform's control socket it forks an
*execution environment* for that function, a process that serves one invocation at a time on a
loopback port of its own and says `ready <ticket> <port> <pid>` back. The platform starts environments
as invocations run side by side, up to the function's reserved concurrency, and reuses idle ones,
as Lambda does. Handlers (and Powertools' resolver, which keeps the current event on the class)
are written for one invocation at a time per environment; forking from the preloaded host makes a
new environment cost milliseconds, the imports being paid once.

An environment answers `POST /invoke` with the handler's result, or Lambda's error shape and an
`X-Function-Error` header, and reports the handler's own duration in `X-Handler-Ms`.

The host serves the tenant's functions only (those of its enabled features), as the platform
lists them in `FUNCTION_HOST_SETTINGS`, with what each is told beyond the tenant's environment
(its third parties' stand-ins and secrets: the payments function alone learns where Stripe is) and
where each may connect. A forked environment takes its function's settings and installs the egress
guard (`local.egress`) before it serves: any other socket is refused. `probe <key> <ticket> <host>
<port>` forks an environment's process the same way and says whether it could connect there.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

from infra import topology
from local import lifeline

Handler = Callable[[Any, Any], Any]
_handlers: dict[str, Handler] = {}
SETTINGS_VARIABLE = "FUNCTION_HOST_SETTINGS"
# Per function key: {"environment": {...}, "endpoints": [[address, port], ...]}.
_settings: dict[str, dict[str, Any]] = {}


class LambdaContext:
    """What Lambda passes as `context`, as far as handlers and Powertools read it."""

    def __init__(self, function: topology.Function, tenant_id: str, request_id: str) -> None:
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self.function_name = function.name(tenant_id)
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = function.memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = request_id
        self.log_group_name = f"/telehealth/{tenant_id}/lambda/{function.key}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _handler(function: topology.Function) -> Handler:
    if function.key not in _handlers:
        module_name, attribute = function.handler.rsplit(".", 1)
        _handlers[function.key] = getattr(importlib.import_module(module_name), attribute)
    return _handlers[function.key]


class _Invoke(BaseHTTPRequestHandler):
    """One execution environment's invoke endpoint: the function it was started for, only."""

    server_version = "telehealth-function-environment"
    function: ClassVar[topology.Function]

    def do_POST(self) -> None:
        event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        context = LambdaContext(self.function, os.environ["TENANT_ID"], self.headers.get("X-Request-Id", ""))
        started = time.perf_counter()
        error = False
        try:
            result = _handler(self.function)(event, context)
        except Exception as exc:
            error = True
            result = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
        elapsed_ms = (time.perf_counter() - started) * 1000
        body = json.dumps(result).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Handler-Ms", f"{elapsed_ms:.3f}")
        if error:
            self.send_header("X-Function-Error", "Unhandled")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines would say nothing the platform's own output does not


class _Environment(HTTPServer):
    """Not threaded: an environment runs one invocation at a time, as in Lambda."""

    request_queue_size = 16


def _enter(function: topology.Function) -> None:
    """In a forked child: become `function`'s environment. Its own settings join the tenant's
    environment, and from here on it may connect only to its endpoints."""
    from local import egress

    settings = _settings[function.key]
    os.environ.update(settings["environment"])
    egress.install(function.key, frozenset((str(h), int(p)) for h, p in settings["endpoints"]))


def _serve_environment(function: topology.Function, ticket: str, control: socket.socket) -> None:
    """In the forked child: listen, say where, serve until the platform stops the host."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _enter(function)
    handler = type("Invoke", (_Invoke,), {"function": function})
    server = _Environment(("127.0.0.1", 0), handler)
    control.send(f"ready {ticket} {server.server_address[1]} {os.getpid()}".encode())
    control.close()
    from local.parity import recorder

    recorder.start(f"function:{function.key}")
    server.serve_forever()


def _probe(function: topology.Function, ticket: str, host: str, port: int, control: socket.socket) -> None:
    """In a forked child: as `function`'s environment would, try to connect to host:port."""
    from local import egress

    _enter(function)
    control.send(f"{egress.probe(host, port)} {ticket} 0 {os.getpid()}".encode())
    control.close()


def serve(control: socket.socket) -> None:
    """The zygote: fork an environment per request until the platform closes the socket."""
    functions = {f.key: f for f in topology.FUNCTIONS if f.key in _settings}
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    while message := control.recv(256):
        verb, key, ticket, *where = message.decode().split()
        if key not in functions:
            control.send(f"unknown {ticket} 0 0".encode())
            continue
        sys.stdout.flush()
        host = os.getpid()
        if os.fork() == 0:
            status = 0
            try:
                lifeline.die_with(host)  # an environment ends with its host, killed or not
                if verb == "probe":
                    _probe(functions[key], ticket, where[0], int(where[1]), control)
                else:
                    _serve_environment(functions[key], ticket, control)
            except BaseException:
                traceback.print_exc()  # into the host's log: a child's failure must not be silent
                status = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)


def _warm_botocore() -> None:
    """Load the AWS service models the functions use, once, before any fork: every environment
    inherits them instead of parsing them at its first call. Clients made here are dropped
    unused (no connection is opened, so no socket is shared with a fork)."""
    import boto3

    from local.parity.actions import OPERATIONS  # every AWS call the platform makes, by service

    for service in sorted({service for service, _ in OPERATIONS}):
        boto3.client(service)


def _warm_services() -> None:
    """Import what the functions' services load on first use (functions/services.py), once, before
    any fork, as the handlers' own imports no longer include them (a cold start in Lambda pays
    only for what it uses): each environment then builds its services without re-importing their
    modules. Payments stay out (Stripe is the payments environment's alone)."""
    import pkgutil

    import telehealth.adapters
    import telehealth.application

    for package in (telehealth.application, telehealth.adapters):
        for found in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            if "payments" not in found.name:
                importlib.import_module(found.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--control-fd", type=int, required=True, help="the platform's control socket")
    parser.add_argument("--preload", action="store_true", help="import every handler before serving")
    args = parser.parse_args()
    # The functions' own settings are the host's to hand out, not part of anyone's environment.
    _settings.update(json.loads(os.environ.pop(SETTINGS_VARIABLE)))
    if args.preload:
        for function in topology.FUNCTIONS:
            if function.key in _settings:
                _handler(function)
        _warm_botocore()
        _warm_services()
    serve(socket.socket(fileno=args.control_fd))


if __name__ == "__main__":
    main()
