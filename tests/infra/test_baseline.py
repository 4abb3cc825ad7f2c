"""The account baseline: trail, API Gateway logging role, Chime forwarding, the shared network."""

from __future__ import annotations

import json

from infra import topology
from infra.baseline import INTERFACE_ENDPOINTS
from tests.conftest import Assembly, render


def test_the_trail_validates_encrypts_and_records_data_events_on_every_phi_store(assembly: Assembly) -> None:
    t = assembly.baseline("us-east-1")
    _, trail = t.one("AWS::CloudTrail::Trail")
    p = trail["Properties"]
    assert p["EnableLogFileValidation"] is True
    assert "KMSKeyId" in p
    assert "CloudWatchLogsLogGroupArn" in p
    assert p["IsLogging"] is True
    selectors = {s["Name"]: s["FieldSelectors"] for s in p["AdvancedEventSelectors"]}
    assert {"Field": "eventCategory", "Equals": ["Management"]} in selectors["management"]

    def prefixes(name: str) -> list[str]:
        (arn,) = [f for f in selectors[name] if f["Field"] == "resources.ARN"]
        return [render(v) for v in arn["StartsWith"]]

    for tenant in assembly.tenants:
        prefix = topology.tenant_prefix(tenant.id)
        assert f"arn:aws:s3:::{prefix}-" in prefixes("tenant-buckets")
        assert f"arn:aws:dynamodb:us-east-1:123456789012:table/{prefix}" in prefixes("tenant-tables")
    healthlake = selectors["healthlake"]
    assert {"Field": "resources.type", "Equals": ["AWS::HealthLake::FHIRDatastore"]} in healthlake


def test_tenant_bucket_names_fall_under_the_trails_prefixes(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        for bucket in assembly.tenant(tenant.id).props("AWS::S3::Bucket"):
            assert render(bucket["BucketName"]).startswith(f"{topology.tenant_prefix(tenant.id)}-")


def test_api_gateway_logs_through_the_accounts_role(assembly: Assembly) -> None:
    t = assembly.baseline("us-east-1")
    _, account = t.one("AWS::ApiGateway::Account")
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = t.resources[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["ManagedPolicyArns"])


def test_each_tenants_chime_events_are_forwarded_from_the_default_bus_to_its_own_bus(
    assembly: Assembly,
) -> None:
    t = assembly.baseline("us-east-1")
    rules = {r["Properties"]["Name"]: r["Properties"] for r in t.of_type("AWS::Events::Rule").values()}
    for tenant in assembly.tenants:
        rule = rules[topology.chime_forwarding_rule_name(tenant.id)]
        assert "EventBusName" not in rule  # the account's default bus, where Chime publishes
        assert rule["EventPattern"]["source"] == ["aws.chime"]
        assert rule["EventPattern"]["detail"] == {"externalMeetingId": [{"prefix": f"{tenant.id}:"}]}
        (target,) = rule["Targets"]
        assert render(target["Arn"]).endswith(f":event-bus/{topology.TENANT_BUS.name(tenant.id)}")
        assert "DeadLetterConfig" in target and "RoleArn" in target


def test_one_tenants_prefix_never_matches_anothers_meetings() -> None:
    # "clinic:" must not swallow "clinic-two:..." meetings: the colon ends the tenant id.
    pattern = topology.chime_forwarding_pattern("clinic")["detail"]["externalMeetingId"][0]["prefix"]
    assert not "clinic-two:visit-1".startswith(pattern)
    assert "clinic:visit-1".startswith(pattern)


def test_the_network_is_isolated_logged_and_reaches_aws_through_endpoints(assembly: Assembly) -> None:
    t = assembly.baseline("us-east-1")
    assert not t.of_type("AWS::EC2::InternetGateway")
    assert not t.of_type("AWS::EC2::NatGateway")
    subnets = t.props("AWS::EC2::Subnet")
    assert len(subnets) >= 2 and not any(s.get("MapPublicIpOnLaunch") for s in subnets)
    _, flow = t.one("AWS::EC2::FlowLog")
    assert flow["Properties"]["TrafficType"] == "ALL"
    assert flow["Properties"]["LogDestinationType"] == "cloud-watch-logs"
    endpoints = [render(e["ServiceName"]) for e in t.props("AWS::EC2::VPCEndpoint")]
    flat = json.dumps(endpoints)
    for service in (
        "s3",
        "dynamodb",
        "kms",
        "logs",
        "events",
        "states",
        "sqs",
        "sns",
        "sts",
        "ecr.api",
        "ecr.dkr",
    ):
        assert f".{service}" in flat, service
    assert "healthlake" in flat and "meetings-chime" in flat and "media-pipelines-chime" in flat
    assert len(endpoints) == len(INTERFACE_ENDPOINTS) + 2
