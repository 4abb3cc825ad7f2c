"""`make bench`: the figures, measured and printed (not timed tests).

- synth time per tenant (the app limited to that tenant: its baseline, backup-copy and silo
  stacks), median of 3 runs in fresh processes;
- HIPAA acknowledgments, by registered kind and by construct they are applied to;
- resources per template;
- each Lambda handler module's import time in a fresh process (median of 7), beside
  `import boto3` measured the same way in the same run, and where the API handler's goes (the
  time spent in each top-level package's own modules, from `python -X importtime`);
- fuzz: Schemathesis against the document the local gateway serves, as a patient, a provider,
  staff and a machine client: operations, cases, 5xx (goal 0), answers outside the document
  (goal 0), 4xx that are not problem+json (goal 0), and schema-valid requests refused as malformed;
- the local platform: time from `python -m local` to ready (first start with the repository's
  bytecode caches cleared, then a restart), its resident memory (all its processes), and the
  gateway's own overhead per request (p50/p99 of `GET /health`, the handler's time subtracted);
- scheduling: AWS calls per search and booking (in all, sequential), handler latency, and 20
  concurrent bookings of one slot;
- the visit: AWS calls per step (check-in, admit, join link, redeem, end), state transitions per
  completed visit, and the platform's cost per visit from metered requests and invocations;
- rPPG: per synthetic condition, how often it measured or refused, its errors, its speed on one
  thread and its memory.
- audit: after a workload by patients, a provider, staff and a machine client (refusals too),
  AuditEvents per request by outcome, interaction and agent, and the references resolved (audit
  events', and every resource's) in a walk of the whole FHIR store.

- parity: twenty concurrent bookings of distinct slots (p50/p99), the FHIR Appointments left after
  a 20-way race, the largest transaction any call made, and the IAM parity report of a whole visit
  (needs recorded, distinct actions per principal, grants no call used, anything refused);
- egress: per tenant, the functions the synthesized templates put in the egress subnets (goal:
  only those that call a third party), and the names the region's DNS firewall lets resolve;
- outbox: the sweeper's throughput (entries delivered a minute) with 10,000 entries pending in
  its lanes (FHIR resources, audit events, bus events and resumptions the stream did not deliver),
  through the function as the platform runs it;
- rebuild: the time to rebuild a FHIR store of 10,000 resources from the table (synthetic
  patients and their visits written into the table, then `python -m tools.ops rebuild-record`
  into a new data store, as an operator runs it), and a second run that finds everything current.

- web: the JavaScript and CSS each page (the portal, the dashboard) loads before it runs, gzip,
  and the chunks loaded only when needed (the call view, the video implementations).
- browser: in headless Chromium against a local platform of its own, the time from navigation to
  the portal's first screen being usable, from the patient's Join click to the first remote video
  frame, and the memory of a two-party call (both browsers' process trees, both pages' JS heaps);
  medians of a few runs, definitions in tools/bench_browser.py.

- restart: `make run`'s start on kept data against a fresh start: 100 open visits and 5,000 FHIR
  resources (synthetic), then a kill -9 (the journal replayed), then a clean stop (the snapshot
  alone), each with the state's size on disk.
- relay: the local signalling relay (the browsers' WebRTC signalling): time for a join to be
  answered, and for an offer and its answer to go there and back between two attendees (p50/p99).

- payments: the AWS calls (and invokes of the payments function) of saving a card, paying with it
  and settling a completed visit, the payments function's time and the platform's cost for them,
  and the eligibility answer time through the local clearinghouse.

- integrations: a health system's doors, end to end through the local gateway: HL7 v2 ADT
  messages acknowledged a second (one sender, and four at once) with each ACK's latency, and a
  FHIR subscription's notification delay from a booking's answer to the notification's arrival at
  a receiver on loopback (p50/p99; through the outbox, the bus, the notices and delivery functions);
  and a bulk export's throughput (resources a second, from kick-off to every file read).

- monitoring: remote monitoring's pure rules on one core (readings normalized and NEWS2 sets
  scored a second, CGM metrics of 14 days) and heart failure weight's detection delay and false
  alerts per 100 patient-days on synthetic series.

`python -m tools.bench --only synth|imports|fuzz|local|scheduling|visit|parity|egress|outbox|rebuild|restart|rppg|audit|web|browser|relay|payments|notes|integrations|monitoring|readings`
runs one part.
"""

from __future__ import annotations

import argparse
import json
import math
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


def _import_breakdown(module: str) -> dict[str, float]:
    """Seconds each top-level package's own modules take in importing `module` (a new interpreter,
    `-X importtime`): their self times, so the parts add up to the whole."""
    code = f"import {module}"
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, check=True, capture_output=True, text=True
    )
    parts: dict[str, float] = {}
    for line in out.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line
        name = fields[2].strip()
        # The project's own modules by subpackage; anything else by its distribution's top level.
        root = (
            ".".join(name.split(".")[:3])
            if name.split(".")[0] in ("functions", "telehealth")
            else name.split(".")[0]
        )
        parts[root] = parts.get(root, 0.0) + int(fields[0]) / 1e6
    return parts


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
    api = topology.API.module
    print(f"\n  where {api} goes (own modules' time by package, median of {IMPORT_RUNS}; the largest):")
    runs = [_import_breakdown(api) for _ in range(IMPORT_RUNS)]
    medians = {p: statistics.median(r.get(p, 0.0) for r in runs) for p in {p for r in runs for p in r}}
    for package, seconds in sorted(medians.items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {package:<42} {seconds * 1000:8.1f} ms")
    print(f"    {'(all of it)':<42} {sum(medians.values()) * 1000:8.1f} ms")


def fuzz_figures() -> None:
    """Schemathesis against the document the local gateway serves (tools/fuzz.py)."""
    import urllib.request

    from local.platform import LocalPlatform, Settings
    from tools.fuzz import callers_of, fuzz

    print("\n== Fuzz: the API against its own OpenAPI document, four kinds of caller")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state)))
        try:
            platform.start()
            gateway = platform.urls["gateway"]
            with urllib.request.urlopen(f"{gateway}/openapi.json", timeout=30) as served:  # noqa: S310
                document = json.loads(served.read())
            report = fuzz(gateway, document, callers_of(platform, "riverside"), examples=10)
        finally:
            platform.stop()
    print(f"  operations                                {report.operations:6d}")
    print(f"  cases (10 per operation, caller, mode)    {report.cases:6d}   in {report.seconds:.1f} s")
    print(f"  5xx (goal 0)                              {report.server_errors:6d}")
    print(f"  answers outside the document (goal 0)     {report.outside_document:6d}")
    print(f"  4xx not problem+json (goal 0)             {report.not_problem_json:6d}")
    print(f"  invalid requests accepted (goal 0)        {report.accepted_invalid:6d}")
    print(
        f"  valid requests refused as malformed       {len(report.valid_refused):6d}   (the clinic's rules no schema says)"
    )
    print(f"  statuses: {dict(sorted(report.statuses.items()))}")
    for finding in report.findings[:10]:
        print(f"    {finding}")


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
        # Unthrottled: 500 requests back to back measure the gateway, not the stage's limits.
        [sys.executable, "-m", "local", "--port", str(port), "--state-dir", str(state_dir), "--no-throttles"],
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
    method: str,
    path: str,
    claims: dict[str, str],
    body: object,
    query: dict[str, str] | None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway proxy event for a `/v1/...` route, with the authorizer's claims."""
    matched = topology.match_route(path)
    assert matched is not None, path
    resource, parameters = matched[0].path, matched[1]
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "authorizer": {"claims": claims},
            "path": f"/live{path}",
            "stage": "live",
            "httpMethod": method,
            "resourcePath": resource,
            "requestId": "bench",
            "domainName": "bench.example",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


class CountedApi:
    """The API handler in this process, against the running platform, with every AWS call it
    makes timed: while counting, each call takes 20 ms more (`delay`), so calls made side by side
    overlap visibly and the longest chain of non-overlapping calls is the sequential round trips."""

    def __init__(self, platform: Any) -> None:
        import threading

        from local.tokens import Authorizer

        self.platform = platform
        tenant = platform.provisioned["riverside"]
        self.tenant = tenant
        os.environ.update(platform.function_environment(tenant.tenant, tenant.environment))
        from functions import services
        from functions.api import handler

        # A platform started earlier in this process had other endpoints: build anew.
        for built in (services.booking, services.visits, services.lifecycle, services.vitals):
            built.cache_clear()

        self.handler = handler
        self.authorizer = Authorizer(frozenset(tenant.issuers.values()))
        self.calls: list[tuple[float, float]] = []
        self.operations: list[str] = []
        self.delay = {"s": 0.0}
        self.handler_ms: list[float] = []
        began: dict[int, float] = {}
        lock = threading.Lock()

        def before(**_: object) -> None:
            began[threading.get_ident()] = time.perf_counter()
            time.sleep(self.delay["s"])  # inside the measured interval, so parallel calls overlap

        def after(**kwargs: object) -> None:
            with lock:
                self.calls.append(
                    (began.pop(threading.get_ident(), time.perf_counter()), time.perf_counter())
                )
                self.operations.append(str(kwargs.get("event_name", "")).removeprefix("after-call."))

        # On the default session, before any client exists: every client the handler makes
        # (DynamoDB, Step Functions, Chime ...) inherits the hooks, so every AWS call is counted.
        import boto3

        session_events = boto3._get_default_session()._session.get_component("event_emitter")
        session_events.register("before-call.*", before)
        session_events.register("after-call.*", after)

    def token(self, email: str, pool: str) -> str:
        from local.seed import DEMO_PASSWORD

        result = self.platform.client("cognito-idp").initiate_auth(
            ClientId=self.tenant.portal_clients[pool],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": DEMO_PASSWORD},
        )
        return str(result["AuthenticationResult"]["AccessToken"])

    def claims(self, email: str) -> dict[str, str]:
        from local.tokens import api_gateway_claims

        pool = "patients" if email.startswith("patient") else "workforce"
        return api_gateway_claims(self.authorizer.check(self.token(email, pool), [topology.USER_SCOPE]))

    def invoke(
        self,
        claims: dict[str, str],
        method: str,
        path: str,
        body: object = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        started = time.perf_counter()
        try:
            return self.handler.lambda_handler(
                _proxy_event(method, path, claims, body, query, headers), _Context()
            )
        finally:
            self.handler_ms.append((time.perf_counter() - started) * 1000)

    def counted(self, call: Any, *, invokes: bool = False) -> tuple[Any, int, int, list[str]]:
        """`call()`'s result, with its AWS calls: in all, sequential, and which (`invokes`: the
        handler's Lambda Invokes count too, where no workflow runs meanwhile)."""
        self.calls.clear()
        self.operations.clear()
        self.delay["s"] = 0.02
        try:
            result = call()
        finally:
            self.delay["s"] = 0.0
        # The platform runs in this process too (moto's interpreter invokes functions): only the
        # handler's own calls count.
        skipped = ("states.",) if invokes else ("lambda.", "states.")
        mine = [i for i, op in enumerate(self.operations) if not op.startswith(skipped)]
        calls = [self.calls[i] for i in mine]
        return result, len(calls), _longest_chain(calls), [self.operations[i] for i in mine]


class _Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 1024, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:  # the API's 15 s (an idempotency record's in-flight lease)
        return 15_000


def _percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1]


def scheduling_figures() -> None:
    """Search and book through the API handler in this process, against the emulator; then 20
    clients at once on one slot through the gateway."""
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from local.platform import LocalPlatform, Settings

    print("\n== Scheduling (search and book), against the emulator")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state)))
        try:
            platform.start()  # inside: a start that fails half-way still stops what it started
            api = CountedApi(platform)
            token, calls, operations, delay = api.token, api.calls, api.operations, api.delay
            patient = api.claims("patient.one@riverside.example")

            def invoke(
                method: str, path: str, body: object = None, query: dict[str, str] | None = None
            ) -> Any:
                return api.invoke(patient, method, path, body, query)

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


# Public us-east-1 list prices (USD) the cost figure uses; the pricing pages are the authority.
PRICES = {
    "lambda_gb_s_arm": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "sfn_transition": 0.025 / 1000,
    "ddb_write_unit": 0.625 / 1e6,
    "ddb_read_unit": 0.125 / 1e6,
    "events_event": 1.00 / 1e6,
    "s3_put": 0.005 / 1000,
    "s3_get_list": 0.0004 / 1000,
    "chime_attendee_minute": 0.0017,
}
DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DDB_READS = {"GetItem", "Query", "Scan"}


def visit_figures() -> None:
    """One whole visit, twice: once through the API handler in this process, to count each
    step's AWS calls (check-in, admit, a join link, redeeming it); once over HTTP through the
    gateway, metering every request, invocation and state transition it caused, priced."""
    import base64
    import urllib.request
    from datetime import UTC, datetime, timedelta

    import boto3

    from local.emulator import RequestMeter
    from local.platform import LocalPlatform, Settings

    print("\n== The visit, against the emulator")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state)))
        try:
            platform.start()  # inside: a start that fails half-way still stops what it started
            api = CountedApi(platform)
            patient = api.claims("patient.one@riverside.example")
            # The bench watches with its own key: the emulator's meter leaves those requests out.
            ddb = boto3.client(
                "dynamodb",
                endpoint_url=platform.emulator.url,
                region_name="us-east-1",
                aws_access_key_id=RequestMeter.OBSERVER,
                aws_secret_access_key="observer",  # noqa: S106
            )
            sfn = boto3.client(
                "stepfunctions",
                endpoint_url=platform.emulator.url,
                region_name="us-east-1",
                aws_access_key_id=RequestMeter.OBSERVER,
                aws_secret_access_key="observer",  # noqa: S106
            )
            now = datetime.now(UTC)
            window = {
                "state": "NY",
                "specialty": "urgent-care",
                "from": f"{now:%Y-%m-%dT%H:%M:%SZ}",
                "to": f"{now + timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ}",
            }
            slots = json.loads(api.invoke(patient, "GET", "/v1/slots", query=window)["body"])["slots"]

            def until_ok(call: Any, status: int = 200) -> Any:
                for _ in range(300):
                    reply = call()
                    if reply["statusCode"] == status:
                        return reply
                    time.sleep(0.1)
                raise RuntimeError(f"never answered {status}: {reply['body']}")

            def one_visit(slot: str) -> tuple[str, dict[str, tuple[int, int, list[str]]]]:
                """Book, check in, admit, links, join, end: the steps' AWS calls when counting."""
                found: dict[str, tuple[int, int, list[str]]] = {}
                booked = json.loads(
                    api.invoke(patient, "POST", "/v1/appointments", {"slot_id": slot, "state": "NY"})["body"]
                )
                visit = booked["appointment_id"]
                body = {
                    "state": "NY",
                    "emergency_contact": "+1 555 0100",
                    "consent_to_telehealth": True,
                    "consent_to_recording": True,
                }
                # Wait until the lifecycle waits for check-in, then count the one that goes through.
                token_key = {"pk": {"S": f"APPT#{visit}"}, "sk": {"S": "TASK#check-in#v1"}}
                table = topology.CLINIC_TABLE.name("riverside")
                for _ in range(300):
                    if ddb.get_item(TableName=table, Key=token_key).get("Item"):
                        break
                    time.sleep(0.05)
                path = f"/v1/appointments/{visit}"
                reply, n, chain, ops = api.counted(
                    lambda: api.invoke(patient, "POST", f"{path}/check-in", body)
                )
                found["check-in"] = (n, chain, ops)
                provider = api.claims(f"{slot.split('.')[0].replace('-', '.', 1)}@riverside.example")
                token_key["sk"] = {"S": "TASK#admit#v1"}
                for _ in range(300):
                    if ddb.get_item(TableName=table, Key=token_key).get("Item"):
                        break
                    time.sleep(0.05)
                api.invoke(provider, "GET", "/v1/waiting-room")  # the provider's container is warm
                reply, n, chain, ops = api.counted(lambda: api.invoke(provider, "POST", f"{path}/admit"))
                found["admit"] = (n, chain, ops)
                admitted = json.loads(reply["body"])
                reply, n, chain, ops = api.counted(lambda: api.invoke(patient, "POST", f"{path}/join-link"))
                found["join link (first)"] = (n, chain, ops)
                link = json.loads(reply["body"])["link"]
                reply, n, chain, ops = api.counted(
                    lambda: api.invoke(patient, "POST", "/v1/join", {"link": link})
                )
                found["redeem link"] = (n, chain, ops)
                patient_join = json.loads(reply["body"])
                provider_join = json.loads(
                    api.invoke(provider, "POST", "/v1/join", {"link": admitted["link"]["link"]})["body"]
                )
                for who, joined in (("provider", provider_join), ("patient", patient_join)):
                    video = base64.b64encode(f"{who} camera".encode()).decode()
                    request = urllib.request.Request(  # noqa: S310 (the loopback stand-in)
                        f"{platform.urls['chime']}/_sim/join",
                        data=json.dumps(
                            {"JoinToken": joined["Attendee"]["JoinToken"], "VideoBase64": video}
                        ).encode(),
                        method="POST",
                    )
                    urllib.request.urlopen(request).read()  # noqa: S310

                def status() -> dict[str, Any]:
                    """The visit as the table holds it, read by the observer (not metered)."""
                    key = {"pk": {"S": f"APPT#{visit}"}, "sk": {"S": "VISIT#v1"}}
                    item = ddb.get_item(TableName=table, Key=key).get("Item", {})
                    if item.get("recording_ready"):
                        return {"recording": "available"}
                    return {"recording": "recording" if "capture_pipeline_arn" in item else "none"}

                for _ in range(300):
                    if status()["recording"] == "recording":
                        break
                    time.sleep(0.1)
                reply, n, chain, ops = api.counted(lambda: api.invoke(provider, "POST", f"{path}/end"))
                found["end"] = (n, chain, ops)
                for _ in range(300):
                    if status()["recording"] == "available":
                        break
                    time.sleep(0.1)
                return visit, found

            visit, steps = one_visit(slots[0]["slot_id"])
            for name, (n, chain, ops) in steps.items():
                print(f"  AWS calls, {name:<18} {n} in all, {chain} sequential: {', '.join(ops)}")

            # The second visit, metered end to end (the API in this process is metered too: its
            # calls reach the emulator).
            requests_before, items_before = platform.emulator.meter.snapshot()
            invocations_before = len(platform.dispatcher.invocations)
            api.handler_ms.clear()
            visit, _ = one_visit(slots[1]["slot_id"])
            arn = platform.provisioned["riverside"].state_machine_arns[topology.VISIT_LIFECYCLE.key]
            execution = f"{arn.replace(':stateMachine:', ':execution:')}:{visit}-v1"
            for _ in range(300):
                if sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
                    break
                time.sleep(0.1)
            time.sleep(3)  # the outbox's last deliveries
            requests_after, items_after = platform.emulator.meter.snapshot()
            requests = requests_after - requests_before
            items = items_after - items_before
            # The sweeper and the visit reconciler run on their schedules whatever happens (fixed
            # costs, printed apart).
            invocations = [
                (name, ms)
                for name, ms in list(platform.dispatcher.invocations)[invocations_before:]
                if name.startswith("telehealth-riverside-")
                and not name.endswith(("-outbox-sweeper", "-visit-reconciler"))
            ]
            history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
            transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
            outcome = sfn.describe_execution(executionArn=execution)["status"]
            memory = {f.name("riverside"): f.memory_mb for f in topology.FUNCTIONS}
            # The API ran in this process (not dispatched): its own invocations, timed here.
            invocations += [(topology.API.name("riverside"), ms) for ms in api.handler_ms]
            gb_s = sum(ms / 1000 * memory.get(name, 512) / 1024 for name, ms in invocations)
            by_function: dict[str, int] = {}
            for name, _ in invocations:
                by_function[name.removeprefix("telehealth-riverside-")] = (
                    by_function.get(name.removeprefix("telehealth-riverside-"), 0) + 1
                )
            ddb_writes = sum(c for (svc, op), c in requests.items() if svc == "dynamodb" and op in DDB_WRITES)
            transact_items = items["TransactWriteItems"] + items["BatchWriteItem"]
            write_units = ddb_writes + 2 * items["TransactWriteItems"] + items["BatchWriteItem"]
            read_units = sum(c for (svc, op), c in requests.items() if svc == "dynamodb" and op in DDB_READS)
            events = requests[("events", "PutEvents")]
            s3_puts = sum(c for (svc, op), c in requests.items() if svc == "s3" and op == "PUT")
            s3_reads = sum(c for (svc, op), c in requests.items() if svc == "s3" and op == "GET")
            costs = {
                "Lambda (GB-s + requests)": gb_s * PRICES["lambda_gb_s_arm"]
                + len(invocations) * PRICES["lambda_request"],
                "Step Functions transitions": transitions * PRICES["sfn_transition"],
                "DynamoDB (on demand)": write_units * PRICES["ddb_write_unit"]
                + read_units * PRICES["ddb_read_unit"],
                "EventBridge events": events * PRICES["events_event"],
                "S3 requests": s3_puts * PRICES["s3_put"] + s3_reads * PRICES["s3_get_list"],
            }
            print(f"  state transitions per completed visit: {transitions} (execution {outcome})")
            print(
                f"  function invocations: {len(invocations)} ({', '.join(f'{k} {v}' for k, v in sorted(by_function.items()))}), {gb_s:.3f} GB-s at the handler times measured here"
            )
            print(
                f"  DynamoDB: {write_units} write units ({ddb_writes} single writes, {transact_items} items in transactions), {read_units} reads; EventBridge: {events} events; S3: {s3_puts} puts, {s3_reads} gets/lists"
            )
            print("  platform cost per visit (us-east-1 list prices):")
            for what, usd in costs.items():
                print(f"    {what:<28} ${usd:.6f}")
            print(f"    {'total':<28} ${sum(costs.values()):.6f}")
            print(
                f"  apart: Chime, 30 minutes with 2 attendees = 60 attendee-minutes, ${60 * PRICES['chime_attendee_minute']:.3f};"
                " media capture and concatenation: 30 capture-minutes and one concatenation, priced per minute on the Chime SDK pricing page (not included)"
            )
            print(
                "  apart: HealthLake requests are within the data store's hourly charge (it includes 3,500 FHIR queries an hour); stream batches are delivered one record at a time here, so the relay's invocations are an upper bound"
            )
        finally:
            platform.stop()


def payments_figures() -> None:
    """What payments add to a visit: the AWS calls (and Lambda Invokes of the payments function)
    of saving a card and paying with it, and of settling the visit when it completes, sequential;
    the payments function's time and the platform's cost for them; and the clearinghouse's
    eligibility answer through the local stand-in."""
    import urllib.parse
    import urllib.request
    from datetime import UTC, datetime, timedelta

    from local.platform import LocalPlatform, Settings
    from local.standins.clearinghouse import Clearinghouse

    print("\n== Payments and coverage, against the emulator and the local Stripe")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state)))
        try:
            platform.start()
            api = CountedApi(platform)
            from functions import services

            for built in (services.billing, services.payment_notices):
                built.cache_clear()
            patient = api.claims("patient.one@riverside.example")
            now = datetime.now(UTC)
            window = {
                "state": "NY",
                "specialty": "urgent-care",
                "from": f"{now + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
                "to": f"{now + timedelta(hours=3):%Y-%m-%dT%H:%M:%SZ}",
            }
            slots = json.loads(api.invoke(patient, "GET", "/v1/slots", query=window)["body"])["slots"]
            rows: dict[str, tuple[int, int, list[str]]] = {}
            reply, n, chain, ops = api.counted(
                lambda: api.invoke(
                    patient, "POST", "/v1/appointments", {"slot_id": slots[0]["slot_id"], "state": "NY"}
                )
            )
            visit = json.loads(reply["body"])["appointment_id"]
            rows["book (unchanged by payments)"] = (n, chain, ops)
            time.sleep(2)  # the lifecycle's first steps run in this process: not counted below
            invocations_before = len(platform.dispatcher.invocations)
            reply, n, chain, ops = api.counted(
                lambda: api.invoke(patient, "POST", "/v1/payments/card-setups"), invokes=True
            )
            rows["save a card: the setup"] = (n, chain, ops)
            setup = json.loads(reply["body"])
            confirm = urllib.parse.urlencode(
                {
                    "payment_method": "pm_card_visa",
                    "client_secret": setup["client_secret"],
                    "key": setup["publishable_key"],
                }
            ).encode()
            urllib.request.urlopen(  # noqa: S310 (the local Stripe)
                f"{platform.urls['stripe']}/v1/setup_intents/{setup['setup_id']}/confirm", data=confirm
            ).read()
            reply, n, chain, ops = api.counted(
                lambda: api.invoke(
                    patient, "PUT", f"/v1/appointments/{visit}/payment/card", {"setup_id": setup["setup_id"]}
                ),
                invokes=True,
            )
            rows["pay with it (held at once)"] = (n, chain, ops)
            _, n, chain, ops = api.counted(
                lambda: services.billing().settle(visit, "completed"), invokes=True
            )
            rows["the visit completes (captured)"] = (n, chain, ops)
            _, n, chain, ops = api.counted(lambda: services.billing().enter_charge(visit))
            rows["its charge and invoice entered"] = (n, chain, ops)
            # Off the booking's path, as visit-payments issues it (here again: its write is refused
            # as issued already, which costs the same calls).
            _, n, chain, ops = api.counted(lambda: services.billing().issue_estimate(visit))
            rows["its Good Faith Estimate issued"] = (n, chain, ops)
            for name, (n, chain, ops) in rows.items():
                print(f"  AWS calls, {name:<31} {n} in all, {chain} sequential: {', '.join(ops)}")
            paid = [
                ms
                for name, ms in list(platform.dispatcher.invocations)[invocations_before:]
                if name == topology.PAYMENTS.name("riverside")
            ]
            memory = topology.PAYMENTS.memory_mb / 1024
            gb_s = sum(paid) / 1000 * memory
            usd = gb_s * PRICES["lambda_gb_s_arm"] + len(paid) * PRICES["lambda_request"]
            # Each step's writes: the pending write, then the settled one with its event (a
            # transaction of two items, two write units each), and the customer's profile once.
            steps = 2  # the hold and the capture
            # The charge: one transaction of four items (the charge, its ChargeItem, its Invoice,
            # its event; two write units each), after five reads. A self-pay visit's Good Faith
            # Estimate: a transaction of two (the estimate, its event), after four reads.
            writes = steps * (1 + 2 * 2) + 1 + 4 * 2 + 2 * 2
            ddb = writes * PRICES["ddb_write_unit"] + (steps * 2 + 5 + 4) * PRICES["ddb_read_unit"]
            events = (steps + 2) * PRICES["events_event"]
            print(
                f"  the payments function: {len(paid)} invocations, p50 {statistics.median(paid):.0f} ms"
                f" (Stripe's local stand-in behind it); platform cost of a paid visit's payments:"
                f" ${usd + ddb + events:.6f} (Lambda ${usd:.6f}, DynamoDB ${ddb:.6f}, events ${events:.6f})"
            )
            print("  apart: Stripe's own fee, 2.9 % + $0.30 a successful US card charge (its pricing page)")
        finally:
            platform.stop()
    clearinghouse = Clearinghouse("bench-key", slow_s=0.0)
    clearinghouse.start()
    try:
        from datetime import date

        from telehealth.adapters.eligibility import StediEligibility
        from telehealth.domain.coverage import Coverage, EligibilityQuestion, Person, service_type_codes

        stedi = StediEligibility(
            "bench-key", provider_npi="1234567893", provider_name="Bench", api_base=clearinghouse.url
        )
        question = EligibilityQuestion(
            Coverage("RHP01", "ACT1001"),
            Person("Jordan", "Testpatient", date(1990, 4, 12)),
            service_type_codes("general"),
            date.today(),
        )
        samples = []
        for _ in range(50):
            started = time.perf_counter()
            stedi.check(question)
            samples.append((time.perf_counter() - started) * 1000)
        print(
            f"  eligibility through the local clearinghouse: p50 {statistics.median(samples):.1f} ms,"
            f" p99 {_percentile(samples, 99):.1f} ms over {len(samples)} checks (the stand-in answers at"
            " once; a payer's real-time 271 takes seconds to tens of seconds, so no booking waits on it)"
        )
    finally:
        clearinghouse.stop()


def notes_figures() -> None:
    """The clinician's note: how long an autosave takes in the API handler (p50, p99 over a
    hundred saves of a growing note), and the AWS calls, sequential, of a save, of signing and of
    reading the patient's summary; and the lists' reconciliation."""
    from datetime import UTC, datetime, timedelta

    from local.platform import LocalPlatform, Settings

    print("\n== The clinician's note, against the emulator")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state)))
        try:
            platform.start()
            api = CountedApi(platform)
            from functions import services

            for built in (
                services.notes,
                services.after_visit,
                services.medical_history,
                services.prescribing,
            ):
                built.cache_clear()
            patient = api.claims("patient.one@riverside.example")
            now = datetime.now(UTC)
            window = {
                "state": "NY",
                "specialty": "urgent-care",
                "from": f"{now + timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}",
                "to": f"{now + timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ}",
            }
            slot = json.loads(api.invoke(patient, "GET", "/v1/slots", query=window)["body"])["slots"][0][
                "slot_id"
            ]
            visit = json.loads(
                api.invoke(patient, "POST", "/v1/appointments", {"slot_id": slot, "state": "NY"})["body"]
            )["appointment_id"]
            path = f"/v1/appointments/{visit}"
            check_in = {
                "state": "NY",
                "emergency_contact": "+1 555 0100",
                "consent_to_telehealth": True,
                "consent_to_recording": False,
            }
            provider = api.claims(f"{slot.split('.')[0].replace('-', '.', 1)}@riverside.example")
            for step, who, sent in (("check-in", patient, check_in), ("admit", provider, None)):
                for _ in range(600):
                    if api.invoke(who, "POST", f"{path}/{step}", sent)["statusCode"] == 200:
                        break
                    time.sleep(0.1)
                else:
                    raise RuntimeError(f"the visit never took its {step}")
            sections = ["Subjective", "Objective", "Assessment", "Plan"]
            words = "Sore throat for three days, no fever; drinking well. "
            saves: list[float] = []
            revision = 0
            for i in range(100):
                body: dict[str, object] = {
                    "sections": [
                        {"title": t, "text": words * (i // 4 + 1) if t == sections[i % 4] else ""}
                        for t in sections
                    ],
                    "diagnoses": ["J02.9"],
                    "revision": revision,
                }
                started = time.perf_counter()
                reply = api.invoke(provider, "PUT", f"{path}/note", body)
                saves.append((time.perf_counter() - started) * 1000)
                assert reply["statusCode"] == 200, reply["body"]
                revision = json.loads(reply["body"])["revision"]
            print(
                f"  an autosave (the API handler, 100 saves of a growing note): p50 {_percentile(saves, 50):.1f} ms,"
                f" p99 {_percentile(saves, 99):.1f} ms"
            )
            rows: dict[str, tuple[int, int, list[str]]] = {}
            body["revision"] = revision
            _, n, chain, ops = api.counted(lambda: api.invoke(provider, "PUT", f"{path}/note", body))
            rows["save the draft"] = (n, chain, ops)
            reply, n, chain, ops = api.counted(
                lambda: api.invoke(provider, "POST", f"{path}/note/sign", {"revision": revision + 1})
            )
            assert reply["statusCode"] == 200, reply["body"]
            rows["sign it"] = (n, chain, ops)
            _, n, chain, ops = api.counted(lambda: api.invoke(patient, "GET", f"{path}/summary"))
            rows["the patient reads the summary"] = (n, chain, ops)
            lists = json.loads(api.invoke(provider, "GET", f"{path}/allergies-and-medications")["body"])
            reconcile = {"allergies": [{"text": "Peanuts"}], "medications": [], "version": lists["version"]}
            _, n, chain, ops = api.counted(
                lambda: api.invoke(provider, "PUT", f"{path}/allergies-and-medications", reconcile)
            )
            rows["reconcile allergies and medicines"] = (n, chain, ops)
            for name, (n, chain, ops) in rows.items():
                print(f"  {name}: {n} AWS calls, {chain} sequential ({', '.join(ops)})")
            _prescription_figures(api, platform, provider, path)
        finally:
            platform.stop()


def integrations_figures() -> None:
    """HL7 v2 ADT acknowledged a second, and a subscription's notification delay."""
    import base64
    import threading
    import urllib.parse
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from local.platform import LocalPlatform, Settings
    from local.tokens import mint_client_credentials_token

    def http(method: str, url: str, token: str, body: bytes | None, kind: str) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310 (the local gateway)
            url, data=body, method=method, headers={"Authorization": token, "Content-Type": kind}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    print("\n== A health system's doors (HL7 v2, subscriptions), through the local gateway")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state), schedule_every_s=5.0))
        try:
            platform.start()
            gateway = platform.urls["gateway"]
            tenant = platform.provisioned["riverside"]
            client_id, secret, _ = tenant.machine_clients["adt-feed"]
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            status, body = http(
                "POST",
                f"{gateway}/oauth2/token",
                f"Basic {basic}",
                urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
                "application/x-www-form-urlencoded",
            )
            feed = json.loads(body)["access_token"]

            throttled = [0]

            def adt(n: int) -> float:
                event = "A04" if n % 2 == 0 else "A08"
                message = "\r".join(
                    [
                        f"MSH|^~\\&|EPIC|RVH|TELEHEALTH|CLINIC|20261201090000||ADT^{event}^ADT_A01|B{n}|P|2.5.1",
                        f"EVN|{event}|20261201090000",
                        f"PID|1||BENCH{n // 2:05d}^^^RVH^MR||BENCHCASE^ALEX||19800101|F|||1 Main St^^Albany^NY^12207",
                    ]
                ).encode()
                started = time.perf_counter()
                while True:  # as an engine does: a 429 is sent again shortly
                    status, answer = http(
                        "POST", f"{gateway}/integrations/hl7v2/adt", feed, message, "application/hl7-v2"
                    )
                    if status != 429:
                        break
                    throttled[0] += 1
                    time.sleep(0.25)
                assert status == 200 and b"MSA|AA|" in answer, (status, answer[:200])
                return (time.perf_counter() - started) * 1000

            def registered_then_updated(k: int) -> list[float]:
                """One patient's A04 then A08, in order (an engine sends a patient's in order)."""
                return [adt(2 * k), adt(2 * k + 1)]

            adt(-2)  # warm
            limit = load_tenants()[0].throttle_of(topology.RouteGroup.INTEGRATION)
            for senders, count, first in ((1, 200, 0), (4, 400, 1000)):
                throttled[0] = 0
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=senders) as pool:
                    pairs = pool.map(registered_then_updated, range(first, first + count // 2))
                    latencies = [ms for pair in pairs for ms in pair]
                elapsed = time.perf_counter() - started
                print(
                    f"  HL7 v2 ADT (A04/A08), {senders} sender(s): {count / elapsed:.1f} messages acknowledged/s,"
                    f" ACK p50 {_percentile(latencies, 50):.0f} ms, p99 {_percentile(latencies, 99):.0f} ms"
                    f" ({throttled[0]} answered 429 and sent again: the tenant's integration throttle is"
                    f" {limit.rate}/s, burst {limit.burst})"
                )

            # A subscription, and a receiver where the tenant's subscriber domain is sent locally.
            arrived: dict[str, float] = {}

            class Hook(BaseHTTPRequestHandler):
                def do_POST(self) -> None:
                    got = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    for entry in json.loads(got).get("entry", [])[1:]:
                        arrived[entry["fullUrl"].rsplit("/", 1)[-1]] = time.perf_counter()
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

                def log_message(self, *args: Any) -> None:
                    return

            port = urllib.parse.urlsplit(platform.urls["subscribers"]).port
            receiver = ThreadingHTTPServer(("127.0.0.1", port or 0), Hook)
            threading.Thread(target=receiver.serve_forever, daemon=True).start()
            machine = mint_client_credentials_token(
                issuer=tenant.issuers["workforce"],
                client_id="bench-subscriber",
                scopes=["system/Subscription.cruds", "system/Appointment.rs"],
            )
            subscription = {
                "resourceType": "Subscription",
                "status": "requested",
                "reason": "bench",
                "criteria": "urn:telehealth:subscription-topic:appointment",
                "channel": {
                    "type": "rest-hook",
                    "endpoint": f"https://{load_tenants()[0].subscriber_domains[0]}/bench",
                    "payload": "application/fhir+json",
                },
            }
            status, body = http(
                "POST",
                f"{gateway}/fhir/r4/Subscription",
                machine,
                json.dumps(subscription).encode(),
                "application/fhir+json",
            )
            assert status == 201, body
            made = json.loads(body)["id"]
            for _ in range(300):
                status, body = http(
                    "GET", f"{gateway}/fhir/r4/Subscription/{made}", machine, None, "application/fhir+json"
                )
                if json.loads(body).get("status") == "active":
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("the subscription's handshake never arrived")
            api = CountedApi(platform)
            patient = api.token("patient.one@riverside.example", "patients")
            delays: list[float] = []
            now = datetime.now(UTC)
            window = {
                "state": "NY",
                "specialty": "urgent-care",
                "from": f"{now + timedelta(days=2):%Y-%m-%dT%H:%M:%SZ}",
                "to": f"{now + timedelta(days=3):%Y-%m-%dT%H:%M:%SZ}",
            }
            query = urllib.parse.urlencode(window)
            status, body = http("GET", f"{gateway}/v1/slots?{query}", patient, None, "application/json")
            slots = [s["slot_id"] for s in json.loads(body)["slots"]]
            for slot in slots[:20]:
                status, body = http(
                    "POST",
                    f"{gateway}/v1/appointments",
                    patient,
                    json.dumps({"slot_id": slot, "state": "NY"}).encode(),
                    "application/json",
                )
                booked_at = time.perf_counter()
                if status != 201:
                    continue
                appointment = json.loads(body)["appointment_id"]
                for _ in range(600):
                    if appointment in arrived:
                        delays.append((arrived[appointment] - booked_at) * 1000)
                        break
                    time.sleep(0.01)
            receiver.shutdown()
            print(
                f"  a subscription's notification, from a booking's answer to the receiver ({len(delays)} bookings):"
                f" p50 {_percentile(delays, 50):.0f} ms, p99 {_percentile(delays, 99):.0f} ms"
            )
            _export_figures(platform, gateway, tenant, http)
        finally:
            platform.stop()


EXPORT_OBSERVATIONS = 10_000


def _export_figures(platform: Any, gateway: str, tenant: Any, http: Any) -> None:
    """A bulk export's throughput: synthetic Observations put straight into the HealthLake
    stand-in, then a system `$export` kicked off, polled to its manifest and every file read
    through the facade, as a bulk client does."""
    import urllib.request

    from local.tokens import mint_client_credentials_token
    from telehealth.adapters.healthlake import HealthLakeFhirStore

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    store = HealthLakeFhirStore(platform.fhir_endpoints["riverside"], region=tenant.region)
    patient = store.create({"resourceType": "Patient", "name": [{"family": "Benchexport"}]})["id"]
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-12-01T09:00:00Z",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    from telehealth.application.record import MAX_BUNDLE, BundlePacer

    pacer = BundlePacer(8.0)  # under HealthLake's 10 bundles a second for a data store
    for start in range(0, EXPORT_OBSERVATIONS, MAX_BUNDLE):
        pacer.wait()
        store.transaction(
            [{"request": {"method": "POST", "url": "Observation"}, "resource": observation}]
            * min(MAX_BUNDLE, EXPORT_OBSERVATIONS - start),
            kind="batch",
        )
    machine = mint_client_credentials_token(
        issuer=tenant.issuers["workforce"], client_id="bench-exporter", scopes=["system/*.rs"]
    )
    fhir_json = "application/fhir+json"
    request = urllib.request.Request(  # noqa: S310 (the local gateway)
        f"{gateway}/fhir/r4/$export?_type=Patient,Observation",
        headers={"Authorization": machine, "Prefer": "respond-async", "Accept": fhir_json},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        status_url = answer.headers["Content-Location"]
    while True:
        status, body = http("GET", status_url, machine, None, fhir_json)
        if status == 200:
            break
        assert status == 202, body
        time.sleep(0.2)
    manifested = time.perf_counter()
    manifest = json.loads(body)
    lines = 0
    for output in manifest["output"]:
        status, body = http("GET", output["url"], machine, None, fhir_json)
        assert status == 200, body[:200]
        lines += body.count(b"\n")
    done = time.perf_counter()
    counted = sum(o["count"] for o in manifest["output"])
    assert lines == counted, (lines, counted)
    print(
        f"  a system export of {counted} resources in {len(manifest['output'])} files: manifest after"
        f" {manifested - started:.1f} s, files read in {done - manifested:.1f} s;"
        f" {counted / (done - started):.0f} resources/s end to end"
    )


def _prescription_figures(api: CountedApi, platform: Any, provider: dict[str, str], path: str) -> None:
    """A prescription in the admitted visit: the checks and the send through the prescribing
    function (Lambda Invoke) to the network's stand-in, with the calls each makes, and a send's
    time in the API handler (p50, p99 over 30 sends)."""
    import uuid

    pharmacies = api.invoke(provider, "GET", "/v1/pharmacies", query={"state": "NY", "name": "riverside"})
    pharmacy = json.loads(pharmacies["body"])[0]["pharmacy_id"]
    written = {
        "rxcui": "314076",
        "dose": "1 tablet",
        "route": "oral",
        "frequency": "once a day",
        "quantity": 30,
        "days_supply": 30,
        "refills": 1,
        "sig": "Take one tablet by mouth once a day.",
        "pharmacy_id": pharmacy,
        "acknowledged": ["duplicate-ingredient"],
    }

    def send() -> Any:
        return api.invoke(
            provider, "POST", f"{path}/prescriptions", written, headers={"Idempotency-Key": str(uuid.uuid4())}
        )

    network = platform.photon
    for name, call in (
        (
            "check a prescription",
            lambda: api.invoke(provider, "POST", f"{path}/prescriptions/checks", written),
        ),
        ("send a prescription", send),
    ):
        before = len(network.calls)
        reply, n, chain, ops = api.counted(call, invokes=True)
        assert reply["statusCode"] in (200, 201), reply["body"]
        photon = network.calls[before:]
        print(
            f"  {name}: {n} AWS calls, {chain} sequential ({', '.join(ops)}); the prescribing function's "
            f"calls to the network: {len(photon)} ({', '.join(photon)})"
        )
    sends: list[float] = []
    for _ in range(30):
        started = time.perf_counter()
        reply = send()
        sends.append((time.perf_counter() - started) * 1000)
        assert reply["statusCode"] == 201, reply["body"]
    print(
        f"  a send, checks included (the API handler, 30 sends): p50 {_percentile(sends, 50):.1f} ms,"
        f" p99 {_percentile(sends, 99):.1f} ms"
    )


def parity_figures() -> None:
    """What ran here, as AWS would take it: twenty bookings of distinct slots at once and a 20-way
    race on one slot through the gateway, then one whole video visit (the demo's, with recording
    and the rPPG worker); the record of their AWS calls decided by the synthesized templates."""
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    import app
    from local.emulator import ACCOUNT
    from local.parity.report import check_tenant, read_record
    from local.platform import LocalPlatform, Settings
    from telehealth.adapters.healthlake import HealthLakeFhirStore
    from tools.demo import Demo

    print("\n== Parity: what ran here, as AWS would take it")
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as out:
        app.build(app.new_app(outdir=out)).synth()
        templates = {
            p.name.removesuffix(".template.json"): json.loads(p.read_text())
            for p in Path(out).glob("*.template.json")
        }
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state), schedule_every_s=5.0))
        try:
            platform.start()
            platform.emulator.meter.largest_transaction.clear()  # the seed's writes are not a call's
            gateway = platform.urls["gateway"]
            api = CountedApi(platform)
            staff = api.token("staff@riverside.example", "workforce")
            patient = api.claims("patient.one@riverside.example")["sub"]
            day = datetime.now(UTC) + timedelta(days=4)
            query = f"state=NY&from={day:%Y-%m-%d}T00:00:00Z&to={day + timedelta(days=1):%Y-%m-%d}T00:00:00Z&limit=100"

            def http(method: str, path: str, body: object = None) -> tuple[int, Any, float]:
                request = urllib.request.Request(  # noqa: S310 (loopback)
                    f"{gateway}{path}",
                    data=json.dumps(body).encode() if body is not None else None,
                    headers={"Authorization": staff, "Content-Type": "application/json"},
                    method=method,
                )
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request) as response:  # noqa: S310
                        status, payload = response.status, json.loads(response.read())
                except urllib.error.HTTPError as error:
                    status, payload = error.code, None
                return status, payload, (time.perf_counter() - started) * 1000

            slots = [s["slot_id"] for s in http("GET", f"/v1/slots?{query}")[1]["slots"]]

            def book(slot: str) -> tuple[int, Any, float]:
                return http(
                    "POST", "/v1/appointments", {"slot_id": slot, "state": "NY", "patient_id": patient}
                )

            environments = platform.dispatcher.resolve(topology.API.name("riverside")).environments
            # Twice: the first burst starts the environments (Lambda's cold starts, here forks of
            # a preloaded host), the second finds them warm.
            for burst, batch in (("cold", slots[:20]), ("warm", slots[20:40])):
                environments.peak = 0
                with ThreadPoolExecutor(max_workers=20) as pool:
                    distinct = list(pool.map(book, batch))
                latencies = sorted(ms for _, _, ms in distinct)
                print(
                    f"  20 concurrent bookings of distinct slots ({burst}): {sum(s == 201 for s, _, _ in distinct)} booked;"
                    f" p50 {statistics.median(latencies):.0f} ms, p99 (the slowest of 20) {latencies[-1]:.0f} ms;"
                    f" {environments.peak} ran side by side"
                )
            with ThreadPoolExecutor(max_workers=20) as pool:
                race = list(pool.map(lambda _: book(slots[40]), range(20)))
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            fhir = HealthLakeFhirStore(platform.fhir_endpoints["riverside"], region="us-east-1")
            deadline = time.monotonic() + 60
            while (
                not list(fhir.search("Appointment", {"slot": f"Slot/{slots[40]}"}))
                and time.monotonic() < deadline
            ):
                time.sleep(0.5)
            time.sleep(12)  # two sweeps and the stream's stragglers
            left = len(list(fhir.search("Appointment", {"slot": f"Slot/{slots[40]}"})))
            print(
                f"  20-way race on one slot: {sum(s == 201 for s, _, _ in race)} won, {sum(s == 409 for s, _, _ in race)} got 409;"
                f" FHIR Appointments for that slot afterwards: {left} (goal 1)"
            )
            Demo(json.loads((Path(state) / "platform.json").read_text())).run()
            largest = platform.emulator.meter.largest_transaction
            print(
                f"  largest transaction any call made: {max(largest.values(), default=0)} items (DynamoDB allows 100)"
            )
            recorded = read_record(platform.parity_dir)
            print(f"  AWS calls recorded: {len(recorded)} distinct (principal, action, resource) needs")
            for tenant in load_tenants():
                report, missing = check_tenant(
                    tenant,
                    templates,
                    recorded,
                    fhir_endpoint=platform.fhir_endpoints[tenant.id],
                    account=ACCOUNT,
                    sealing_key_arns=platform.provisioned[tenant.id].sealing_key_arns,
                )
                print(f"  {tenant.id}: " + "\n  ".join(report.summary()))
                for line in report.refused:
                    print(f"    REFUSED {line}")
                for line in missing:
                    print(f"    NO ROUTE {line}")
        finally:
            platform.stop()


def egress_figures() -> None:
    """What the templates put on the egress path, read from the synthesized app: each tenant's
    functions in subnets with a route to a NAT gateway, beside those its topology says call a
    third party; and the region's DNS firewall allow-list."""
    import app
    from local.parity.report import egress_functions, firewall_domains, function_subnet_kinds

    print("\n== The egress path (from the synthesized templates)")
    with tempfile.TemporaryDirectory() as out:
        app.build(app.new_app(outdir=out)).synth()
        templates = {
            p.name.removesuffix(".template.json"): json.loads(p.read_text())
            for p in Path(out).glob("*.template.json")
        }
    for tenant in load_tenants():
        silo = templates[topology.tenant_prefix(tenant.id)]
        baseline = templates[f"{topology.PREFIX}-baseline-{tenant.region}"]
        placed = function_subnet_kinds(silo, baseline, tenant.id)
        on_path = sorted(egress_functions(silo, baseline, tenant.id))
        callers = sorted(f.key for f in topology.functions_for(tenant) if f.third_parties)
        print(
            f"  {tenant.id:<16} functions on the egress path: {len(on_path)} of {len(placed)}"
            f" ({', '.join(on_path) or 'none'}); calling a third party: {len(callers)}"
            f" ({', '.join(callers) or 'none'}); goal met: {'yes' if on_path == callers else 'NO'}"
        )
    for region in sorted({t.region for t in load_tenants()}):
        allowed = firewall_domains(templates[f"{topology.PREFIX}-baseline-{region}"]) or []
        third = sorted(d for d in allowed if not d.endswith(".amazonaws.com"))
        print(
            f"  {region} DNS firewall: {len(allowed)} names allowed, then every other refused;"
            f" third-party: {', '.join(third) or 'none'}"
        )


OUTBOX_PENDING = 10_000


def outbox_figures() -> None:
    """10,000 entries left pending as if the stream had failed them all (an `attempts` count keeps
    the relays' stream filter from taking them), then the sweeper function invoked until its
    lanes are empty: entries a minute, and each lane's outcomes."""
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from local.platform import LocalPlatform, Settings
    from telehealth.adapters.outbox_store import STREAM_GRACE, DynamoOutbox, lanes
    from telehealth.domain import fhir_access
    from telehealth.fhir import audit, projection
    from telehealth.ports import OutboxEntry

    print(f"\n== Outbox: the sweeper with {OUTBOX_PENDING:,} entries pending")
    with tempfile.TemporaryDirectory() as state:
        # The scheduled sweeps stay off: only the invocations measured here drain the lanes.
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state), schedule_every_s=10**6))
        try:
            platform.start()
            table = topology.CLINIC_TABLE.name("riverside")
            dynamodb = platform.client("dynamodb")
            outbox = DynamoOutbox(table, dynamodb, clock=lambda: datetime.now(UTC) + timedelta(days=1))
            now = datetime.now(UTC) - STREAM_GRACE
            entries: list[OutboxEntry] = []
            for n in range(OUTBOX_PENDING):
                kind = n % 10
                if kind < 4:  # a synthetic patient's record, at its first version
                    resource = {
                        "resourceType": "Patient",
                        "id": f"bench-{n:05d}",
                        "meta": {"tag": [{"system": projection.SOURCE_VERSION_SYSTEM, "code": "1"}]},
                        "active": True,
                    }
                    entries.append(OutboxEntry(resource, 1))
                elif kind < 7:  # an audit event (archived, then written)
                    fact = audit.AuditFact(
                        f"bench-audit-{n:05d}",
                        now,
                        "Practitioner/bench",
                        fhir_access.Interaction.READ,
                        [f"Patient/bench-{n:05d}"],
                        "TREAT",
                    )
                    entries.append(OutboxEntry(audit.audit_event(fact), 1))
                elif kind < 9:
                    event = {
                        "id": f"bench-event-{n:05d}",
                        "source": "telehealth.bench",
                        "detail-type": "Bench.Fact",
                    }
                    entries.append(OutboxEntry({**event, "detail": {"n": n}}, 1, destination="events"))
                else:  # a resumption whose step no longer waits
                    resume = {"id": f"bench-resume-{n:05d}", "task_token": f"gone-{n}", "output": {}}
                    entries.append(OutboxEntry(resume, 1, destination="workflow"))
            for chunk in range(0, len(entries), 100):
                actions = outbox.put_actions(entries[chunk : chunk + 100], now)
                for action in actions:
                    action["Put"]["Item"]["attempts"] = {"N": "0"}
                dynamodb.transact_write_items(TransactItems=actions)
            pending = sum(1 for d, s in lanes() for _ in outbox.pending(d, s, 10**6))
            print(f"  pending: {pending:,} ({Counter(e.destination for e in entries)})")
            sweeper = topology.OUTBOX_SWEEPER.name("riverside")
            began, invocations, outcomes = time.perf_counter(), 0, Counter[str]()
            while pending and invocations < 20:
                result = platform.dispatcher.invoke_or_raise(sweeper, {"source": "aws.events"})
                invocations += 1
                for lane in result["swept"].values():
                    outcomes.update(lane)
                pending = sum(1 for d, s in lanes() for _ in outbox.pending(d, s, 10**6))
            took = time.perf_counter() - began
            delivered = OUTBOX_PENDING - pending
            print(
                f"  swept {delivered:,} in {took:.1f} s over {invocations} invocation(s):"
                f" {delivered / took * 60:,.0f} entries a minute; left pending: {pending}"
            )
            print(f"  outcomes: {dict(outcomes)}")
        finally:
            platform.stop()


REBUILD_PATIENTS = 2_000
REBUILD_VISITS = 4_000  # each an Appointment and its Slot: 10,000 resources with the patients


def rebuild_figures() -> None:
    """A tenant's record rebuilt from its table: synthetic patients and booked visits (invented
    names, no contact details) written into the local platform's table as the stores write them,
    without outbox entries (so the live relay does not project them meanwhile, and every version
    is re-derived from the state, as a rebuild long after the changes finds it); then the command,
    in a process of its own, into a new data store, and again (everything current)."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, date, datetime, timedelta

    from local.platform import LocalPlatform, Settings
    from local.seed import SEED_PROVIDERS
    from telehealth.adapters.scheduling_store import DynamoSchedulingStore
    from telehealth.domain.appointments import Actor, Appointment
    from telehealth.domain.ids import new_id
    from telehealth.fhir.projection import PatientProfile

    print("\n== Rebuilding the FHIR store from the table (python -m tools.ops rebuild-record)")
    tenant = next(t for t in load_tenants() if t.id == "riverside")
    with tempfile.TemporaryDirectory() as state:
        # The synthetic visits have no lifecycles and need none: the reconciler's schedule is off.
        platform = LocalPlatform(
            Settings(
                port=0,
                state_dir=Path(state),
                tenants=(tenant,),
                schedule_every_s_for={"visit-reconcile": 10**6},
            )
        )
        try:
            platform.start()
            store = DynamoSchedulingStore(
                topology.CLINIC_TABLE.name(tenant.id), client=platform.client("dynamodb")
            )
            patients = [
                PatientProfile(
                    f"synthetic-{n:05d}",
                    "Synthetic",
                    f"Bench{n:05d}",
                    date(1950, 1, 1) + timedelta(days=7 * n),
                    tenant.states[n % len(tenant.states)],
                    "America/New_York",
                )
                for n in range(REBUILD_PATIENTS)
            ]
            started = time.perf_counter()
            store.write([store.put_patient(p) for p in patients])
            # Five-minute visits with the around-the-clock providers, one after another from
            # tomorrow: each provider's visits written by one thread (no two in one hour's item).
            urgent = [
                s.local_part.replace(".", "-") for s in SEED_PROVIDERS if s.visit_minutes == {"general": 5}
            ]
            first = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)

            def book(provider: int) -> None:
                for n in range(provider, REBUILD_VISITS, len(urgent)):
                    start = first + timedelta(minutes=5 * (n // len(urgent)))
                    visit = Appointment(
                        new_id(datetime.now(UTC)),
                        urgent[provider],
                        patients[n % REBUILD_PATIENTS].patient_id,
                        "general",
                        start,
                        start + timedelta(minutes=5),
                        "NY",
                        booked_by=Actor.STAFF,
                    )
                    store.book(visit, [], None)

            with ThreadPoolExecutor(len(urgent)) as pool:
                list(pool.map(book, range(len(urgent))))
            print(
                f"  table: {REBUILD_PATIENTS} patients and {REBUILD_VISITS} booked visits written in"
                f" {time.perf_counter() - started:.1f} s (besides the seed's providers and patients)"
            )
            control = platform.client("healthlake", endpoint=platform.urls["healthlake"])
            endpoint = control.create_fhir_datastore(
                DatastoreName=f"{topology.tenant_prefix(tenant.id)}-rebuilt", DatastoreTypeVersion="R4"
            )["DatastoreEndpoint"]
            environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARITY_"))}
            command = [
                sys.executable, "-m", "tools.ops", "rebuild-record", "--tenant", tenant.id, "--local",
                "--state-file", str(Path(state) / "platform.json"), "--fhir-endpoint", endpoint,
            ]  # fmt: skip
            for run in ("into the new store", "again (all current)"):
                began = time.perf_counter()
                done = subprocess.run(
                    command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False
                )
                wall = time.perf_counter() - began
                if done.returncode != 0:
                    print(f"  {run}: FAILED ({done.returncode})\n{done.stdout}{done.stderr}")
                    return
                figures = dict(
                    re.findall(r"^\s+(written|current|resources|peak memory): (.*)$", done.stdout, re.M)
                )
                print(
                    f"  {run}: {figures['resources']} (process wall time {wall:.1f} s);"
                    f" written {figures['written']}, current {figures['current']}; peak memory {figures['peak memory']}"
                )
            print("  the command's own report, last run:")
            for line in done.stdout.splitlines()[1:]:
                print(f"    {line.strip()}")
        finally:
            platform.stop()


RESTART_VISITS = 100
RESTART_RESOURCES = 5_000


def _state_size(state_dir: Path) -> str:
    data = state_dir / "state"
    parts = {
        part.name: sum(
            f.stat().st_size for f in ([part] if part.is_file() else part.rglob("*")) if f.is_file()
        )
        for part in sorted(data.iterdir())
    }
    detail = ", ".join(f"{name} {size / 1024:,.0f} KiB" for name, size in parts.items())
    return f"{sum(parts.values()) / 2**20:.1f} MiB ({detail})"


def restart_figures() -> None:
    """Fresh start; then a populated state: RESTART_VISITS booked visits (written into the table as
    the store writes them, synthetic patients, no lifecycles yet) and RESTART_RESOURCES FHIR
    resources (synthetic Patients and Observations, posted in transaction bundles); a kill -9 and
    a start (snapshot of the first start plus the journal replayed); a clean stop and a start
    (the snapshot alone). Each populated start resumes every open visit's lifecycle."""
    from datetime import UTC, date, datetime, timedelta

    import boto3

    from local.platform import free_port
    from local.seed import SEED_PROVIDERS
    from telehealth.adapters.healthlake import HealthLakeFhirStore
    from telehealth.adapters.scheduling_store import DynamoSchedulingStore
    from telehealth.domain.appointments import Actor, Appointment
    from telehealth.domain.ids import new_id
    from telehealth.fhir.projection import PatientProfile

    print("\n== make run on kept data (.local/state/)")
    with tempfile.TemporaryDirectory() as state:
        state_dir, port = Path(state), free_port()
        process, wall, internal = _start_local(port, state_dir)
        print(f"  fresh start                      {wall:6.2f} s to ready ({internal:.2f} s after imports)")
        try:
            running = json.loads((state_dir / "platform.json").read_text())
            tenant = running["tenants"]["riverside"]
            dynamodb = boto3.client(
                "dynamodb",
                endpoint_url=running["urls"]["aws"],
                region_name=tenant["region"],
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106
            )
            store = DynamoSchedulingStore(topology.CLINIC_TABLE.name("riverside"), client=dynamodb)
            patients = [
                PatientProfile(
                    f"synthetic-{n:03d}",
                    "Synthetic",
                    f"Restart{n:03d}",
                    date(1960, 1, 1) + timedelta(days=n),
                    "NY",
                    "America/New_York",
                )
                for n in range(RESTART_VISITS)
            ]
            store.write([store.put_patient(p) for p in patients])
            urgent = [
                s.local_part.replace(".", "-") for s in SEED_PROVIDERS if s.visit_minutes == {"general": 5}
            ]
            first = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
            for n, patient in enumerate(patients):
                start = first + timedelta(minutes=5 * (n // len(urgent)))
                visit = Appointment(
                    new_id(datetime.now(UTC)), urgent[n % len(urgent)], patient.patient_id, "general",
                    start, start + timedelta(minutes=5), "NY", booked_by=Actor.STAFF,
                )  # fmt: skip
                store.book(visit, [], None)
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            fhir = HealthLakeFhirStore(tenant["fhir_endpoint"], region=tenant["region"])
            # Bundles of 50: the stand-in's engine takes no more updates in one transaction.
            from telehealth.application.record import BundlePacer

            pacer = BundlePacer(8.0)  # under HealthLake's 10 bundles a second for a data store
            for batch in range(RESTART_RESOURCES // 50):
                pacer.wait()
                entries = []
                for n in range(batch * 50, batch * 50 + 50):
                    resource: dict[str, Any] = (
                        {"resourceType": "Patient", "id": f"restart-{n}", "name": [{"family": f"Restart{n}"}]}
                        if n % 2 == 0
                        else {
                            "resourceType": "Observation",
                            "id": f"restart-{n}",
                            "status": "final",
                            "code": {"text": "synthetic pulse"},
                            "subject": {"reference": f"Patient/restart-{n - 1}"},
                            "valueQuantity": {"value": 60 + n % 40, "unit": "/min"},
                        }
                    )
                    entries.append(
                        {
                            "resource": resource,
                            "request": {
                                "method": "PUT",
                                "url": f"{resource['resourceType']}/{resource['id']}",
                            },
                        }
                    )
                fhir.transaction(entries)
            print(
                f"  populated: {RESTART_VISITS} open visits, {RESTART_RESOURCES:,} FHIR resources; state {_state_size(state_dir)}"
            )
        except BaseException:
            _stop_local(process)
            raise
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        print(f"  killed (-9): state {_state_size(state_dir)}")
        for run in ("start after the kill (journal replayed)", "start after a clean stop (snapshot)"):
            began = time.perf_counter()
            process, wall, internal = _start_local(port, state_dir)
            assert process.stdout is not None
            report = process.stdout.readline().strip()  # how it found its data
            resumed = next(line.strip() for line in process.stdout if line.startswith("Resumed"))
            print(f"  {run:<40} {wall:6.2f} s to ready ({internal:.2f} s after imports)")
            print(f"    {report}")
            print(f"    {resumed} ({time.perf_counter() - began:.1f} s after the command)")
            _stop_local(process)
            print(f"    then stopped: state {_state_size(state_dir)}")


def fhir_figures() -> None:
    """The FHIR facade's read and search through the API handler in this process, over the
    HealthLake stand-in: each request's time in all, the part spent waiting on the FHIR store
    (every signed request it sent), and the difference, the facade's own (authorization, the
    provider lookups, the cursor, the audit entry, building the answer)."""
    from local.platform import LocalPlatform, Settings
    from local.tokens import api_gateway_claims, mint_client_credentials_token
    from telehealth.adapters.healthlake import HealthLakeFhirStore

    print("\n== The FHIR facade (read and search), over the HealthLake stand-in")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state)))
        try:
            platform.start()
            api = CountedApi(platform)
            issuer = api.tenant.issuers["workforce"]
            token = mint_client_credentials_token(
                issuer=issuer, client_id="bench-ehr", scopes=["system/*.rs"]
            )
            machine = api_gateway_claims(api.authorizer.check(token, list(topology.SMART_SCOPES)))
            store_ms: list[float] = []
            original = HealthLakeFhirStore._send

            def timed(self: HealthLakeFhirStore, *args: Any, **kwargs: Any) -> dict[str, Any]:
                started = time.perf_counter()
                try:
                    return original(self, *args, **kwargs)
                finally:
                    store_ms.append((time.perf_counter() - started) * 1000)

            HealthLakeFhirStore._send = timed  # type: ignore[method-assign]
            try:
                first = api.invoke(machine, "GET", "/fhir/r4/Practitioner", query={"_count": "1"})
                practitioner = json.loads(first["body"])["entry"][0]["resource"]["id"]
                cases = {
                    "read Practitioner/<id>": ("GET", f"/fhir/r4/Practitioner/{practitioner}", None),
                    "search Practitioner?active=true&_count=5": (
                        "GET",
                        "/fhir/r4/Practitioner",
                        {"active": "true", "_count": "5"},
                    ),
                }
                for name, (method, path, query) in cases.items():
                    total: list[float] = []
                    waited: list[float] = []
                    for _ in range(200):
                        store_ms.clear()
                        started = time.perf_counter()
                        answer = api.invoke(machine, method, path, query=query)
                        total.append((time.perf_counter() - started) * 1000)
                        waited.append(sum(store_ms))
                        assert answer["statusCode"] == 200, answer["body"][:200]
                    own = [t - w for t, w in zip(total, waited, strict=True)]
                    _, calls, chain, operations = api.counted(
                        lambda m=method, p=path, q=query: api.invoke(machine, m, p, query=q)
                    )
                    print(
                        f"  {name}: {_percentile(total, 50):.1f} ms p50, {_percentile(total, 99):.1f} ms p99 in all;"
                        f" the FHIR store {_percentile(waited, 50):.1f} / {_percentile(waited, 99):.1f} ms;"
                        f" the facade's own {_percentile(own, 50):.1f} / {_percentile(own, 99):.1f} ms"
                        f" (200 requests; {calls} AWS calls besides the store's, {chain} in sequence:"
                        f" {', '.join(sorted(set(operations)))})"
                    )
            finally:
                HealthLakeFhirStore._send = original  # type: ignore[method-assign]
        finally:
            platform.stop()


def audit_figures() -> None:
    """The audit trail after a workload over HTTP by every kind of agent (patients, a provider,
    staff, a machine client), refusals included: AuditEvents per request, their outcomes and
    interactions, and how many of their references resolve in the FHIR store (the whole store
    walked, `tools.ops.references`)."""
    import base64
    import urllib.parse
    import urllib.request
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from local.platform import LocalPlatform, Settings
    from local.seed import DEMO_PASSWORD
    from telehealth.adapters.healthlake import HealthLakeFhirStore
    from telehealth.adapters.outbox_store import SHARDS, lane_key
    from tools.ops.references import walk

    print("\n== The audit trail, after a workload by every kind of agent")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state)))
        try:
            platform.start()  # inside: a start that fails half-way still stops what it started
            gateway = platform.urls["gateway"]
            tenant = platform.provisioned["riverside"]
            idp = platform.client("cognito-idp", tenant.region)

            def token(email: str) -> str:
                pool = "patients" if email.startswith("patient") else "workforce"
                result = idp.initiate_auth(
                    ClientId=tenant.portal_clients[pool],
                    AuthFlow="USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": email, "PASSWORD": DEMO_PASSWORD},
                )
                return str(result["AuthenticationResult"]["AccessToken"])

            def call(method: str, path: str, bearer: str, body: object = None) -> tuple[int, Any]:
                data = json.dumps(body).encode() if body is not None else None
                headers = {"Authorization": bearer, "Content-Type": "application/json"}
                url = f"{gateway}{path}"
                request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
                try:
                    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
                        return reply.status, json.loads(reply.read() or b"null")
                except urllib.error.HTTPError as error:
                    return error.code, None

            client_id, secret, _ = tenant.machine_clients["ehr-sync"]
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            minted = urllib.request.Request(  # noqa: S310
                f"{gateway}/oauth2/token",
                data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
                headers={
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                method="POST",
            )
            with urllib.request.urlopen(minted, timeout=30) as reply:  # noqa: S310
                machine = str(json.loads(reply.read())["access_token"])
            patient, other = token("patient.one@riverside.example"), token("patient.two@riverside.example")
            staff, provider = token("staff@riverside.example"), token("dr.ramirez@riverside.example")

            day = datetime.now(UTC) + timedelta(days=5)
            window = f"state=NY&specialty=pediatrics&limit=100&from={day:%Y-%m-%d}T00:00:00Z&to={day + timedelta(days=1):%Y-%m-%d}T00:00:00Z"
            _, found = call("GET", f"/v1/slots?{window}", patient)
            booked = []
            requests: Counter[str] = Counter()
            for offered in found["slots"][:10]:
                status, made = call(
                    "POST", "/v1/appointments", patient, {"slot_id": offered["slot_id"], "state": "NY"}
                )
                requests["book"] += 1
                if status == 201:
                    booked.append(made["appointment_id"])
            for appointment_id in booked:
                call("GET", f"/v1/appointments/{appointment_id}", patient)
                call("GET", f"/v1/appointments/{appointment_id}", other)  # refused: not theirs
                requests["read"] += 1
                requests["refused read"] += 1
            for appointment_id in booked[:3]:
                call("POST", f"/v1/appointments/{appointment_id}/cancel", patient)
                requests["cancel"] += 1
            lists = {
                "patient's list": ("/v1/appointments", patient),
                "provider's schedule": ("/v1/appointments", provider),
                "staff list": ("/v1/appointments?provider_id=dr-ramirez", staff),
                "machine client list": ("/integrations/appointments?provider_id=dr-ramirez", machine),
                "waiting-room poll": ("/v1/waiting-room", provider),
            }
            for what, (path, bearer) in lists.items():
                for _ in range(3):
                    call("GET", path, bearer)
                    requests[what] += 1

            dynamodb, table = platform.client("dynamodb"), topology.CLINIC_TABLE.name("riverside")

            def waiting() -> int:
                return sum(
                    dynamodb.query(
                        TableName=table,
                        IndexName="gsi1",
                        KeyConditionExpression="gsi1pk = :lane",
                        ExpressionAttributeValues={":lane": {"S": lane_key("fhir", shard)}},
                        Select="COUNT",
                    )["Count"]
                    for shard in range(SHARDS)
                )

            deadline = time.monotonic() + 120
            while waiting() and time.monotonic() < deadline:
                time.sleep(1.0)
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            store = HealthLakeFhirStore(platform.fhir_endpoints["riverside"], region="us-east-1")
            started = time.perf_counter()
            report = walk(store)
            walked_s = time.perf_counter() - started
            events = list(store.search("AuditEvent", {"_count": "100"}))
            outcomes = Counter(e["outcome"] for e in events)
            subtypes = Counter(e["subtype"][0]["code"] for e in events)
            agents = Counter(e["agent"][0]["who"]["reference"].split("/")[0] for e in events)
            print(f"  requests: {sum(requests.values())} ({dict(requests)})")
            print(
                f"  AuditEvents: {len(events)} (outcome {dict(sorted(outcomes.items()))}; subtype {dict(subtypes)}; agents {dict(agents)})"
            )
            print(
                f"  AuditEvent references resolved: {report.resolved['AuditEvent']} / {report.references['AuditEvent']}"
            )
            print(
                f"  every reference in the store resolved: {sum(report.resolved.values())} / {sum(report.references.values())} ({sum(report.resources.values())} resources walked in {walked_s:.2f} s)"
            )
            for holder, reference in report.dangling[:10]:
                print(f"    DANGLING {holder} -> {reference}")
        finally:
            platform.stop()


def _page_chunks(manifest: dict[str, Any], key: str, seen: set[str]) -> None:
    """A page's entry and the chunks it imports statically (what loads before it can run)."""
    if key in seen:
        return
    seen.add(key)
    for imported in manifest[key].get("imports", []):
        _page_chunks(manifest, imported, seen)


def web_figures() -> None:
    """JavaScript and CSS each page ships before it runs (gzip), and each chunk loaded later."""
    import gzip

    dist = ROOT / "web" / "dist"
    subprocess.run(["make", "-s", "web/dist/.ready"], cwd=ROOT, check=True)
    manifest: dict[str, Any] = json.loads((dist / ".vite" / "manifest.json").read_text())

    def gz(name: str) -> int:
        return len(gzip.compress((dist / name).read_bytes(), compresslevel=9))

    print("\n== web: what each page ships (gzip) ==")
    for key in sorted(k for k, v in manifest.items() if v.get("isEntry")):
        chunks: set[str] = set()
        _page_chunks(manifest, key, chunks)
        js = sum(gz(manifest[c]["file"]) for c in chunks)
        css = sum(gz(f) for c in chunks for f in manifest[c].get("css", []))
        print(
            f"  {key:<24} JavaScript {js / 1024:6.1f} KiB in {len(chunks)} files, CSS {css / 1024:5.1f} KiB"
        )
    later = sorted(k for k, v in manifest.items() if v.get("isDynamicEntry"))
    for key in later:
        print(f"  loaded later: {key:<40} {gz(manifest[key]['file']) / 1024:6.1f} KiB")


def relay_figures() -> None:
    """The signalling relay on the Chime stand-in's state in this process, two clients on loopback."""
    import uuid

    from websockets.sync.client import connect

    from local.standins.chime import ChimeState
    from local.standins.signalling import SignallingRelay

    print("\n== signalling relay (local video) ==")
    state = ChimeState(lambda *event: None)
    relay = SignallingRelay(state)
    relay.start()
    try:
        meeting = state.create_meeting(
            {
                "ClientRequestToken": uuid.uuid4().hex,
                "MediaRegion": "us-east-1",
                "ExternalMeetingId": "bench:relay",
            }
        )
        url = meeting.shape(state.signalling)["MediaPlacement"]["SignalingUrl"]
        attendees = [
            state.create_attendee(meeting.meeting_id, {"ExternalUserId": f"bench:{n}"}) for n in (1, 2)
        ]
        joins, sockets = [], []
        for attendee in attendees:
            started = time.perf_counter()
            socket = connect(url, legacy=True)
            socket.send(json.dumps({"type": "join", "joinToken": attendee.join_token}))
            json.loads(socket.recv(timeout=5))
            joins.append((time.perf_counter() - started) * 1000)
            sockets.append(socket)
        sockets[0].recv(timeout=5)  # peer-joined
        offer = {"sdp": {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 600}}  # a few KiB, as a real one
        answer = {"sdp": {"type": "answer", "sdp": "v=0\r\n" + "a=y\r\n" * 600}}
        (caller, callee), (caller_id, callee_id) = sockets[::-1], [a.attendee_id for a in attendees][::-1]
        round_trips = []
        for _ in range(200):
            started = time.perf_counter()
            caller.send(json.dumps({"type": "signal", "to": callee_id, "data": offer}))
            callee.recv(timeout=5)
            callee.send(json.dumps({"type": "signal", "to": caller_id, "data": answer}))
            caller.recv(timeout=5)
            round_trips.append((time.perf_counter() - started) * 1000)
        for socket in sockets:
            socket.close()
        print(f"  join answered (connect + join frame): {', '.join(f'{j:.1f} ms' for j in joins)}")
        print(
            f"  offer/answer round trip ({len(json.dumps(offer))} B each way, 200 runs): "
            f"p50 {_percentile(round_trips, 50):.2f} ms, p99 {_percentile(round_trips, 99):.2f} ms"
        )
    finally:
        relay.stop()


def browser_figures() -> None:
    """The portal and a call in headless Chromium (tools/bench_browser.py)."""
    from tools.bench_browser import browser_figures as figures

    figures()


def rppg_figures() -> None:
    """The rPPG benchmark on the project's own synthetic clips (tools/bench_rppg.py)."""
    from tools.bench_rppg import rppg_figures as figures

    figures()


def monitoring_figures() -> None:
    """Remote monitoring's pure rules: readings normalized and NEWS2-scored a second on one core,
    the CGM metrics of 14 days, and heart failure weight's detection delay and false alerts on
    synthetic series (a ramp, a step, noise)."""
    import random
    from datetime import UTC, date, datetime, timedelta

    from telehealth.domain.cgm import summary
    from telehealth.domain.news2 import Vitals, news2
    from telehealth.domain.readings import reading
    from telehealth.domain.weight_trend import assess

    print("\n== Remote monitoring's rules (one core)")
    noise = random.Random(20)  # noqa: S311 (synthetic data)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    raw = [("8867-4", noise.uniform(50, 120), "/min"), ("8480-6", noise.uniform(95, 190), "mm[Hg]")] * 25_000
    started = time.perf_counter()
    for n, (code, value, unit) in enumerate(raw):
        reading(
            patient_id="p", device_id="d", code=code, value=value, unit=unit, effective=at, identifier=str(n)
        )
    normalized = len(raw) / (time.perf_counter() - started)
    sets = [
        Vitals(
            respiration_rate=noise.uniform(8, 30),
            spo2=noise.uniform(85, 100),
            on_oxygen=noise.random() < 0.1,
            systolic=noise.uniform(85, 230),
            pulse=noise.uniform(35, 140),
            temperature=noise.uniform(35, 40),
        )
        for _ in range(50_000)
    ]
    started = time.perf_counter()
    for vitals in sets:
        news2(vitals)
    scored = len(sets) / (time.perf_counter() - started)
    print(
        f"  readings normalized: {normalized:,.0f}/s; NEWS2 sets scored: {scored:,.0f}/s (goal: 20,000 readings/s)"
    )
    trace = [(at + timedelta(minutes=5 * i), 100 + 60 * math.sin(i / 40)) for i in range(14 * 288)]
    started = time.perf_counter()
    summary(trace, at + timedelta(days=14))
    print(
        f"  CGM metrics of 14 days ({len(trace)} readings): {(time.perf_counter() - started) * 1000:.1f} ms"
    )

    def delay_and_false(shape: Any, onset: int, patients: int = 200) -> tuple[list[int], list[int], int, int]:
        guideline_delays, cusum_delays, false_alerts, days_seen = [], [], 0, 0
        for p in range(patients):
            jitter = random.Random(p)  # noqa: S311 (synthetic data)
            series = [
                (date(2026, 1, 1) + timedelta(days=d), 80 + jitter.gauss(0, 0.25) + shape(d))
                for d in range(onset + 30)
            ]
            days = assess(series)
            false_alerts += sum(1 for d in days[:onset] if d.gained_fast or d.drifting)
            days_seen += onset
            after = days[onset:]
            guideline = next((i for i, d in enumerate(after) if d.gained_fast), None)
            drift = next((i for i, d in enumerate(after) if d.drifting), None)
            if guideline is not None:
                guideline_delays.append(guideline)
            if drift is not None:
                cusum_delays.append(drift)
        return guideline_delays, cusum_delays, false_alerts, days_seen

    for name, shape in (
        ("ramp 0.15 kg/day", lambda d: 0.15 * max(0, d - 30)),
        ("step 2.5 kg", lambda d: 2.5 if d >= 30 else 0.0),
    ):
        guideline, cusum, false_alerts, days_seen = delay_and_false(shape, 30)
        print(
            f"  heart failure weight, {name} (200 synthetic patients): guideline rule caught"
            f" {len(guideline)}/200 (median delay {statistics.median(guideline) if guideline else '-'} days),"
            f" CUSUM caught {len(cusum)}/200 (median delay {statistics.median(cusum) if cusum else '-'} days);"
            f" false alerts before onset {100 * false_alerts / days_seen:.2f} per 100 patient-days"
        )

    # Blood pressure: the crisis rule on a morning measurement and its repeat five minutes later,
    # each with noise (SD 8 mmHg), for a true systolic that steps or ramps across 180 at day 30.
    from telehealth.domain.monitoring import Enrolment, Program, evaluate
    from telehealth.domain.monitoring_alerts import Tier
    from telehealth.domain.readings import Provenance, Reading

    def crisis(shape: Any, patients: int = 200) -> tuple[list[int], int, int]:
        delays, false_alerts, days_seen = [], 0, 0
        start = datetime(2026, 1, 1, 7, tzinfo=UTC)
        for p in range(patients):
            noise = random.Random(1000 + p)  # noqa: S311 (synthetic data)
            enrolment = Enrolment(f"bp{p}", Program.HYPERTENSION, start)
            episodes: dict[str, Any] = {}
            kept: list[Reading] = []
            urgent_day = None
            for day in range(60):
                for minute in (0, 5):
                    at = start + timedelta(days=day, minutes=minute)
                    true = shape(day)
                    pair = [
                        Reading(
                            f"bp{p}",
                            "cuff",
                            code,
                            value + noise.gauss(0, 8),
                            at,
                            f"{code}-{day}-{minute}",
                            Provenance.DEVICE,
                        )
                        for code, value in (("8480-6", true), ("8462-4", true * 0.62))
                    ]
                    kept = [r for r in kept if r.effective > at - timedelta(hours=1)] + pair
                    found = evaluate(enrolment, pair, kept, episodes)
                    episodes = found.episodes
                    for alert in found.raised:
                        if day < 30:
                            false_alerts += 1
                        elif alert.tier is Tier.URGENT and urgent_day is None:
                            urgent_day = day - 30
            days_seen += 30
            if urgent_day is not None:
                delays.append(urgent_day)
        return delays, false_alerts, days_seen

    for name, shape in (
        ("step 160 to 195 mmHg", lambda d: 195.0 if d >= 30 else 160.0),
        ("ramp 150 to 210 mmHg", lambda d: 150.0 + d),
    ):
        delays, false_alerts, days_seen = crisis(shape)
        print(
            f"  blood pressure crisis, {name} at day 30 (200 synthetic patients, noise SD 8):"
            f" urgent alert for {len(delays)}/200 (median delay {statistics.median(delays) if delays else '-'} days);"
            f" alerts before day 30 {100 * false_alerts / days_seen:.2f} per 100 patient-days"
        )


def triage_figures() -> None:
    """Triage's vignette suite: emergent vignettes escalated (the hard gate), and how many of the
    others route as their vignettes say."""
    from telehealth.domain.triage import Disposition, triage

    print("\n== Triage's vignettes (tests/fixtures/triage/vignettes.json)")
    vignettes = json.loads((ROOT / "tests" / "fixtures" / "triage" / "vignettes.json").read_text())[
        "vignettes"
    ]
    emergent = [v for v in vignettes if v["category"] == "emergent"]
    others = [v for v in vignettes if v["category"] != "emergent"]
    escalated = sum(1 for v in emergent if triage(v["answers"])[1].disposition is Disposition.EMERGENCY)
    routed = [(v, triage(v["answers"])[1].disposition.value) for v in others]
    agreed = sum(1 for v, got in routed if got == v["expected"])
    false_alarms = sum(1 for _, got in routed if got == Disposition.EMERGENCY.value)
    print(f"  emergent escalated: {escalated}/{len(emergent)} (by the rules, from each vignette's answers)")
    # The same vignettes asked as a patient is: one question at a time through the questionnaire,
    # the red flags held after each answer.
    from tools.triage_walk import asked_in_turn

    walked = [(v, *asked_in_turn(v["answers"])) for v in vignettes]
    asked_escalated = sum(
        1 for v, _, d in walked if v["category"] == "emergent" and d is Disposition.EMERGENCY
    )
    questions = sorted(len(a) for _, a, _ in walked)
    emergent_questions = sorted(len(a) for v, a, _ in walked if v["category"] == "emergent")
    print(
        f"  asked one question at a time: emergent escalated {asked_escalated}/{len(emergent)},"
        f" after a median of {statistics.median(emergent_questions):.0f} questions (most {max(emergent_questions)});"
        f" every check a median of {statistics.median(questions):.0f} questions (most {max(questions)})"
    )
    print(f"  others routed as the vignette says: {agreed}/{len(others)} (escalated wrongly: {false_alarms})")
    for v, got in routed:
        if got != v["expected"]:
            print(f"    {v['id']} {v['summary']}: {got}, the vignette says {v['expected']}")


def photos_figures() -> None:
    """Store-and-forward's photos: the time to make a 12 MP phone photo's review copy (decoded
    under the pixel limit, upright, Display P3 to sRGB, re-encoded from pixels alone)."""
    import time

    from telehealth.photos.sanitize import review_copy
    from tools.synthetic_photos import phone_photo

    print(
        "\n== Photo sanitization (telehealth/photos/sanitize.py), a 12 MP phone photo (4032 x 3024, P3, EXIF)"
    )
    for kind, content_type in (("JPEG", "image/jpeg"), ("HEIF", "image/heic")):
        photo = phone_photo(kind=kind)
        times = []
        for _ in range(5):
            started = time.perf_counter()
            copy = review_copy(photo, content_type=content_type, sha256=None)
            times.append(time.perf_counter() - started)
        print(
            f"  {kind} ({len(photo) / 1e6:.1f} MB): median {statistics.median(times) * 1000:.0f} ms,"
            f" worst {max(times) * 1000:.0f} ms (5 runs); review copy {copy.width} x {copy.height},"
            f" {len(copy.jpeg) / 1e3:.0f} kB"
        )


def cases_figures() -> None:
    """Store-and-forward on the local platform: a case of three 12 MP phone photos from its
    submission to every photo ready in the clinicians' queue (scanned, its review copy made)."""
    import hashlib
    import urllib.request
    import uuid

    from local.platform import LocalPlatform, Settings
    from local.seed import DEMO_PASSWORD
    from tools.synthetic_photos import phone_photo

    def http(method: str, url: str, token: str, body: object = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (the local gateway)
            url,
            data=data,
            method=method,
            headers={"Authorization": token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return json.loads(answer.read() or b"null")

    def upload(slot: dict[str, Any], body: bytes) -> None:
        boundary = uuid.uuid4().hex
        form = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in slot["fields"].items()
        )
        form += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n\r\n'.encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(  # noqa: S310 (the emulator's S3)
            slot["url"],
            data=form,
            method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        urllib.request.urlopen(request, timeout=60).close()  # noqa: S310

    print(
        "\n== Store-and-forward: a case of three 12 MP photos, submitted to ready for the clinician (desert-clinic)"
    )
    photos = [phone_photo(seed=n) for n in range(3)]
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state), schedule_every_s=5.0))
        try:
            platform.start()
            base = f"{platform.urls['gateway']}/tenants/desert-clinic"
            tenant = platform.provisioned["desert-clinic"]
            token = platform.client("cognito-idp", tenant.region).initiate_auth(
                ClientId=tenant.portal_clients["patients"],
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": "patient.one@desert-clinic.example", "PASSWORD": DEMO_PASSWORD},
            )["AuthenticationResult"]["AccessToken"]
            answers = {"body_site": "arm", "days": 5, "what_changed": "It grew.", "itchy": True}
            answers |= {"painful": False, "spreading_fast": False, "fever": False}
            waits = []
            for _ in range(5):
                case = http("POST", f"{base}/v1/me/triage/cases", token, {"answers": answers})
                for photo in photos:
                    asked = {
                        "content_type": "image/jpeg",
                        "size": len(photo),
                        "sha256": hashlib.sha256(photo).hexdigest(),
                    }
                    added = http("POST", f"{base}/v1/me/triage/cases/{case['case_id']}/photos", token, asked)
                    upload(added["upload"], photo)
                started = time.perf_counter()
                http("POST", f"{base}/v1/me/triage/cases/{case['case_id']}/submit", token)
                while True:
                    seen = http("GET", f"{base}/v1/me/triage/cases/{case['case_id']}", token)
                    if all(p["status"] == "ready" for p in seen["photos"]):
                        break
                    time.sleep(0.1)
                waits.append(time.perf_counter() - started)
            print(
                f"  submitted to every photo ready: median {statistics.median(waits):.1f} s, worst"
                f" {max(waits):.1f} s (5 cases; the scan stand-in takes 1 s, as GuardDuty takes seconds;"
                f" the three review copies are made side by side)"
            )
        finally:
            platform.stop()


def readings_figures() -> None:
    """Remote monitoring on the local platform: readings a second from the gateway's POST to the
    table (through the readings queue and function), and an alert's latency from the reading that
    raised it to the alert on the care team's panel."""
    import base64
    import secrets
    import urllib.parse
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, date, datetime, timedelta

    from local.platform import LocalPlatform, Settings
    from local.seed import DEMO_PASSWORD
    from telehealth.adapters.scheduling_store import DynamoSchedulingStore
    from telehealth.fhir import projection

    def http(
        method: str, url: str, token: str, body: object, kind: str = "application/json"
    ) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (the local gateway)
            url, data=data, method=method, headers={"Authorization": token, "Content-Type": kind}
        )
        while True:  # a 429 (the route group's throttle) is sent again shortly, as a client does
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                    return answer.status, json.loads(answer.read() or b"null")
            except urllib.error.HTTPError as error:
                if error.code != 429:
                    return error.code, error.read()
                throttled[0] += 1
                time.sleep(0.25)

    def coded(loinc: str) -> dict[str, Any]:
        return {"coding": [{"system": "http://loinc.org", "code": loinc}]}

    def mmhg(value: float) -> dict[str, Any]:
        return {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}

    def observation(serial: str, n: int, at: datetime, systolic: float, diastolic: float) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "identifier": [{"value": f"{serial}-{n}"}],
            "status": "final",
            "code": coded("85354-9"),
            "effectiveDateTime": at.isoformat(),
            "device": {"identifier": {"value": serial}},
            "component": [
                {"code": coded("8480-6"), "valueQuantity": mmhg(systolic)},
                {"code": coded("8462-4"), "valueQuantity": mmhg(diastolic)},
            ],
        }

    throttled = [0]
    print("\n== Remote monitoring's readings, through the local gateway (desert-clinic)")
    with tempfile.TemporaryDirectory() as state:
        platform = LocalPlatform(Settings(port=0, state_dir=Path(state), schedule_every_s=5.0))
        try:
            platform.start()
            gateway = platform.urls["gateway"]
            base = f"{gateway}/tenants/desert-clinic"
            tenant = platform.provisioned["desert-clinic"]
            idp = platform.client("cognito-idp", tenant.region)
            staff = idp.initiate_auth(
                ClientId=tenant.portal_clients["workforce"],
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": "staff@desert-clinic.example", "PASSWORD": DEMO_PASSWORD},
            )["AuthenticationResult"]["AccessToken"]
            client_id, secret, _ = tenant.machine_clients["device-gateway"]
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            _, token = http(
                "POST",
                f"{base}/oauth2/token",
                f"Basic {basic}",
                urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
                "application/x-www-form-urlencoded",
            )
            device_gateway = token["access_token"]

            # Forty synthetic patients, each enrolled with a cuff (a patient's readings are one
            # FIFO group: the function holds each patient's batches to the rules one at a time).
            store = DynamoSchedulingStore(
                topology.CLINIC_TABLE.name("desert-clinic"), platform.client("dynamodb")
            )
            patients = [f"bench-{secrets.token_hex(6)}" for _ in range(40)]
            store.write(
                [
                    store.put_patient(
                        projection.PatientProfile(
                            p, "Bench", f"Case{n}", date(1960, 1, 1 + n % 28), "AZ", "America/Phoenix"
                        )
                    )
                    for n, p in enumerate(patients)
                ]
            )
            serials = {}
            for p in patients:
                status, _ = http(
                    "PUT", f"{base}/v1/monitoring/patients/{p}/enrolment", staff, {"program": "hypertension"}
                )
                assert status == 200, status
                serial = f"SN-BENCH-{secrets.token_hex(4)}"
                status, _ = http(
                    "POST",
                    f"{base}/v1/monitoring/patients/{p}/devices",
                    staff,
                    {"serial": serial, "kind": "blood-pressure-cuff"},
                )
                assert status == 201, status
                serials[p] = serial

            # Each patient's cuff sends a fortnight, four a day (56 blood pressures, 112 readings).
            now = datetime.now(UTC).replace(microsecond=0)
            kept = platform.dispatcher.completions
            before = kept["telehealth-desert-clinic-readings"]

            def send(patient: str) -> float:
                entries = [
                    {
                        "resource": observation(
                            serials[patient], n, now - timedelta(hours=6 * (n + 1)), 120 + n % 15, 78 + n % 9
                        )
                    }
                    for n in range(56)
                ]
                started = time.perf_counter()
                status, answer = http(
                    "POST",
                    f"{base}/integrations/devices/readings",
                    device_gateway,
                    {"resourceType": "Bundle", "type": "batch", "entry": entries},
                    "application/fhir+json",
                )
                assert status == 202 and answer["taken"] == 112, (status, answer)
                return time.perf_counter() - started

            datastore = platform.fhir_endpoints["desert-clinic"].rstrip("/").split("/")[-2]

            from telehealth.adapters.healthlake import HealthLakeFhirStore

            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            record = HealthLakeFhirStore(platform.fhir_endpoints["desert-clinic"], region="us-east-1")

            def healthlake_requests() -> dict[str, int]:
                """What the account's stand-in was asked for the tenant's data store, by kind (a
                signed request, as every request to it is)."""
                counts = record._send("GET", f"{platform.urls['healthlake']}/_local/requests/{datastore}")
                return {k: int(v) for k, v in counts.items()}

            asked_before = healthlake_requests()
            started = time.perf_counter()
            with ThreadPoolExecutor(4) as senders:
                answered = list(senders.map(send, patients))
            posted = time.perf_counter() - started
            while kept["telehealth-desert-clinic-readings"] - before < len(patients):
                time.sleep(0.05)
            drained = time.perf_counter() - started
            total = 112 * len(patients)
            # The record's side settles after: the outbox's summaries and audit events, paced.
            settled, last = time.monotonic(), healthlake_requests()
            while time.monotonic() - settled < 3:
                time.sleep(0.5)
                now_asked = healthlake_requests()
                if now_asked != last:
                    settled, last = time.monotonic(), now_asked
            asked = {k: last.get(k, 0) - asked_before.get(k, 0) for k in last}
            print(
                f"  HealthLake requests per 1,000 readings: {1000 * sum(asked.values()) / total:.1f}"
                f" ({', '.join(f'{k} {1000 * v / total:.1f}' for k, v in sorted(asked.items()) if v)}):"
                " each day's blood pressures one summary, written 160 to a bundle; each queue message's"
                " AuditEvent one write"
            )
            print(
                f"  {total} readings from {len(patients)} patients (4 senders): answered (202) in"
                f" {_median_ms(answered)} median; {total / posted:,.0f} readings/s accepted by the api,"
                f" {total / drained:,.0f} readings/s kept in the table end to end ({drained:.1f} s)"
            )

            # An alert's latency: a repeat at crisis level (the first six minutes before) to the
            # urgent alert on the patient's page, and to its Task in the record (HealthLake's
            # stand-in, through the outbox), for ten patients one after another.
            latencies: list[float] = []
            to_task: list[float] = []
            deadline = time.monotonic() + 120
            for p in patients[:10]:
                first = [{"resource": observation(serials[p], 900, now - timedelta(minutes=6), 186, 124)}]
                http(
                    "POST",
                    f"{base}/integrations/devices/readings",
                    device_gateway,
                    {"resourceType": "Bundle", "type": "batch", "entry": first},
                    "application/fhir+json",
                )
                while True:
                    status, found = http("GET", f"{base}/v1/monitoring/patients/{p}/readings", staff, None)
                    assert status == 200, (status, found)
                    if any(a["tier"] == "review" for a in found["alerts"]):
                        break
                    assert time.monotonic() < deadline, (
                        "no review alert for the first reading at crisis level"
                    )
                    time.sleep(0.02)
                repeat = [{"resource": observation(serials[p], 901, now, 188, 125)}]
                started = time.perf_counter()
                http(
                    "POST",
                    f"{base}/integrations/devices/readings",
                    device_gateway,
                    {"resourceType": "Bundle", "type": "batch", "entry": repeat},
                    "application/fhir+json",
                )
                while True:
                    _, found = http("GET", f"{base}/v1/monitoring/patients/{p}/readings", staff, None)
                    urgent = next((a for a in found["alerts"] if a["tier"] == "urgent"), None)
                    if urgent:
                        break
                    assert time.monotonic() < deadline, "no urgent alert for the repeat at crisis level"
                    time.sleep(0.02)
                latencies.append((time.perf_counter() - started) * 1000)
                while record.read_if_present("Task", f"rpm-alert-{urgent['alert_id']}") is None:
                    assert time.monotonic() < deadline, "no Task in the record for the urgent alert"
                    time.sleep(0.02)
                to_task.append((time.perf_counter() - started) * 1000)
            print(
                f"  alert latency, reading POSTed to the urgent alert readable by the care team:"
                f" median {statistics.median(latencies):.0f} ms, worst {max(latencies):.0f} ms (10 patients);"
                f" to its FHIR Task in the record: median {statistics.median(to_task):.0f} ms,"
                f" worst {max(to_task):.0f} ms"
            )
            print(f"  ({throttled[0]} answers of 429 sent again: the tenant's route-group throttles)")
        finally:
            platform.stop()


PARTS = {
    "synth": synth_figures,
    "imports": import_figures,
    "fuzz": fuzz_figures,
    "local": local_figures,
    "scheduling": scheduling_figures,
    "visit": visit_figures,
    "parity": parity_figures,
    "egress": egress_figures,
    "outbox": outbox_figures,
    "rebuild": rebuild_figures,
    "restart": restart_figures,
    "rppg": rppg_figures,
    "triage": triage_figures,
    "photos": photos_figures,
    "cases": cases_figures,
    "audit": audit_figures,
    "fhir": fhir_figures,
    "web": web_figures,
    "browser": browser_figures,
    "relay": relay_figures,
    "payments": payments_figures,
    "notes": notes_figures,
    "integrations": integrations_figures,
    "monitoring": monitoring_figures,
    "readings": readings_figures,
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
