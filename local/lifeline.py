"""Every process of the local platform ends with the one that started it, even when that one is
killed with SIGKILL and nothing of it runs to stop them: otherwise a stand-in would go on writing
the state directory the next start opens again, and hold its ports."""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """In a child of `parent`, between fork and exec (or in a forked worker): be sent SIGKILL
    when the parent ends, and end now if it already has. Linux sends it when the parent's thread
    that forked ends, so a process spawned from a short-lived thread must not ask for it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        os._exit(1)


def tied_to_this_process() -> Callable[[], None]:
    """A `preexec_fn` for subprocess: the child dies with this process."""
    parent = os.getpid()
    return lambda: die_with(parent)
