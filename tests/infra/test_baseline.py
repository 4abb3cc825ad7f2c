"""The account baseline: trail, API Gateway logging role, Chime forwarding, the shared network."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import topology
from infra.baseline import BLOCK_PRIORITY, INTERFACE_ENDPOINTS, endpoint_services
from local.parity.actions import OPERATIONS
from local.parity.report import domain_allowed, firewall_domains, service_host, subnet_kinds
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


def test_the_network_has_isolated_egress_and_nat_only_subnets_and_endpoints(assembly: Assembly) -> None:
    t = assembly.baseline("us-east-1")
    kinds = subnet_kinds(t.body)
    # Two AZs: two isolated subnets (endpoints only), two egress subnets (a route to their AZ's
    # NAT gateway), two public subnets holding the NAT gateways and nothing else.
    assert sorted(kinds.values()) == ["egress"] * 2 + ["isolated"] * 2 + ["public"] * 2
    assert len(t.of_type("AWS::EC2::NatGateway")) == 2 and len(t.of_type("AWS::EC2::InternetGateway")) == 1
    for nat in t.props("AWS::EC2::NatGateway"):
        assert kinds[nat["SubnetId"]["Ref"]] == "public"
    subnets = t.props("AWS::EC2::Subnet")
    assert not any(s.get("MapPublicIpOnLaunch") for s in subnets)
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
        "email",  # the SES API (reminders), not email-smtp
        "lambda",  # the api asking the payments function
    ):
        assert f".{service}" in flat, service
    assert "healthlake" in flat and "meetings-chime" in flat and "media-pipelines-chime" in flat
    assert len(endpoints) == len(INTERFACE_ENDPOINTS) + 2
    # Interface endpoints sit in the isolated subnets; gateway endpoints route for both private kinds.
    tables = {
        r["Properties"]["SubnetId"]["Ref"]: r["Properties"]["RouteTableId"]["Ref"]
        for r in t.of_type("AWS::EC2::SubnetRouteTableAssociation").values()
    }
    for endpoint in t.props("AWS::EC2::VPCEndpoint"):
        if "SubnetIds" in endpoint:
            assert {kinds[s["Ref"]] for s in endpoint["SubnetIds"]} == {"isolated"}
        else:
            private = {tables[s] for s, kind in kinds.items() if kind != "public"}
            assert {r["Ref"] for r in endpoint["RouteTableIds"]} == private


def _firewall(assembly: Assembly) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    t = assembly.baseline("us-east-1")
    _, association = t.one("AWS::Route53Resolver::FirewallRuleGroupAssociation")
    group = t.resources[association["Properties"]["FirewallRuleGroupId"]["Fn::GetAtt"][0]]["Properties"]
    return association["Properties"], sorted(group["FirewallRules"], key=lambda r: r["Priority"])


def test_the_dns_firewall_is_on_the_vpc_and_refuses_every_name_it_does_not_allow(assembly: Assembly) -> None:
    t = assembly.baseline("us-east-1")
    association, rules = _firewall(assembly)
    assert association["VpcId"] == {"Ref": t.one("AWS::EC2::VPC")[0]}
    assert 100 <= association["Priority"] <= 9900
    allow, block = rules
    assert allow["Action"] == "ALLOW"
    assert allow["FirewallDomainRedirectionAction"] == "TRUST_REDIRECTION_DOMAIN"
    # The last rule refuses everything (NXDOMAIN): what is not allowed does not resolve.
    assert block == rules[-1] and block["Priority"] == BLOCK_PRIORITY
    assert (block["Action"], block["BlockResponse"]) == ("BLOCK", "NXDOMAIN")
    everything = t.resources[block["FirewallDomainListId"]["Fn::GetAtt"][0]]["Properties"]
    assert everything["Domains"] == ["*"]


def test_the_dns_firewall_fails_closed(assembly: Assembly) -> None:
    """`AWS::Route53Resolver::FirewallConfig` is not provisionable by CloudFormation: the VPC's
    firewall config is pinned fail-closed by an SDK call at deployment."""
    t = assembly.baseline("us-east-1")
    (pin,) = [r["Properties"] for r in t.of_type("Custom::DnsFirewallFailClosed").values()]
    vpc = t.one("AWS::EC2::VPC")[0]
    for phase in ("Create", "Update"):
        call = render(pin[phase]).replace(f"<ref:{vpc}>", "VPC")
        assert json.loads(call)["action"] == "UpdateFirewallConfig"
        assert json.loads(call)["parameters"] == {"ResourceId": "VPC", "FirewallFailOpen": "DISABLED"}
    assert not t.of_type("AWS::Route53Resolver::FirewallConfig")


def test_the_allowed_names_are_the_aws_services_and_the_tenants_domains(assembly: Assembly) -> None:
    allowed = firewall_domains(assembly.baseline("us-east-1").body)
    assert allowed is not None
    tenants = [t for t in assembly.tenants if t.region == "us-east-1"]
    assert sorted(allowed) == list(topology.firewall_domains(tenants, "us-east-1", endpoint_services()))
    third_party = {d for t in tenants for d in t.egress_domains}
    # Riverside's (Stripe, Stedi for eligibility, Photon for prescriptions); desert-clinic has
    # payments off, Photon for prescriptions too, and remote monitoring's Dexcom.
    assert third_party == {
        "api.stripe.com",
        "healthcare.us.stedi.com",
        "api.photon.health",
        "auth.photon.health",
        "api.dexcom.com",
    }
    assert third_party <= set(allowed)
    assert not [d for d in allowed if d.startswith("*") and not d.endswith(".amazonaws.com")]


SERVICES = sorted({service for service, _ in OPERATIONS} | {"healthlake", "logs", "xray", "ecr"})


@pytest.mark.parametrize("service", SERVICES)
def test_every_aws_service_the_platform_calls_resolves_through_the_firewall(
    assembly: Assembly, service: str
) -> None:
    """What botocore calls (and Fargate and Lambda's own plumbing: logs, traces, images) must
    resolve in the VPC, whether through an endpoint's private name or through the NAT: a call
    added to the code without its name here would fail in AWS at DNS."""
    allowed = firewall_domains(assembly.baseline("us-east-1").body)
    assert allowed is not None
    assert domain_allowed(service_host(service, "us-east-1"), allowed), service_host(service, "us-east-1")


def test_a_literal_name_match_is_what_the_firewall_checks() -> None:
    assert domain_allowed("api.stripe.com", ["api.stripe.com"])
    assert not domain_allowed("evil.stripe.com", ["api.stripe.com"])
    assert domain_allowed("b.s3.amazonaws.com", ["*.s3.amazonaws.com"])
    assert not domain_allowed("s3.amazonaws.com", ["*.s3.amazonaws.com"])
    assert not domain_allowed("api.stripe.com.evil.example", ["api.stripe.com"])
