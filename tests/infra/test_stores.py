"""Template tests by resource type: cdk-nag skips some resources (CDK's own custom-resource
functions, for one), so encryption, retention and Retain are checked on every one here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import topology
from local.parity.policies import Access, TemplatePolicies
from tests.conftest import (
    FAKE_ACCOUNT,
    FUNCTION_ENVIRONMENT,
    Assembly,
    Template,
    as_list,
    iam_statements,
    render,
)

# Stores whose loss is the loss of PHI (or of the key that reads it).
PHI_STORE_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::HealthLake::FHIRDatastore",
    "AWS::KMS::Key",
    "AWS::Cognito::UserPool",
    "AWS::Backup::BackupVault",
)


def _all(assembly: Assembly, resource_type: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (t.stack, logical_id, r)
        for t in assembly.templates.values()
        for logical_id, r in t.of_type(resource_type).items()
    ]


@pytest.mark.parametrize("resource_type", PHI_STORE_TYPES)
def test_phi_stores_are_retained_on_delete_and_on_replacement(assembly: Assembly, resource_type: str) -> None:
    stores = _all(assembly, resource_type)
    assert stores, f"no {resource_type} at all"
    for stack, logical_id, r in stores:
        assert (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy")) == ("Retain", "Retain"), (
            f"{stack}/{logical_id}"
        )


def test_every_table_is_encrypted_with_a_customer_key_and_recoverable(assembly: Assembly) -> None:
    for stack, logical_id, r in _all(assembly, "AWS::DynamoDB::Table"):
        p = r["Properties"]
        assert p["SSESpecification"]["SSEEnabled"] is True
        assert p["SSESpecification"]["SSEType"] == "KMS"
        assert "KMSMasterKeyId" in p["SSESpecification"], f"{stack}/{logical_id}"
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert p["DeletionProtectionEnabled"] is True
        assert p["BillingMode"] == "PAY_PER_REQUEST"
        assert p["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_every_bucket_is_private_encrypted_versioned_and_tls_only(assembly: Assembly) -> None:
    for template in assembly.templates.values():
        policies = {
            json.dumps(p["Bucket"]): p["PolicyDocument"]["Statement"]
            for p in template.props("AWS::S3::BucketPolicy")
        }
        for logical_id, r in template.of_type("AWS::S3::Bucket").items():
            p = r["Properties"]
            where = f"{template.stack}/{logical_id}"
            assert p["PublicAccessBlockConfiguration"] == {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }, where
            assert p["VersioningConfiguration"]["Status"] == "Enabled", where
            assert p["LifecycleConfiguration"]["Rules"], where
            rule = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
                "ServerSideEncryptionByDefault"
            ]
            is_access_log_bucket = "LoggingConfiguration" not in p
            # CloudFront's log bucket is outside the key a distribution's statement sits in (acknowledged).
            is_cdn_log_bucket = "-cdn-logs-" in render(p["BucketName"])
            if is_access_log_bucket or is_cdn_log_bucket:
                # S3 server access logging delivers only to SSE-S3 buckets (acknowledged).
                assert rule["SSEAlgorithm"] == "AES256", where
            else:
                assert rule["SSEAlgorithm"] == "aws:kms" and "KMSMasterKeyID" in rule, where
            statements = policies[json.dumps({"Ref": logical_id})]
            deny_plain_http = [
                s
                for s in statements
                if s["Effect"] == "Deny"
                and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            ]
            assert deny_plain_http, f"{where} accepts plain HTTP"
            assert not any(s["Effect"] == "Allow" and s.get("Principal") == "*" for s in statements), where


def test_exactly_one_access_log_bucket_per_stack_that_has_buckets(assembly: Assembly) -> None:
    for template in assembly.templates.values():
        buckets = template.props("AWS::S3::Bucket")
        if buckets:
            assert sum("LoggingConfiguration" not in p for p in buckets) == 1, template.stack


def test_the_audit_archive_is_locked_in_compliance_mode_for_six_years(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        locked = [
            p for p in assembly.tenant(tenant.id).props("AWS::S3::Bucket") if p.get("ObjectLockEnabled")
        ]
        assert len(locked) == 1
        retention = locked[0]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
        assert retention["Mode"] == "COMPLIANCE"
        assert retention["Days"] >= 6 * 365
        assert "audit" in render(locked[0]["BucketName"])


def test_no_bucket_deletes_its_objects_on_stack_removal(assembly: Assembly) -> None:
    for template in assembly.templates.values():
        assert not template.of_type("Custom::S3AutoDeleteObjects"), template.stack
        for p in template.props("AWS::S3::Bucket"):
            assert all(tag["Key"] != "aws-cdk:auto-delete-objects" for tag in p.get("Tags", [])), (
                template.stack
            )


@pytest.mark.parametrize(
    ("resource_type", "key_property"),
    [
        ("AWS::SQS::Queue", "KmsMasterKeyId"),
        ("AWS::SNS::Topic", "KmsMasterKeyId"),
        ("AWS::Logs::LogGroup", "KmsKeyId"),
        ("AWS::Events::EventBus", "KmsKeyIdentifier"),
        ("AWS::Events::Archive", "KmsKeyIdentifier"),
        ("AWS::Backup::BackupVault", "EncryptionKeyArn"),
    ],
)
def test_every_queue_topic_log_group_bus_and_vault_uses_a_customer_key(
    assembly: Assembly, resource_type: str, key_property: str
) -> None:
    found = _all(assembly, resource_type)
    assert found, f"no {resource_type} at all"
    for stack, logical_id, r in found:
        key = r["Properties"].get(key_property)
        assert isinstance(key, dict) and "Fn::GetAtt" in key, f"{stack}/{logical_id}: {key}"


def test_every_log_group_has_a_retention_and_the_phi_data_protection_policy(assembly: Assembly) -> None:
    for stack, logical_id, r in _all(assembly, "AWS::Logs::LogGroup"):
        p = r["Properties"]
        assert p.get("RetentionInDays", 0) >= 365, f"{stack}/{logical_id}"
        policy = p["DataProtectionPolicy"]
        identifiers = json.dumps(policy)
        for identifier in ("Name", "Address", "EmailAddress", "PhoneNumber-US", "Ssn-US"):
            assert f"data-identifier/{identifier}" in identifiers, f"{stack}/{logical_id} lacks {identifier}"
        operations = [s["Operation"] for s in policy["Statement"]]
        assert any("Deidentify" in op for op in operations), f"{stack}/{logical_id} does not mask"


def test_keys_rotate_and_let_only_the_services_that_must_use_them(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        _, key = assembly.tenant(tenant.id).tenant_key()
        assert key["Properties"]["EnableKeyRotation"] is True
        statements = key["Properties"]["KeyPolicy"]["Statement"]
        services = {
            render(principal)
            for s in statements
            for principal in as_list(s.get("Principal", {}).get("Service", []))
        }
        assert {
            "logs.us-east-1.amazonaws.com",
            "events.amazonaws.com",
            "cloudwatch.amazonaws.com",
            "mediapipelines.chime.amazonaws.com",
        } <= services, services
        for s in statements:
            service = s.get("Principal", {}).get("Service")
            if service == "delivery.logs.amazonaws.com":
                # CDK's own statement for Step Functions' vended logs: decrypt, nothing else.
                assert as_list(s["Action"]) == ["kms:Decrypt*"]
            elif service:
                assert "Condition" in s, f"service statement without a condition: {s.get('Sid')}"
                assert "kms:*" not in as_list(s["Action"])


@pytest.mark.parametrize(
    ("sealing", "owner", "subject"),
    [
        (topology.PRESCRIBER_CREDENTIALS, topology.PRESCRIBING, "provider"),
        (topology.SUBSCRIPTION_SECRETS, topology.SUBSCRIPTION_DELIVERY, "subscription"),
    ],
)
def test_a_sealed_secret_is_opened_by_its_one_function_alone(
    assembly: Assembly, sealing: topology.SealingKey, owner: topology.Function, subject: str
) -> None:
    """Each sealing key rotates and is kept; its one function may encrypt and decrypt with it for
    its one purpose, and no other function (the api, which carries the sealed copies) may decrypt
    with it, as IAM decides it over the synthesized templates. A tenant without the function has
    no key."""
    riverside = assembly.tenant("riverside")
    (key_id,) = [
        lid
        for lid, r in riverside.of_type("AWS::KMS::Key").items()
        if sealing.description in str(r["Properties"].get("Description", ""))
    ]
    key = riverside.resources[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    policies = TemplatePolicies.load(
        riverside.body,
        assembly.baseline("us-east-1").body,
        tenant_id="riverside",
        account=FAKE_ACCOUNT,
        region="us-east-1",
    )
    arn = str(policies.physical(key_id, "Arn"))
    context = {
        "kms:EncryptionContext:telehealth:purpose": sealing.purpose,
        f"kms:EncryptionContext:telehealth:{subject}": "some-id",
    }
    for action in ("kms:Encrypt", "kms:Decrypt"):
        assert policies.decide(Access(f"function:{owner.key}", action, arn, context)).allowed, action
        other = {**context, "kms:EncryptionContext:telehealth:purpose": "anything-else"}
        assert not policies.decide(Access(f"function:{owner.key}", action, arn, other)).allowed
    for function in topology.functions_for(next(t for t in assembly.tenants if t.id == "riverside")):
        if function is not owner:
            decided = policies.decide(Access(f"function:{function.key}", "kms:Decrypt", arn, context))
            assert not decided.allowed, decided.why
    desert = next(t for t in assembly.tenants if t.id == "desert-clinic")
    kept = [
        r
        for r in assembly.tenant("desert-clinic").props("AWS::KMS::Key")
        if sealing.description in str(r.get("Description", ""))
    ]
    assert len(kept) == (owner in topology.functions_for(desert))  # a key where e-prescribing is on


PHI_SERVICES = ("dynamodb", "s3", "healthlake", "kms")


def test_no_identity_policy_grants_wildcard_actions_on_phi_services(assembly: Assembly) -> None:
    for template in assembly.templates.values():
        for logical_id, statement in iam_statements(template):
            if statement["Effect"] != "Allow":
                continue
            for action in as_list(statement["Action"]):
                assert action != "*", f"{template.stack}/{logical_id}"
                service, _, verb = action.partition(":")
                assert not (service in PHI_SERVICES and verb == "*"), (
                    f"{template.stack}/{logical_id}: {action}"
                )


def test_phi_data_actions_never_apply_to_every_resource(assembly: Assembly) -> None:
    data_actions = ("dynamodb:", "healthlake:", "s3:GetObject", "s3:PutObject")
    for template in assembly.templates.values():
        for logical_id, statement in iam_statements(template):
            if statement["Effect"] == "Allow" and "*" in as_list(statement["Resource"]):
                touched = [
                    a
                    for a in as_list(statement["Action"])
                    # Listing streams has no resource-level permission in DynamoDB; it reads no item.
                    if a.startswith(data_actions) and a != "dynamodb:ListStreams"
                ]
                assert touched == [], f"{template.stack}/{logical_id}: {touched} on *"


def test_tables_and_buckets_are_in_a_backup_plan_copied_to_another_region(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        template: Template = assembly.tenant(tenant.id)
        _, plan = template.one("AWS::Backup::BackupPlan")
        for rule in plan["Properties"]["BackupPlan"]["BackupPlanRule"]:
            (copy,) = rule["CopyActions"]
            destination = render(copy["DestinationBackupVaultArn"])
            assert f":backup:{tenant.backup_copy_region}:" in destination
            assert destination.endswith(f"backup-vault:telehealth-{tenant.id}-copy")
        _, selection = template.one("AWS::Backup::BackupSelection")
        selected = json.dumps(selection["Properties"]["BackupSelection"]["Resources"])
        for logical_id in list(template.of_type("AWS::DynamoDB::Table")) + [
            b
            for b, r in template.of_type("AWS::S3::Bucket").items()
            if "LoggingConfiguration" in r["Properties"]
            # The web build is deployed again from the repository, and CDN logs hold no PHI;
            # bulk exports are a week's copies of HealthLake, which is backed up.
            and not any(
                p in render(r["Properties"]["BucketName"]) for p in ("-web-", "-cdn-logs-", "-exports-")
            )
        ]:
            assert logical_id in selected, f"{logical_id} is not backed up"
        copy_stack = assembly.templates[f"telehealth-{tenant.id}-backup-copy"]
        _, vault = copy_stack.one("AWS::Backup::BackupVault")
        assert vault["Properties"]["BackupVaultName"] == f"telehealth-{tenant.id}-copy"


def test_each_tenant_has_an_r4_healthlake_store_with_its_own_key(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        template = assembly.tenant(tenant.id)
        _, store = template.one("AWS::HealthLake::FHIRDatastore")
        key_id, _ = template.tenant_key()
        p = store["Properties"]
        assert p["DatastoreTypeVersion"] == "R4"
        kms = p["SseConfiguration"]["KmsEncryptionConfig"]
        assert kms["CmkType"] == "CUSTOMER_MANAGED_KMS_KEY"
        assert kms["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def _riverside_policies(assembly: Assembly) -> TemplatePolicies:
    """Riverside's policies, as IAM would decide over the synthesized template."""
    return TemplatePolicies.load(
        assembly.tenant("riverside").body,
        assembly.baseline("us-east-1").body,
        tenant_id="riverside",
        account=FAKE_ACCOUNT,
        region="us-east-1",
    )


def test_the_subscription_notices_may_set_a_notification_aside_on_their_own_dlq_alone(
    assembly: Assembly,
) -> None:
    """The one AWS call of the subscriptions that the suite never makes (a notification whose five
    attempts failed, sent to the notices function's DLQ): allowed, with the tenant key the queue is
    encrypted with, as IAM decides it over the synthesized template; the delivery function, on the
    egress path, may neither send there nor read the table."""
    riverside = assembly.tenant("riverside")
    policies = _riverside_policies(assembly)
    dlq = topology.SUBSCRIPTION_NOTICES.dlq
    assert dlq is not None
    (queue_id,) = [
        lid
        for lid, r in riverside.of_type("AWS::SQS::Queue").items()
        if render(r["Properties"].get("QueueName")) == dlq.name("riverside")
    ]
    # The environment names the queue the stack makes.
    tenant = next(t for t in assembly.tenants if t.id == "riverside")
    url = topology.function_environment(tenant, **FUNCTION_ENVIRONMENT)["SUBSCRIPTION_DLQ_URL"]
    assert url.endswith("/" + dlq.name("riverside"))
    queue = str(policies.physical(queue_id, "Arn"))
    key = str(policies.physical(riverside.tenant_key()[0], "Arn"))
    notices, delivery = "function:subscription-notices", "function:subscription-delivery"
    assert policies.decide(Access(notices, "sqs:SendMessage", queue)).allowed
    assert policies.decide(Access(notices, "kms:GenerateDataKey", key)).allowed
    assert not policies.decide(Access(delivery, "sqs:SendMessage", queue)).allowed
    table = str(policies.physical(riverside.one("AWS::DynamoDB::Table")[0], "Arn"))
    assert not policies.decide(Access(delivery, "dynamodb:GetItem", table)).allowed


def test_bulk_exports_are_started_by_their_runner_alone_as_the_tenants_export_role(
    assembly: Assembly,
) -> None:
    """HealthLake's export job, decided by IAM over the synthesized template: the runner starts it
    passing the tenant's export role, to HealthLake only; the api may cancel one and read the
    files, not start one; a function with no part in exports reads no file. The export role is
    HealthLake's, for this data store, and writes the export bucket alone."""
    riverside = assembly.tenant("riverside")
    policies = _riverside_policies(assembly)
    tenant = next(t for t in assembly.tenants if t.id == "riverside")
    environment = topology.function_environment(tenant, **{**FUNCTION_ENVIRONMENT, "account": FAKE_ACCOUNT})
    (store_id,) = riverside.of_type("AWS::HealthLake::FHIRDatastore")
    datastore = f"arn:aws:healthlake:us-east-1:{FAKE_ACCOUNT}:datastore/fhir/local"  # as policies resolve it
    role = environment["EXPORT_ROLE_ARN"]
    exports_bucket = f"arn:aws:s3:::{environment['EXPORTS_BUCKET']}"
    runner, api, other = "function:bulk-exports", "function:api", "function:subscription-notices"
    to_healthlake = {"iam:PassedToService": "healthlake.amazonaws.com"}
    start = "healthlake:StartFHIRExportJobWithPost"
    assert policies.decide(Access(runner, start, datastore)).allowed
    assert policies.decide(Access(runner, "iam:PassRole", role, to_healthlake)).allowed
    assert not policies.decide(
        Access(runner, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})
    ).allowed
    assert not policies.decide(
        Access(runner, "iam:PassRole", role.replace("exports", "other"), to_healthlake)
    ).allowed
    assert not policies.decide(Access(api, start, datastore)).allowed
    assert not policies.decide(Access(api, "iam:PassRole", role, to_healthlake)).allowed
    assert policies.decide(Access(api, "healthlake:CancelFHIRExportJobWithDelete", datastore)).allowed
    assert policies.decide(Access(api, "s3:GetObject", f"{exports_bucket}/exports/x/a.ndjson")).allowed
    assert not policies.decide(Access(other, "s3:GetObject", f"{exports_bucket}/exports/x/a.ndjson")).allowed

    (role_id,) = [
        lid
        for lid, r in riverside.of_type("AWS::IAM::Role").items()
        if render(r["Properties"].get("RoleName")) == topology.export_role_name("riverside")
    ]
    (trust,) = riverside.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "healthlake.amazonaws.com"}
    assert trust["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [store_id, "DatastoreArn"]}
    written = [
        s
        for lid, r in riverside.of_type("AWS::IAM::Policy").items()
        if {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if any(
            str(a).startswith("s3:Put")
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        )
    ]
    (bucket_id,) = [
        lid
        for lid, r in riverside.of_type("AWS::S3::Bucket").items()
        if "-exports-" in render(r["Properties"]["BucketName"])
    ]
    assert written and all(bucket_id in json.dumps(s["Resource"]) for s in written)
