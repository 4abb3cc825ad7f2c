"""Vital signs from a video file: `python -m media_workers.rppg VIDEO [--json]`.

Prints the heart and breathing rate (or why not) as a short summary, or as JSON with --json.
Exits 2 when the file cannot be read as a video.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from media_workers.rppg.estimate import estimate_vitals
from media_workers.rppg.video import VideoError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m media_workers.rppg", description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="a video file (MP4/H.264, WebM, ...)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    arguments = parser.parse_args(argv)
    try:
        vitals = estimate_vitals(arguments.video)
    except VideoError as error:
        print(f"rppg: {error}", file=sys.stderr)
        return 2
    print(vitals.to_json() if arguments.json else vitals.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
