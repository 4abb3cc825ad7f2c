#!/usr/bin/env python3
"""CDK entry point: the account baseline per region, and per tenant its silo and backup vault.

`-c tenants=a,b` limits the app to those tenants (and their regions' baselines).
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
from infra.tenants import load_tenants
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
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")

    baselines: dict[str, BaselineStack] = {}
    for region in sorted({t.region for t in tenants}):
        baselines[region] = BaselineStack(
            app,
            f"{PREFIX}-baseline-{region}",
            # Every tenant of the region, even when synthesizing a few: deploying a baseline built
            # from a subset would drop the others' Chime forwarding and trail data events.
            tenants=[t for t in everyone if t.region == region],
            env=Environment(account=account, region=region),
            description="Telehealth account baseline: CloudTrail, network, Chime event forwarding",
        )
    for tenant in tenants:
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
            vpc=baselines[tenant.region].vpc,
            env=Environment(account=account, region=tenant.region),
            description=f"Telehealth tenant {tenant.id}: the clinic's silo",
        )
    return app


if __name__ == "__main__":
    build(new_app()).synth()
