"""A tenant in an account of its own (`account` in tenants.toml): its stacks go there, with a
baseline of that account's own; the others share the deploying account's. The app's wiring is
checked with stand-in stacks (the real ones are synthesized once per session elsewhere)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from aws_cdk import Stack
from constructs import Construct

import app
from infra.tenants import Tenant, baseline_stack_name, baselines, load_tenants

OWN = "222222222222"
DEPLOYING = "111111111111"


class _Made(Stack):
    made: ClassVar[list[_Made]] = []

    def __init__(self, scope: Construct, id: str, *, env: Any, **kwargs: Any) -> None:
        super().__init__(scope, id, env=env)
        self.kwargs = kwargs
        self.vpc = f"vpc of {id}"
        _Made.made.append(self)


@pytest.fixture
def stacks(monkeypatch: pytest.MonkeyPatch) -> dict[str, _Made]:
    riverside, desert = load_tenants()
    apart = desert.model_copy(update={"account": OWN})
    monkeypatch.setattr(app, "load_tenants", lambda: (riverside, apart))
    for name in ("BaselineStack", "BackupCopyStack", "TenantStack"):
        monkeypatch.setattr(app, name, type(name, (_Made,), {}))
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", DEPLOYING)
    _Made.made = []
    app.build(app.new_app())
    return {s.node.id: s for s in _Made.made}


def test_a_tenant_with_an_account_has_its_stacks_and_a_baseline_there(stacks: dict[str, _Made]) -> None:
    own_baseline = f"telehealth-baseline-us-east-1-{OWN}"
    assert set(stacks) == {
        "telehealth-baseline-us-east-1",
        own_baseline,
        "telehealth-riverside",
        "telehealth-riverside-backup-copy",
        "telehealth-desert-clinic",
        "telehealth-desert-clinic-backup-copy",
    }
    for name in (own_baseline, "telehealth-desert-clinic", "telehealth-desert-clinic-backup-copy"):
        assert stacks[name].account == OWN, name
    for name in ("telehealth-baseline-us-east-1", "telehealth-riverside", "telehealth-riverside-backup-copy"):
        assert stacks[name].account == DEPLOYING, name
    # Each baseline forwards Chime events and trails data events for the tenants of its account.
    assert [t.id for t in stacks[own_baseline].kwargs["tenants"]] == ["desert-clinic"]
    assert [t.id for t in stacks["telehealth-baseline-us-east-1"].kwargs["tenants"]] == ["riverside"]
    # A silo joins its own account's network.
    assert stacks["telehealth-desert-clinic"].kwargs["vpc"] == f"vpc of {own_baseline}"
    assert stacks["telehealth-riverside"].kwargs["vpc"] == "vpc of telehealth-baseline-us-east-1"


def test_baselines_group_tenants_by_account_and_region() -> None:
    riverside, desert = load_tenants()
    west = riverside.model_copy(
        update={"id": "west", "region": "us-west-2", "backup_copy_region": "us-east-1"}
    )
    apart = desert.model_copy(update={"account": OWN})
    found: dict[tuple[str | None, str], tuple[Tenant, ...]] = baselines([riverside, west, apart])
    assert {place: [t.id for t in served] for place, served in found.items()} == {
        (None, "us-east-1"): ["riverside"],
        (None, "us-west-2"): ["west"],
        (OWN, "us-east-1"): ["desert-clinic"],
    }
    assert baseline_stack_name(None, "us-west-2") == "telehealth-baseline-us-west-2"
    assert baseline_stack_name(OWN, "us-east-1") == f"telehealth-baseline-us-east-1-{OWN}"
