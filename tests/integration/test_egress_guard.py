"""The function host's egress guard on its own: once installed in a process, only the endpoints it
was given can be connected to; everything else is refused before a packet leaves, and logged."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from infra import topology
from local import egress


@pytest.fixture
def listeners() -> Iterator[tuple[int, int]]:
    """Two loopback listeners: one the guarded process may reach, one it may not."""
    a, b = socket.create_server(("127.0.0.1", 0)), socket.create_server(("127.0.0.1", 0))
    yield a.getsockname()[1], b.getsockname()[1]
    a.close()
    b.close()


def _guarded(allowed_port: int, script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter after installing the guard for function `api`."""
    code = textwrap.dedent(
        f"""
        import errno, socket, sys
        from local import egress
        egress.install("api", frozenset({{("127.0.0.1", {allowed_port})}}))
        """
    ) + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )


def test_only_the_allowed_endpoint_can_be_connected_to(listeners: tuple[int, int]) -> None:
    allowed, other = listeners
    run = _guarded(
        allowed,
        f"""
        from local.egress import probe
        print(probe("127.0.0.1", {allowed}), probe("127.0.0.1", {other}), probe("93.184.215.14", 443))
        s = socket.socket()
        print(s.connect_ex(("127.0.0.1", {other})) == errno.ECONNREFUSED)
        import urllib.request
        try:
            urllib.request.urlopen("http://127.0.0.1:{other}/", timeout=2)
        except OSError as error:
            print(type(error).__name__, "refused" in str(error))
        a, b = socket.socketpair(socket.AF_UNIX)  # the process's own plumbing is not the network
        a.send(b"x"); print(b.recv(1))
        """,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["connected refused refused", "True", "URLError True", "b'x'"]
    assert f"egress refused: function api may not connect to 127.0.0.1:{other}" in run.stderr


def test_datagrams_to_other_addresses_are_refused_too(listeners: tuple[int, int]) -> None:
    allowed, _ = listeners
    run = _guarded(
        allowed,
        """
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"q", ("8.8.8.8", 53))
        except ConnectionRefusedError as error:
            print("refused", error.errno == errno.ECONNREFUSED)
        """,
    )
    assert run.stdout.strip() == "refused True", run.stderr


def test_a_functions_endpoints_are_the_emulated_aws_and_its_own_third_parties() -> None:
    aws = ["http://127.0.0.1:4566", "http://127.0.0.1:4567"]
    stand_ins = {"stripe": "http://127.0.0.1:12111"}
    assert egress.urls_for(topology.API, aws, stand_ins) == aws
    assert egress.urls_for(topology.PAYMENTS, aws, stand_ins) == [*aws, "http://127.0.0.1:12111"]
    assert egress.resolve(["http://localhost:8080"]) >= {("127.0.0.1", 8080)}
