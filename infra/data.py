"""The tenant's stores of PHI: its key, the clinic table, the buckets, HealthLake and backups.

Everything here is encrypted with the tenant's own key and kept on delete and on replacement:
a stack update must never be able to drop a patient's record.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_guardduty as guardduty
from aws_cdk import aws_healthlake as healthlake
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import topology
from infra.compliance import acknowledge
from infra.tenants import Tenant
from telehealth.domain.exports import EXPORTS_PREFIX

# GuardDuty Malware Protection for S3's tag on each object it scanned, and its clean verdict.
MALWARE_TAG, MALWARE_CLEAN = "GuardDutyMalwareScanStatus", "NO_THREATS_FOUND"

# HIPAA: documentation and audit records are kept six years (45 CFR 164.316(b)(2)); a leap day
# or two on top so that the last day is never cut short.
SIX_YEARS = Duration.days(6 * 365 + 2)
BACKUP_DAILY_KEEP = Duration.days(35)
BACKUP_MONTHLY_KEEP = Duration.days(365)


def copy_vault_name(tenant_id: str) -> str:
    return f"{topology.tenant_prefix(tenant_id)}-copy"


def tenant_key(scope: Construct, *, alias: str, description: str) -> kms.Key:
    """A customer-managed key with rotation, and a policy letting AWS services that act as
    themselves (not through a role of ours) use it, each only for this account's resources."""
    key = kms.Key(
        scope,
        "Key",
        alias=alias,
        description=description,
        enable_key_rotation=True,
        pending_window=Duration.days(30),
        removal_policy=RemovalPolicy.RETAIN,
    )
    region, account, partition = Aws.REGION, Aws.ACCOUNT_ID, Aws.PARTITION
    use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
            actions=use,
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{partition}:logs:{region}:{account}:log-group:*"
                    )
                }
            },
        )
    )
    # EventBridge encrypts the bus, its archive, and writes to encrypted dead-letter queues;
    # CloudWatch publishes alarms to the encrypted topic; Chime media pipelines write recordings.
    for sid, service in (
        ("EventBridgeForThisAccount", "events.amazonaws.com"),
        ("CloudWatchAlarmsForThisAccount", "cloudwatch.amazonaws.com"),
        ("ChimeMediaPipelinesForThisAccount", "mediapipelines.chime.amazonaws.com"),
    ):
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.ServicePrincipal(service)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
    return key


def private_bucket(
    scope: Construct,
    id: str,
    *,
    name: str,
    key: kms.IKey | None,
    access_logs: s3.IBucket | None,
    lifecycle_rules: list[s3.LifecycleRule],
    replication_ack: str = "bucket-replication",
    object_lock_retention: s3.ObjectLockRetention | None = None,
    object_ownership: s3.ObjectOwnership = s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    sse_s3_ack: str = "access-log-bucket-sse-s3",
) -> s3.Bucket:
    """A bucket nobody outside can read: blocked public access, TLS only, versioned, logged.

    ``key=None`` means SSE-S3, which only the access-log bucket may use (S3 logging requires it).
    """
    bucket = s3.Bucket(
        scope,
        id,
        bucket_name=name,
        encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        bucket_key_enabled=key is not None,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=object_ownership,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{id.lower()}/" if access_logs else None,
        lifecycle_rules=lifecycle_rules,
        object_lock_enabled=object_lock_retention is not None or None,
        object_lock_default_retention=object_lock_retention,
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(bucket, replication_ack)
    if key is None:
        acknowledge(bucket, sse_s3_ack)
    return bucket


def access_log_bucket(scope: Construct, *, name: str) -> s3.Bucket:
    return private_bucket(
        scope,
        "AccessLogs",
        name=name,
        key=None,
        access_logs=None,
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
                noncurrent_version_expiration=Duration.days(30),
            )
        ],
    )


def _abort_uploads() -> s3.LifecycleRule:
    return s3.LifecycleRule(
        id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
    )


class ClinicData(Construct):
    """The tenant's table, buckets, FHIR data store and backup plan."""

    def __init__(self, scope: Construct, id: str, *, tenant: Tenant, key: kms.Key) -> None:
        super().__init__(scope, id)
        prefix = topology.tenant_prefix(tenant.id)
        account = Aws.ACCOUNT_ID

        spec = topology.CLINIC_TABLE
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=spec.name(tenant.id),
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if spec.stream else None,
            time_to_live_attribute=spec.ttl_attribute,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(
                    name=index.partition_key, type=dynamodb.AttributeType.STRING
                ),
                sort_key=dynamodb.Attribute(name=index.sort_key, type=dynamodb.AttributeType.STRING),
            )

        self.access_logs = access_log_bucket(
            self, name=topology.bucket_name(tenant.id, "access-logs", account)
        )
        self.uploads = private_bucket(
            self,
            "Uploads",
            name=topology.bucket_name(tenant.id, "uploads", account),
            key=key,
            access_logs=self.access_logs,
            lifecycle_rules=[
                _abort_uploads(),
                s3.LifecycleRule(id="old-versions", noncurrent_version_expiration=Duration.days(90)),
            ],
        )
        if tenant.features.triage:
            self._protect_photos(prefix, key)
        self.recordings = private_bucket(
            self,
            "Recordings",
            name=topology.bucket_name(tenant.id, "recordings", account),
            key=key,
            access_logs=self.access_logs,
            lifecycle_rules=[
                _abort_uploads(),
                s3.LifecycleRule(
                    id="tenant-retention",
                    expiration=Duration.days(tenant.recording_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                ),
            ],
        )
        # Chime media pipelines write the visit's media here as the Chime service itself: the
        # capture's chunks under captures/, which concatenation reads back and joins into one
        # file per stream under recordings/.
        chime = iam.ServicePrincipal("mediapipelines.chime.amazonaws.com")
        this_account = {"StringEquals": {"aws:SourceAccount": account}}
        for sid, actions, resources in (
            ("ChimeMediaCaptureWrites", ["s3:PutObject", "s3:PutObjectAcl"], ["captures/*"]),
            ("ChimeConcatenationReads", ["s3:GetObject"], ["captures/*"]),
            ("ChimeConcatenationWrites", ["s3:PutObject", "s3:PutObjectAcl"], ["recordings/*"]),
        ):
            self.recordings.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[chime],
                    actions=actions,
                    resources=[self.recordings.arn_for_objects(r) for r in resources],
                    conditions=this_account,
                )
            )
        self.recordings.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ChimeConcatenationLists",
                principals=[chime],
                actions=["s3:ListBucket"],
                resources=[self.recordings.bucket_arn],
                conditions=this_account,
            )
        )
        self.audit = private_bucket(
            self,
            "AuditArchive",
            name=topology.bucket_name(tenant.id, "audit", account),
            key=key,
            access_logs=self.access_logs,
            object_lock_retention=s3.ObjectLockRetention.compliance(SIX_YEARS),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="cold-after-90-days",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(90),
                        )
                    ],
                    # Object Lock (compliance mode) forbids deletion before six years anyway.
                    expiration=Duration.days(7 * 365 + 2),
                )
            ],
        )

        self.fhir_store = healthlake.CfnFHIRDatastore(
            self,
            "FhirStore",
            datastore_name=prefix,
            datastore_type_version="R4",
            sse_configuration=healthlake.CfnFHIRDatastore.SseConfigurationProperty(
                kms_encryption_config=healthlake.CfnFHIRDatastore.KmsEncryptionConfigProperty(
                    cmk_type="CUSTOMER_MANAGED_KMS_KEY", kms_key_id=key.key_arn
                )
            ),
        )
        # Any property change replaces a data store: Retain keeps the old one (and its records).
        self.fhir_store.apply_removal_policy(RemovalPolicy.RETAIN)
        self._exports(tenant, key)

        self._backup(tenant, key)

    def _exports(self, tenant: Tenant, key: kms.IKey) -> None:
        """Bulk exports: the bucket HealthLake writes them to (kept a week: a client reads them
        soon, and can export again), and the role it assumes for it, this data store's alone."""
        account = Aws.ACCOUNT_ID
        self.exports = private_bucket(
            self,
            "Exports",
            name=topology.bucket_name(tenant.id, "exports", account),
            key=key,
            access_logs=self.access_logs,
            replication_ack="exports-bucket-replication",
            lifecycle_rules=[
                _abort_uploads(),
                # A week from when the export completes (the facade's rule), counted here from
                # when each object was written: three days more for a long export job.
                s3.LifecycleRule(
                    id="exports-kept-a-week",
                    expiration=Duration.days(10),
                    noncurrent_version_expiration=Duration.days(1),
                ),
            ],
        )
        self.export_role = iam.Role(
            self,
            "HealthLakeExportRole",
            role_name=topology.export_role_name(tenant.id),
            description="HealthLake writes this tenant's bulk exports into its export bucket",
            assumed_by=iam.ServicePrincipal(
                "healthlake.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnEquals": {"aws:SourceArn": self.fhir_store_arn},
                },
            ),
        )
        self.export_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[self.exports.arn_for_objects(f"{EXPORTS_PREFIX}/*")]
            )
        )
        self.export_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketPublicAccessBlock", "s3:GetEncryptionConfiguration"],
                resources=[self.exports.bucket_arn],
            )
        )
        # The tenant's key, for S3's encryption of what it writes there, and for nothing else.
        self.export_role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )
        )

    def _protect_photos(self, prefix: str, key: kms.Key) -> None:
        """Patients' photos (store-and-forward) under `cases/` are scanned by GuardDuty Malware
        Protection for S3, which tags each with its verdict; nobody reads one (not even the
        functions) until the tag says it is clean, but GuardDuty's own role, which scans it."""
        region, account, bucket = Aws.REGION, Aws.ACCOUNT_ID, self.uploads
        role = iam.Role(
            self,
            "PhotoMalwareProtectionRole",
            role_name=f"{prefix}-photo-malware-protection",
            assumed_by=iam.ServicePrincipal("malware-protection-plan.guardduty.amazonaws.com"),
            description="GuardDuty Malware Protection for S3: scans and tags patients' photos",
        )
        managed_rule = (
            f"arn:aws:events:{region}:{account}:rule/DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
        )
        for actions, resources, conditions in (
            (
                ["events:PutRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets"],
                [managed_rule],
                {"StringLike": {"events:ManagedBy": "malware-protection-plan.guardduty.amazonaws.com"}},
            ),
            (["events:DescribeRule", "events:ListTargetsByRule"], [managed_rule], None),
            (
                [
                    *("s3:PutObjectTagging", "s3:GetObjectTagging", "s3:PutObjectVersionTagging"),
                    *("s3:GetObjectVersionTagging", "s3:GetObject", "s3:GetObjectVersion"),
                ],
                [bucket.arn_for_objects(f"{topology.PHOTO_PREFIX}*")],
                None,
            ),
            (
                ["s3:PutObject"],
                [bucket.arn_for_objects("malware-protection-resource-validation-object")],
                None,
            ),
            (
                ["s3:PutBucketNotification", "s3:GetBucketNotification", "s3:ListBucket"],
                [bucket.bucket_arn],
                None,
            ),
            (
                ["kms:GenerateDataKey", "kms:Decrypt"],
                [key.key_arn],
                {"StringLike": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            ),
        ):
            role.add_to_policy(
                iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions)
            )
        guardduty.CfnMalwareProtectionPlan(
            self,
            "PhotoMalwareProtection",
            role=role.role_arn,
            protected_resource=guardduty.CfnMalwareProtectionPlan.CFNProtectedResourceProperty(
                s3_bucket=guardduty.CfnMalwareProtectionPlan.S3BucketProperty(
                    bucket_name=bucket.bucket_name, object_prefixes=[topology.PHOTO_PREFIX]
                )
            ),
            actions=guardduty.CfnMalwareProtectionPlan.CFNActionsProperty(
                tagging=guardduty.CfnMalwareProtectionPlan.CFNTaggingProperty(status="ENABLED")
            ),
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PhotosReadOnlyOnceClean",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[bucket.arn_for_objects(f"{topology.PHOTO_PREFIX}*/original")],
                conditions={
                    "StringNotEquals": {f"s3:ExistingObjectTag/{MALWARE_TAG}": MALWARE_CLEAN},
                    "ArnNotEquals": {"aws:PrincipalArn": role.role_arn},
                },
            )
        )

    @property
    def fhir_store_arn(self) -> str:
        return self.fhir_store.attr_datastore_arn

    def _backup(self, tenant: Tenant, key: kms.IKey) -> None:
        prefix = topology.tenant_prefix(tenant.id)
        vault = backup.BackupVault(
            self,
            "BackupVault",
            backup_vault_name=prefix,
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        copy_vault = backup.BackupVault.from_backup_vault_arn(
            self,
            "CopyVault",
            Stack.of(self).format_arn(
                service="backup",
                region=tenant.backup_copy_region,
                resource="backup-vault",
                resource_name=copy_vault_name(tenant.id),
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
        )
        plan = backup.BackupPlan(
            self,
            "BackupPlan",
            backup_plan_name=prefix,
            backup_vault=vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="daily",
                    schedule_expression=events.Schedule.cron(hour="5", minute="0"),
                    delete_after=BACKUP_DAILY_KEEP,
                    copy_actions=[
                        backup.BackupPlanCopyActionProps(
                            destination_backup_vault=copy_vault, delete_after=BACKUP_DAILY_KEEP
                        )
                    ],
                ),
                backup.BackupPlanRule(
                    rule_name="monthly",
                    schedule_expression=events.Schedule.cron(day="1", hour="6", minute="0"),
                    delete_after=BACKUP_MONTHLY_KEEP,
                    copy_actions=[
                        backup.BackupPlanCopyActionProps(
                            destination_backup_vault=copy_vault, delete_after=BACKUP_MONTHLY_KEEP
                        )
                    ],
                ),
            ],
        )
        role = iam.Role(
            self,
            "BackupRole",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            # Where AWS keeps each managed policy: the S3 ones are not under service-role/ (an
            # ARN that names no policy fails the role's creation).
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(name)
                for name in (
                    "service-role/AWSBackupServiceRolePolicyForBackup",
                    "service-role/AWSBackupServiceRolePolicyForRestores",
                    "AWSBackupServiceRolePolicyForS3Backup",
                    "AWSBackupServiceRolePolicyForS3Restore",
                )
            ],
        )
        key.grant_encrypt_decrypt(role)
        plan.add_selection(
            "PhiStores",
            backup_selection_name=f"{prefix}-phi",
            role=role,
            resources=[
                backup.BackupResource.from_dynamo_db_table(self.table),
                backup.BackupResource.from_arn(self.uploads.bucket_arn),
                backup.BackupResource.from_arn(self.recordings.bucket_arn),
                backup.BackupResource.from_arn(self.audit.bucket_arn),
            ],
        )


class BackupCopyStack(Stack):
    """The tenant's disaster-recovery vault, in its backup_copy_region, with a key of its own
    there (KMS keys are regional). Deployed before the tenant stack, whose plan copies into it."""

    def __init__(self, scope: Construct, id: str, *, tenant: Tenant, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        key = tenant_key(
            self,
            alias=f"alias/{topology.PREFIX}/{tenant.id}/backup-copy",
            description=f"{tenant.display_name}: backup copies",
        )
        backup.BackupVault(
            self,
            "CopyVault",
            backup_vault_name=copy_vault_name(tenant.id),
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
