"""Unit tests run without a network: a socket that tries to connect anywhere fails the test, so a
fake left out (an adapter reached by mistake) shows at once instead of hanging on a timeout."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


class SocketBlockedError(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(self: socket.socket, address: Any) -> None:
        raise SocketBlockedError(f"unit tests open no connections (to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
