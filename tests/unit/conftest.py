"""Unit tests run without a network: a socket that tries to connect anywhere fails the test, so a
fake left out (an adapter reached by mistake) shows at once instead of hanging on a timeout.

Only the test's own thread is refused: in a whole-suite run the e2e session's platform lives in
this process too, and its threads (the scheduler, the stream pollers) must go on reaching moto."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest


class SocketBlockedError(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    test = threading.current_thread()

    def refusing(original: Any) -> Any:
        def refuse(self: socket.socket, address: Any) -> Any:
            if threading.current_thread() is not test:
                return original(self, address)
            raise SocketBlockedError(f"unit tests open no connections (to {address!r})")

        return refuse

    monkeypatch.setattr(socket.socket, "connect", refusing(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", refusing(socket.socket.connect_ex))
    yield
