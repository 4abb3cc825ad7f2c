"""`make bench`: the figures, measured and printed (not timed tests).

- synth time per tenant (the app limited to that tenant: its baseline, backup-copy and silo
  stacks), median of 3 runs in fresh processes;
- HIPAA acknowledgments, by registered kind and by construct they are applied to;
- resources per template;
- each Lambda handler module's import time in a fresh process (median of 7), beside
  `import boto3` measured the same way in the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra import topology
from infra.compliance import ACKNOWLEDGMENTS
from infra.tenants import load_tenants

ROOT = Path(__file__).resolve().parent.parent
SYNTH_RUNS = 3
IMPORT_RUNS = 7


def _synth(tenant_id: str | None, outdir: Path) -> float:
    env = {**os.environ, "CDK_OUTDIR": str(outdir)}
    if tenant_id:
        env["CDK_CONTEXT_JSON"] = json.dumps({"tenants": tenant_id})
    started = time.perf_counter()
    subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _import_time(module: str) -> float:
    """Seconds to import `module` in a new interpreter, as a Lambda cold start would."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def main() -> None:
    tenants = load_tenants()
    print("== Synth time per tenant (baseline + backup-copy + silo), median of", SYNTH_RUNS)
    for tenant in tenants:
        samples = []
        for _ in range(SYNTH_RUNS):
            with tempfile.TemporaryDirectory() as out:
                samples.append(_synth(tenant.id, Path(out)))
        runs = ", ".join(f"{s:.2f}" for s in samples)
        print(f"  {tenant.id:<16} {statistics.median(samples):6.2f} s   (runs: {runs})")

    with tempfile.TemporaryDirectory() as out:
        whole = _synth(None, Path(out))
        print(f"  {'whole app':<16} {whole:6.2f} s   (one run: {len(tenants)} tenants)")
        outdir = Path(out)
        print("\n== HIPAA acknowledgments")
        applied: dict[str, int] = {}
        for meta in outdir.glob("*.metadata.json"):
            for entries in json.loads(meta.read_text()).values():
                for entry in entries:
                    if entry["type"] == "aws:cdk:acknowledged-rules":
                        for rule in entry["data"]:
                            if "HIPAA." in rule:
                                name = rule.split("::")[-1]
                                applied[name] = applied.get(name, 0) + 1
        print(f"  registered (each with a written reason): {len(ACKNOWLEDGMENTS)}")
        print(f"  applied to constructs, all stacks:       {sum(applied.values())}")
        for rule, count in sorted(applied.items()):
            print(f"    {rule:<48} {count}")
        print("\n== Resources per template")
        for template in sorted(outdir.glob("*.template.json")):
            resources = json.loads(template.read_text())["Resources"]
            print(f"  {template.name:<48} {len(resources):4d}")

    print(
        f"\n== Import time in a fresh process, median of {IMPORT_RUNS}"
        f" (this machine, Python {sys.version.split()[0]})"
    )
    baseline = [_import_time("boto3") for _ in range(IMPORT_RUNS)]
    print(f"  {'import boto3 (for scale)':<44} {_median_ms(baseline)}")
    for fn in topology.FUNCTIONS:
        samples = [_import_time(fn.module) for _ in range(IMPORT_RUNS)]
        print(f"  {fn.module:<44} {_median_ms(samples)}")


if __name__ == "__main__":
    main()
