"""The HTTP servers of the local platform: threaded, on loopback, with a real listen backlog.

`http.server` listens with a backlog of 5, so the sixth client arriving at once is reset; twenty
patients booking the same slot at once is exactly what the platform must take.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True
