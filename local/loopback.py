"""The HTTP servers of the local platform: threaded, on loopback, with a real listen backlog.

`http.server` listens with a backlog of 5, so the sixth client arriving at once is reset; twenty
patients booking the same slot at once is exactly what the platform must take.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


class JsonRequestHandler(BaseHTTPRequestHandler):
    """A stand-in's handler that answers JSON over HTTP/1.1 and writes no access log: the requests
    of a third party's API name patients and members, so nothing of them is written anywhere."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _page(self, status: int, text: str, location: str = "") -> None:
        """An HTML page (a third party's sign-in), or a redirect to `location`."""
        body = text.encode()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
