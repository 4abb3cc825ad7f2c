"""What ran locally must run in AWS: every AWS call the suite's functions and workers made, held
against the synthesized template's policies and the baseline's network.

These tests run after every other test of the session (tests/conftest.py orders them last), so
the record holds what the whole suite made the platform do.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra import topology
from infra.tenants import Tenant
from infra.topology import CHIME_SOURCE
from local.parity.policies import Access
from local.parity.report import (
    ParityReport,
    Recorded,
    check_iam,
    check_network,
    check_tenant,
    read_record,
    tenant_policies,
)
from local.platform import LocalPlatform
from telehealth.adapters.meetings import TENANT_TAG
from tests.conftest import FAKE_ACCOUNT, SWEEP_EVERY_S, Assembly, eventually


def _templates(assembly: Assembly) -> dict[str, Any]:
    return {name: template.body for name, template in assembly.templates.items()}


def _checked(
    platform: LocalPlatform, assembly: Assembly, recorded: list[Recorded]
) -> Iterator[tuple[Tenant, tuple[ParityReport, list[str]]]]:
    for tenant in assembly.tenants:
        yield (
            tenant,
            check_tenant(
                tenant,
                _templates(assembly),
                recorded,
                fhir_endpoint=platform.fhir_endpoints[tenant.id],
                account=FAKE_ACCOUNT,
                sealing_key_arns=platform.provisioned[tenant.id].sealing_key_arns,
            ),
        )


def test_every_aws_call_the_platform_made_is_allowed_by_the_synthesized_policies(
    platform: LocalPlatform, assembly: Assembly
) -> None:
    # Whatever ran is in the record: every function invoked, every media worker run. What ran is
    # taken first, once it is over: an invocation ends after its calls are written, schedules go
    # on invoking while the record is read, and a media worker started late in the session may
    # not have made its first call yet (it is waited for).
    containers = list(platform.containers)
    for run in containers:
        platform.processes[run].wait(timeout=300)
    invoked = {name for name, _ in platform.dispatcher.invocations}
    recorded = read_record(platform.parity_dir)
    principals = {(r.tenant, r.principal) for r in recorded}
    ran = {
        (tenant.id, f"function:{f.key}")
        for tenant in assembly.tenants
        for f in topology.FUNCTIONS
        if f.name(tenant.id) in invoked
    }
    ran |= {
        (tenant.id, f"task:{task.key}")
        for tenant in assembly.tenants
        for task in topology.CONTAINER_TASKS
        if any(run.startswith(f"{task.key}-{tenant.id}-") for run in containers)
    }
    assert ("riverside", "function:api") in ran
    assert ran <= principals, ran - principals
    refused: list[str] = []
    for tenant, (report, _) in _checked(platform, assembly, recorded):
        refused += [f"{tenant.id}: {line}" for line in report.refused]
        (platform.settings.state_dir / f"parity-{tenant.id}.txt").write_text(
            "\n".join(report.summary()) + "\n"
        )
    assert not refused, "calls AWS would refuse:\n" + "\n".join(refused)


def test_a_missing_grant_is_found_and_named(platform: LocalPlatform, assembly: Assembly) -> None:
    """The check can fail: with the table's grants removed from the api function's policy, the
    same record is refused, naming the function, the action and the table."""
    template = copy.deepcopy(assembly.tenant("riverside").body)
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if not a.startswith("dynamodb:")] or ["none:None"]
    riverside = next(t for t in assembly.tenants if t.id == "riverside")
    policies = tenant_policies(
        riverside,
        _templates(assembly),
        fhir_endpoint=platform.fhir_endpoints["riverside"],
        account=FAKE_ACCOUNT,
        template=template,
    )
    recorded = [r for r in read_record(platform.parity_dir) if r.tenant == "riverside"]
    report = check_iam(policies, recorded, [])
    table = f"table/{topology.CLINIC_TABLE.name('riverside')}"
    assert any("function:api" in line and "dynamodb:" in line and table in line for line in report.refused)


def test_one_tenants_recorded_video_calls_are_refused_on_another_tenants_meeting(
    platform: LocalPlatform, assembly: Assembly
) -> None:
    """Video isolated per tenant: each Chime call riverside's functions made carried riverside's
    tag (the request's, or the meeting's or pipeline's as Chime reports it) and is allowed; the
    same call on a meeting tagged desert-clinic is refused by riverside's policies, and
    desert-clinic's functions are refused riverside's meetings."""
    request, resource = f"aws:RequestTag/{TENANT_TAG}", f"aws:ResourceTag/{TENANT_TAG}"
    recorded = [
        r
        for r in read_record(platform.parity_dir)
        if r.tenant == "riverside" and r.action.startswith("chime:") and {request, resource} & set(r.context)
    ]
    assert "chime:CreateMeetingWithAttendees" in {r.action for r in recorded}
    assert any(resource in r.context for r in recorded)  # calls on an existing meeting, with its tag
    policy = {
        tenant.id: tenant_policies(
            tenant,
            _templates(assembly),
            fhir_endpoint=platform.fhir_endpoints[tenant.id],
            account=FAKE_ACCOUNT,
        )
        for tenant in assembly.tenants
    }
    for call in recorded:
        assert {call.context.get(k) for k in (request, resource)} - {None} == {"riverside"}, call
        assert policy["riverside"].decide(call.access).allowed
        theirs = {k: "desert-clinic" if k in (request, resource) else v for k, v in call.context.items()}
        refused = policy["riverside"].decide(Access(call.principal, call.action, call.resource, theirs))
        assert not refused.allowed, refused.why
        assert not policy["desert-clinic"].decide(call.access).allowed, call


def test_every_service_a_function_reaches_has_a_route_and_a_name_the_firewall_allows(
    platform: LocalPlatform, assembly: Assembly
) -> None:
    """A VPC endpoint, or (for a function the templates put in the egress subnets) the NAT; and
    either way a name the VPC's DNS firewall lets resolve. Reminder e-mail (the SES API) goes
    through its endpoint; the payments function reads its Stripe secret through the NAT."""
    recorded = read_record(platform.parity_dir)
    assert any(r.principal == "function:payments" and r.service == "secretsmanager" for r in recorded)
    for _, (_, missing) in _checked(platform, assembly, recorded):
        assert not missing, "no route in the VPC:\n" + "\n".join(missing)


def test_the_network_check_finds_a_call_without_a_route(assembly: Assembly) -> None:
    """The check can fail: a call from an isolated function to a service with no endpoint, and a
    call from the egress path to a name the firewall refuses, are both named."""
    baseline, silo = assembly.baseline("us-east-1").body, assembly.tenant("riverside").body

    def call(principal: str, service: str) -> Recorded:
        return Recorded("riverside", principal, service, "Op", f"{service}:Op", "*", {})

    missing = check_network(
        [
            call("function:api", "secretsmanager"),  # no endpoint, and the api is isolated
            call("function:payments", "secretsmanager"),  # the NAT, and an allowed name
            call("function:payments", "cognito-idp"),  # the NAT, but a name the firewall refuses
            call("function:api", "ses"),  # the SES API's endpoint
        ],
        baseline,
        "us-east-1",
        silo,
        "riverside",
    )
    assert missing == [
        "function:api reaches secretsmanager (com.amazonaws.us-east-1.secretsmanager), "
        "which has no VPC endpoint",
        "function:payments reaches cognito-idp as cognito-idp.us-east-1.amazonaws.com, "
        "a name the DNS firewall refuses",
    ]


@pytest.mark.parametrize("service", ["dynamodb", "healthlake", "events", "states", "meetings-chime"])
def test_the_network_check_knows_the_baselines_endpoints(assembly: Assembly, service: str) -> None:
    from local.parity.report import vpc_endpoint_services

    assert service in vpc_endpoint_services(assembly.baseline("us-east-1").body, "us-east-1")


def test_the_sweep_rule_fires_on_its_schedule_only_in_a_busy_stretch(platform: LocalPlatform) -> None:
    """A scheduled rule fires on its schedule, not on every event of the default bus: two Chime
    events a second for fifteen seconds leave each tenant's sweeper with its scheduled sweeps."""
    began = time.monotonic()
    for n in range(30):
        platform._publish_default_bus(
            CHIME_SOURCE,
            "Chime Meeting State Change",
            {
                "eventType": "chime:AttendeeJoined",
                "meetingId": f"m-{n}",
                "externalMeetingId": "riverside:none",
            },
        )
        time.sleep(0.5)
    window = time.monotonic() - began
    for tenant in ("riverside", "desert-clinic"):
        sweeper = topology.OUTBOX_SWEEPER.name(tenant)
        sweeps = [
            kind for name, kind, at in list(platform.dispatcher.deliveries) if name == sweeper and at >= began
        ]
        assert set(sweeps) <= {"Scheduled Event"}
        assert 1 <= len(sweeps) <= window / SWEEP_EVERY_S + 1, len(sweeps)


def test_a_disabled_scheduled_rule_runs_no_more_until_it_is_enabled_again(platform: LocalPlatform) -> None:
    """EventBridge runs no disabled rule on its schedule (the reconciler's restart tests disable
    its rule for a downtime): desert-clinic's sweeper gets none of its sweeps for two of its
    intervals, and its next one soon after the rule is enabled again."""
    tenant = "desert-clinic"
    events = platform.client("events", platform.provisioned[tenant].region)
    (rule,) = [r.name(tenant) for r in topology.RULES if r.target is topology.OUTBOX_SWEEPER]
    sweeper = topology.OUTBOX_SWEEPER.name(tenant)

    def sweeps_since(since: float) -> list[float]:
        return [at for name, _, at in list(platform.dispatcher.deliveries) if name == sweeper and at >= since]

    events.disable_rule(Name=rule)
    try:
        time.sleep(1.0)  # a tick under way when the rule was disabled
        off = time.monotonic()
        time.sleep(2 * SWEEP_EVERY_S)
        assert sweeps_since(off) == []
    finally:
        events.enable_rule(Name=rule)
    on = time.monotonic()
    assert eventually(lambda: sweeps_since(on), timeout_s=SWEEP_EVERY_S + 3)


def test_the_emulator_answered_every_request_the_suite_made(platform: LocalPlatform) -> None:
    """No 5xx of the emulator's own in the whole session (moto failing under concurrent requests
    answered some, which AWS would not have): its log of them stays empty."""
    log = platform.settings.state_dir / "logs" / "emulator.log"
    assert not (log.read_text().splitlines() if log.exists() else [])
    assert platform.emulator.meter.server_errors == []


def test_the_relay_is_handed_pending_outbox_entries_only(platform: LocalPlatform) -> None:
    """The stream mapping's filter, as Lambda applies it: the relay never wakes for an ordinary
    write (an appointment, a visit, an hour's cells, an entry marked delivered)."""
    relays = {r.name(t.id) for t in platform.settings.tenants for r in topology.STREAM_RELAYS}
    batches = [event["Records"] for name, event in list(platform.dispatcher.completed) if name in relays]
    keys = [r["Keys"]["pk"]["S"] for batch in batches for r in batch]
    assert keys and all(k.startswith("OUTBOX#") for k in keys)
