"""The media workers: an ECS cluster and Fargate task definitions built from
`media_workers/Dockerfile`, with a task role that can read recordings and write results, no more."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import assets, topology
from infra.monitoring import encrypted_log_group
from infra.tenants import Tenant

# HealthLake actions a worker needs to write an Observation it derived (and read its context).
FHIR_WRITE_ACTIONS = ("healthlake:CreateResource", "healthlake:UpdateResource", "healthlake:ReadResource")
# What projecting the record takes: read the current version, write the next, and (health) the
# capability statement. Searches are POSTs, so no search value ever sits in a URL.
FHIR_PROJECT_ACTIONS = (*FHIR_WRITE_ACTIONS, "healthlake:SearchWithPost", "healthlake:GetCapabilities")


class MediaWorkers(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        key: kms.IKey,
        vpc: ec2.IVpc,
        recordings: s3.IBucket,
        bus: events.IEventBus,
        fhir_store_arn: str,
    ) -> None:
        super().__init__(scope, id)
        prefix = topology.tenant_prefix(tenant.id)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=f"{prefix}-media",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENHANCED,
        )
        self.rppg = ecs.FargateTaskDefinition(
            self,
            "RppgTask",
            family=f"{prefix}-rppg",
            cpu=2048,
            memory_limit_mib=4096,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        image = ecs.ContainerImage.from_asset(
            str(assets.media_build_context()), platform=ecr_assets.Platform.LINUX_ARM64
        )
        self.rppg.add_container(
            "rppg",
            image=image,
            command=["media_workers.rppg"],
            readonly_root_filesystem=True,
            user="10001",
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="rppg",
                log_group=encrypted_log_group(
                    self, "RppgLogs", name=f"/telehealth/{tenant.id}/media/rppg", key=key
                ),
            ),
            environment={
                "TENANT_ID": tenant.id,
                "EVENT_BUS_NAME": bus.event_bus_name,
                "RECORDINGS_BUCKET": recordings.bucket_name,
                "FHIR_STORE_ARN": fhir_store_arn,
                "AWS_REGION": Aws.REGION,
            },
        )
        self.rppg.add_volume(name="scratch")
        self.rppg.default_container.add_mount_points(  # type: ignore[union-attr]
            ecs.MountPoint(container_path="/tmp", source_volume="scratch", read_only=False)  # noqa: S108 (the task's own volume)
        )

        role = self.rppg.task_role
        recordings.grant_read(role, "recordings/*")  # the concatenated streams
        bus.grant_put_events_to(role)
        key.grant_encrypt_decrypt(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(FHIR_WRITE_ACTIONS), resources=[fhir_store_arn])
        )
