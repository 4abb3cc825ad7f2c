"""Run a module as a principal whose AWS calls are recorded: `python -m local.parity task:rppg
media_workers.rppg.worker`. The platform starts media workers this way; the worker's own code
is unchanged, as it runs in its container in AWS."""

from __future__ import annotations

import runpy
import sys

from local.parity import recorder


def main() -> None:
    principal, module, *rest = sys.argv[1:]
    recorder.start(principal)
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
