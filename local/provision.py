"""Create a tenant's resources in the emulator from the topology the CDK stacks are built from.

Same names, same key schema, same rules with their real patterns and targets, same queues, state
machines with the same ASL and substitutions, same functions with the same environment. What the
stacks add for AWS alone (VPC, WAF, trail, alarms) has nothing to emulate.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra import topology
from infra.assets import ROOT
from infra.tenants import MACHINE_SCOPES, Tenant
from local.emulator import ACCOUNT
from telehealth.domain import fhir_access


@dataclass
class ProvisionedTenant:
    tenant: Tenant
    region: str
    key_arn: str = ""
    user_pools: dict[str, str] = field(default_factory=dict)  # workforce|patients -> pool id
    portal_clients: dict[str, str] = field(default_factory=dict)  # workforce|patients -> client id
    machine_clients: dict[str, tuple[str, str, tuple[str, ...]]] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # what every function is told
    secret_arns: dict[str, str] = field(default_factory=dict)  # third party -> its secret's ARN
    sealing_key_arns: dict[str, str] = field(default_factory=dict)  # topology.SealingKey -> its ARN
    # The seeded workforce users' TOTP secrets (base32) by e-mail: the authenticator apps' side,
    # which Cognito keeps to itself and moto cannot (local.signin checks the codes).
    totp: dict[str, str] = field(default_factory=dict)

    def saved(self) -> dict[str, Any]:
        """What a start on kept data needs of it (`local.platform`'s provisioned.json); the
        environment is not kept: it names the stand-ins' ports of one run."""
        return {
            "user_pools": self.user_pools,
            "portal_clients": self.portal_clients,
            "machine_clients": {k: list(v) for k, v in self.machine_clients.items()},
            "key_arn": self.key_arn,
            "queue_arns": self.queue_arns,
            "function_arns": self.function_arns,
            "state_machine_arns": self.state_machine_arns,
            "secret_arns": self.secret_arns,
            "sealing_key_arns": self.sealing_key_arns,
            "totp": self.totp,
        }

    @classmethod
    def from_saved(cls, tenant: Tenant, kept: dict[str, Any]) -> ProvisionedTenant:
        return cls(
            tenant=tenant,
            region=tenant.region,
            **{k: v for k, v in kept.items() if k != "machine_clients"},
            machine_clients={k: (v[0], v[1], tuple(v[2])) for k, v in kept["machine_clients"].items()},
        )

    @property
    def issuers(self) -> dict[str, str]:
        return {
            kind: f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}"
            for kind, pool_id in self.user_pools.items()
        }


def _client(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (the emulator's fixed test credentials)
    )


def _placeholder_code() -> bytes:
    """Lambda wants a zip; the code that runs is the repository's, in the function host."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Runs in the local function host.\n")
    return buffer.getvalue()


def provision_tenant(
    tenant: Tenant,
    *,
    endpoint: str,
    environment_for: Callable[[ProvisionedTenant], dict[str, str]],
    credentials: Mapping[str, str] = {},
) -> ProvisionedTenant:
    """Everything of one tenant. The user pools come first: the functions' environment names them.
    Only the functions of the tenant's enabled features, and the secrets of their third parties
    (holding `credentials`, by party, as an operator puts them there in AWS)."""
    region = tenant.region
    out = ProvisionedTenant(tenant=tenant, region=region)
    functions = topology.functions_for(tenant)

    def aws(service: str) -> Any:
        return _client(service, endpoint, region)

    _identity(tenant, aws("cognito-idp"), out)
    out.environment = environment = environment_for(out)

    kms, ddb, s3, sqs = aws("kms"), aws("dynamodb"), aws("s3"), aws("sqs")
    events, lam, sfn, iam = aws("events"), aws("lambda"), aws("stepfunctions"), aws("iam")

    key = kms.create_key(Description=f"{tenant.display_name}: PHI")["KeyMetadata"]
    out.key_arn = key["Arn"]
    kms.create_alias(AliasName=f"alias/{topology.PREFIX}/{tenant.id}", TargetKeyId=key["KeyId"])

    spec = topology.CLINIC_TABLE
    ddb.create_table(
        **spec.create_request(spec.name(tenant.id)),
        StreamSpecification={"StreamEnabled": spec.stream, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key["Arn"]},
        DeletionProtectionEnabled=True,
    )
    if spec.ttl_attribute:
        ddb.update_time_to_live(
            TableName=spec.name(tenant.id),
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
    stream_arn = ddb.describe_table(TableName=spec.name(tenant.id))["Table"]["LatestStreamArn"]

    # The sender reminders come from, verified as SES requires before it sends.
    aws("ses").verify_email_identity(EmailAddress=tenant.notify_from)

    for purpose in topology.BUCKET_PURPOSES:
        name = topology.bucket_name(tenant.id, purpose, ACCOUNT)
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=purpose == "audit")
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        if purpose != "access-logs":
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": key["Arn"],
                            }
                        }
                    ]
                },
            )
        if purpose == "audit":
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 6 * 365 + 2}},
                },
            )

    for party in topology.third_parties_of(functions):
        out.secret_arns[party.key] = aws("secretsmanager").create_secret(
            Name=party.secret_name(tenant.id),
            Description=f"{party.description}: the API key",
            SecretString=credentials[party.key],
            KmsKeyId=key["Arn"],
        )["ARN"]

    for sealing in topology.sealing_keys_of(functions):
        out.sealing_key_arns[sealing.key] = kms.create_key(
            Description=f"{tenant.display_name}: {sealing.description}"
        )["KeyMetadata"]["Arn"]

    for queue in topology.queues(functions):  # dead-letter queues first: a work queue names its own
        attributes = {
            "KmsMasterKeyId": key["Arn"],
            "MessageRetentionPeriod": str(queue.retention_days * 86400),
            "VisibilityTimeout": str(queue.visibility_timeout_s),
        }
        if queue.fifo:
            attributes["FifoQueue"] = "true"
        if queue.dead_letter:
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": out.queue_arns[queue.dead_letter],
                    "maxReceiveCount": queue.max_receives,
                }
            )
        url = sqs.create_queue(QueueName=queue.name(tenant.id), Attributes=attributes)["QueueUrl"]
        out.queue_arns[queue.key] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    role_arn = iam.create_role(
        RoleName=f"{topology.tenant_prefix(tenant.id)}-local",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]

    # The role HealthLake assumes to write bulk exports (the stand-in writes as it).
    iam.create_role(
        RoleName=topology.export_role_name(tenant.id),
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "healthlake.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )

    code = _placeholder_code()
    for function in functions:
        extra: dict[str, Any] = {}
        if function.invocation is topology.Invocation.EVENT and function.dlq:
            extra["DeadLetterConfig"] = {"TargetArn": out.queue_arns[function.dlq.key]}
        created = lam.create_function(
            FunctionName=function.name(tenant.id),
            Runtime="python3.12",
            Architectures=["arm64"],
            Role=role_arn,
            Handler=function.handler,
            Code={"ZipFile": code},
            MemorySize=function.memory_mb,
            Timeout=function.timeout_s,
            Environment={
                "Variables": {
                    **environment,
                    **topology.own_environment(function, out.secret_arns, out.sealing_key_arns),
                }
            },
            TracingConfig={"Mode": "Active"},
            **extra,
        )
        out.function_arns[function.key] = created["FunctionArn"]
        lam.put_function_concurrency(
            FunctionName=function.name(tenant.id),
            ReservedConcurrentExecutions=tenant.concurrency_of(function.key),
        )
        if function.work_queue is not None:
            lam.create_event_source_mapping(
                FunctionName=function.name(tenant.id),
                EventSourceArn=out.queue_arns[function.work_queue.key],
                BatchSize=topology.QUEUE_BATCH_SIZE,
                FunctionResponseTypes=["ReportBatchItemFailures"],
            )
        if function.invocation is topology.Invocation.STREAM and function.dlq:
            lam.create_event_source_mapping(
                FunctionName=function.name(tenant.id),
                EventSourceArn=stream_arn,
                StartingPosition="TRIM_HORIZON",
                BatchSize=100,
                BisectBatchOnFunctionError=True,
                MaximumRetryAttempts=10,
                MaximumRecordAgeInSeconds=86400,
                FunctionResponseTypes=["ReportBatchItemFailures"],
                DestinationConfig={"OnFailure": {"Destination": out.queue_arns[function.dlq.key]}},
                FilterCriteria={
                    "Filters": [
                        {"Pattern": json.dumps(topology.outbox_stream_filter(function.stream_destinations))}
                    ]
                },
            )

    bus_name = topology.TENANT_BUS.name(tenant.id)
    bus_arn = events.create_event_bus(Name=bus_name, KmsKeyIdentifier=key["Arn"])["EventBusArn"]
    events.create_archive(
        ArchiveName=f"{topology.tenant_prefix(tenant.id)}-archive",
        EventSourceArn=bus_arn,
        RetentionDays=topology.TENANT_BUS.archive_retention_days,
    )
    for rule in topology.rules_for(tenant):
        on_tenant_bus = rule.bus is topology.BusKind.TENANT
        events.put_rule(
            Name=rule.name(tenant.id),
            Description=rule.description,
            **({"EventBusName": bus_name} if on_tenant_bus else {}),
            **({"EventPattern": json.dumps(pattern)} if (pattern := rule.pattern(tenant.id)) else {}),
            **({"ScheduleExpression": rule.schedule} if rule.schedule else {}),
        )
        target: dict[str, Any] = {
            "Id": rule.target.key,
            "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 6 * 3600},
            "DeadLetterConfig": {"Arn": out.queue_arns[rule.dlq.key]},
        }
        if isinstance(rule.target, topology.ContainerTask):
            # An ECS task target, as the stack has it; the platform runs it as a local process.
            ecs_arn = f"arn:aws:ecs:{region}:{ACCOUNT}"
            target |= {
                "Arn": f"{ecs_arn}:cluster/{rule.target.cluster_name(tenant.id)}",
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{rule.name(tenant.id)}-events",
                "EcsParameters": {
                    "TaskDefinitionArn": f"{ecs_arn}:task-definition/{rule.target.name(tenant.id)}",
                    "LaunchType": "FARGATE",
                },
            }
        else:
            target["Arn"] = out.function_arns[rule.target.key]
        events.put_targets(
            Rule=rule.name(tenant.id),
            **({"EventBusName": bus_name} if on_tenant_bus else {}),
            Targets=[target],
        )

    # What the account baseline does for this tenant: Chime's events on the default bus, by the
    # tenant's ExternalMeetingId prefix, forwarded to its bus with a DLQ of their own.
    forward_dlq_url = sqs.create_queue(
        QueueName=f"{topology.tenant_prefix(tenant.id)}-chime-forward-dlq",
        Attributes={"KmsMasterKeyId": key["Arn"]},
    )["QueueUrl"]
    forward_dlq = sqs.get_queue_attributes(QueueUrl=forward_dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    out.queue_arns["chime-forward-dlq"] = forward_dlq
    events.put_rule(
        Name=topology.chime_forwarding_rule_name(tenant.id),
        EventPattern=json.dumps(topology.chime_forwarding_pattern(tenant.id)),
    )
    events.put_targets(
        Rule=topology.chime_forwarding_rule_name(tenant.id),
        Targets=[{"Id": "tenant-bus", "Arn": bus_arn, "DeadLetterConfig": {"Arn": forward_dlq}}],
    )

    for machine in topology.state_machines_for(tenant):
        definition = (ROOT / "statemachines" / machine.definition_file).read_text()
        for placeholder, function in machine.functions.items():
            definition = definition.replace("${" + placeholder + "}", out.function_arns[function.key])
        out.state_machine_arns[machine.key] = sfn.create_state_machine(
            name=machine.name(tenant.id),
            definition=definition,
            roleArn=role_arn,
            type="STANDARD",
            loggingConfiguration={"level": "ALL", "includeExecutionData": False},
            tracingConfiguration={"enabled": True},
        )["stateMachineArn"]

    return out


def portal_client_settings(kind: str, web_bases: Sequence[str]) -> dict[str, Any]:
    """A portal's public client: authorization code (with PKCE, which the managed login checks)
    for the portal's web bases, as the stack's clients have it; all of it, since Cognito's
    UpdateUserPoolClient resets what it is not given."""
    return {
        "ClientName": f"{kind}portal",
        # Locally a password sign-in stands in for SRP (the same tokens result); see README.
        "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        "AccessTokenValidity": 15,
        "IdTokenValidity": 15,
        "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes"},
        "SupportedIdentityProviders": ["COGNITO"],
        "AllowedOAuthFlows": ["code"],
        "AllowedOAuthFlowsUserPoolClient": True,
        "AllowedOAuthScopes": list(topology.PORTAL_SCOPES),
        # The gateway serves the API (and so Swagger UI's redirect page) at the web's bases.
        "CallbackURLs": topology.portal_callback_urls(kind, web_bases, web_bases),
        "LogoutURLs": topology.portal_logout_urls(kind, web_bases),
        "PreventUserExistenceErrors": "ENABLED",
    }


def register_web_bases(idp: Any, provisioned: ProvisionedTenant, web_bases: Sequence[str]) -> None:
    """The portals' callback and sign-out URLs for where the gateway serves them: known only once
    it listens (its port may be any), and again at each start on kept data."""
    for kind, client_id in provisioned.portal_clients.items():
        idp.update_user_pool_client(
            UserPoolId=provisioned.user_pools[kind],
            ClientId=client_id,
            **portal_client_settings(kind, web_bases),
        )


def _identity(tenant: Tenant, idp: Any, out: ProvisionedTenant) -> None:
    prefix = topology.tenant_prefix(tenant.id)
    for kind, admin_only in (("workforce", True), ("patients", False)):
        rules = topology.PASSWORD_RULES[kind]
        pool = idp.create_user_pool(
            PoolName=f"{prefix}-{kind}",
            UsernameAttributes=["email"],
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": admin_only},
            # Patients sign themselves up and verify their e-mail with a code.
            AutoVerifiedAttributes=["email"],
            AccountRecoverySetting={"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": rules.min_length,
                    "RequireUppercase": True,
                    "RequireLowercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": rules.symbols,
                }
            },
            # As the stack names it: by the ARN the function will have (it is made later).
            **(
                {}
                if admin_only
                else {
                    "LambdaConfig": {
                        "PostConfirmation": topology.function_arn(
                            topology.PATIENT_ENROLMENT, tenant.id, region=tenant.region, account=ACCOUNT
                        )
                    }
                }
            ),
        )["UserPool"]
        out.user_pools[kind] = pool["Id"]
        # The web bases are registered once the gateway listens (register_web_bases).
        out.portal_clients[kind] = idp.create_user_pool_client(
            UserPoolId=pool["Id"], **portal_client_settings(kind, ())
        )["UserPoolClient"]["ClientId"]
    workforce = out.user_pools["workforce"]
    for group in ("providers", "staff", "admins"):
        idp.create_group(UserPoolId=workforce, GroupName=group)
    idp.create_resource_server(
        UserPoolId=workforce,
        Identifier=topology.RESOURCE_SERVER,
        Name=f"{prefix}-integrations",
        Scopes=[{"ScopeName": s, "ScopeDescription": f"Integration scope {s}"} for s in MACHINE_SCOPES],
    )
    idp.create_resource_server(
        UserPoolId=workforce,
        Identifier=topology.SMART_RESOURCE_SERVER,
        Name=f"{prefix}-fhir",
        Scopes=[{"ScopeName": n, "ScopeDescription": d} for n, d in fhir_access.SCOPE_NAMES.items()],
    )
    for client in tenant.machine_clients:
        created = idp.create_user_pool_client(
            UserPoolId=workforce,
            ClientName=f"machine-{client.name}",
            GenerateSecret=True,
            AllowedOAuthFlows=["client_credentials"],
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthScopes=[topology.machine_scope(s) for s in client.scopes],
            AccessTokenValidity=15,
            TokenValidityUnits={"AccessToken": "minutes"},
        )["UserPoolClient"]
        out.machine_clients[client.name] = (
            created["ClientId"],
            created["ClientSecret"],
            tuple(topology.machine_scope(s) for s in client.scopes),
        )
