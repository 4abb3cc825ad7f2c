"""The egress path, locally: an execution environment connects only where its function may.

In AWS a function in the isolated subnets reaches AWS through the VPC's endpoints and nothing
else, and a function on the egress path also reaches the third parties the DNS firewall lets it
resolve. Locally everything is loopback, so the function host enforces the same list per function:
after it forks an environment for function F, `install` wraps the socket calls that open a
connection (`connect`, `connect_ex`, and `sendto` for datagrams) so that only F's endpoints are
reachable: the emulated AWS (the emulator and the stand-ins of AWS services), and the stand-ins of
the third parties F's topology entry names. Any other address is refused with `ECONNREFUSED` and a
message naming the function and the address, and the refusal is logged.

The list comes from `infra/topology.py` (`Function.egress`), the declaration the stacks' subnets,
security groups and DNS firewall come from. This is a guard against a function reaching what it
should not, not a sandbox: code that opens sockets outside Python's `socket` module (a C library
with its own networking) is not held by it.
"""

from __future__ import annotations

import errno
import socket
import sys
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from infra import topology

Endpoint = tuple[str, int]


class EgressRefusedError(ConnectionRefusedError):
    """A connection the function's configuration does not allow."""


def endpoint_of(url: str) -> Endpoint:
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def urls_for(function: topology.Function, aws: Iterable[str], third_parties: Mapping[str, str]) -> list[str]:
    """Where `function` may connect: every AWS endpoint (the emulator, the stand-ins of AWS
    services), then the stand-in of each third party its topology entry names."""
    return [*aws, *(third_parties[party.key] for party in function.third_parties)]


def resolve(urls: Iterable[str]) -> frozenset[Endpoint]:
    """The (address, port) pairs the URLs' hosts resolve to, as `connect` will be given them."""
    found: set[Endpoint] = set()
    for url in urls:
        host, port = endpoint_of(url)
        for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            found.add((str(info[4][0]), int(info[4][1])))
    return frozenset(found)


_installed: dict[str, Any] = {}


def install(function_key: str, allowed: frozenset[Endpoint], log: TextIO | None = None) -> None:
    """From now on, this process may open connections to `allowed` only (once per process)."""
    if _installed:
        raise RuntimeError(f"egress guard already installed for {_installed['function']}")
    out = log or sys.stderr
    connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _installed.update(function=function_key, allowed=allowed)

    def refused(sock: socket.socket, address: Any) -> str | None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return None  # Unix sockets: the process's own plumbing, not the network
        host, port = str(address[0]), int(address[1])
        if (host, port) in allowed:
            return None
        message = (
            f"egress refused: function {function_key} may not connect to {host}:{port} "
            "(not an endpoint configured for it in infra/topology.py)"
        )
        print(message, file=out, flush=True)
        return message

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if (message := refused(self, address)) is not None:
            raise EgressRefusedError(errno.ECONNREFUSED, message)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if refused(self, address) is not None:
            return errno.ECONNREFUSED
        return connect_ex(self, address)

    def guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
        address = args[-1]
        if (message := refused(self, address)) is not None:
            raise EgressRefusedError(errno.ECONNREFUSED, message)
        return sendto(self, data, *args)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign, assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign, assignment]
    socket.socket.sendto = guarded_sendto  # type: ignore[method-assign, assignment]


def probe(host: str, port: int, timeout_s: float = 2.0) -> str:
    """Try one connection as this process would: `connected`, `refused` (by the guard),
    `closed` (nothing listens there) or `unreachable`."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return "connected"
    except EgressRefusedError:
        return "refused"
    except ConnectionRefusedError:
        return "closed"
    except OSError:
        return "unreachable"
