"""The account baseline: what AWS allows once per account and region.

CloudTrail (with data events on the tenants' PHI stores), API Gateway's logging role, the rules
on the default bus that forward each tenant's Chime events to its bus, and the shared network
(isolated subnets, flow logs, VPC endpoints). Deployed before any tenant stack.
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
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import topology
from infra.compliance import acknowledge
from infra.data import SIX_YEARS, access_log_bucket, private_bucket, tenant_key
from infra.events import encrypted_queue, event_pattern
from infra.monitoring import Alarms, alarm_topic, encrypted_log_group
from infra.tenants import Tenant

VPC_CIDR = "10.40.0.0/16"

GATEWAY_ENDPOINTS = {
    "S3": ec2.GatewayVpcEndpointAwsService.S3,
    "DynamoDB": ec2.GatewayVpcEndpointAwsService.DYNAMODB,
}
# What functions and workers call from isolated subnets. Chime SDK endpoints are named after the
# API hosts (meetings-chime, media-pipelines-chime); CDK has no constant for them.
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
}


class SharedNetwork(Construct):
    def __init__(self, scope: Construct, id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, id)
        flow_logs = encrypted_log_group(self, "FlowLogs", name="/telehealth/baseline/vpc-flow-logs", key=key)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=topology.PREFIX,
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20
                )
            ],
            restrict_default_security_group=True,
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        for name, gateway in GATEWAY_ENDPOINTS.items():
            self.vpc.add_gateway_endpoint(name, service=gateway)
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
                name, service=service, private_dns_enabled=True, security_groups=[endpoint_sg], open=False
            )


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
        self.network = SharedNetwork(self, "Network", key=key)
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
