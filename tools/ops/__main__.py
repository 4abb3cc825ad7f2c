"""`python -m tools.ops <command> --tenant <id> [--local]`: operations on one tenant's stack.

  redrive-parked [--destination fhir|events|workflow]   parked outbox entries back into their lanes
  redrive-dlq QUEUE [--acknowledge]                    a dead-letter queue back to its target
  rebuild-record [--fhir-endpoint URL] [--workers N]   the FHIR store re-projected from the table
                                                       (and the audit archive), into the tenant's
                                                       data store or the one at URL
  check-references [--fhir-endpoint URL]               every reference in the record resolves (the
                                                       dangling ones listed; exit 1 if any)

Against AWS with your credentials; `--local` acts on the running local platform (`make run`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.ops", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=("redrive-parked", "redrive-dlq", "rebuild-record", "check-references")
    )
    parser.add_argument("queue", nargs="?", help="redrive-dlq: the queue's key, e.g. chime-events-dlq")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--local", action="store_true", help="the running local platform")
    parser.add_argument("--state-file", type=Path, help="with --local: another platform's platform.json")
    parser.add_argument("--destination", choices=("fhir", "events", "workflow"))
    parser.add_argument("--acknowledge", action="store_true", help="delete stream-failure metadata")
    parser.add_argument("--fhir-endpoint", help="rebuild-record: into this data store (a new one)")
    parser.add_argument("--workers", type=int, default=8, help="rebuild-record: FHIR writes in flight")
    parser.add_argument("--segments", type=int, default=4, help="rebuild-record: parallel scan segments")
    args = parser.parse_args(argv)

    from tools.ops import target as targets

    target = targets.resolve(
        args.tenant, local=args.local, state_file=args.state_file, fhir_endpoint=args.fhir_endpoint
    )
    target.apply()
    if args.command == "rebuild-record":
        from tools.ops.rebuild import print_report, rebuild_record

        report = rebuild_record(target, workers=args.workers, segments=args.segments)
        print_report(target, report)
        return 0 if report.complete else 1
    if args.command == "check-references":
        import os

        from telehealth.adapters.healthlake import HealthLakeFhirStore
        from tools.ops.references import walk

        store = HealthLakeFhirStore(os.environ["FHIR_STORE_ENDPOINT"], region=target.tenant.region)
        walked = walk(store)
        print(f"check-references {target.tenant.id} in {os.environ['FHIR_STORE_ENDPOINT']}")
        print("\n".join(f"  {line}" for line in walked.summary()))
        return 1 if walked.dangling else 0
    if args.command == "redrive-parked":
        from tools.ops.redrive import rejected

        done = rejected(target, args.destination)
    else:
        from tools.ops.redrive import dead_letters

        if not args.queue:
            parser.error("redrive-dlq needs the queue's key")
        done = dead_letters(target, args.queue, acknowledge=args.acknowledge)
    for what, count in sorted(done.items()):
        print(f"{what}: {count}")
    if not done:
        print("nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
