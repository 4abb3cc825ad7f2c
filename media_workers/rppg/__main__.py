"""Entry point of the rPPG worker container.

The measurement itself is built under its own issue; until then the container refuses work
with a clear message rather than inventing a number.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    print("rppg: the vital-signs worker is not built yet; no estimate produced", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
