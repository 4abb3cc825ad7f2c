"""Holds what ran locally against what AWS would allow: IAM parity and network parity.

The record (`local.parity.recorder`) says which IAM action each principal needed on which
resource while the platform ran. Beside it stand the calls AWS services make for the platform,
which run locally in the emulator's plumbing rather than in a function: EventBridge invoking a
rule's function or running its task and filling its dead-letter queue, Lambda reading the table's
stream and writing failures, Step Functions invoking its task function. They are derived from the
topology, which wires both the stack and the local platform. Every need is decided by the
synthesized template's policies (`local.parity.policies`), with the KMS calls services make on
the caller's behalf; and every service a function reaches must have a VPC endpoint in the
baseline, unless the function is on the egress path.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import topology
from infra.tenants import Tenant, baseline_stack_name
from local.parity.actions import ContextValue
from local.parity.policies import Access, StatementRef, TemplatePolicies

# botocore's service (or the FHIR REST API) -> the VPC endpoint service that serves it privately.
ENDPOINT_SERVICES = {
    "dynamodb": "dynamodb",
    "s3": "s3",
    "sqs": "sqs",
    "sns": "sns",
    "ses": "email",  # the SES API; `email-smtp` is SMTP only, which the platform does not speak
    "events": "events",
    "stepfunctions": "states",
    "chime-sdk-meetings": "meetings-chime",
    "chime-sdk-media-pipelines": "media-pipelines-chime",
    "healthlake": "healthlake",
    "kms": "kms",
    "sts": "sts",
}


@dataclass(frozen=True)
class Recorded:
    tenant: str
    principal: str
    service: str
    operation: str
    action: str
    resource: str
    context: Mapping[str, ContextValue]

    @property
    def access(self) -> Access:
        return Access(self.principal, self.action, self.resource, dict(self.context))


def _recorded(line: str) -> Recorded:
    fields = json.loads(line)
    # A multivalued condition key (aws:TagKeys) was written as a JSON list.
    fields["context"] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in fields.get("context", {}).items()
    }
    return Recorded(**fields)


def read_record(directory: Path) -> list[Recorded]:
    found: set[str] = set()
    for path in sorted(directory.glob("*.jsonl")):
        found |= {line for line in path.read_text().splitlines() if line.strip()}
    return [_recorded(line) for line in sorted(found)]


@dataclass
class ParityReport:
    calls: int = 0  # distinct (principal, action, resource) needs decided
    refused: list[str] = field(default_factory=list)  # one line each: who, what, on what, why
    actions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # principal -> actions
    unused: dict[str, list[StatementRef]] = field(default_factory=dict)  # principal -> grants never used
    unreachable: list[str] = field(default_factory=list)  # services a function reaches with no endpoint

    def summary(self) -> list[str]:
        lines = [
            f"{self.calls} distinct needs decided; {len(self.refused)} refused by the template's policies"
        ]
        for principal in sorted(self.actions):
            unused = self.unused.get(principal, [])
            lines.append(
                f"  {principal}: {len(self.actions[principal])} distinct actions; "
                f"{len(unused)} granted statements no call used"
                + (f" ({', '.join(sorted({a for s in unused for a in s.actions}))})" if unused else "")
            )
        return lines


def acting_services(
    policies: TemplatePolicies,
    template: Mapping[str, Any],
    tenant_id: str,
    account: str,
    region: str,
    *,
    recording: bool = False,
) -> list[Access]:
    """What AWS services do for the platform, from the topology both the stack and the local
    platform are wired from."""
    found: list[Access] = []
    arn = f"arn:aws:{{}}:{region}:{account}:{{}}"
    events = "service:events.amazonaws.com"
    for rule in topology.RULES:
        bus = "" if rule.bus is topology.BusKind.DEFAULT else f"{topology.TENANT_BUS.name(tenant_id)}/"
        rule_arn = arn.format("events", f"rule/{bus}{rule.name(tenant_id)}")
        source = {"aws:SourceArn": rule_arn, "aws:SourceAccount": account}
        dlq = arn.format("sqs", rule.dlq.name(tenant_id))
        found.append(Access(events, "sqs:SendMessage", dlq, source))
        if isinstance(rule.target, topology.Function):
            function_arn = arn.format("lambda", f"function:{rule.target.name(tenant_id)}")
            found.append(Access(events, "lambda:InvokeFunction", function_arn, source))
        else:
            task = rule.target
            run = f"rule-role:{rule.name(tenant_id)}"
            definition, cluster = _ecs_target(policies, template, rule.name(tenant_id))
            found.append(Access(run, "ecs:RunTask", definition, {"ecs:cluster": cluster}))
            for role in _task_roles(policies, template, task.name(tenant_id)):
                found.append(
                    Access(run, "iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
                )
    for function in topology.FUNCTIONS:
        queue = function.dlq
        if queue is None:
            continue
        principal = f"function:{function.key}"
        # Lambda sends a function's failed asynchronous events, and a stream mapping's failed
        # batches, with the function's own role.
        found.append(Access(principal, "sqs:SendMessage", arn.format("sqs", queue.name(tenant_id)), {}))
        if function.invocation is topology.Invocation.STREAM:
            stream = arn.format("dynamodb", f"table/{topology.CLINIC_TABLE.name(tenant_id)}/stream/LOCAL")
            for action in ("DescribeStream", "GetRecords", "GetShardIterator"):
                found.append(Access(principal, f"dynamodb:{action}", stream, {}))
            found.append(Access(principal, "dynamodb:ListStreams", "*", {}))
    # The baseline's rule forwarding the tenant's Chime events from the default bus to its own.
    found.append(
        Access(
            f"rule-role:{topology.chime_forwarding_rule_name(tenant_id)}",
            "events:PutEvents",
            arn.format("events", f"event-bus/{topology.TENANT_BUS.name(tenant_id)}"),
            {},
        )
    )
    if recording:
        # Chime's media pipelines, as the Chime service: capture writes the meeting's chunks under
        # captures/, concatenation lists and reads them back and writes one file per stream under
        # recordings/ (locally the stand-in writes only the concatenated files).
        chime = "service:mediapipelines.chime.amazonaws.com"
        bucket = f"arn:aws:s3:::{topology.bucket_name(tenant_id, 'recordings', account)}"
        own = {"aws:SourceAccount": account}
        found += [
            Access(chime, "s3:PutObject", f"{bucket}/captures/a/v1/audio/chunk.mp4", own),
            Access(chime, "s3:ListBucket", bucket, own),
            Access(chime, "s3:GetObject", f"{bucket}/captures/a/v1/audio/chunk.mp4", own),
            Access(chime, "s3:PutObject", f"{bucket}/recordings/a/v1/video/attendee.mp4", own),
        ]
    # CloudWatch Logs encrypts every log group with the tenant key, as the Logs service itself.
    for _, properties in _resources(template, "AWS::Logs::LogGroup"):
        if "KmsKeyId" in properties:
            key = str(policies.physical(properties["KmsKeyId"]["Fn::GetAtt"][0], "Arn"))
            group = f"arn:aws:logs:{region}:{account}:log-group:{properties['LogGroupName']}"
            context = {"kms:EncryptionContext:aws:logs:arn": group}
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                found.append(Access(f"service:logs.{region}.amazonaws.com", action, key, context))
    for machine in topology.STATE_MACHINES:
        role = _state_machine_role(template, machine.name(tenant_id))
        for function in machine.functions.values():
            function_arn = arn.format("lambda", f"function:{function.name(tenant_id)}")
            found.append(Access(role, "lambda:InvokeFunction", function_arn, {}))
    return found


def _resources(template: Mapping[str, Any], kind: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == kind:
            yield logical_id, resource.get("Properties", {})


def _task_roles(policies: TemplatePolicies, template: Mapping[str, Any], family: str) -> list[str]:
    for _, properties in _resources(template, "AWS::ECS::TaskDefinition"):
        if properties.get("Family") == family:
            return [
                str(policies.physical(properties[k]["Fn::GetAtt"][0], "Arn"))
                for k in ("TaskRoleArn", "ExecutionRoleArn")
                if k in properties
            ]
    raise LookupError(f"no task definition {family}")


def _ecs_target(policies: TemplatePolicies, template: Mapping[str, Any], rule_name: str) -> tuple[str, str]:
    """The task definition (with its revision) the rule's ECS target runs, and its cluster."""
    for _, properties in _resources(template, "AWS::Events::Rule"):
        if properties.get("Name") == rule_name:
            for target in properties.get("Targets", []):
                if "EcsParameters" in target:
                    definition = policies.physical(target["EcsParameters"]["TaskDefinitionArn"]["Ref"])
                    cluster = policies.physical(target["Arn"]["Fn::GetAtt"][0], "Arn")
                    return str(definition), str(cluster)
    raise LookupError(f"no ECS target on rule {rule_name}")


def _state_machine_role(template: Mapping[str, Any], name: str) -> str:
    for _, properties in _resources(template, "AWS::StepFunctions::StateMachine"):
        if properties.get("StateMachineName") == name:
            return f"role:{properties['RoleArn']['Fn::GetAtt'][0]}"
    raise LookupError(f"no state machine {name}")


def check_iam(
    policies: TemplatePolicies, recorded: Iterable[Recorded], acting: Iterable[Access]
) -> ParityReport:
    report = ParityReport()
    used: dict[str, set[StatementRef]] = defaultdict(set)
    needs: list[Access] = []
    for call in recorded:
        if call.action.startswith("unmapped:"):
            report.refused.append(
                f"{call.principal}: {call.service} {call.operation} has no entry in local/parity/actions.py"
            )
            continue
        needs.append(call.access)
    needs += list(acting)
    seen: set[tuple[str, str, str, tuple[tuple[str, ContextValue], ...]]] = set()
    for access in needs:
        for need in [access, *policies.implied(access)]:
            key = (need.principal, need.action, need.resource, tuple(sorted(need.context.items())))
            if key in seen:
                continue
            seen.add(key)
            report.calls += 1
            decision = policies.decide(need)
            if not need.principal.startswith("service:"):
                report.actions[need.principal].add(need.action)
            if decision.allowed:
                used[need.principal] |= set(decision.matched)
            else:
                report.refused.append(decision.why)
    for principal in report.actions:
        # AWS's managed policies are Lambda's own (network interfaces, logs, traces), not the code's.
        report.unused[principal] = [
            g
            for g in policies.grants(principal)
            if g not in used[principal] and not g.policy.startswith("aws-managed:")
        ]
    return report


def check_network(
    recorded: Iterable[Recorded], baseline: Mapping[str, Any], region: str, egress: Iterable[str] = ()
) -> list[str]:
    """Each service a function or worker reaches, without an endpoint for it in the baseline's VPC
    (and not on the egress path): one line each."""
    endpoints = set(vpc_endpoint_services(baseline, region))
    on_egress = set(egress)
    missing: Counter[tuple[str, str]] = Counter()
    for call in recorded:
        if call.principal.startswith("service:") or call.principal in on_egress:
            continue
        service = ENDPOINT_SERVICES.get(call.service, call.service)
        if service not in endpoints:
            missing[(call.principal, service)] += 1
    return [
        f"{principal} reaches {service} ({f'com.amazonaws.{region}.{service}'}), which has no VPC endpoint"
        for principal, service in sorted(missing)
    ]


def vpc_endpoint_services(baseline: Mapping[str, Any], region: str) -> list[str]:
    """The services the baseline's VPC endpoints serve (`com.amazonaws.<region>.<service>`)."""
    found = []
    for resource in baseline["Resources"].values():
        if resource["Type"] != "AWS::EC2::VPCEndpoint":
            continue
        name = resource["Properties"]["ServiceName"]
        if isinstance(name, dict) and "Fn::Join" in name:
            separator, parts = name["Fn::Join"]
            name = separator.join(region if isinstance(p, dict) else str(p) for p in parts)
        found.append(str(name).removeprefix(f"com.amazonaws.{region}."))
    return found


def stack_templates(tenant: Tenant, templates: Mapping[str, Mapping[str, Any]]) -> tuple[Any, Any]:
    """The tenant's silo template and its account's and region's baseline, by the stack names
    app.py gives."""
    return (
        templates[topology.tenant_prefix(tenant.id)],
        templates[baseline_stack_name(tenant.account, tenant.region)],
    )


def tenant_policies(
    tenant: Tenant,
    templates: Mapping[str, Mapping[str, Any]],
    *,
    fhir_endpoint: str,
    account: str,
    template: Mapping[str, Any] | None = None,
) -> TemplatePolicies:
    """The tenant's policies (`template` in place of its silo's, to try a changed one)."""
    silo, baseline = stack_templates(tenant, templates)
    return TemplatePolicies.load(
        template or silo,
        baseline,
        tenant_id=tenant.id,
        account=account,
        region=tenant.region,
        fhir_datastore_id=fhir_endpoint.split("/datastore/", 1)[1].split("/", 1)[0],
        baseline_stack=baseline_stack_name(tenant.account, tenant.region),
    )


def check_tenant(
    tenant: Tenant,
    templates: Mapping[str, Mapping[str, Any]],
    recorded: Iterable[Recorded],
    *,
    fhir_endpoint: str,
    account: str,
) -> tuple[ParityReport, list[str]]:
    """IAM and network parity of what the tenant's functions, workers and services did."""
    silo, baseline = stack_templates(tenant, templates)
    policies = tenant_policies(tenant, templates, fhir_endpoint=fhir_endpoint, account=account)
    mine = [r for r in recorded if r.tenant == tenant.id]
    acting = acting_services(
        policies, silo, tenant.id, account, tenant.region, recording=tenant.features.recording
    )
    return check_iam(policies, mine, acting), check_network(mine, baseline, tenant.region)
