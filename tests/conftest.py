"""Shared fixtures, each made once per test session: the synthesized CDK app (HIPAA pack included)
with template helpers, and the running local platform with HTTP helpers."""

from __future__ import annotations

import fcntl
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.tenants import Tenant, load_tenants
from local.platform import LocalPlatform, Settings
from local.seed import DEMO_PASSWORD

FAKE_ACCOUNT = "123456789012"

# Modules that judge what the whole session made the platform do: they run after every other test
# (in each half of the platform's tests, each of which runs a platform of its own).
LAST = ("tests/e2e/test_parity.py", "tests/e2e/test_record_references.py")
# The second half of the platform's tests (`--part platform-2`): the browsers' and the longest
# visit and booking modules, about half of the time (measured with --durations=0). A module not
# named here runs in the first half.
SECOND_HALF = (
    "tests/e2e/browser/",
    "tests/e2e/test_video_visit.py",
    "tests/e2e/test_scheduling.py",
    "tests/e2e/test_visits.py",
    "tests/e2e/test_admin.py",
)

# Where `make test`'s two parts share the synthesized app (unset: each session synthesizes its own).
SHARED_ASSEMBLY = "TEST_ASSEMBLY_DIR"

# What the tenant's shared environment is made of, for calls that need only its keys.
FUNCTION_ENVIRONMENT: dict[str, Any] = {
    "account": "a",
    "fhir_endpoint": "f",
    "workforce_pool_id": "w",
    "patient_pool_id": "p",
    "login_urls": {"workforce": "https://w.example", "patients": "https://p.example"},
    "portal_clients": {"workforce": "wc", "patients": "pc"},
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--part",
        choices=("platform", "platform-1", "platform-2", "rest"),
        help="only the tests that use the running local platform (or one half of them, each with a "
        "platform of its own), or only the others: `make test` runs the halves and the rest side by "
        "side, as most of the platform's tests wait more than they compute",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    part = config.getoption("--part")
    if part is not None:
        # `fixturenames` is the closure: a test using `gateway` uses the platform too.
        wanted = [
            item
            for item in items
            if ("platform" in getattr(item, "fixturenames", ())) == part.startswith("platform")
            and _in_half(item.nodeid.split("::", 1)[0], part)
        ]
        config.hook.pytest_deselected(items=[item for item in items if item not in wanted])
        items[:] = wanted
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] in LAST)  # stable: the rest keep their order


def _in_half(module: str, part: str) -> bool:
    if part not in ("platform-1", "platform-2") or module in LAST:
        return True
    return module.startswith(SECOND_HALF) == (part == "platform-2")


@dataclass
class Template:
    stack: str
    body: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.body["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.of_type(resource_type)
        assert len(found) == 1, f"{self.stack}: expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def props(self, resource_type: str) -> list[dict[str, Any]]:
        return [r.get("Properties", {}) for r in self.of_type(resource_type).values()]

    def tenant_key(self) -> tuple[str, dict[str, Any]]:
        """The tenant's key (the one its alias names), beside the keys one function alone uses."""
        (alias,) = self.props("AWS::KMS::Alias")
        logical_id = alias["TargetKeyId"]["Fn::GetAtt"][0]
        return logical_id, self.resources[logical_id]


@dataclass
class Assembly:
    outdir: Path
    templates: dict[str, Template]
    tenants: tuple[Tenant, ...]

    def tenant(self, tenant_id: str) -> Template:
        return self.templates[f"telehealth-{tenant_id}"]

    def nested(self, tenant_id: str, path: str) -> Template:
        """One of the tenant's nested stacks, by its construct path run together (`Monitoring`,
        `ApiGatewayAnswers`)."""
        prefix = f"telehealth{tenant_id.replace('-', '')}{path}"
        (found,) = [
            t for name, t in self.templates.items() if name.startswith(prefix) and name.endswith(".nested")
        ]
        return found

    def monitoring(self, tenant_id: str) -> Template:
        """The tenant's nested stack of alarms and the dashboard."""
        return self.nested(tenant_id, "Monitoring")

    def baseline(self, region: str) -> Template:
        return self.templates[f"telehealth-baseline-{region}"]

    def metadata(self, stack: str) -> dict[str, list[dict[str, Any]]]:
        data: dict[str, list[dict[str, Any]]] = json.loads(
            (self.outdir / f"{stack}.metadata.json").read_text()
        )
        return data


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    shared = os.environ.get(SHARED_ASSEMBLY)
    if not shared:
        return _synthesized(tmp_path_factory.mktemp("cdk.out"), tmp_path_factory)
    # The parts `make test` runs side by side synthesize the app once between them: the first to
    # get here writes it, the other waits for it and reads it.
    outdir = Path(shared)
    outdir.mkdir(parents=True, exist_ok=True)
    with (outdir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (outdir / ".done").exists():
            return _read_assembly(outdir)
        made = _synthesized(outdir, tmp_path_factory)
        (outdir / ".done").touch()
        return made


def _synthesized(outdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    import app

    # A stand-in for the web build (its layout, not its code): the templates do not depend on it.
    dist = tmp_path_factory.mktemp("web") / "dist"
    for page in ("index.html", "dashboard/index.html", "assets/portal-0000.js"):
        (dist / page).parent.mkdir(parents=True, exist_ok=True)
        (dist / page).write_text("<!doctype html>" if page.endswith(".html") else "export {};")
    app.build(app.new_app(outdir=str(outdir), context={"web_dist": str(dist)})).synth()
    return _read_assembly(outdir)


def _read_assembly(outdir: Path) -> Assembly:
    templates = {
        path.name.removesuffix(".template.json"): Template(
            path.name.removesuffix(".template.json"), json.loads(path.read_text())
        )
        for path in outdir.glob("*.template.json")
    }
    return Assembly(outdir=outdir, templates=templates, tenants=load_tenants())


def render(value: Any) -> Any:
    """Resolve the intrinsics names are built from (Join, Ref of pseudo parameters), for comparing
    physical names across stacks; other references render as placeholders naming their target."""
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(str(render(p)) for p in parts)
        if fn == "Ref":
            return {"AWS::AccountId": FAKE_ACCOUNT, "AWS::Region": "us-east-1", "AWS::Partition": "aws"}.get(
                arg, f"<ref:{arg}>"
            )
        if fn == "Fn::GetAtt":
            return f"<getatt:{'.'.join(arg)}>"
    return value


def as_passed(value: Any, parameters: dict[str, Any]) -> Any:
    """A nested stack's value with each `Ref` of its parameters replaced by what the parent
    passes for it (`parameters`: the `AWS::CloudFormation::Stack` resource's), for `render`."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return {k: as_passed(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [as_passed(v, parameters) for v in value]
    return value


def iam_statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every identity policy: policies, managed policies and roles' inline ones."""
    for logical_id, resource in template.resources.items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the local platform, started once per session ------------------------------------------------

# Short enough to watch a meeting end itself within a test; Chime's own is five minutes. Long
# enough for a test's few calls between the admission (the meeting's creation) and the simulated
# join on a loaded machine: at 3 s a clean run once found the provider's meeting ended, the patient
# back in the waiting room, before the provider's join.
EMPTY_MEETING_TIMEOUT_S = 5.0
# The outbox sweeper's every minute, in seconds, so a test can watch the record catch up.
SWEEP_EVERY_S = 5.0
# The visit reconciler's five minutes: a pass reads every open visit (four index queries, each of
# which moto answers by reading the whole table), so the session runs it now and then, and the
# tests that need a pass ask for one (`LocalPlatform.reconcile_visits`).
RECONCILE_EVERY_S = 60.0
# Each party's time to join after admission (four minutes in a clinic), in seconds: longer than
# the empty-meeting timeout above, so a meeting nobody joins ends before the window closes.
VISIT_TIMINGS = {"join_window": 8.0}
# The clinic's settings the session seeds beyond the tenant file's: the suite's two patients hold
# scores of open visits at once (a clinic's default is ten). And functions re-read the settings
# every second instead of every minute, so a test watches an admin's change take effect.
CLINIC_SETTINGS = {"max_open_bookings": 100}
CLINIC_SETTINGS_TTL_S = 1.0
# The api keeps its /health answer a second rather than five, so a test past the cache waits a second.
HEALTH_CACHE_S = 1.0
# A new outbox entry is the stream relay's alone for ten seconds rather than thirty before the
# sweeper may take it: what a relay left pending in an outage reaches the record 20 s sooner.
OUTBOX_STREAM_GRACE_S = 10.0
# ...and a deliverer that found the FHIR store down tries it again after ten seconds, not thirty.
OUTBOX_CIRCUIT_OPEN_S = 10.0


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    running = LocalPlatform(
        Settings(
            port=0,
            state_dir=Path(tmp_path_factory.mktemp("local")),
            chime_empty_timeout_s=EMPTY_MEETING_TIMEOUT_S,
            schedule_every_s=SWEEP_EVERY_S,
            # The payment sweep reads the same index: as seldom (its test invokes it directly).
            # Subscriptions' heartbeats and retries are minutes apart: their tick as seldom (their
            # unit tests move a clock instead).
            schedule_every_s_for={
                "visit-reconcile": RECONCILE_EVERY_S,
                "payment-holds": RECONCILE_EVERY_S,
                "subscription-ticks": RECONCILE_EVERY_S,
                "export-ticks": RECONCILE_EVERY_S,
            },
            cors_origins=frozenset({"http://portal.example"}),
            visit_timings=VISIT_TIMINGS,
            clinic_settings=CLINIC_SETTINGS,
            clinic_settings_ttl_s=CLINIC_SETTINGS_TTL_S,
            health_cache_s=HEALTH_CACHE_S,
            outbox_stream_grace_s=OUTBOX_STREAM_GRACE_S,
            outbox_circuit_open_s=OUTBOX_CIRCUIT_OPEN_S,
        )
    )
    running.start()
    yield running
    running.stop()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ok(self) -> Any:
        """The body of a 2xx reply; any other fails naming the status and what was said."""
        assert 200 <= self.status < 300, f"{self.status}: {self.body[:500]!r}"
        return self.json()


def http(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


@pytest.fixture(scope="session")
def gateway(platform: LocalPlatform) -> str:
    return platform.urls["gateway"]


def user_tokens(platform: LocalPlatform, tenant_id: str, email: str) -> dict[str, str]:
    tenant = platform.provisioned[tenant_id]
    idp = platform.client("cognito-idp", tenant.region)
    pool = "patients" if email.startswith("patient") else "workforce"
    result = idp.initiate_auth(
        ClientId=tenant.portal_clients[pool],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]
    return {"access": result["AccessToken"], "id": result["IdToken"]}


def eventually(check: Callable[[], Any], *, timeout_s: float = 15.0, interval_s: float = 0.1) -> Any:
    """The first truthy result of `check` within the timeout, else the assertion that failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {check}")
        time.sleep(interval_s)
