"""`make run`: start the whole platform on loopback and say where everything is."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
from pathlib import Path

from infra import topology
from local.platform import STATE_DIR, KeptDataRefused, LocalPlatform, Settings, hold_state_dir, node_available
from local.seed import DEMO_PASSWORD, SEED_USERS, email_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="logs, the state file, the data")
    parser.add_argument("--fresh", action="store_true", help="forget the kept data first (make run FRESH=1)")
    parser.add_argument("--reset", action="store_true", help="forget the kept data and exit (make reset)")
    parser.add_argument(
        "--no-throttles",
        action="store_true",
        help="no per-method throttles in the gateway (a benchmark of the gateway itself)",
    )
    args = parser.parse_args()
    if args.reset:
        sys.exit(_reset(args.state_dir))
    if not node_available():
        sys.exit("Node.js is needed for the HealthLake stand-in (Medplum); install Node 20+.")
    settings = Settings(
        port=args.port,
        state_dir=args.state_dir,
        cors_origins=frozenset(o for o in os.environ.get("CORS_ORIGINS", "").split(",") if o),
        fresh=args.fresh,
        throttles=not args.no_throttles,
    )
    platform = LocalPlatform(settings)
    print("Starting the telehealth platform (moto, HealthLake, Chime and Stripe stand-ins)...", flush=True)
    try:
        try:
            platform.start()
        except KeptDataRefused as error:
            sys.exit(str(error))
        _announce(platform)
        if platform.resuming is not None:
            threading.Thread(target=_report_resumed, args=(platform,), daemon=True).start()
        platform.wait()
    finally:
        print("\nStopping...", flush=True)
        platform.stop()


def _announce(platform: LocalPlatform) -> None:
    gateway = platform.urls["gateway"]
    tenant = platform.default_tenant
    lines = [
        f"\nReady in {platform.started_in_s:.1f} s.",
        f"  {platform.state_report}",
        *(f"  {note}" for note in platform.notes),
        f"  Patient portal    {gateway}/   (tenant {tenant}; others at {gateway}/tenants/<id>/)",
        f"  Clinic dashboard  {gateway}/dashboard/   (providers, staff, admins)",
        f"  API               {gateway}/v1/...",
        f"  Health            {gateway}/health",
        f"  OpenAPI           {gateway}/openapi.json      Swagger UI {gateway}/docs",
        f"  FHIR facade       {gateway}/fhir/r4   (metadata public; a machine client's or a user's token)",
        f"  HL7 v2 ADT feed   {gateway}/integrations/hl7v2/adt   (the adt-feed client's token; ACK answers)",
        f"  Subscribers       {platform.urls['subscribers']}   (where the tenant's subscriber domains reach:"
        " run a receiver there to take notifications)",
        f"  HealthLake (FHIR) {platform.fhir_endpoints[tenant]}   (SigV4, service healthlake)",
        f"  Emulated AWS      {platform.urls['aws']}   (AWS_ENDPOINT_URL; credentials testing/testing)",
        "",
        f"Seeded users of tenant {tenant} (password {DEMO_PASSWORD}):",
    ]
    secrets = platform.provisioned[tenant].totp
    for user in SEED_USERS:
        role = user.group or "patient"
        email = email_of(user, tenant)
        totp = f"TOTP secret {secrets[email]}" if email in secrets else ""
        lines.append(f"  {email:<36} {role:<10} {totp}".rstrip())
    machine = [c.name for t in platform.settings.tenants if t.id == tenant for c in t.machine_clients]
    lines += [
        "",
        'A token for any of them (then: curl -H "Authorization: Bearer $TOKEN" ...):',
        f"  TOKEN=$(make -s token WHO={email_of(SEED_USERS[-1], tenant)})",
    ]
    if machine:
        for name in machine:
            lines.append(f"  TOKEN=$(make -s token WHO={name})      (machine client, client credentials)")
    lines += [
        "",
        f"Sign-in (stand-in for Cognito's managed login): {gateway}/auth/<patients|workforce>/...;",
        "  the workforce's second step asks the authenticator code: `python -m local.totp <e-mail>`.",
        f"  E-mail it would send (sign-up and reset codes): {gateway}/_sim/mail?to=<e-mail>",
    ]
    mine = next(t for t in platform.settings.tenants if t.id == tenant)
    functions = ", ".join(f.key for f in topology.functions_for(mine))
    lines += ["", f"Logs: .local/logs/.  Functions: {functions}.  Ctrl-C stops everything."]
    print("\n".join(lines), flush=True)


def _report_resumed(platform: LocalPlatform) -> None:
    assert platform.resuming is not None
    platform.resuming.join()
    print(platform.resume_report, flush=True)


def _reset(state_dir: Path) -> str | None:
    """Forget the kept data, unless a platform is running on it."""
    lock = hold_state_dir(state_dir)
    if lock is None:
        return f"A platform is running on {state_dir}: stop it first."
    with lock:
        data = Settings(state_dir=state_dir).data_dir
        shutil.rmtree(data, ignore_errors=True)
    print(f"Forgot the local data ({data}); the next `make run` starts new.")
    return None


if __name__ == "__main__":
    main()
