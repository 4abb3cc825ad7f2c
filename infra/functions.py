"""The tenant's Lambda functions, built from the topology: one shape for all of them.

arm64, Python 3.12, the shared layer, X-Ray, an explicit encrypted log group, reserved concurrency
from the tenant file, and a DLQ where the invocation is asynchronous. A function lives in the
baseline's isolated subnets (VPC endpoints only) unless the topology declares what it reaches
outside them: then in the egress subnets (NAT, DNS firewall), with its third party's secret.
Only the functions of the tenant's enabled features are built. What each function may touch is
granted by name in `grant`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import assets, topology
from infra.compliance import acknowledge
from infra.monitoring import encrypted_log_group
from infra.tenants import Tenant

RUNTIME = lambda_.Runtime.PYTHON_3_12

Grant = Callable[[lambda_.Function], object]


def endpoints_only(scope: Construct, id: str, vpc: ec2.IVpc, who: str) -> ec2.SecurityGroup:
    """HTTPS out to the VPC's endpoints, and nothing else (no inbound at all)."""
    group = ec2.SecurityGroup(
        scope,
        id,
        vpc=vpc,
        description=f"{who}: HTTPS out to the VPC endpoints only",
        allow_all_outbound=False,
    )
    group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "VPC endpoints")
    # Gateway endpoints (S3, DynamoDB) are reached on public prefixes routed inside AWS.
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "gateway endpoints")
    return group


def egress_path(scope: Construct, id: str, vpc: ec2.IVpc, who: str) -> ec2.SecurityGroup:
    """HTTPS out to anywhere, and nothing else (no inbound at all). A security group cannot name a
    host: which names resolve is the DNS firewall's to decide (a literal IP gets past both)."""
    group = ec2.SecurityGroup(
        scope,
        id,
        vpc=vpc,
        description=f"{who}: HTTPS out, to the endpoints and through the NAT (DNS firewall)",
        allow_all_outbound=False,
    )
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "endpoints and the egress path")
    return group


def subnets_for(spec: topology.Function) -> ec2.SubnetSelection:
    kind = ec2.SubnetType.PRIVATE_WITH_EGRESS if spec.on_egress_path else ec2.SubnetType.PRIVATE_ISOLATED
    return ec2.SubnetSelection(subnet_type=kind)


class ClinicFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        key: kms.IKey,
        vpc: ec2.IVpc,
        queues: Mapping[str, sqs.IQueue],
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, id)
        self._tenant = tenant
        self._queues = queues
        self.layer = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=lambda_.Code.from_asset(str(assets.layer_asset())),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="telehealth shared package and its locked dependencies",
        )
        code = lambda_.Code.from_asset(str(assets.functions_asset()))
        self.specs = topology.functions_for(tenant)
        self.security_group = endpoints_only(self, "SecurityGroup", vpc, "Tenant functions")
        self.egress_security_group = (
            egress_path(self, "EgressSecurityGroup", vpc, "Tenant functions on the egress path")
            if any(spec.on_egress_path for spec in self.specs)
            else None
        )
        # Each third party's credential, in a secret of the tenant's (its key), put there by an
        # operator (docs/operations.md); only the functions that call the party may read it.
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for party in topology.third_parties_of(self.specs):
            self.secrets[party.key] = secretsmanager.Secret(
                self,
                f"{party.key}-secret",
                secret_name=party.secret_name(tenant.id),
                description=f"{party.description}: the API key, put by an operator",
                encryption_key=key,
            )
            acknowledge(self.secrets[party.key], "third-party-key-rotation")
        # Keys one function alone may use (topology.SealingKey): what they seal, the api only carries.
        self.sealing_keys: dict[str, kms.Key] = {}
        for sealing in topology.sealing_keys_of(self.specs):
            self.sealing_keys[sealing.key] = kms.Key(
                self,
                f"{sealing.key}-key",
                description=f"{tenant.display_name}: {sealing.description}",
                enable_key_rotation=True,
                pending_window=Duration.days(30),
                removal_policy=RemovalPolicy.RETAIN,
            )
        key_arns = {k: v.key_arn for k, v in self.sealing_keys.items()}

        self.functions: dict[str, lambda_.Function] = {}
        for spec in self.specs:
            name = spec.name(tenant.id)
            dlq = queues[spec.dlq.key] if spec.invocation is topology.Invocation.EVENT and spec.dlq else None
            fn = lambda_.Function(
                self,
                spec.key,
                function_name=name,
                description=spec.description,
                runtime=RUNTIME,
                architecture=lambda_.Architecture.ARM_64,
                handler=spec.handler,
                code=code,
                layers=[self.layer],
                memory_size=spec.memory_mb,
                timeout=Duration.seconds(spec.timeout_s),
                environment={
                    **environment,
                    **topology.own_environment(
                        spec, {k: v.secret_arn for k, v in self.secrets.items()}, key_arns
                    ),
                },
                environment_encryption=key,
                vpc=vpc,
                vpc_subnets=subnets_for(spec),
                security_groups=[
                    self.egress_security_group
                    if spec.on_egress_path and self.egress_security_group
                    else self.security_group
                ],
                tracing=lambda_.Tracing.ACTIVE,
                log_group=encrypted_log_group(
                    self, f"{spec.key}-logs", name=f"/telehealth/{tenant.id}/lambda/{spec.key}", key=key
                ),
                logging_format=lambda_.LoggingFormat.JSON,
                reserved_concurrent_executions=tenant.concurrency_of(spec.key),
                dead_letter_queue=dlq,
                retry_attempts=2 if dlq else None,
                max_event_age=Duration.hours(6) if dlq else None,
            )
            if spec.invocation in (
                topology.Invocation.API,
                topology.Invocation.WORKFLOW,
                topology.Invocation.DIRECT,
                topology.Invocation.SIGN_UP,
            ):
                acknowledge(fn, "sync-function-dlq")
            elif spec.invocation is topology.Invocation.STREAM:
                acknowledge(fn, "stream-consumer-dlq")
            elif spec.work_queue is not None:
                acknowledge(fn, "queue-consumer-dlq")
                fn.add_event_source(
                    sources.SqsEventSource(
                        queues[spec.work_queue.key],
                        batch_size=topology.QUEUE_BATCH_SIZE,
                        report_batch_item_failures=True,
                    )
                )
            self.functions[spec.key] = fn

    def consume_stream(self, function_key: str, table_stream: sources.DynamoEventSource) -> None:
        self.functions[function_key].add_event_source(table_stream)

    def grant(self, grants: Mapping[str, Grant]) -> None:
        """Apply each function's named grants; an unknown name is a topology error, raised here.
        `invoke:<key>` allows Lambda Invoke on that function alone, where the tenant has it; each
        function reads its own third parties' secrets."""
        for spec in self.specs:
            fn = self.functions[spec.key]
            for name in spec.grants:
                if name.startswith("invoke:"):
                    target = self.functions.get(name.removeprefix("invoke:"))
                    if target is not None:  # a feature the tenant has switched off: nothing to call
                        target.grant_invoke(fn)
                    continue
                if name.startswith("send:"):
                    consumer = next((s for s in self.specs if s.key == name.removeprefix("send:")), None)
                    if consumer is not None and consumer.work_queue is not None:
                        self._queues[consumer.work_queue.key].grant_send_messages(fn)
                    continue
                grants[name](fn)
            for party in spec.third_parties:
                self.secrets[party.key].grant_read(fn)
            for sealing in spec.sealing_keys:
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["kms:Encrypt", "kms:Decrypt"],
                        resources=[self.sealing_keys[sealing.key].key_arn],
                        conditions={
                            "StringEquals": {"kms:EncryptionContext:telehealth:purpose": sealing.purpose}
                        },
                    )
                )
