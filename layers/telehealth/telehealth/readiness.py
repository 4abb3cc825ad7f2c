"""Is every component the platform depends on answering? Checked in parallel, with a deadline.

A probe is a callable that returns when its component answers and raises when it does not. The
report names components and says `ok` or `unavailable`, never why: an exception's text can carry
an endpoint or a value, and the health route is public.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

Probe = Callable[[], None]


@dataclass(frozen=True)
class Readiness:
    components: dict[str, str]
    checked_at: float

    @property
    def ready(self) -> bool:
        return all(state == "ok" for state in self.components.values())


def check(
    probes: Mapping[str, Probe], *, timeout_s: float = 3.0, now: Callable[[], float] = time.time
) -> Readiness:
    pool = ThreadPoolExecutor(max_workers=max(1, len(probes)), thread_name_prefix="probe")
    futures = {name: pool.submit(probe) for name, probe in probes.items()}
    deadline = time.monotonic() + timeout_s
    components: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
            components[name] = "ok"
        except Exception:  # a timeout, or the probe's own failure: unavailable either way
            components[name] = "unavailable"
    pool.shutdown(wait=False, cancel_futures=True)
    return Readiness(components, now())
