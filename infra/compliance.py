"""HIPAA gates: cdk-nag's HIPAA Security pack, the written acknowledgments, the BAA allow-list and
the CloudWatch Logs data-protection policy that backs up "no PHI in logs".

Every acknowledgment is declared here, once, with the reason and the control that stands instead;
constructs refer to it by name, and `docs/compliance.md` is generated from this module
(`make docs`, checked by the infra tests), so the list a reviewer reads is the list that applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment as CdkAcknowledgment
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_logs as logs
from constructs import IConstruct


@dataclass(frozen=True)
class Acknowledgment:
    rule: str
    reason: str


ACKNOWLEDGMENTS: dict[str, Acknowledgment] = {
    "api-cache": Acknowledgment(
        "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
        "No API Gateway cache: every response is one caller's PHI, and a stage cache keyed on the "
        "path would serve one patient's record to another. Responses are computed per request "
        "from the tenant's encrypted table; there is nothing cached to encrypt.",
    ),
    "api-client-cert": Acknowledgment(
        "HIPAA.Security-APIGWSSLEnabled",
        "A client certificate authenticates API Gateway to an HTTP backend; this API's only "
        "backend is a Lambda proxy integration, reached over AWS's signed invoke path. Clients "
        "reach the API over TLS 1.2+ only (regional endpoint, AWS-managed certificate).",
    ),
    "access-log-bucket-sse-s3": Acknowledgment(
        "HIPAA.Security-S3DefaultEncryptionKMS",
        "S3 server access logging can only deliver to a target bucket encrypted with SSE-S3. "
        "Access logs hold opaque object keys (ids, never names) and are encrypted at rest with "
        "AES-256; the bucket is private, TLS-only and versioned.",
    ),
    "bucket-replication": Acknowledgment(
        "HIPAA.Security-S3BucketReplicationEnabled",
        "Disaster copies come from AWS Backup, not replication: the tenant's backup plan copies "
        "daily recovery points of this bucket to a vault in the tenant's backup_copy_region, "
        "encrypted with a key in that region. Replication would double-store PHI without "
        "point-in-time recovery.",
    ),
    "log-bucket-replication": Acknowledgment(
        "HIPAA.Security-S3BucketReplicationEnabled",
        "Access-log and CloudTrail buckets hold evidence, not PHI: object keys are opaque ids. "
        "They are versioned and kept six years by lifecycle; CloudTrail's log files carry "
        "validation digests and are delivered to CloudWatch Logs as a second copy.",
    ),
    "stream-consumer-dlq": Acknowledgment(
        "HIPAA.Security-LambdaDLQ",
        "Invoked by a DynamoDB stream event source mapping, which never uses the function's "
        "asynchronous DLQ: failed batches go to the mapping's on-failure SQS destination, and "
        "the outbox sweeper redelivers every item still pending after that.",
    ),
    "sync-function-dlq": Acknowledgment(
        "HIPAA.Security-LambdaDLQ",
        "Invoked synchronously (API Gateway proxy or a Step Functions task): the caller receives "
        "the error. API clients retry with Idempotency-Key; state machine tasks have Retry and "
        "Catch, and a failed execution raises an alarm.",
    ),
    "grant-policies": Acknowledgment(
        "HIPAA.Security-IAMNoInlinePolicy",
        "Each role's permissions come from CDK grants, which CDK writes as the role's own policy "
        "(an inline DefaultPolicy), scoped to this tenant's resource ARNs. An inline policy lives "
        "and dies with its one role and cannot be attached to another principal; the infra tests "
        "reject any statement with a wildcard action on a PHI store. Acknowledged per stack.",
    ),
}


def acknowledge(construct: IConstruct, name: str) -> None:
    """Acknowledge one finding on one construct, with the reason registered above."""
    ack = ACKNOWLEDGMENTS[name]
    Validations.of(construct).acknowledge(CdkAcknowledgment(id=ack.rule, reason=ack.reason))


def enable_hipaa_checks(app: App) -> None:
    # Imported here so that modules reading the registry (docs, tests) need no jsii pack load.
    from cdk_nag import HIPAASecurityChecks

    Validations.of(app).add_plugins(HIPAASecurityChecks(app))


# --- The BAA allow-list ---------------------------------------------------------------------------

# Every CloudFormation type a template may contain, with the BAA-eligible service it belongs to
# (or the CDK plumbing it is). A type not listed fails the infra tests.
BAA_ALLOW_LIST: dict[str, str] = {
    "AWS::ApiGateway::Account": "Amazon API Gateway",
    "AWS::ApiGateway::Authorizer": "Amazon API Gateway",
    "AWS::ApiGateway::Deployment": "Amazon API Gateway",
    "AWS::ApiGateway::Method": "Amazon API Gateway",
    "AWS::ApiGateway::Resource": "Amazon API Gateway",
    "AWS::ApiGateway::RestApi": "Amazon API Gateway",
    "AWS::ApiGateway::Stage": "Amazon API Gateway",
    "AWS::Backup::BackupPlan": "AWS Backup",
    "AWS::Backup::BackupSelection": "AWS Backup",
    "AWS::Backup::BackupVault": "AWS Backup",
    "AWS::CloudTrail::Trail": "AWS CloudTrail",
    "AWS::CloudWatch::Alarm": "Amazon CloudWatch",
    "AWS::CloudWatch::Dashboard": "Amazon CloudWatch",
    "AWS::Cognito::UserPool": "Amazon Cognito",
    "AWS::Cognito::UserPoolClient": "Amazon Cognito",
    "AWS::Cognito::UserPoolDomain": "Amazon Cognito",
    "AWS::Cognito::UserPoolGroup": "Amazon Cognito",
    "AWS::Cognito::UserPoolResourceServer": "Amazon Cognito",
    "AWS::DynamoDB::Table": "Amazon DynamoDB",
    "AWS::EC2::FlowLog": "Amazon VPC",
    "AWS::EC2::InternetGateway": "Amazon VPC",
    "AWS::EC2::Route": "Amazon VPC",
    "AWS::EC2::RouteTable": "Amazon VPC",
    "AWS::EC2::SecurityGroup": "Amazon VPC",
    "AWS::EC2::SecurityGroupEgress": "Amazon VPC",
    "AWS::EC2::SecurityGroupIngress": "Amazon VPC",
    "AWS::EC2::Subnet": "Amazon VPC",
    "AWS::EC2::SubnetRouteTableAssociation": "Amazon VPC",
    "AWS::EC2::VPC": "Amazon VPC",
    "AWS::EC2::VPCEndpoint": "AWS PrivateLink (Amazon VPC)",
    "AWS::ECS::Cluster": "Amazon ECS",
    "AWS::ECS::TaskDefinition": "Amazon ECS (AWS Fargate)",
    "AWS::Events::Archive": "Amazon EventBridge",
    "AWS::Events::EventBus": "Amazon EventBridge",
    "AWS::Events::Rule": "Amazon EventBridge",
    "AWS::HealthLake::FHIRDatastore": "AWS HealthLake",
    "AWS::IAM::ManagedPolicy": "AWS IAM",
    "AWS::IAM::Policy": "AWS IAM",
    "AWS::IAM::Role": "AWS IAM",
    "AWS::KMS::Alias": "AWS KMS",
    "AWS::KMS::Key": "AWS KMS",
    "AWS::Lambda::EventSourceMapping": "AWS Lambda",
    "AWS::Lambda::EventInvokeConfig": "AWS Lambda",
    "AWS::Lambda::Function": "AWS Lambda",
    "AWS::Lambda::LayerVersion": "AWS Lambda",
    "AWS::Lambda::Permission": "AWS Lambda",
    "AWS::Logs::LogGroup": "Amazon CloudWatch Logs",
    "AWS::S3::Bucket": "Amazon S3",
    "AWS::S3::BucketPolicy": "Amazon S3",
    "AWS::SNS::Topic": "Amazon SNS",
    "AWS::SNS::TopicPolicy": "Amazon SNS",
    "AWS::SQS::Queue": "Amazon SQS",
    "AWS::SQS::QueuePolicy": "Amazon SQS",
    "AWS::StepFunctions::StateMachine": "AWS Step Functions",
    "AWS::WAFv2::LoggingConfiguration": "AWS WAF",
    "AWS::WAFv2::WebACL": "AWS WAF",
    "AWS::WAFv2::WebACLAssociation": "AWS WAF",
    "AWS::CDK::Metadata": "CDK plumbing: version metadata, no resource",
    "Custom::VpcRestrictDefaultSG": "CDK plumbing: closes the VPC's default security group",
}


# --- The data-protection policy -------------------------------------------------------------------

# What CloudWatch Logs masks if a log line ever carries it: the backstop behind Powertools and the
# rule that handlers log ids only.
PHI_IDENTIFIERS = (
    "ADDRESS",
    "NAME",
    "EMAILADDRESS",
    "PHONENUMBER_US",
    "SSN_US",
    "DRIVERSLICENSE_US",
    "PASSPORTNUMBER_US",
    "HEALTHINSURANCECLAIMNUMBER_US",
    "MEDICAREBENEFICIARYNUMBER_US",
    "NATIONALDRUGCODE_US",
    "NATIONALPROVIDERID_US",
    "DRUGENFORCEMENTAGENCYNUMBER_US",
    "HEALTHCAREPROCEDURECODE_US",
    "INDIVIDUALTAXIDENTIFICATIONNUMBER_US",
    "CREDITCARDNUMBER",
    "CREDITCARDSECURITYCODE",
    "BANKACCOUNTNUMBER_US",
    "IPADDRESS",
    "LATLONG",
)


def phi_data_protection_policy(stack: Stack) -> logs.DataProtectionPolicy:
    return logs.DataProtectionPolicy(
        name=f"{stack.stack_name}-phi-backstop",
        description="Masks PHI and payment data should any reach a log line",
        identifiers=[getattr(logs.DataIdentifier, name) for name in PHI_IDENTIFIERS],
    )


def render_compliance_doc() -> str:
    """The generated body of docs/compliance.md."""
    lines = [
        "# Compliance",
        "",
        "Generated from `infra/compliance.py` by `make docs`; the infra tests fail if it is stale.",
        "",
        "Every synth runs cdk-nag's HIPAA Security pack; a finding fails the synth unless it is",
        "acknowledged below, on the one construct it concerns, with the control that stands instead.",
        "",
        "## Acknowledged findings",
        "",
        "| name | rule | reason and the control that stands instead |",
        "|---|---|---|",
    ]
    for name, ack in ACKNOWLEDGMENTS.items():
        lines.append(f"| `{name}` | `{ack.rule}` | {ack.reason} |")
    lines += [
        "",
        "## BAA-eligible resource types",
        "",
        "A template containing a type not on this list fails the infra tests.",
        "",
        "| CloudFormation type | service |",
        "|---|---|",
    ]
    for resource_type, service in sorted(BAA_ALLOW_LIST.items()):
        lines.append(f"| `{resource_type}` | {service} |")
    lines += [
        "",
        "## What the tenant's key cannot encrypt",
        "",
        "- **Amazon Cognito** user pools encrypt with AWS-owned keys; no customer key is offered.",
        "- **AWS X-Ray** traces: encrypted with an AWS key unless the account's X-Ray encryption is",
        "  set to a KMS key, an account-wide setting; traces carry no PHI (responses and errors are",
        "  not captured).",
        "- **S3 server access logs** (SSE-S3 only, above).",
        "- **Lambda code and layers** are encrypted by Lambda with an AWS key; they hold no PHI.",
        "",
        "## CloudWatch Logs data protection",
        "",
        "Every log group the stacks declare carries a data-protection policy masking: "
        + ", ".join(f"`{i}`" for i in PHI_IDENTIFIERS)
        + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_compliance_doc(), end="")
