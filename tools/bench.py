"""`make bench`: the figures, measured and printed (not timed tests).

- synth time per tenant (the app limited to that tenant: its baseline, backup-copy and silo
  stacks), median of 3 runs in fresh processes;
- HIPAA acknowledgments, by registered kind and by construct they are applied to;
- resources per template;
- each Lambda handler module's import time in a fresh process (median of 7), beside
  `import boto3` measured the same way in the same run;
- the local platform: time from `python -m local` to ready (first start with the repository's
  bytecode caches cleared, then a restart), its resident memory (all its processes), and the
  gateway's own overhead per request (p50/p99 of `GET /health`, the handler's time subtracted).

`python -m tools.bench --only synth|imports|local` runs one part.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from infra import topology
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


def synth_figures() -> None:
    from infra.compliance import ACKNOWLEDGMENTS  # loads CDK (jsii): only this part needs it

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


def import_figures() -> None:
    print(
        f"\n== Import time in a fresh process, median of {IMPORT_RUNS}"
        f" (this machine, Python {sys.version.split()[0]})"
    )
    baseline = [_import_time("boto3") for _ in range(IMPORT_RUNS)]
    print(f"  {'import boto3 (for scale)':<44} {_median_ms(baseline)}")
    for fn in topology.FUNCTIONS:
        samples = [_import_time(fn.module) for _ in range(IMPORT_RUNS)]
        print(f"  {fn.module:<44} {_median_ms(samples)}")


def _tree_rss_kib(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(found.group(1)) if found else 0
    return total


def _start_local(port: int, state_dir: Path) -> tuple[subprocess.Popen[str], float, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", str(port), "--state-dir", str(state_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Ready in"):
            internal = float(line.split()[2])
            return process, time.perf_counter() - started, internal
    raise RuntimeError("the local platform did not start; see its logs")


def _stop_local(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=30)


def local_figures() -> None:
    import urllib.request

    from local.platform import free_port

    print("\n== The local platform (make run)")
    for cache in ROOT.glob("**/__pycache__"):
        if ".venv" not in cache.parts and "node_modules" not in cache.parts:
            shutil.rmtree(cache, ignore_errors=True)
    with tempfile.TemporaryDirectory() as state:
        port = free_port()
        process, wall, internal = _start_local(port, Path(state))
        print(
            f"  first start (bytecode caches cleared) {wall:6.2f} s to ready ({internal:.2f} s after imports)"
        )
        _stop_local(process)
        process, wall, internal = _start_local(port, Path(state))
        print(
            f"  restart                               {wall:6.2f} s to ready ({internal:.2f} s after imports)"
        )
        try:
            url = f"http://127.0.0.1:{port}/health"
            urllib.request.urlopen(url).read()
            overheads, totals = [], []
            for _ in range(500):
                began = time.perf_counter()
                with urllib.request.urlopen(url) as response:
                    response.read()
                    timing = dict(
                        part.split(";dur=")
                        for part in response.headers["Server-Timing"].replace(" ", "").split(",")
                    )
                totals.append((time.perf_counter() - began) * 1000)
                overheads.append(float(timing["gateway"]) - float(timing["handler"]))
            rss = _tree_rss_kib(process.pid)
        finally:
            _stop_local(process)
    q = statistics.quantiles(overheads, n=100)
    t = statistics.quantiles(totals, n=100)
    print(f"  resident memory, all processes        {rss / 1024:6.0f} MiB")
    print("  GET /health, 500 sequential requests:")
    print(f"    gateway overhead (handler time subtracted)  p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms")
    print(f"    client round trip                           p50 {t[49]:.2f} ms, p99 {t[98]:.2f} ms")


def _longest_chain(calls: list[tuple[float, float]]) -> int:
    """Sequential round trips: the longest run of calls each starting after the last ended."""
    ordered = sorted(calls)
    best = [1] * len(ordered)
    for i, (start, _) in enumerate(ordered):
        for j in range(i):
            if ordered[j][1] <= start:
                best[i] = max(best[i], best[j] + 1)
    return max(best, default=0)


def _proxy_event(
    method: str, path: str, claims: dict[str, str], body: object, query: dict[str, str] | None
) -> dict[str, Any]:
    """An API Gateway proxy event for a `/v1/...` route, with the authorizer's claims."""
    return {
        "resource": "/v1/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": {"proxy": path.removeprefix("/v1/")},
        "stageVariables": None,
        "requestContext": {
            "authorizer": {"claims": claims},
            "path": f"/live{path}",
            "stage": "live",
            "httpMethod": method,
            "resourcePath": "/v1/{proxy+}",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


class _Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 1024, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"


def _percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1]


def scheduling_figures() -> None:
    """Search and book through the API handler in this process, against the emulator; then 20
    clients at once on one slot through the gateway."""
    import threading
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from local.platform import LocalPlatform, Settings
    from local.seed import DEMO_PASSWORD
    from local.tokens import Authorizer, api_gateway_claims

    print("\n== Scheduling (search and book), against the emulator")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state)))
        platform.start()
        try:
            tenant = platform.provisioned["riverside"]
            os.environ.update(platform.function_environment(tenant.tenant, tenant.environment))
            from functions.api import handler

            idp = platform.client("cognito-idp")

            def token(email: str, pool: str) -> str:
                result = idp.initiate_auth(
                    ClientId=tenant.portal_clients[pool],
                    AuthFlow="USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": email, "PASSWORD": DEMO_PASSWORD},
                )
                return str(result["AuthenticationResult"]["AccessToken"])

            authorizer = Authorizer(frozenset(tenant.issuers.values()))
            patient = api_gateway_claims(
                authorizer.check(token("patient.one@riverside.example", "patients"), [topology.USER_SCOPE])
            )

            def invoke(
                method: str, path: str, body: object = None, query: dict[str, str] | None = None
            ) -> Any:
                return handler.lambda_handler(_proxy_event(method, path, patient, body, query), _Context())

            # While counting, each AWS call takes 20 ms more: calls made side by side then overlap
            # visibly, so the longest chain of non-overlapping calls is the sequential round trips.
            calls: list[tuple[float, float]] = []
            began: dict[int, float] = {}
            lock, delay = threading.Lock(), {"s": 0.0}

            def before(**_: object) -> None:
                began[threading.get_ident()] = time.perf_counter()
                time.sleep(delay["s"])  # inside the measured interval, so parallel calls overlap

            operations: list[str] = []

            def after(**kwargs: object) -> None:
                with lock:
                    calls.append((began.pop(threading.get_ident(), time.perf_counter()), time.perf_counter()))
                    operations.append(str(kwargs.get("event_name", "")).removeprefix("after-call."))

            # On the default session, before any client exists: every client the handler makes
            # (DynamoDB, Step Functions, ...) inherits the hooks, so every AWS call is counted.
            import boto3

            session_events = boto3._get_default_session()._session.get_component("event_emitter")
            session_events.register("before-call.*", before)
            session_events.register("after-call.*", after)

            def window(days: int) -> dict[str, str]:
                day = datetime.now(UTC) + timedelta(days=days)
                end = day + timedelta(days=1)
                return {
                    "state": "NY",
                    "from": f"{day:%Y-%m-%d}T00:00:00Z",
                    "to": f"{end:%Y-%m-%d}T00:00:00Z",
                    "limit": "100",
                }

            def pediatrics(days: int) -> dict[str, str]:
                return {**window(days), "specialty": "pediatrics"}

            delay["s"] = 0.02
            calls.clear()
            invoke("GET", "/v1/slots", query=window(5))
            search_calls, search_chain = len(calls), _longest_chain(calls)
            offered = [
                s["slot_id"]
                for s in json.loads(invoke("GET", "/v1/slots", query=pediatrics(5))["body"])["slots"]
            ]
            calls.clear()
            assert (
                invoke("POST", "/v1/appointments", {"slot_id": offered.pop(), "state": "NY"})["statusCode"]
                == 201
            )
            book_calls, book_chain = len(calls), _longest_chain(calls)
            book_operations = operations[-book_calls:]
            delay["s"] = 0.0

            search_ms: list[float] = []
            book_ms: list[float] = []
            for _ in range(60):
                started = time.perf_counter()
                invoke("GET", "/v1/slots", query=window(5))
                search_ms.append((time.perf_counter() - started) * 1000)
            for slot in offered[:60]:
                started = time.perf_counter()
                assert (
                    invoke("POST", "/v1/appointments", {"slot_id": slot, "state": "NY"})["statusCode"] == 201
                )
                book_ms.append((time.perf_counter() - started) * 1000)
            print(
                f"  AWS calls, search: {search_calls} in all, {search_chain} sequential (an index query, then 2 per provider licensed in NY: {(search_calls - 1) // 2})"
            )
            print(
                f"  AWS calls, book:   {book_calls} in all, {book_chain} sequential: {', '.join(book_operations)}"
            )
            for name, samples in (("search", search_ms), ("book", book_ms)):
                p50, p99 = _percentile(samples, 50), _percentile(samples, 99)
                print(
                    f"  handler latency, {name:<6} ({len(samples)} calls): p50 {p50:.1f} ms, p99 {p99:.1f} ms"
                )

            # 20 clients at once on one slot, through the gateway, as staff booking for 20 patients.
            contested = json.loads(invoke("GET", "/v1/slots", query=window(6))["body"])["slots"][0]["slot_id"]
            staff = token("staff@riverside.example", "workforce")

            def attempt(n: int) -> tuple[int, float]:
                request = urllib.request.Request(  # noqa: S310 (loopback)
                    f"{platform.urls['gateway']}/v1/appointments",
                    data=json.dumps(
                        {"slot_id": contested, "state": "NY", "patient_id": patient["sub"]}
                    ).encode(),
                    headers={"Authorization": staff, "Content-Type": "application/json"},
                    method="POST",
                )
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request) as response:  # noqa: S310
                        status = response.status
                except urllib.error.HTTPError as error:
                    status = error.code
                return status, (time.perf_counter() - started) * 1000

            with ThreadPoolExecutor(max_workers=20) as pool:
                results = list(pool.map(attempt, range(20)))
            statuses = [status for status, _ in results]
            slowest = max(ms for _, ms in results)
            print(
                f"  contention, 20 concurrent bookings of one slot: {statuses.count(201)} won,"
                f" {statuses.count(409)} got 409; p99 (the slowest of 20) {slowest:.0f} ms"
            )
        finally:
            platform.stop()


PARTS = {
    "synth": synth_figures,
    "imports": import_figures,
    "local": local_figures,
    "scheduling": scheduling_figures,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=sorted(PARTS), action="append")
    for part in parser.parse_args().only or PARTS:
        PARTS[part]()


if __name__ == "__main__":
    main()
