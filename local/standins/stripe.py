"""How the payments stand-in (localstripe) is run so that its state survives a restart.

localstripe writes its whole store to the fixed path `/tmp/localstripe.pickle` on every change,
before it answers, and loads it at start unless `--from-scratch`. It is GPL-licensed and runs
unchanged in a process of its own: we neither patch nor import it. Instead it runs in a private
mount namespace in which the platform's state directory is bind-mounted over `/tmp`, so its
pickle lands in that directory (`<state_dir>/localstripe.pickle`), the host's `/tmp` is not
touched, and two platforms with their own directories never share payments. `unshare` (Debian's
util-linux) makes the namespace as an unprivileged user (a user namespace mapping the caller to
root inside) or, failing that, as root; where the machine allows neither, the stand-in starts
from scratch, as before, and the caller is told why.
"""

from __future__ import annotations

import functools
import pickletools
import subprocess
import tempfile
from pathlib import Path

PICKLE = "localstripe.pickle"  # the name localstripe gives its file in /tmp
NOT_KEPT = (
    "payments stand-in state is not kept: this machine does not allow a private mount namespace "
    "(util-linux `unshare`)"
)
# Inside the namespace: our directory over /tmp, then localstripe itself in place of the shell
# (`exec`), so the process the caller started, and its group, are localstripe's. A checkout under
# /tmp would vanish with it, so its virtual environment (`$4`, relative to /tmp) is bound into our
# directory first, at the same place, and comes along (`--rbind`).
_BIND_AND_RUN = (
    'if [ -n "$4" ]; then mkdir -p "$1/$4" && mount --bind "/tmp/$4" "$1/$4" || exit 1; fi; '
    'mount --rbind "$1" /tmp && exec "$2" --port "$3"'
)
# The namespaces to try, in order: an unprivileged user's, then root's.
_UNSHARES = (
    ("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"),
    ("unshare", "--mount", "--propagation", "private"),
)


@functools.cache
def _unshare() -> tuple[str, ...] | None:
    """The first `unshare` form that can bind a directory of ours over /tmp, tried once."""
    for unshare in _UNSHARES:
        with tempfile.TemporaryDirectory(prefix="stripe-ns-probe-") as probe:
            try:
                done = subprocess.run(
                    [*unshare, "sh", "-c", 'mount --bind "$1" /tmp && : > /tmp/probe', "sh", probe],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0 and (Path(probe) / "probe").exists():
                return unshare
    return None


def namespaces_available() -> bool:
    """Whether this machine lets us run localstripe with a /tmp of our own (tried once)."""
    return _unshare() is not None


def stripe_command(localstripe: Path, port: int, state_dir: Path | None) -> tuple[list[str], str | None]:
    """The command that runs localstripe on `port`, and, when `state_dir` was asked for but its
    state cannot be kept there, the reason, for the caller to print.

    With `state_dir` (created if missing; give localstripe a directory of its own, since it is its
    /tmp), its state is loaded from and written through to `state_dir/localstripe.pickle`. Without
    it, or without namespaces, it starts from scratch (and writes the host's
    /tmp/localstripe.pickle, which it then never reads). A pickle torn by a kill in the middle of
    a write (localstripe writes it in place) would stop localstripe from starting: it is moved
    aside to `localstripe.pickle.torn`, and the reason says so.
    """
    scratch = [str(localstripe), "--port", str(port), "--from-scratch"]
    if state_dir is None:
        return scratch, None
    unshare = _unshare()
    if unshare is None:
        return scratch, NOT_KEPT
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    reason = None
    saved = state_dir / PICKLE
    if saved.exists() and not _whole(saved):
        saved.replace(saved.with_name(f"{PICKLE}.torn"))
        reason = f"payments stand-in state was torn by a kill mid-write: set aside as {PICKLE}.torn"
    environment = localstripe.parent.parent.resolve()  # <venv>/bin/localstripe
    tmp = Path("/tmp")  # noqa: S108 (the path localstripe writes, which the namespace replaces)
    under_tmp = str(environment.relative_to(tmp)) if environment.is_relative_to(tmp) else ""
    command = [
        *unshare, "sh", "-c", _BIND_AND_RUN, "sh", str(state_dir), str(localstripe), str(port), under_tmp,
    ]  # fmt: skip
    return command, reason


def _whole(path: Path) -> bool:
    """Whether the pickle reads to its end (STOP): its opcodes are only parsed, nothing in it is
    imported or built."""
    try:
        with path.open("rb") as data:
            for _ in pickletools.genops(data):  # stops at STOP; raises if the data ends before it
                pass
    except ValueError:
        return False
    return True
