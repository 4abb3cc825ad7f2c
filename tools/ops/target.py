"""Which tenant stack a command acts on, as the environment its functions are given.

Against AWS the names come from the topology (as the stack builds them), the account from STS
and the FHIR store's endpoint from HealthLake (the data store named after the tenant), with the
caller's own credentials. With `--local`, the endpoints and the emulator's credentials come from
the running local platform's state file; everything after that is the same code path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from infra import topology
from infra.tenants import Tenant, load_tenants


@dataclass(frozen=True)
class Target:
    tenant: Tenant
    account: str
    environment: dict[str, str]

    def apply(self) -> None:
        """Into this process's environment, where the adapters read their configuration."""
        os.environ.update(self.environment)


def _local_platform(state_file: Path | None) -> dict[str, object]:
    from local.platform import STATE_FILE

    state_file = state_file or STATE_FILE
    if not state_file.exists():
        raise SystemExit("The local platform is not running: start it with `make run`.")
    state: dict[str, object] = json.loads(state_file.read_text())
    return state


def resolve(
    tenant_id: str, *, local: bool, state_file: Path | None = None, fhir_endpoint: str | None = None
) -> Target:
    """The tenant's stack as its functions see it; `fhir_endpoint` names another FHIR data store
    (a new one being filled), and no data store is looked up."""
    tenants = {t.id: t for t in load_tenants()}
    if tenant_id not in tenants:
        raise SystemExit(f"No tenant {tenant_id!r} in tenants.toml (known: {', '.join(sorted(tenants))})")
    tenant = tenants[tenant_id]
    environment = {"AWS_REGION": tenant.region, "AWS_DEFAULT_REGION": tenant.region, "TENANT_ID": tenant.id}
    if local:
        from local.emulator import ACCOUNT
        from local.platform import CREDENTIALS

        urls = _local_platform(state_file)["urls"]
        assert isinstance(urls, dict)
        environment |= {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": str(urls["aws"]),
            "AWS_ENDPOINT_URL_HEALTHLAKE": str(urls["healthlake"]),
        }
    os.environ.update(environment)

    import boto3

    account = ACCOUNT if local else boto3.client("sts").get_caller_identity()["Account"]
    if fhir_endpoint is None:
        stores = boto3.client("healthlake").list_fhir_datastores()["DatastorePropertiesList"]
        name = topology.tenant_prefix(tenant.id)
        named = [s for s in stores if s["DatastoreName"] == name]
        if len(named) != 1:
            raise SystemExit(
                f"Expected one FHIR data store named {name}, found {len(named)} (name one: --fhir-endpoint)"
            )
        fhir_endpoint = str(named[0]["DatastoreEndpoint"])
    environment |= {
        "TABLE_NAME": topology.CLINIC_TABLE.name(tenant.id),
        "EVENT_BUS_NAME": topology.TENANT_BUS.name(tenant.id),
        "AUDIT_BUCKET": topology.bucket_name(tenant.id, "audit", account),
        "FHIR_STORE_ENDPOINT": fhir_endpoint,
        "VISIT_LIFECYCLE_ARN": (
            f"arn:aws:states:{tenant.region}:{account}:stateMachine:"
            f"{topology.VISIT_LIFECYCLE.name(tenant.id)}"
        ),
    }
    return Target(tenant, account, environment)
