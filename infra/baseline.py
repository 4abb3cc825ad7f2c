"""The account baseline: what AWS allows once per account and region.

CloudTrail (with data events on the tenants' PHI stores), API Gateway's logging role, the rules
on the default bus that forward each tenant's Chime events to its bus, and the shared network:
isolated subnets behind VPC endpoints for everything that holds PHI, egress subnets with a NAT
gateway for the functions that call a third party, flow logs, and a fail-closed Route 53 Resolver
DNS Firewall that lets the VPC resolve the AWS services it uses and the tenants' third-party
domains, nothing else. Deployed before any tenant stack.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53resolver as resolver
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import topology
from infra.compliance import acknowledge
from infra.data import SIX_YEARS, access_log_bucket, private_bucket, tenant_key
from infra.events import encrypted_queue, event_pattern
from infra.monitoring import Alarms, alarm_topic, encrypted_log_group
from infra.tenants import Tenant

VPC_CIDR = "10.40.0.0/16"
MAX_AZS = 2
# One NAT gateway per AZ: a second costs about as much as one again (per hour and per GB), and
# spares the egress path an AZ's outage (with one, both AZs' egress subnets route through it).
NAT_GATEWAYS = MAX_AZS

# The subnet groups: functions and workers that hold PHI in `isolated` (endpoints only), the
# functions that call a third party in `egress` (a route to the NAT), the NAT gateways alone in
# `public` (nothing of ours is placed there, and nothing gets a public address).
ISOLATED, EGRESS, PUBLIC = "isolated", "egress", "public"

GATEWAY_ENDPOINTS = {
    "S3": ec2.GatewayVpcEndpointAwsService.S3,
    "DynamoDB": ec2.GatewayVpcEndpointAwsService.DYNAMODB,
}
GATEWAY_ENDPOINT_SERVICES = {"S3": "s3", "DynamoDB": "dynamodb"}
# What functions and workers call from isolated subnets. Chime SDK endpoints are named after the
# API hosts (meetings-chime, media-pipelines-chime); CDK has no constant for them. The SES API
# (`email`, reminders) has had an endpoint since December 2025; Lambda's serves the api asking
# the payments function.
INTERFACE_ENDPOINTS = {
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Events": ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
    "StepFunctions": ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "Sns": ec2.InterfaceVpcEndpointAwsService.SNS,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Ecr": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "HealthLake": ec2.InterfaceVpcEndpointAwsService.HEALTHLAKE,
    "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
    "ChimeMeetings": ec2.InterfaceVpcEndpointAwsService("meetings-chime"),
    "ChimeMediaPipelines": ec2.InterfaceVpcEndpointAwsService("media-pipelines-chime"),
    "Ses": ec2.InterfaceVpcEndpointAwsService.EMAIL,
    "Lambda": ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
    # Virtual triage's free text, read for the clinician (PHI: it stays on the AWS network).
    "ComprehendMedical": ec2.InterfaceVpcEndpointAwsService.COMPREHEND_MEDICAL,
}


def endpoint_services() -> list[str]:
    """The endpoint service names (`com.amazonaws.<region>.<name>`) the VPC has endpoints for."""
    return [*GATEWAY_ENDPOINT_SERVICES.values(), *(s.short_name for s in INTERFACE_ENDPOINTS.values())]


# DNS Firewall rule priorities: what the VPC may resolve, then everything else refused (last).
ALLOW_PRIORITY, BLOCK_PRIORITY = 100, 200
# Where the rule group sits among the VPC's rule groups (100 to 9900; lower is evaluated first).
FIREWALL_ASSOCIATION_PRIORITY = 1000


class SharedNetwork(Construct):
    def __init__(self, scope: Construct, id: str, *, key: kms.IKey, tenants: Sequence[Tenant]) -> None:
        super().__init__(scope, id)
        flow_logs = encrypted_log_group(self, "FlowLogs", name="/telehealth/baseline/vpc-flow-logs", key=key)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=topology.PREFIX,
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=MAX_AZS,
            nat_gateways=NAT_GATEWAYS,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name=ISOLATED, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20
                ),
                ec2.SubnetConfiguration(
                    name=EGRESS, subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name=PUBLIC,
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=26,
                    map_public_ip_on_launch=False,
                ),
            ],
            restrict_default_security_group=True,
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        # Gateway endpoints are routes: on the isolated subnets' tables and the egress subnets'
        # (there S3 and DynamoDB bypass the NAT). Interface endpoints sit in the isolated subnets
        # and, with private DNS, answer for the whole VPC.
        private = [
            ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        ]
        for name, gateway in GATEWAY_ENDPOINTS.items():
            self.vpc.add_gateway_endpoint(name, service=gateway, subnets=private)
        endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSg",
            vpc=self.vpc,
            description="HTTPS from the VPC to interface endpoints",
            allow_all_outbound=False,
        )
        endpoint_sg.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "HTTPS from the VPC")
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                private_dns_enabled=True,
                security_groups=[endpoint_sg],
                open=False,
                subnets=private[0],
            )
        for subnet in self.vpc.public_subnets:
            acknowledge(subnet, "nat-public-subnet")
        region = Stack.of(self).region  # concrete: the baseline is synthesized per region
        self.dns_firewall = DnsFirewall(
            self,
            "DnsFirewall",
            vpc=self.vpc,
            domains=topology.firewall_domains(list(tenants), region, endpoint_services()),
        )


class DnsFirewall(Construct):
    """Route 53 Resolver DNS Firewall on the VPC, fail-closed: one rule group that allows the AWS
    services the VPC's workloads use and the union of the region's tenants' third-party domains,
    then refuses every other name (NXDOMAIN). The firewall is the VPC's, so it holds for the
    isolated subnets too (no DNS tunnelling out of them either).

    Fail-closed is DNS Firewall's documented default (`FirewallFailOpen: DISABLED`), pinned here
    by an SDK call at deployment: `AWS::Route53Resolver::FirewallConfig` is not a resource type
    CloudFormation provisions, which is why CDK has no L1 for it.
    """

    def __init__(self, scope: Construct, id: str, *, vpc: ec2.IVpc, domains: Sequence[str]) -> None:
        super().__init__(scope, id)
        prefix = topology.PREFIX
        allowed = resolver.CfnFirewallDomainList(
            self, "Allowed", name=f"{prefix}-allowed", domains=sorted(domains)
        )
        everything = resolver.CfnFirewallDomainList(
            self, "Everything", name=f"{prefix}-everything", domains=["*"]
        )
        self.rule_group = resolver.CfnFirewallRuleGroup(
            self,
            "Rules",
            name=f"{prefix}-egress",
            firewall_rules=[
                resolver.CfnFirewallRuleGroup.FirewallRuleProperty(
                    action="ALLOW",
                    priority=ALLOW_PRIORITY,
                    firewall_domain_list_id=allowed.attr_id,
                    # An allowed name that is a CNAME (AWS's names often are) resolves through
                    # its chain; the chain's names need not be listed too.
                    firewall_domain_redirection_action="TRUST_REDIRECTION_DOMAIN",
                ),
                resolver.CfnFirewallRuleGroup.FirewallRuleProperty(
                    action="BLOCK",
                    priority=BLOCK_PRIORITY,
                    firewall_domain_list_id=everything.attr_id,
                    block_response="NXDOMAIN",
                ),
            ],
        )
        resolver.CfnFirewallRuleGroupAssociation(
            self,
            "Association",
            name=f"{prefix}-egress",
            firewall_rule_group_id=self.rule_group.attr_id,
            vpc_id=vpc.vpc_id,
            priority=FIREWALL_ASSOCIATION_PRIORITY,
        )
        stack = Stack.of(self)
        config = stack.format_arn(service="route53resolver", resource="firewall-config", resource_name="*")
        pin = cr.AwsSdkCall(
            service="Route53Resolver",
            action="UpdateFirewallConfig",
            parameters={"ResourceId": vpc.vpc_id, "FirewallFailOpen": "DISABLED"},
            physical_resource_id=cr.PhysicalResourceId.of(f"{prefix}-dns-firewall-fail-closed"),
        )
        fail_closed = cr.AwsCustomResource(
            self,
            "FailClosed",
            resource_type="Custom::DnsFirewallFailClosed",
            on_create=pin,
            on_update=pin,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(actions=["route53resolver:UpdateFirewallConfig"], resources=[config]),
                    # UpdateFirewallConfig looks the VPC up; DescribeVpcs has no resource type.
                    iam.PolicyStatement(actions=["ec2:DescribeVpcs"], resources=["*"]),
                ]
            ),
            install_latest_aws_sdk=False,
        )
        fail_closed.node.add_dependency(self.rule_group)
        provider = stack.node.try_find_child(_SDK_PROVIDER_ID)
        if provider is not None:
            for name in (
                "deploy-time-provider-vpc",
                "deploy-time-provider-dlq",
                "deploy-time-provider-concurrency",
            ):
                acknowledge(provider, name)

    @property
    def rule_group_id(self) -> str:
        return self.rule_group.attr_id


# The singleton function CDK adds to a stack for AwsCustomResource calls.
_SDK_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


class BaselineStack(Stack):
    def __init__(self, scope: Construct, id: str, *, tenants: Sequence[Tenant], **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        key = tenant_key(self, alias=f"alias/{topology.PREFIX}/baseline", description="Account baseline")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncryptsThisAccountsTrail",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:DescribeKey", "kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        acknowledge(self, "grant-policies")
        self.network = SharedNetwork(self, "Network", key=key, tenants=tenants)
        self._trail(tenants, key)
        self._api_gateway_logging_role()
        self._chime_forwarding(tenants, key)

    @property
    def vpc(self) -> ec2.IVpc:
        return self.network.vpc

    def _trail(self, tenants: Sequence[Tenant], key: kms.IKey) -> None:
        access_logs = access_log_bucket(
            self, name=f"{topology.PREFIX}-baseline-access-logs-{Aws.ACCOUNT_ID}-{Aws.REGION}"
        )
        bucket = private_bucket(
            self,
            "TrailBucket",
            name=f"{topology.PREFIX}-trail-{Aws.ACCOUNT_ID}-{Aws.REGION}",
            key=key,
            access_logs=access_logs,
            replication_ack="log-bucket-replication",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="archive-then-expire",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(90),
                        )
                    ],
                    expiration=SIX_YEARS,
                )
            ],
        )
        trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=topology.PREFIX,
            bucket=bucket,
            encryption_key=key,
            enable_file_validation=True,
            include_global_service_events=True,
            is_multi_region_trail=False,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=encrypted_log_group(
                self, "TrailLogs", name="/telehealth/baseline/cloudtrail", key=key
            ),
        )
        cfn_trail = trail.node.default_child
        cfn_trail.advanced_event_selectors = data_event_selectors(tenants)  # type: ignore[union-attr]

    def _api_gateway_logging_role(self) -> None:
        role = iam.Role(
            self,
            "ApiGatewayLogsRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        apigw.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)

    def _chime_forwarding(self, tenants: Sequence[Tenant], key: kms.IKey) -> None:
        topic = alarm_topic(self, name=f"{topology.PREFIX}-baseline-alarms", key=key)
        alarms = Alarms(self, "Alarms", topic=topic, prefix=f"{topology.PREFIX}-baseline")
        for tenant in tenants:
            bus = events.EventBus.from_event_bus_name(
                self, f"{tenant.id}-bus", topology.TENANT_BUS.name(tenant.id)
            )
            dlq = encrypted_queue(
                self,
                f"{tenant.id}-chime-forward-dlq",
                topology.Queue("chime-forward-dlq", topology.QueueRole.TARGET_DLQ),
                tenant_id=tenant.id,
                key=key,
            )
            events.Rule(
                self,
                f"{tenant.id}-chime-forward",
                rule_name=topology.chime_forwarding_rule_name(tenant.id),
                description=f"Chime events of tenant {tenant.id} (ExternalMeetingId prefix) to its bus",
                event_pattern=event_pattern(topology.chime_forwarding_pattern(tenant.id)),
                targets=[targets.EventBus(bus, dead_letter_queue=dlq)],
            )
            alarms.queue_not_empty([dlq])


def data_event_selectors(
    tenants: Sequence[Tenant],
) -> list[cloudtrail.CfnTrail.AdvancedEventSelectorProperty]:
    """Management events, plus data events on every tenant's buckets and table, and HealthLake."""
    account, region = Aws.ACCOUNT_ID, Aws.REGION
    prefixes = [topology.tenant_prefix(t.id) for t in tenants]
    selector = cloudtrail.CfnTrail.AdvancedEventSelectorProperty
    field = cloudtrail.CfnTrail.AdvancedFieldSelectorProperty

    def data(
        name: str, resource_type: str, arn_prefixes: list[str] | None
    ) -> cloudtrail.CfnTrail.AdvancedEventSelectorProperty:
        fields = [
            field(field="eventCategory", equal_to=["Data"]),
            field(field="resources.type", equal_to=[resource_type]),
        ]
        if arn_prefixes:
            fields.append(field(field="resources.ARN", starts_with=arn_prefixes))
        return selector(name=name, field_selectors=fields)

    return [
        selector(name="management", field_selectors=[field(field="eventCategory", equal_to=["Management"])]),
        data("tenant-buckets", "AWS::S3::Object", [f"arn:aws:s3:::{p}-" for p in prefixes]),
        data(
            "tenant-tables",
            "AWS::DynamoDB::Table",
            [f"arn:aws:dynamodb:{region}:{account}:table/{p}" for p in prefixes],
        ),
        data("healthlake", "AWS::HealthLake::FHIRDatastore", None),
    ]
