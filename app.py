#!/usr/bin/env python3
"""CDK entry point: the account baseline per account and region, and per tenant its silo and
backup vault, in the tenant's own account where `tenants.toml` names one.

`-c tenants=a,b` limits the app to those tenants (and their accounts' and regions' baselines).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from infra.baseline import BaselineStack
from infra.compliance import enable_hipaa_checks
from infra.data import BackupCopyStack
from infra.tenant import TenantStack
from infra.tenants import baseline_stack_name, baselines, load_tenants
from infra.topology import PREFIX


def new_app(**kwargs: Any) -> App:
    """An App with cdk.json's feature flags, so a synth without the CDK CLI (tests, bench)
    builds the same templates as `cdk synth`."""
    flags = json.loads((Path(__file__).parent / "cdk.json").read_text())["context"]
    return App(context=flags | kwargs.pop("context", {}), **kwargs)


def build(app: App) -> App:
    enable_hipaa_checks(app)
    only = app.node.try_get_context("tenants")
    everyone = load_tenants()
    tenants = [t for t in everyone if not only or t.id in only.split(",")]
    default_account = os.environ.get("CDK_DEFAULT_ACCOUNT")

    stacks: dict[tuple[str | None, str], BaselineStack] = {}
    # Every tenant of the account and region, even when synthesizing a few: deploying a baseline
    # built from a subset would drop the others' Chime forwarding and trail data events.
    served = baselines(everyone)
    for place in sorted(baselines(tenants), key=str):
        account, region = place
        stacks[place] = BaselineStack(
            app,
            baseline_stack_name(account, region),
            tenants=list(served[place]),
            env=Environment(account=account or default_account, region=region),
            description="Telehealth account baseline: CloudTrail, network, Chime event forwarding",
        )
    for tenant in tenants:
        account = tenant.account or default_account
        BackupCopyStack(
            app,
            f"{PREFIX}-{tenant.id}-backup-copy",
            tenant=tenant,
            env=Environment(account=account, region=tenant.backup_copy_region),
            description=f"Telehealth tenant {tenant.id}: disaster-recovery backup vault",
        )
        TenantStack(
            app,
            f"{PREFIX}-{tenant.id}",
            tenant=tenant,
            vpc=stacks[(tenant.account, tenant.region)].vpc,
            tenants_sharing_healthlake=len(served[(tenant.account, tenant.region)]),
            env=Environment(account=account, region=tenant.region),
            description=f"Telehealth tenant {tenant.id}: the clinic's silo",
        )
    return app


if __name__ == "__main__":
    build(new_app()).synth()
