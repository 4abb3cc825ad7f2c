"""A tenant's functions, hosted in one process the way Lambda hosts each: `python -m local.function_host`.

The platform starts one host per tenant with that tenant's environment (the one environment all
its functions share in the stack too), so no function's settings leak into another tenant's. The
host answers `POST /invoke/<function key>` with the handler's result, or Lambda's error shape and
an `X-Function-Error` header, and reports the handler's own duration in `X-Handler-Ms`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from infra import topology
from local.loopback import LoopbackServer

Handler = Callable[[Any, Any], Any]
_handlers: dict[str, Handler] = {}
# One invocation at a time per function, as in one Lambda execution environment: handlers (and
# Powertools' resolver, which keeps the current event on the class) are written for that.
_environments = {f.key: threading.Lock() for f in topology.FUNCTIONS}


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
    server_version = "telehealth-function-host"
    functions: ClassVar[dict[str, topology.Function]] = {f.key: f for f in topology.FUNCTIONS}

    def do_POST(self) -> None:
        key = self.path.removeprefix("/invoke/")
        function = self.functions.get(key)
        if function is None:
            self.send_error(404, "no such function")
            return
        event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        context = LambdaContext(function, os.environ["TENANT_ID"], self.headers.get("X-Request-Id", ""))
        started = time.perf_counter()
        error = False
        try:
            with _environments[function.key]:
                result = _handler(function)(event, context)
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

    def do_GET(self) -> None:  # the platform's readiness probe
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines would say nothing the platform's own output does not


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--preload", action="store_true", help="import every handler before serving")
    args = parser.parse_args()
    if args.preload:
        for function in topology.FUNCTIONS:
            _handler(function)
    server = LoopbackServer(("127.0.0.1", args.port), _Invoke)
    server.serve_forever()


if __name__ == "__main__":
    main()
