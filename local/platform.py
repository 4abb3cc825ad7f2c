"""The embedded default: the whole platform on this machine, wired as the deployed stack.

Start order: moto (AWS) and the stand-ins (HealthLake on Medplum, Chime, Stripe) in parallel; then
every tenant's resources from the topology, a function host per tenant with that tenant's
environment, the scheduler for scheduled rules, the seed data, and the HTTP gateway last. The
state file (`.local/platform.json`) tells the token command, the demo and the tests where
everything is.

What the platform holds is kept in `.local/state/` across restarts (and a kill -9): moto's backends
(`local.persistence`), each stand-in's own files, and what provisioning made (`provisioned.json`).
A start on a kept state provisions and seeds nothing; it resumes: every open visit's lifecycle is
started again by the visit reconciler, which AWS runs on a schedule for the same reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import boto3

from infra import topology, web_config
from infra.assets import ROOT
from infra.tenants import Tenant, load_tenants
from local import egress, function_host, lifeline, persistence
from local.emulator import ACCOUNT, Emulator, route_lambda_to
from local.gateway import Gateway, TenantApi, Throttle
from local.lambdas import Environments, FunctionHostControl, HostedFunction, LambdaDispatcher
from local.parity import recorder
from local.parity.actions import Need
from local.provision import ProvisionedTenant, provision_tenant, register_web_bases
from local.seed import SEED_PROVIDERS, photon_refresh_token, seed_tenant
from local.signin import SignIn
from local.standins.chime import ChimeStandIn
from local.standins.clearinghouse import Clearinghouse
from local.standins.comprehend_medical import ComprehendMedicalStandIn
from local.standins.dexcom import DexcomStandIn
from local.standins.guardduty import MalwareProtection
from local.standins.photon import PhotonStandIn
from local.standins.stripe import stripe_command
from local.standins.stripe_front import StripeFront
from local.tokens import Authorizer

STATE_DIR = ROOT / ".local"
STATE_FILE = STATE_DIR / "platform.json"
PROVISIONED = "provisioned.json"
# A journal longer than this is folded into a snapshot while the platform runs.
COMPACT_AT_BYTES = 64 * 2**20
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
STRIPE_KEY = "sk_test_local_platform"  # localstripe accepts any sk_test_ key
STRIPE_WEBHOOK_SECRET = "whsec_local_platform"  # noqa: S105 (what Stripe shows for an endpoint)
# Each third party's credential, as an operator puts it into the tenant's secret in AWS.
CLEARINGHOUSE_KEY = "clearinghouse-local-platform"  # the stand-in's key
PHOTON_CLIENT = ("photon-local-client", "photon-local-secret")
DEXCOM_CLIENT = ("dexcom-local-client", "dexcom-local-secret")
# Every linked account's data locally: a UVA/Padova simulation (tools.cgm_fixtures made it).
DEXCOM_TRACE = ROOT / "tests" / "fixtures" / "cgm" / "adult-001.json"
PHOTON_WEBHOOK_SECRET = "photon-local-webhook-secret"  # noqa: S105 (what Photon's settings page shows)
THIRD_PARTY_CREDENTIALS = {
    topology.STRIPE.key: json.dumps({"api_key": STRIPE_KEY, "webhook_secret": STRIPE_WEBHOOK_SECRET}),
    topology.CLEARINGHOUSE.key: CLEARINGHOUSE_KEY,
    topology.PHOTON.key: json.dumps(
        {
            "client_id": PHOTON_CLIENT[0],
            "client_secret": PHOTON_CLIENT[1],
            "webhook_secret": PHOTON_WEBHOOK_SECRET,
        }
    ),
    topology.DEXCOM.key: json.dumps({"client_id": DEXCOM_CLIENT[0], "client_secret": DEXCOM_CLIENT[1]}),
}
CHIME_MEDIA_PIPELINES = "mediapipelines.chime.amazonaws.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except urllib.error.HTTPError:
            return  # it answered: up, whatever it thinks of the request
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s") from None
            time.sleep(0.1)


@dataclass
class Settings:
    port: int = 8080
    state_dir: Path = STATE_DIR
    tenants: Sequence[Tenant] = field(default_factory=load_tenants)
    chime_empty_timeout_s: float = 300.0
    # Where the health systems' subscription endpoints listen (a receiver's port); None: any free one.
    subscriber_port: int | None = None
    # Fire scheduled rules this often instead of their own rate (tests); None keeps the rate.
    schedule_every_s: float | None = None
    # ...and these rules (by key) this often instead, where a test wants another pace for one.
    schedule_every_s_for: dict[str, float] = field(default_factory=dict)
    cors_origins: frozenset[str] = frozenset()
    # The gateway's per-method throttles (tenants.toml); off only for a benchmark of the gateway.
    throttles: bool = True
    # The visit's clocks in seconds, replacing the tenants' (tests shorten the join window).
    visit_timings: dict[str, float] | None = None
    # Other clinic settings the seed writes in place of the tenant file's (ClinicSettings.as_seconds).
    clinic_settings: dict[str, Any] = field(default_factory=dict)
    # How long a function keeps the clinic's settings before reading them again (None: a minute).
    clinic_settings_ttl_s: float | None = None
    # How long the api keeps its /health answer (None: five seconds, as deployed).
    health_cache_s: float | None = None
    # How long a new outbox entry is the stream relay's alone before the sweeper may take it
    # (None: the outbox's thirty seconds, as deployed).
    outbox_stream_grace_s: float | None = None
    # How long a deliverer leaves a destination that stopped answering (None: thirty seconds).
    outbox_circuit_open_s: float | None = None
    # Keep what the platform holds in `state_dir/state/` across restarts; `fresh` forgets it first.
    keep_state: bool = True
    fresh: bool = False

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "state"


class KeptDataRefused(Exception):  # noqa: N818 (said to the person starting the platform)
    """The kept data cannot be used: another platform runs on it, or it was provisioned from
    another shape of the stack than this checkout's."""


def hold_state_dir(state_dir: Path) -> TextIO | None:
    """The lock a platform holds on its state directory while it runs (released by the kernel
    when it ends, killed or not), or None when another platform holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = (state_dir / "state.lock").open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


class LocalPlatform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.default_tenant = settings.tenants[0].id
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.hosts: dict[str, FunctionHostControl] = {}  # per tenant: where environments come from
        self.provisioned: dict[str, ProvisionedTenant] = {}
        self.urls: dict[str, str] = {}
        self._stop = threading.Event()
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._session = boto3.session.Session()
        self.emulator = Emulator(free_port(), error_log=settings.state_dir / "logs" / "emulator.log")
        self.dispatcher = LambdaDispatcher(self._send_to_queue)
        self.chime: ChimeStandIn | None = None
        self.stripe: StripeFront | None = None
        self.clearinghouse: Clearinghouse | None = None
        self.photon: PhotonStandIn | None = None
        self.dexcom: DexcomStandIn | None = None
        self.comprehend_medical: ComprehendMedicalStandIn | None = None
        self.containers: list[str] = []  # the media worker runs, by process name (newest last)
        self.gateway: Gateway | None = None
        self.fhir_endpoints: dict[str, str] = {}
        self.started_in_s = 0.0
        self.aws_state = (
            persistence.AwsState(settings.data_dir / "aws", log=self._log_state)
            if settings.keep_state
            else None
        )
        self.restored: persistence.Restored | None = None
        self.resumed: dict[str, dict[str, Any]] = {}  # tenant -> the reconciler's counts at start
        self.resuming: threading.Thread | None = None
        self.resumed_in_s = 0.0
        self._saved: dict[str, Any] = {}  # what provisioning made, when the state was kept
        self._lock: TextIO | None = None
        self._compact_after = 0.0  # monotonic: no compaction before (after a failed one)
        self.notes: list[str] = []  # what the person starting the platform should know of its data

    # --- AWS clients against the emulator --------------------------------------------------------

    def client(self, service: str, region: str = "us-east-1", *, endpoint: str | None = None) -> Any:
        """A boto3 client for the emulator (or, with `endpoint`, a stand-in), made once: clients
        are thread-safe, making them is not."""
        key = (service, region, endpoint or self.emulator.url)
        with self._clients_lock:
            if key not in self._clients:
                # The platform's own session: a function run in this process (the bench) keeps
                # the default session, and its hooks count its calls alone.
                self._clients[key] = self._session.client(
                    service, endpoint_url=key[2], region_name=region, **_lower(CREDENTIALS)
                )
            return self._clients[key]

    def _send_to_queue(self, queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        _, _, _, region, _, name = queue_arn.split(":", 5)
        sqs = self.client("sqs", region)
        sqs.send_message(
            QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"],
            MessageBody=body,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.perf_counter()
        (self.settings.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        # What every function, worker and acting service asked of AWS (the parity tests read it).
        self.parity_dir.mkdir(parents=True, exist_ok=True)
        os.environ[recorder.RECORD_DIR] = str(self.parity_dir)
        route_lambda_to(self.dispatcher, self._run_container)
        self._restore()
        self.emulator.start()
        if self.aws_state:
            self.aws_state.record(self.emulator.port)
        healthlake_port, stripe_port = free_port(), free_port()
        data = self.settings.data_dir if self.aws_state else None
        self._spawn(
            "healthlake",
            [
                "node",
                "--experimental-websocket",
                str(ROOT / "local/standins/healthlake/server.mjs"),
                "--port",
                str(healthlake_port),
                *(["--state-dir", str(data / "healthlake")] if data else []),
                # Bulk exports write their NDJSON to the tenants' export buckets here.
                "--s3-endpoint",
                self.emulator.url,
            ],
        )
        stripe, note = stripe_command(
            Path(sys.executable).parent / "localstripe", stripe_port, data / "stripe" if data else None
        )
        if note:
            self.notes.append(note)
        self._spawn("stripe", stripe)
        # What Stripe does that localstripe does not (idempotent replay, expiring holds, ...).
        self.stripe = StripeFront(
            f"http://127.0.0.1:{stripe_port}", state_file=data / "stripe-front.json" if data else None
        )
        self.stripe.start()
        # The clearinghouse's eligibility API and payer directory (the scenarios by member id).
        self.clearinghouse = Clearinghouse(CLEARINGHOUSE_KEY)
        self.clearinghouse.start()
        # The e-prescribing network: its directory, prescriptions, orders and signed webhooks.
        # Each seeded prescriber's refresh token (their Photon accounts are linked in the seed).
        self.photon = PhotonStandIn(
            *PHOTON_CLIENT,
            {
                photon_refresh_token(t.id, p.provider_id): p.provider_id
                for t in self.settings.tenants
                if t.features.eprescribing
                for p in SEED_PROVIDERS
            },
        )
        self.photon.start()
        # Dexcom's cloud: patients' sign-ins, and a simulated CGM trace as every account's data.
        self.dexcom = DexcomStandIn(*DEXCOM_CLIENT, DEXCOM_TRACE)
        self.dexcom.start()
        # GuardDuty Malware Protection for S3 (moto has none): patients' photos scanned and tagged,
        # unreadable until clean, each verdict announced on the default bus.
        self.malware = MalwareProtection(self._publish_default_bus)
        for tenant in self.settings.tenants:
            if tenant.features.triage:
                uploads = topology.bucket_name(tenant.id, "uploads", ACCOUNT)
                # As the bucket's policy (infra/data.py): a photo's original is unread until clean.
                self.malware.protect(uploads, (topology.PHOTO_PREFIX,), unreadable_suffix="/original")
        self.malware.install()
        # Comprehend Medical (moto has none): the symptom check's free text, for the clinician.
        self.comprehend_medical = ComprehendMedicalStandIn()
        self.comprehend_medical.start()
        self.chime = ChimeStandIn(
            0,
            self._publish_default_bus,
            self.settings.chime_empty_timeout_s,
            self._store_media,
            state_file=data / "chime.json" if data else None,
        )
        self.chime.start()
        self.urls |= {
            "aws": self.emulator.url,
            "healthlake": f"http://127.0.0.1:{healthlake_port}",
            "stripe": self.stripe.url,
            "localstripe": f"http://127.0.0.1:{stripe_port}",
            "clearinghouse": self.clearinghouse.url,
            "photon": self.photon.url,
            "dexcom": self.dexcom.url,
            "comprehendmedical": self.comprehend_medical.url,
            "chime": self.chime.url,
            # The browsers' WebRTC signalling (the meetings' SignalingUrl): the web's CSP connects to it.
            "signalling": self.chime.relay.origin,
            # Where the health systems' subscription endpoints are reached (the tenants' subscriber
            # domains, which public DNS would resolve): a receiver a test or a developer runs there.
            "subscribers": f"http://127.0.0.1:{self.settings.subscriber_port or free_port()}",
        }
        wait_for(f"{self.urls['healthlake']}/_health")
        # The gateway's origin is in the functions' environment (the managed login's URLs), so its
        # port is chosen before they start; the gateway itself listens once they are warm.
        self.gateway_port = self.settings.port or free_port()
        self.urls["gateway"] = f"http://127.0.0.1:{self.gateway_port}"
        for tenant in self.settings.tenants:
            self._start_tenant(tenant)
        wait_for(f"{self.urls['stripe']}/v1/customers")
        # One warm environment per function, which also waits for each host's imports.
        functions = [
            self.dispatcher.resolve(f.name(t.id))
            for t in self.settings.tenants
            for f in topology.functions_for(t)
        ]
        with ThreadPoolExecutor(max_workers=len(functions)) as pool:
            for environment, function in zip(
                pool.map(lambda f: f.environments.acquire(wait=True), functions), functions, strict=True
            ):
                function.environments.release(environment)
        threading.Thread(target=self._scheduler, name="scheduler", daemon=True).start()
        self.gateway = Gateway(
            port=self.gateway_port,
            tenants={
                t.id: TenantApi(
                    tenant_id=t.id,
                    api_function=topology.API.name(t.id),
                    routes=topology.routes_for(t),
                    authorizer=Authorizer(frozenset(self.provisioned[t.id].issuers.values())),
                    token_issuer=self.provisioned[t.id].issuers["workforce"],
                    cors_origins=(
                        *t.portal_origins,
                        *sorted(self.settings.cors_origins - set(t.portal_origins)),
                    ),
                    # The stage's method settings: each group's limits, the stage's default for the rest.
                    throttles={
                        group: Throttle(t.throttle_of(group).rate, t.throttle_of(group).burst)
                        for group in topology.RouteGroup
                    }
                    if self.settings.throttles
                    else {},
                    machine_clients={
                        cid: (secret, scopes)
                        for cid, secret, scopes in self.provisioned[t.id].machine_clients.values()
                    },
                    signin=SignIn(
                        tenant_id=t.id,
                        idp=self.client("cognito-idp", t.region),
                        user_pools=self.provisioned[t.id].user_pools,
                        totp_secrets=self.provisioned[t.id].totp,
                    ),
                )
                for t in self.settings.tenants
            },
            default_tenant=self.default_tenant,
            # API Gateway's synchronous invoke: past the reserved concurrency, Lambda throttles it.
            invoke=lambda name, payload, wait_s: self.dispatcher.invoke(name, payload, wait_s, throttle=True),
            runtime_config=self.web_config,
        )
        threading.Thread(target=self.gateway.serve_forever, name="gateway", daemon=True).start()
        for t in self.settings.tenants:
            if t.features.triage:  # as the stack's bucket CORS rule: the portal posts photos there
                origins = sorted(
                    {web_config.origin(self.urls["gateway"]), *t.portal_origins, *self.settings.cors_origins}
                )
                self.client("s3", t.region).put_bucket_cors(
                    Bucket=topology.bucket_name(t.id, "uploads", ACCOUNT),
                    CORSConfiguration={
                        "CORSRules": [
                            {
                                "AllowedMethods": ["POST"],
                                "AllowedOrigins": origins,
                                "AllowedHeaders": ["*"],
                                "MaxAgeSeconds": 3000,
                            }
                        ]
                    },
                )
        for t in self.settings.tenants:
            # Its webhook endpoint, as the operator registers it in Stripe's dashboard.
            if t.features.payments and self.stripe:
                self.stripe.add_endpoint(
                    f"{self.urls['gateway']}/tenants/{t.id}{topology.STRIPE_WEBHOOK}", STRIPE_WEBHOOK_SECRET
                )
            if t.features.eprescribing and self.photon:
                self.photon.add_endpoint(
                    f"{self.urls['gateway']}/tenants/{t.id}{topology.PRESCRIBING_WEBHOOK}",
                    PHOTON_WEBHOOK_SECRET,
                )
                # The dashboard, as the operator lists it in the Photon application's callbacks.
                self.photon.callbacks.append(self.dashboard_url(t))
            if t.features.rpm and self.dexcom:
                # The portal, as the operator registers it as the Dexcom app's redirect URI.
                self.dexcom.redirect_uris.append(self.portal_url(t))
            register_web_bases(
                self.client("cognito-idp", t.region), self.provisioned[t.id], self.gateway.web_bases(t.id)
            )
        if self.aws_state:
            # From here a restart replays only what is written after this point; the data counts
            # as kept once what provisioning made is saved beside it (a first start cut short
            # leaves none, and the next start begins new).
            self.aws_state.compact()
            self._save_provisioning()
        if self.restored:
            # No execution outlived the last run: every open visit's lifecycle starts again, at
            # the step its appointment is at, while the platform already serves (a step that is
            # not waiting yet answers as it would in AWS a moment after a booking).
            self.resuming = threading.Thread(target=self._resume_visits, name="resume-visits", daemon=True)
            self.resuming.start()
        self.started_in_s = time.perf_counter() - started
        self._write_state()

    def web_config(self, tenant_id: str, web_base: str) -> dict[str, Any]:
        """The tenant's config.json as the gateway serves it at `web_base` (its origin + BASE):
        the API and the sign-in stand-in there too, the video over the loopback relay."""
        provisioned = self.provisioned[tenant_id]
        issuers = provisioned.issuers
        # localstripe's stand-in of Stripe.js, which calls localstripe's API from its own origin.
        features = next(t for t in self.settings.tenants if t.id == tenant_id).features
        payments = features.payments
        stripe_js = f"{self.urls['localstripe']}/js.stripe.com/v3/" if payments else None
        return web_config.runtime_config(
            tenant=tenant_id,
            api_base=web_base,
            auth={
                pool: web_config.pool_auth(
                    issuer=issuers[pool],
                    client_id=provisioned.portal_clients[pool],
                    base=f"{web_base}/auth/{pool}",
                    sign_up=pool == "patients",
                )
                for pool in web_config.POOLS
            },
            video="loopback",
            csp=web_config.local_csp_origins(
                signalling=self.urls.get("signalling"),
                stripe_js=stripe_js,
                uploads=self.emulator.url if features.triage else None,
            ),
            stripe_js=stripe_js,
            monitoring=features.rpm,
            triage=features.triage,
        )

    # --- the kept state ---------------------------------------------------------------------------

    def _log_state(self, line: str) -> None:
        with (self.settings.state_dir / "logs" / "state.log").open("a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")

    def _shape(self) -> str:
        """What provisioning made depends on: the tenants, the topology, provisioning and seeds."""
        digest = hashlib.sha256(repr(tuple(self.settings.tenants)).encode())
        for source in ("infra/topology.py", "local/provision.py", "local/seed.py"):
            digest.update((ROOT / source).read_bytes())
        return digest.hexdigest()

    def _restore(self) -> None:
        data = self.settings.data_dir
        self._lock = hold_state_dir(self.settings.state_dir)
        if self._lock is None:
            raise KeptDataRefused(f"Another platform is running on {self.settings.state_dir}: stop it first.")
        if self.settings.fresh and data.exists():
            shutil.rmtree(data)
        if not self.aws_state or not self.aws_state.exists():
            return
        saved_file = data / PROVISIONED
        if not saved_file.exists():
            self.notes.append(f"A first start on {data} did not finish: it began new.")
            shutil.rmtree(data)
            return
        saved = json.loads(saved_file.read_text())
        if saved.get("shape") != self._shape():
            raise KeptDataRefused(
                f"The data kept in {data} was made by another shape of the stack (tenants.toml, "
                "infra/topology.py, local/provision.py or local/seed.py changed since). Start "
                "clean with `make run FRESH=1` (it forgets that data), or run the checkout that made it."
            )
        self._saved = saved["tenants"]
        self.restored = self.aws_state.restore()

    def _save_provisioning(self) -> None:
        kept = {tid: p.saved() for tid, p in self.provisioned.items()}
        path = self.settings.data_dir / PROVISIONED
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".tmp").write_text(json.dumps({"shape": self._shape(), "tenants": kept}, indent=2))
        path.with_suffix(".tmp").replace(path)

    def _kept_provisioning(self, tenant: Tenant) -> ProvisionedTenant | None:
        kept = self._saved.get(tenant.id)
        return ProvisionedTenant.from_saved(tenant, kept) if kept is not None else None

    @property
    def state_report(self) -> str:
        """How this start found its data, in a line for the person who started it."""
        where = self.settings.data_dir
        if not self.aws_state:
            return "Data: in memory only (nothing is kept)."
        if not self.restored:
            started = "fresh (FRESH=1 forgot what was kept)" if self.settings.fresh else "new"
            return f"Data: {started}; kept in {where} from now on."
        return (
            f"Data: resumed from {where} (snapshot and {self.restored.replayed} later writes restored "
            f"in {self.restored.seconds:.1f} s); resuming the open visits' lifecycles."
        )

    def _compact_if_long(self) -> None:
        """Fold a long journal into a snapshot, so a start after a kill replays little."""
        journal = self.aws_state.journal if self.aws_state else None
        if journal is None or journal.size < COMPACT_AT_BYTES or time.monotonic() < self._compact_after:
            return
        try:
            assert self.aws_state is not None
            self.aws_state.compact()
        except Exception as error:  # the journal keeps every write; a minute later it tries again
            self._compact_after = time.monotonic() + 60
            self._log_state(f"snapshot failed ({type(error).__name__}); the journal is kept")

    def _resume_visits(self) -> None:
        began = time.perf_counter()
        for tenant in self.settings.tenants:
            self.resumed[tenant.id] = self.reconcile_visits(tenant.id)
        self.resumed_in_s = time.perf_counter() - began

    @property
    def resume_report(self) -> str:
        """Once `resuming` has ended: what it did, in a line."""
        failed = [tid for tid, counts in self.resumed.items() if "errorMessage" in counts]
        # Running ones count too: no execution outlived the last run, so whatever runs now was
        # started by this start (the scheduler's first tick runs the reconciler as well).
        resumed = sum(
            int(r.get("started", 0)) + int(r.get("restarted", 0)) + int(r.get("running", 0))
            for r in self.resumed.values()
        )
        line = f"Resumed the lifecycles of {resumed} open visits in {self.resumed_in_s:.1f} s."
        if failed:
            line += f" It failed for {', '.join(failed)} (.local/logs/) and runs again on its schedule."
        return line

    def _start_tenant(self, tenant: Tenant) -> None:
        healthlake = self.client("healthlake", tenant.region, endpoint=self.urls["healthlake"])
        name = topology.tenant_prefix(tenant.id)
        kept = [
            s
            for s in healthlake.list_fhir_datastores()["DatastorePropertiesList"]
            if s["DatastoreName"] == name
        ]
        store = (
            kept[0]
            if kept
            else healthlake.create_fhir_datastore(DatastoreName=name, DatastoreTypeVersion="R4")
        )
        self.fhir_endpoints[tenant.id] = store["DatastoreEndpoint"]

        def environment_for(p: ProvisionedTenant) -> dict[str, str]:
            return topology.function_environment(
                tenant,
                account=ACCOUNT,
                fhir_endpoint=store["DatastoreEndpoint"],
                workforce_pool_id=p.user_pools["workforce"],
                patient_pool_id=p.user_pools["patients"],
                # The stand-in of each pool's managed login, on the gateway at the tenant's BASE.
                login_urls={
                    kind: f"{self.urls['gateway']}/tenants/{tenant.id}/auth/{kind}"
                    for kind in topology.POOL_KINDS
                },
                portal_clients=p.portal_clients,
                # One stand-in is the account: every tenant of the region shares its quota.
                tenants_sharing_healthlake=sum(t.region == tenant.region for t in self.settings.tenants),
            )

        provisioned = self._kept_provisioning(tenant)
        seeded = provisioned is not None
        if provisioned is not None:
            provisioned.environment = environment_for(provisioned)
        else:
            provisioned = provision_tenant(
                tenant,
                endpoint=self.emulator.url,
                environment_for=environment_for,
                credentials=THIRD_PARTY_CREDENTIALS,
            )
        environment = provisioned.environment
        self.provisioned[tenant.id] = provisioned
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        host_environment = self.function_environment(tenant, environment)
        self._spawn(
            f"functions-{tenant.id}",
            [sys.executable, "-m", "local.function_host", "--control-fd", str(theirs.fileno()), "--preload"],
            env={
                **host_environment,
                function_host.SETTINGS_VARIABLE: json.dumps(
                    self.function_settings(tenant, provisioned, host_environment)
                ),
            },
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        host = self.hosts[tenant.id] = FunctionHostControl(ours)
        for function in topology.functions_for(tenant):
            dlq = function.dlq if function.invocation is topology.Invocation.EVENT else None
            self.dispatcher.register(
                HostedFunction(
                    name=function.name(tenant.id),
                    key=function.key,
                    environments=Environments(function.key, tenant.concurrency_of(function.key), host),
                    timeout_s=function.timeout_s,
                    dlq_arn=provisioned.queue_arns[dlq.key] if dlq else None,
                )
            )
        self._consume_work_queues(tenant)
        if not seeded:
            seed_tenant(
                self.client("cognito-idp", tenant.region),
                self.client("dynamodb", tenant.region),
                provisioned,
                self.seed_settings(tenant),
                self.client("kms", tenant.region),
            )

    def _consume_work_queues(self, tenant: Tenant) -> None:
        """Lambda's pollers of the tenant's SQS event sources, as the mappings moto keeps say."""
        lam = self.client("lambda", tenant.region)
        sqs = self.client("sqs", tenant.region)
        for function in topology.functions_for(tenant):
            if function.work_queue is None:
                continue
            for mapping in lam.list_event_source_mappings(FunctionName=function.name(tenant.id))[
                "EventSourceMappings"
            ]:
                queue_name = mapping["EventSourceArn"].rsplit(":", 1)[-1]
                url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
                self.dispatcher.consume_queue(mapping, sqs, url)

    def dashboard_url(self, tenant: Tenant) -> str:
        """The tenant's dashboard on the gateway (the default tenant's at its root, as the browser
        tests open it): where a prescriber's Photon sign-in comes back to."""
        base = "" if tenant.id == self.default_tenant else f"/tenants/{tenant.id}"
        return f"{self.urls['gateway']}{base}/dashboard/"

    def portal_url(self, tenant: Tenant) -> str:
        """The tenant's portal on the gateway: where a patient's Dexcom sign-in comes back to."""
        base = "" if tenant.id == self.default_tenant else f"/tenants/{tenant.id}"
        return f"{self.urls['gateway']}{base}/"

    def subscriber_hosts(self, tenant: Tenant) -> dict[str, str]:
        """The local stand-in for public DNS: each of the tenant's subscriber domains, reached at
        the subscribers' receiver (the delivery function's `SUBSCRIBER_HOSTS`)."""
        return {domain: self.urls["subscribers"] for domain in tenant.subscriber_domains}

    @property
    def third_parties(self) -> dict[str, str]:
        """Each third party's stand-in, by the topology's key for the party."""
        return {
            topology.STRIPE.key: self.urls["stripe"],
            topology.CLEARINGHOUSE.key: self.urls["clearinghouse"],
            topology.PHOTON.key: self.urls["photon"],
            topology.DEXCOM.key: self.urls["dexcom"],
        }

    def function_settings(
        self, tenant: Tenant, provisioned: ProvisionedTenant, host_environment: dict[str, str]
    ) -> dict[str, dict[str, Any]]:
        """What the function host hands each of the tenant's functions: its own environment (its
        third parties' secrets and stand-ins, from the topology) and where it may connect: the
        emulated AWS (every `AWS_ENDPOINT_URL*`), and the stand-ins of its third parties."""
        aws = [v for k, v in host_environment.items() if k.startswith("AWS_ENDPOINT_URL")]
        settings: dict[str, dict[str, Any]] = {}
        for function in topology.functions_for(tenant):
            own = topology.own_environment(function, provisioned.secret_arns, provisioned.sealing_key_arns)
            for party in function.third_parties:
                own[party.base_url_variable] = self.third_parties[party.key]
                if party.auth_url_variable:  # the stand-in issues its tokens too
                    own[party.auth_url_variable] = self.third_parties[party.key]
            reached = egress.urls_for(function, aws, self.third_parties)
            if function.reaches_subscribers:
                own["SUBSCRIBER_HOSTS"] = json.dumps(self.subscriber_hosts(tenant), sort_keys=True)
                reached.append(self.urls["subscribers"])
            endpoints = egress.resolve(reached)
            settings[function.key] = {"environment": own, "endpoints": sorted(endpoints)}
        return settings

    def function_environment(self, tenant: Tenant, environment: dict[str, str]) -> dict[str, str]:
        """The process environment of a tenant's function host: the stack's, plus where AWS is.
        Nothing of a third party's: each environment gets its own from `function_settings`."""
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "STRIPE_"))
        }
        return {
            **inherited,
            **environment,
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": tenant.region,
            "AWS_REGION": tenant.region,
            "AWS_ENDPOINT_URL": self.emulator.url,
            "AWS_ENDPOINT_URL_HEALTHLAKE": self.urls["healthlake"],
            "AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS": self.urls["chime"],
            "AWS_ENDPOINT_URL_CHIME_SDK_MEDIA_PIPELINES": self.urls["chime"],
            "AWS_ENDPOINT_URL_COMPREHENDMEDICAL": self.urls["comprehendmedical"],
            # The portal's local origins join the tenant's own, as CORS_ORIGINS=... make run asks.
            "CORS_ORIGINS": ",".join(
                sorted({*environment["CORS_ORIGINS"].split(","), *self.settings.cors_origins} - {""})
            ),
            "CLINIC_SEED_SETTINGS": json.dumps(self.seed_settings(tenant), sort_keys=True),
            "DASHBOARD_URL": self.dashboard_url(tenant),
            "DEXCOM_RETURN_URL": self.portal_url(tenant),
            **(
                {"CLINIC_SETTINGS_TTL_S": str(self.settings.clinic_settings_ttl_s)}
                if self.settings.clinic_settings_ttl_s is not None
                else {}
            ),
            **(
                {"HEALTH_CACHE_S": str(self.settings.health_cache_s)}
                if self.settings.health_cache_s is not None
                else {}
            ),
            **(
                {"OUTBOX_STREAM_GRACE_S": str(self.settings.outbox_stream_grace_s)}
                if self.settings.outbox_stream_grace_s is not None
                else {}
            ),
            **(
                {"OUTBOX_CIRCUIT_OPEN_S": str(self.settings.outbox_circuit_open_s)}
                if self.settings.outbox_circuit_open_s is not None
                else {}
            ),
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon on this machine
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "telehealth")]),
        }

    def seed_settings(self, tenant: Tenant) -> dict[str, Any]:
        """The clinic settings the seed writes (through the admin service, into the table): the
        tenant file's, with this platform's own where it sets them."""
        seed = {**topology.seed_settings(tenant), **self.settings.clinic_settings}
        if self.settings.visit_timings is not None:
            seed["visit_timings"] = {**seed.get("visit_timings", {}), **self.settings.visit_timings}
        return seed

    @property
    def parity_dir(self) -> Path:
        return self.settings.state_dir / "parity"

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()
    ) -> None:
        log = (self.settings.state_dir / "logs" / f"{name}.log").open("wb")
        # The stand-ins and function hosts, started from the main thread, end with the platform
        # even when it is killed; a media worker's run (from a delivery thread) ends by itself.
        tied = threading.current_thread() is threading.main_thread()
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env or {**os.environ, **CREDENTIALS},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
            preexec_fn=lifeline.tied_to_this_process() if tied else None,
        )

    def _run_container(self, target: dict[str, Any], event: dict[str, Any]) -> None:
        """An EventBridge ECS-task target, run as the same entry point in a local process: the
        tenant's environment (as the task definition has it) plus the event's fields (as the
        rule's input transformer gives them)."""
        cluster = target["Arn"].rsplit("/", 1)[-1]
        tenant = next(t for t in self.settings.tenants if topology.RPPG_WORKER.cluster_name(t.id) == cluster)
        task = next(t for t in topology.CONTAINER_TASKS if t.key == target["Id"])
        provisioned = self.provisioned[tenant.id]
        run = f"{task.key}-{tenant.id}-{event.get('id', uuid.uuid4())}"
        self._spawn(
            run,
            # The worker's own entry point, with its AWS calls recorded as the task role's.
            [sys.executable, "-m", "local.parity", f"task:{task.key}", task.module],
            env={**self.function_environment(tenant, provisioned.environment), **task.environment(event)},
        )
        self.containers.append(run)

    def _store_media(self, bucket: str, key: str, body: bytes) -> None:
        """Chime's media pipelines writing into a tenant's recordings bucket, as the Chime
        service itself (its access rests on the bucket and key policies: recorded for parity)."""
        tenant = next(
            t for t in self.settings.tenants if bucket.startswith(f"{topology.tenant_prefix(t.id)}-")
        )
        recorder.record(
            f"service:{CHIME_MEDIA_PIPELINES}",
            "s3",
            "PutObject",
            [Need("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}", {"aws:SourceAccount": ACCOUNT})],
            tenant=tenant.id,
        )
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms")

    def _publish_default_bus(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        self.client("events").put_events(
            Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}]
        )

    def _scheduler(self) -> None:
        """EventBridge's schedules, which moto does not run: `rate(...)` rules on the default bus."""
        last: dict[str, float] = {}
        while not self._stop.wait(1.0):
            self._compact_if_long()
            for tenant in self.settings.tenants:
                events = self.client("events", tenant.region)
                for rule in topology.rules_for(tenant):
                    if not rule.schedule:
                        continue
                    name = rule.name(tenant.id)
                    every = (
                        self.settings.schedule_every_s_for.get(rule.key)
                        or self.settings.schedule_every_s
                        or _rate_seconds(rule.schedule)
                    )
                    if time.monotonic() - last.get(name, 0.0) < every:
                        continue
                    last[name] = time.monotonic()
                    described = events.describe_rule(Name=name)
                    if described["State"] != "ENABLED":
                        continue  # EventBridge runs no disabled rule on its schedule
                    arn = described["Arn"]
                    for target in events.list_targets_by_rule(Rule=name)["Targets"]:
                        self.dispatcher.deliver_event(
                            target,
                            arn,
                            {
                                "version": "0",
                                "id": str(uuid.uuid4()),
                                "detail-type": "Scheduled Event",
                                "source": "aws.events",
                                "account": ACCOUNT,
                                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "region": tenant.region,
                                "resources": [arn],
                                "detail": {},
                            },
                        )

    def reconcile_visits(self, tenant_id: str) -> dict[str, Any]:
        """Run a tenant's visit reconciler now and wait for it: what its schedule does every five
        minutes, on demand (after a restart on a table that survived, every open visit's
        lifecycle is missing). Its counts, or Lambda's error shape."""
        done = self.dispatcher.invoke(topology.VISIT_RECONCILER.name(tenant_id), b"{}")
        answer: dict[str, Any] = json.loads(done.payload)
        return answer

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "urls": self.urls,
            "default_tenant": self.default_tenant,
            "started_in_s": self.started_in_s,
            "tenants": {
                tid: {
                    "region": p.region,
                    "user_pools": p.user_pools,
                    "portal_clients": p.portal_clients,
                    "totp": p.totp,
                    "machine_clients": {
                        name: {"client_id": c[0], "client_secret": c[1], "scopes": list(c[2])}
                        for name, c in p.machine_clients.items()
                    },
                    "fhir_endpoint": self.fhir_endpoints[tid],
                    "queues": p.queue_arns,
                    "functions": p.function_arns,
                    "state_machines": p.state_machine_arns,
                }
                for tid, p in self.provisioned.items()
            },
        }
        # Written whole or not at all: the token command, the demo and the tests poll for it, and
        # a reader between the open and the last write read an empty file.
        kept = self.settings.state_dir / STATE_FILE.name
        partial = kept.with_suffix(".json.partial")
        partial.write_text(json.dumps(state, indent=2))
        partial.replace(kept)

    def stop(self) -> None:
        self._stop.set()
        if self.stripe:  # first: a webhook it sends now would reach functions already stopped
            self.stripe.stop()
        if self.photon:
            self.photon.stop()
        if self.dexcom:
            self.dexcom.stop()
        if self.comprehend_medical:
            self.comprehend_medical.stop()
        self.dispatcher.stop()
        for host in self.hosts.values():
            host.close()
        if self.gateway:
            self.gateway.stop()
        if self.chime:
            self.chime.stop()
        if self.clearinghouse:
            self.clearinghouse.stop()
        # Each process leads a group of its own, which outlives it: a function host's execution
        # environments are its forks, so the group is signalled even when the host has exited.
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if (
            self.aws_state
            and self.aws_state.journal is not None
            and (self.settings.data_dir / PROVISIONED).exists()
        ):
            # Nothing writes now: the journal goes into a snapshot, so the next start replays nothing.
            try:
                self.aws_state.compact()
            except Exception as error:  # the journal still holds every write: the next start replays it
                self._log_state(f"snapshot at stop failed ({type(error).__name__}); the journal is kept")
                print(
                    f"Could not snapshot the data at stop ({error}); the next start replays it.",
                    file=sys.stderr,
                )
            self.aws_state.close()
        self.emulator.stop()
        if self._lock is not None:  # else the state file is another platform's
            (self.settings.state_dir / STATE_FILE.name).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def pause(self, name: str) -> None:
        """Freeze a stand-in process (an outage: connections hang, then time out)."""
        os.killpg(self.processes[name].pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        os.killpg(self.processes[name].pid, signal.SIGCONT)

    def wait(self) -> None:
        """Until Ctrl-C or SIGTERM. A process that dies is reported once; /health shows it too."""
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        # Ctrl-C stops everything even when a parent started us with SIGINT ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        reported: set[str] = set()
        try:
            while not self._stop.wait(0.5):
                for name, process in self.processes.items():
                    if process.poll() is not None and name not in reported:
                        reported.add(name)
                        print(
                            f"{name} exited ({process.returncode}); see .local/logs/{name}.log",
                            file=sys.stderr,
                        )
        except KeyboardInterrupt:
            pass


def _rate_seconds(expression: str) -> float:
    value, unit = expression.removeprefix("rate(").removesuffix(")").split()
    return (
        int(value)
        * {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[unit]
    )


def _lower(credentials: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in credentials.items()}


def node_available() -> bool:
    return shutil.which("node") is not None
