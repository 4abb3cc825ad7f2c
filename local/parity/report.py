"""Holds what ran locally against what AWS would allow: IAM parity and network parity.

The record (`local.parity.recorder`) says which IAM action each principal needed on which
resource while the platform ran. Beside it stand the calls AWS services make for the platform,
which run locally in the emulator's plumbing rather than in a function: EventBridge invoking a
rule's function or running its task and filling its dead-letter queue, Lambda reading the table's
stream and writing failures, Step Functions invoking its task function. They are derived from the
topology, which wires both the stack and the local platform. Every need is decided by the
synthesized template's policies (`local.parity.policies`), with the KMS calls services make on
the caller's behalf; and every service a function reaches must be reachable from where the
templates put it: a VPC endpoint in the baseline, or (for a function in the egress subnets) the
NAT, and either way a name the baseline's DNS firewall lets resolve.
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
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
    "lambda": "lambda",
    "secretsmanager": "secretsmanager",
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
    functions: tuple[topology.Function, ...] = topology.FUNCTIONS,
) -> list[Access]:
    """What AWS services do for the platform, from the topology both the stack and the local
    platform are wired from (`functions`: the tenant's)."""
    found: list[Access] = []
    arn = f"arn:aws:{{}}:{region}:{account}:{{}}"
    events = "service:events.amazonaws.com"
    for rule in topology.RULES:
        if isinstance(rule.target, topology.Function) and rule.target not in functions:
            continue  # a feature the tenant switched off: no rule
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
    # Cognito calls the patient pool's trigger as itself, for that pool alone.
    patients = next(
        logical_id
        for logical_id, properties in _resources(template, "AWS::Cognito::UserPool")
        if properties.get("UserPoolName") == f"{topology.tenant_prefix(tenant_id)}-patients"
    )
    for function in functions:
        if function.invocation is topology.Invocation.SIGN_UP:
            found.append(
                Access(
                    "service:cognito-idp.amazonaws.com",
                    "lambda:InvokeFunction",
                    topology.function_arn(function, tenant_id, region=region, account=account),
                    {"aws:SourceArn": str(policies.physical(patients, "Arn")), "aws:SourceAccount": account},
                )
            )
    for function in functions:
        queue = function.dlq
        if queue is None:
            continue
        principal = f"function:{function.key}"
        work = function.work_queue
        if work is not None:
            # An SQS mapping: Lambda polls the work queue with the function's role; the queue's
            # redrive policy, not Lambda, moves a message to the dead-letter queue.
            for action in (
                "ReceiveMessage",
                "DeleteMessage",
                "ChangeMessageVisibility",
                "GetQueueAttributes",
            ):
                found.append(Access(principal, f"sqs:{action}", arn.format("sqs", work.name(tenant_id)), {}))
            continue
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
        if any(f not in functions for f in machine.functions.values()):
            continue  # a feature the tenant switched off: no state machine
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
    recorded: Iterable[Recorded],
    baseline: Mapping[str, Any],
    region: str,
    silo: Mapping[str, Any] | None = None,
    tenant_id: str | None = None,
) -> list[str]:
    """Each service a function or worker reaches where the templates give it no route: no VPC
    endpoint for it and the caller in the isolated subnets, or a name the DNS firewall refuses (for
    an endpoint's private name or the NAT alike: the firewall holds for the whole VPC). One line each.
    Which functions are in the egress subnets is read from the templates (`silo`), not assumed."""
    endpoints = set(vpc_endpoint_services(baseline, region))
    allowed = firewall_domains(baseline)
    on_egress = egress_functions(silo, baseline, tenant_id) if silo is not None and tenant_id else set()
    missing: Counter[tuple[str, str]] = Counter()
    for call in recorded:
        if call.principal.startswith("service:"):
            continue
        service = ENDPOINT_SERVICES.get(call.service, call.service)
        host = service_host(call.service, region)
        if allowed is not None and not domain_allowed(host, allowed):
            missing[(call.principal, f"{service} as {host}, a name the DNS firewall refuses")] += 1
        elif service not in endpoints and call.principal.removeprefix("function:") not in on_egress:
            missing[
                (call.principal, f"{service} (com.amazonaws.{region}.{service}), which has no VPC endpoint")
            ] += 1
    return [f"{principal} reaches {what}" for principal, what in sorted(missing)]


@functools.lru_cache(maxsize=256)
def service_host(service: str, region: str) -> str:
    """The hostname botocore calls `service` at in `region` (the emulator's address set in the
    environment is ignored: this is where the call goes in AWS)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="none", aws_secret_access_key="none")  # noqa: S106
    client = session.client(service, region_name=region, config=Config(ignore_configured_endpoint_urls=True))
    url: str = client.meta.endpoint_url
    return url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


def domain_allowed(host: str, domains: Iterable[str]) -> bool:
    """DNS Firewall's matching (the platform's one statement of it, which subscriptions' endpoints
    are checked by too)."""
    from telehealth.domain.subscriptions import firewall_allows

    return firewall_allows(host, domains)


def firewall_domains(baseline: Mapping[str, Any]) -> list[str] | None:
    """The names the VPC's DNS firewall lets resolve: the domain lists of the ALLOW rules that come
    before a BLOCK of everything (`*`) in the rule group associated with the VPC. None when the VPC
    has no such firewall (then any name resolves)."""
    resources = baseline["Resources"]

    def ref(value: Any) -> str | None:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if isinstance(value, dict) and "Ref" in value:
            return str(value["Ref"])
        return None

    groups = [
        ref(r["Properties"]["FirewallRuleGroupId"])
        for r in resources.values()
        if r["Type"] == "AWS::Route53Resolver::FirewallRuleGroupAssociation"
    ]
    for group in groups:
        if group is None or group not in resources:
            continue
        rules = sorted(resources[group]["Properties"].get("FirewallRules", []), key=lambda r: r["Priority"])
        allowed: list[str] = []
        for rule in rules:
            listed = resources.get(ref(rule.get("FirewallDomainListId")) or "", {})
            domains = listed.get("Properties", {}).get("Domains", [])
            if rule["Action"] == "ALLOW":
                allowed += domains
            elif rule["Action"] == "BLOCK" and "*" in domains:
                return allowed
    return None


def subnet_kinds(baseline: Mapping[str, Any]) -> dict[str, str]:
    """Each subnet of the baseline by how it reaches the internet: `egress` (a default route to a
    NAT gateway), `public` (to an internet gateway) or `isolated` (no default route)."""
    resources = baseline["Resources"]
    tables: dict[str, str] = {}
    for r in resources.values():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::EC2::Route" and p.get("DestinationCidrBlock") == "0.0.0.0/0":
            table = p["RouteTableId"]["Ref"]
            tables[table] = "egress" if "NatGatewayId" in p else "public" if "GatewayId" in p else "other"
    kinds = {lid: "isolated" for lid, r in resources.items() if r["Type"] == "AWS::EC2::Subnet"}
    for r in resources.values():
        if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation":
            p = r["Properties"]
            kinds[p["SubnetId"]["Ref"]] = tables.get(p["RouteTableId"]["Ref"], "isolated")
    return kinds


def function_subnet_kinds(
    silo: Mapping[str, Any], baseline: Mapping[str, Any], tenant_id: str
) -> dict[str, set[str]]:
    """Each of the tenant's functions (by topology key) and the kinds of the subnets it is placed
    in, following its imported subnet ids to the baseline's exports."""
    exports = {
        str(o["Export"]["Name"]): o["Value"]
        for o in baseline.get("Outputs", {}).values()
        if "Export" in o and isinstance(o["Export"].get("Name"), str)
    }
    kinds = subnet_kinds(baseline)
    prefix = f"{topology.tenant_prefix(tenant_id)}-"
    found: dict[str, set[str]] = {}
    for r in silo["Resources"].values():
        if r["Type"] != "AWS::Lambda::Function":
            continue
        p = r["Properties"]
        name = p.get("FunctionName")
        if not isinstance(name, str) or not name.startswith(prefix) or "VpcConfig" not in p:
            continue
        placed: set[str] = set()
        for subnet in p["VpcConfig"]["SubnetIds"]:
            value = exports.get(str(subnet.get("Fn::ImportValue"))) if isinstance(subnet, dict) else None
            logical = value.get("Ref") if isinstance(value, dict) else None
            placed.add(kinds.get(str(logical), "unknown"))
        found[name.removeprefix(prefix)] = placed
    return found


def egress_functions(silo: Mapping[str, Any], baseline: Mapping[str, Any], tenant_id: str) -> set[str]:
    """The tenant's functions the templates put in the egress subnets (by topology key)."""
    return {k for k, kinds in function_subnet_kinds(silo, baseline, tenant_id).items() if "egress" in kinds}


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


def _as_deployed(
    recorded: list[Recorded],
    tenant: Tenant,
    silo: Mapping[str, Any],
    policies: TemplatePolicies,
    sealing_key_arns: Mapping[str, str],
) -> list[Recorded]:
    """The calls on the tenant's sealing keys (`topology.SealingKey`) as on the template's keys:
    locally a key's id is the emulator's own, in AWS CloudFormation's; each is found by its
    description, which names what it seals."""
    deployed: dict[str, str] = {}
    resources = silo.get("Resources", {})
    for sealing in topology.sealing_keys_of(topology.functions_for(tenant)):
        local = sealing_key_arns.get(sealing.key)
        logical = next(
            (
                lid
                for lid, r in resources.items()
                if r.get("Type") == "AWS::KMS::Key"
                and sealing.description in str(r.get("Properties", {}).get("Description", ""))
            ),
            None,
        )
        if local and logical:
            deployed[local] = str(policies.physical(logical, "Arn"))
    return [replace(r, resource=deployed.get(r.resource, r.resource)) for r in recorded]


def check_tenant(
    tenant: Tenant,
    templates: Mapping[str, Mapping[str, Any]],
    recorded: Iterable[Recorded],
    *,
    fhir_endpoint: str,
    account: str,
    sealing_key_arns: Mapping[str, str] | None = None,
) -> tuple[ParityReport, list[str]]:
    """IAM and network parity of what the tenant's functions, workers and services did
    (`sealing_key_arns`: the tenant's sealing keys where the calls were made, by topology key)."""
    silo, baseline = stack_templates(tenant, templates)
    policies = tenant_policies(tenant, templates, fhir_endpoint=fhir_endpoint, account=account)
    mine = [r for r in recorded if r.tenant == tenant.id]
    mine = _as_deployed(mine, tenant, silo, policies, sealing_key_arns or {})
    acting = acting_services(
        policies,
        silo,
        tenant.id,
        account,
        tenant.region,
        recording=tenant.features.recording,
        functions=topology.functions_for(tenant),
    )
    return check_iam(policies, mine, acting), check_network(mine, baseline, tenant.region, silo, tenant.id)
