"""The media workers: an ECS cluster and Fargate task definitions built from
`media_workers/Dockerfile`, with a task role that can read recordings and write results, no more."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import assets, topology
from infra.functions import endpoints_only
from infra.monitoring import encrypted_log_group
from infra.tenants import Tenant

# HealthLake actions a worker needs to write an Observation it derived (and read its context).
FHIR_WRITE_ACTIONS = ("healthlake:CreateResource", "healthlake:UpdateResource", "healthlake:ReadResource")
# What projecting the record takes: read the current version, write the next, and (health) the
# capability statement. Searches are POSTs, so no search value ever sits in a URL; the pages after
# the first are GETs of the store's opaque `next` links.
FHIR_PROJECT_ACTIONS = (
    *FHIR_WRITE_ACTIONS,
    "healthlake:ProcessBundle",  # readings' summaries, written in batch bundles
    "healthlake:SearchWithPost",
    "healthlake:SearchWithGet",
    "healthlake:GetCapabilities",
)

# What the FHIR facade passes on for a health system or a user: read, vread, history and search.
FHIR_READ_ACTIONS = (
    "healthlake:ReadResource",
    "healthlake:VersionReadResource",
    "healthlake:GetHistoryByResourceId",
    "healthlake:SearchWithPost",
    "healthlake:SearchWithGet",
)

# What running a bulk export takes: start HealthLake's export job (FHIR REST `$export`), follow it,
# and cancel it.
FHIR_EXPORT_ACTIONS = (
    "healthlake:StartFHIRExportJobWithPost",
    "healthlake:DescribeFHIRExportJobWithGet",
    "healthlake:CancelFHIRExportJobWithDelete",
)


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
        table: dynamodb.ITable,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, id)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=topology.RPPG_WORKER.cluster_name(tenant.id),
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENHANCED,
        )
        self.rppg = ecs.FargateTaskDefinition(
            self,
            "RppgTask",
            family=topology.RPPG_WORKER.name(tenant.id),
            # The estimator runs on one thread (about 25 times real time at 640x480, `make bench`)
            # and holds about 350 MB whatever the video's length: one vCPU, at its least memory.
            cpu=1024,
            memory_limit_mib=2048,
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
            command=[topology.RPPG_WORKER.module],
            readonly_root_filesystem=True,
            user="10001",
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="rppg",
                log_group=encrypted_log_group(
                    self, "RppgLogs", name=f"/telehealth/{tenant.id}/media/rppg", key=key
                ),
            ),
            # The tenant's one environment, as its functions have it; the event's fields come
            # per run from the rule's input transformer (container overrides).
            environment={**environment, "AWS_REGION": Aws.REGION},
        )
        self.rppg.add_volume(name="scratch")
        self.rppg.default_container.add_mount_points(  # type: ignore[union-attr]
            ecs.MountPoint(container_path="/tmp", source_volume="scratch", read_only=False)  # noqa: S108 (the task's own volume)
        )

        # What the worker touches: the patient's concatenated stream, and the clinic table, where
        # its estimates go with their outbox entries (the record and the events follow from there).
        role = self.rppg.task_role
        recordings.grant_read(role, "recordings/*")
        table.grant_read_write_data(role)
        key.grant_encrypt_decrypt(role)

        self.security_group = endpoints_only(self, "TaskSecurityGroup", vpc, "Media workers")

    def target(self, spec: topology.ContainerTask, dead_letter_queue: sqs.IQueue) -> targets.EcsTask:
        """The rule target that runs `spec` on one event, with the event's fields as variables."""
        container = self.rppg.default_container
        assert container is not None
        return targets.EcsTask(
            cluster=self.cluster,
            task_definition=self.rppg,
            subnet_selection=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.security_group],
            platform_version=ecs.FargatePlatformVersion.LATEST,
            container_overrides=[
                targets.ContainerOverride(
                    container_name=container.container_name,
                    command=[spec.module],
                    environment=[
                        targets.TaskEnvironmentVariable(name=name, value=events.EventField.from_path(path))
                        for name, path in spec.environment_from_event.items()
                    ],
                )
            ],
            dead_letter_queue=dead_letter_queue,
            retry_attempts=8,
            max_event_age=Duration.hours(6),
        )
