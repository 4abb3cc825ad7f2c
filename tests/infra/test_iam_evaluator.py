"""The IAM evaluator the parity checks rely on: its rules on small templates written here, then its
answers on the synthesized tenant stack (riverside) and the account baseline."""

from __future__ import annotations

import time
from typing import Any

import pytest

from infra import topology
from local.parity.policies import Access, Decision, PolicyError, TemplatePolicies
from tests.conftest import FAKE_ACCOUNT, Assembly

REGION = "us-east-1"
TENANT = "t"
TABLE = f"arn:aws:dynamodb:{REGION}:{FAKE_ACCOUNT}:table/telehealth-t"
KEY = f"arn:aws:kms:{REGION}:{FAKE_ACCOUNT}:key/Key"
ROOT = {"Fn::Join": ["", ["arn:aws:iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
TLS_ONLY = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


# --- small templates --------------------------------------------------------------------------------


def _role(**properties: Any) -> dict[str, Any]:
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust, **properties}}


def _policy(role: str, *statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": f"{role}Policy",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
            "Roles": [{"Ref": role}],
        },
    }


def _function(key: str, role: str = "Role") -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {"FunctionName": f"telehealth-{TENANT}-{key}", "Role": {"Fn::GetAtt": [role, "Arn"]}},
    }


def _allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _key(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": list(statements)}}}


def _bucket_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": {"Statement": list(statements)}},
    }


def _load(resources: dict[str, Any], baseline: dict[str, Any] | None = None) -> TemplatePolicies:
    return TemplatePolicies.load(
        {"Resources": resources}, baseline, tenant_id=TENANT, account=FAKE_ACCOUNT, region=REGION
    )


def _with(*statements: dict[str, Any], **resources: Any) -> TemplatePolicies:
    """A function `fn` whose role's policy holds these statements, beside the given resources."""
    return _load(
        {"Role": _role(), "RolePolicy": _policy("Role", *statements), "Fn": _function("fn"), **resources}
    )


def _decide(policies: TemplatePolicies, action: str, resource: str, **context: str) -> Decision:
    return policies.decide(Access("function:fn", action, resource, context))


BUCKET = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "bucket"}}


# --- identity policies ------------------------------------------------------------------------------


def test_an_identity_policy_allows_what_it_names_and_nothing_else() -> None:
    policies = _with(_allow(["dynamodb:GetItem", "dynamodb:PutItem"], TABLE))

    allowed = _decide(policies, "dynamodb:PutItem", TABLE)
    assert allowed.allowed, allowed.why
    assert [(m.policy, m.index) for m in allowed.matched] == [("RolePolicy", 0)]
    assert allowed.matched[0].resources == (TABLE,)

    other_action = _decide(policies, "dynamodb:DeleteItem", TABLE)
    other_table = _decide(policies, "dynamodb:PutItem", f"{TABLE}-other")
    assert not other_action.allowed and not other_action.matched
    assert not other_table.allowed
    # The denial says where the grant that nearly applies lives.
    assert "RolePolicy#0 grants it on" in other_table.why


def test_inline_managed_and_aws_managed_policies_all_count() -> None:
    managed = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "ManagedPolicyName": "shared",
            "PolicyDocument": {"Statement": [_allow("sqs:SendMessage", "*")]},
        },
    }
    role = _role(
        Policies=[{"PolicyName": "own", "PolicyDocument": {"Statement": [_allow("sns:Publish", "*")]}}],
        ManagedPolicyArns=[
            {"Ref": "Shared"},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
        ],
    )
    policies = _load({"Role": role, "Shared": managed, "Fn": _function("fn")})

    by = {a: _decide(policies, a, "*").matched[0].policy for a in ("sns:Publish", "sqs:SendMessage")}
    assert by == {"sns:Publish": "inline:Role/own", "sqs:SendMessage": "Shared"}
    logs = _decide(policies, "logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:x")
    assert logs.allowed and logs.matched[0].policy == "aws-managed:AWSLambdaBasicExecutionRole"
    assert {g.policy for g in policies.grants("function:fn")} == {
        "inline:Role/own",
        "Shared",
        "aws-managed:AWSLambdaBasicExecutionRole",
    }


def test_an_aws_managed_policy_moto_does_not_bundle_is_an_error_when_its_role_is_asked_about() -> None:
    role = _role(ManagedPolicyArns=["arn:aws:iam::aws:policy/service-role/NoSuchPolicyAnywhere"])
    policies = _load(
        {"Role": role, "Fn": _function("fn"), "Other": _role(), "OtherFn": _function("ok", "Other")}
    )

    assert policies.problems and "NoSuchPolicyAnywhere" in policies.problems[0]
    with pytest.raises(PolicyError, match="NoSuchPolicyAnywhere"):
        _decide(policies, "s3:GetObject", "arn:aws:s3:::bucket/key")
    # The other roles are still answered for.
    assert not policies.decide(Access("function:ok", "s3:GetObject", "arn:aws:s3:::bucket/key")).allowed


def test_not_action_allows_everything_else_and_explicit_deny_still_wins() -> None:
    policies = _with(
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    )

    assert _decide(policies, "s3:GetObject", "arn:aws:s3:::bucket/key").allowed
    assert _decide(policies, "s3:GetObject", "arn:aws:s3:::bucket/key").matched[0].actions == ("NOT", "iam:*")
    assert not _decide(policies, "iam:CreateUser", "*").allowed
    denied = _decide(policies, "s3:DeleteObject", "arn:aws:s3:::bucket/key")
    assert not denied.allowed and "explicitly denied by RolePolicy#1" in denied.why


def test_not_resource() -> None:
    policies = _with({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"})

    assert _decide(policies, "s3:GetObject", "arn:aws:s3:::open/key").allowed
    assert not _decide(policies, "s3:GetObject", "arn:aws:s3:::secret/key").allowed


@pytest.mark.parametrize(
    ("pattern", "resource", "allowed"),
    [
        ("arn:aws:s3:::bucket/recordings/*", "arn:aws:s3:::bucket/recordings/a/b.mp4", True),
        ("arn:aws:s3:::bucket/recordings/*", "arn:aws:s3:::bucket/captures/x", False),
        ("arn:aws:s3:::bucket/recordings/*", "arn:aws:s3:::bucket", False),
        ("arn:aws:s3:::bucket/day-?.json", "arn:aws:s3:::bucket/day-1.json", True),
        ("arn:aws:s3:::bucket/day-?.json", "arn:aws:s3:::bucket/day-12.json", False),
        ("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/key", False),  # resources are case-sensitive
        (
            "arn:aws:lambda:us-east-1:123456789012:function:fn:*",
            "arn:aws:lambda:us-east-1:123456789012:function:fn",
            False,
        ),
        ("*", "arn:aws:anything:::at/all", True),
        ("arn:aws:s3:::bucket/*", "*", False),  # an action with no resource type needs Resource "*"
    ],
)
def test_resource_wildcards(pattern: str, resource: str, allowed: bool) -> None:
    assert _decide(_with(_allow("s3:GetObject", pattern)), "s3:GetObject", resource).allowed is allowed


def test_actions_match_case_insensitively_and_with_wildcards() -> None:
    policies = _with(_allow(["kms:GenerateDataKey*", "S3:getobject"], "*"))

    for action in ("kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "s3:GetObject"):
        assert _decide(policies, action, "*").allowed, action
    assert not _decide(policies, "kms:Decrypt", "*").allowed


# --- resource policies ------------------------------------------------------------------------------


def test_an_explicit_deny_in_a_bucket_policy_beats_an_identity_allow() -> None:
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::bucket/sealed/*",
    }
    policies = _with(
        _allow("s3:GetObject", "arn:aws:s3:::bucket/*"), Bucket=BUCKET, Policy=_bucket_policy(deny)
    )

    assert _decide(policies, "s3:GetObject", "arn:aws:s3:::bucket/open/x").allowed
    denied = _decide(policies, "s3:GetObject", "arn:aws:s3:::bucket/sealed/x")
    assert not denied.allowed and not denied.matched
    assert "explicitly denied by bucket-policy:Policy#0" in denied.why


def test_the_tls_only_deny_does_not_apply_to_tls_calls() -> None:
    policies = _with(_allow("s3:*", "arn:aws:s3:::bucket/*"), Bucket=BUCKET, Policy=_bucket_policy(TLS_ONLY))

    assert _decide(policies, "s3:PutObject", "arn:aws:s3:::bucket/key").allowed
    plain = _decide(policies, "s3:PutObject", "arn:aws:s3:::bucket/key", **{"aws:SecureTransport": "false"})
    assert not plain.allowed and "bucket-policy:Policy#0" in plain.why


def test_a_resource_policy_naming_the_role_allows_without_an_identity_policy() -> None:
    role_arn = {"Fn::GetAtt": ["Role", "Arn"]}
    named = {"Effect": "Allow", "Principal": {"AWS": role_arn}, "Action": "s3:GetObject", "Resource": "*"}
    policies = _with(Bucket=BUCKET, Policy=_bucket_policy(named))

    decision = _decide(policies, "s3:GetObject", "arn:aws:s3:::bucket/key")
    assert decision.allowed and decision.matched[0].policy == "bucket-policy:Policy"


def test_a_resource_policy_naming_the_account_delegates_to_iam_and_allows_no_role_by_itself() -> None:
    account = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "s3:GetObject", "Resource": "*"}
    policies = _with(Bucket=BUCKET, Policy=_bucket_policy(account))

    decision = _decide(policies, "s3:GetObject", "arn:aws:s3:::bucket/key")
    assert not decision.allowed and "delegates to IAM" in decision.why


def test_a_service_principal_is_allowed_only_by_a_resource_policy_whose_conditions_hold() -> None:
    chime = {
        "Effect": "Allow",
        "Principal": {"Service": "mediapipelines.chime.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::bucket/captures/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
    policies = _with(Bucket=BUCKET, Policy=_bucket_policy(TLS_ONLY, chime))

    def put(service: str, key: str, **context: str) -> Decision:
        return policies.decide(
            Access(f"service:{service}", "s3:PutObject", f"arn:aws:s3:::bucket/{key}", context)
        )

    allowed = put("mediapipelines.chime.amazonaws.com", "captures/x", **{"aws:SourceAccount": FAKE_ACCOUNT})
    assert allowed.allowed and allowed.matched[0].index == 1
    missing = put("mediapipelines.chime.amazonaws.com", "captures/x")
    assert not missing.allowed and "aws:SourceAccount" in missing.why and "absent" in missing.why
    assert not put(
        "mediapipelines.chime.amazonaws.com", "captures/x", **{"aws:SourceAccount": "999999999999"}
    ).allowed
    assert not put(
        "mediapipelines.chime.amazonaws.com", "recordings/x", **{"aws:SourceAccount": FAKE_ACCOUNT}
    ).allowed
    assert not put("transcribe.amazonaws.com", "captures/x", **{"aws:SourceAccount": FAKE_ACCOUNT}).allowed
    assert policies.grants("service:mediapipelines.chime.amazonaws.com") == []


def test_lambda_permissions_are_the_functions_resource_policy() -> None:
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]},
        },
    }
    rule = {
        "Type": "AWS::Events::Rule",
        "Properties": {"Name": "every-minute", "ScheduleExpression": "rate(1 minute)"},
    }
    policies = _with(Permission=permission, Rule=rule)
    function = f"arn:aws:lambda:{REGION}:{FAKE_ACCOUNT}:function:telehealth-t-fn"
    rule_arn = f"arn:aws:events:{REGION}:{FAKE_ACCOUNT}:rule/every-minute"

    def invoke(source: str) -> bool:
        access = Access(
            "service:events.amazonaws.com", "lambda:InvokeFunction", function, {"aws:SourceArn": source}
        )
        return policies.decide(access).allowed

    assert invoke(rule_arn)
    assert not invoke(f"{rule_arn}-other")


def test_queue_policies_reach_the_queue_through_its_url() -> None:
    queue = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "dlq"}}
    queue_policy = {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": "Queue"}],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": {"Fn::GetAtt": ["Queue", "Arn"]},
                    }
                ]
            },
        },
    }
    policies = _with(Queue=queue, QueuePolicy=queue_policy)
    arn = f"arn:aws:sqs:{REGION}:{FAKE_ACCOUNT}:dlq"

    decision = policies.decide(Access("service:events.amazonaws.com", "sqs:SendMessage", arn))
    assert decision.allowed and decision.matched[0].policy == "queue-policy:QueuePolicy"


# --- KMS --------------------------------------------------------------------------------------------

USE_KEY = _allow(["kms:Decrypt", "kms:GenerateDataKey*"], {"Fn::GetAtt": ["Key", "Arn"]})
DELEGATE = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}


def test_an_identity_allow_without_the_key_policy_delegating_to_the_account_is_denied() -> None:
    policies = _with(
        USE_KEY,
        Key=_key(
            {
                "Effect": "Allow",
                "Principal": {"Service": "logs.amazonaws.com"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ),
    )

    decision = _decide(policies, "kms:Decrypt", KEY)
    assert not decision.allowed
    assert (
        "RolePolicy#0 allows it, but the key policy neither names the principal nor delegates" in decision.why
    )


def test_with_the_key_policy_delegating_to_the_account_the_identity_policy_decides() -> None:
    policies = _with(USE_KEY, Key=_key(DELEGATE))

    decision = _decide(policies, "kms:Decrypt", KEY)
    assert decision.allowed, decision.why
    assert [m.policy for m in decision.matched] == ["key-policy:Key", "RolePolicy"]
    refused = _decide(policies, "kms:Encrypt", KEY)
    assert not refused.allowed and "delegates to IAM (key-policy:Key#0) but no identity policy" in refused.why


def test_a_key_policy_naming_the_role_needs_no_identity_policy() -> None:
    direct = {
        "Effect": "Allow",
        "Principal": {"AWS": {"Fn::GetAtt": ["Role", "Arn"]}},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    policies = _with(Key=_key(direct))

    assert _decide(policies, "kms:Decrypt", KEY).allowed
    assert not _decide(policies, "kms:GenerateDataKey", KEY).allowed


def test_an_alias_is_authorized_as_its_key_and_an_unknown_key_is_denied() -> None:
    alias = {
        "Type": "AWS::KMS::Alias",
        "Properties": {"AliasName": "alias/clinic", "TargetKeyId": {"Ref": "Key"}},
    }
    policies = _with(USE_KEY, Key=_key(DELEGATE), Alias=alias)

    assert _decide(policies, "kms:Decrypt", f"arn:aws:kms:{REGION}:{FAKE_ACCOUNT}:alias/clinic").allowed
    unknown = _decide(policies, "kms:Decrypt", f"arn:aws:kms:{REGION}:{FAKE_ACCOUNT}:key/elsewhere")
    assert not unknown.allowed and "key policy" in unknown.why


def test_a_service_principal_needs_the_key_policy() -> None:
    events = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
    policies = _with(Key=_key(DELEGATE, events))

    def ask(service: str, **context: str) -> Decision:
        return policies.decide(Access(f"service:{service}", "kms:GenerateDataKey", KEY, context))

    assert ask("events.amazonaws.com", **{"aws:SourceAccount": FAKE_ACCOUNT}).allowed
    assert not ask("events.amazonaws.com").allowed
    # The account's delegation is to IAM principals: a service acting as itself has no identity policy.
    assert not ask("sns.amazonaws.com", **{"aws:SourceAccount": FAKE_ACCOUNT}).allowed


# --- conditions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        ({"StringEquals": {"s3:prefix": ["a", "b"]}}, {"s3:prefix": "b"}, True),
        ({"StringEquals": {"s3:prefix": "a"}}, {"s3:prefix": "A"}, False),
        ({"StringEqualsIgnoreCase": {"s3:prefix": "a"}}, {"s3:prefix": "A"}, True),
        ({"StringEquals": {"s3:prefix": "a"}}, {}, False),  # absent key: the condition is false
        ({"StringEqualsIfExists": {"s3:prefix": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"s3:prefix": "a"}}, {"s3:prefix": "b"}, False),
        ({"StringNotEquals": {"s3:prefix": "a"}}, {}, True),  # negated operators hold on absence
        ({"StringNotEquals": {"s3:prefix": ["a", "b"]}}, {"s3:prefix": "b"}, False),
        (
            {"StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"}},
            {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"},
            True,
        ),
        (
            {"StringNotLike": {"kms:ViaService": "s3.*"}},
            {"kms:ViaService": "sqs.us-east-1.amazonaws.com"},
            True,
        ),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:123456789012:rule/*"}},
            {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/r"},
            True,
        ),
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:events:*:123456789012:rule/*"}},
            {"aws:SourceArn": "arn:aws:events:us-east-1:999999999999:rule/r"},
            False,
        ),
        ({"ArnNotLike": {"aws:SourceArn": "arn:aws:sqs:*"}}, {}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, {}, True),  # every call here is TLS
        ({"Bool": {"aws:SecureTransport": True}}, {}, True),
        ({"NumericLessThan": {"s3:TlsVersion": 1.2}}, {"s3:TlsVersion": "1.3"}, False),
        ({"NumericLessThan": {"s3:TlsVersion": 1.2}}, {}, False),
        ({"NumericGreaterThanEquals": {"s3:TlsVersion": "1.2"}}, {"s3:TlsVersion": "1.2"}, True),
        ({"Null": {"aws:SourceArn": "true"}}, {}, True),
        ({"Null": {"aws:SourceArn": "false"}}, {}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": "b"}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": "c"}, False),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, True),
        # Several operators, several keys: all of them must hold.
        (
            {"StringEquals": {"a:one": "1", "a:two": "2"}, "Bool": {"a:three": "true"}},
            {"a:one": "1", "a:two": "2", "a:three": "true"},
            True,
        ),
        ({"StringEquals": {"a:one": "1", "a:two": "2"}}, {"a:one": "1"}, False),
        # Condition key names are case-insensitive; their values are not.
        (
            {"StringEquals": {"AWS:SourceAccount": "123456789012"}},
            {"aws:sourceaccount": "123456789012"},
            True,
        ),
        # The role's own account is known to every request it makes.
        ({"StringEquals": {"aws:PrincipalAccount": "123456789012"}}, {}, True),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, str], allowed: bool) -> None:
    policies = _with(_allow("s3:GetObject", "*", Condition=condition))
    assert _decide(policies, "s3:GetObject", "arn:aws:s3:::bucket/key", **context).allowed is allowed


@pytest.mark.parametrize(
    ("operator", "wanted", "keys", "allowed"),
    [
        ("ForAllValues:StringEquals", ["a"], ("a", "b"), False),  # every request value must match
        ("ForAllValues:StringEquals", ["a", "b"], ("b", "a"), True),
        ("ForAllValues:StringEquals", ["a"], (), True),  # vacuously
        ("ForAnyValue:StringEquals", ["b"], ("a", "b"), True),
        ("ForAnyValue:StringEquals", ["c"], ("a", "b"), False),
        ("ForAnyValue:StringEquals", ["a"], (), False),
    ],
)
def test_a_multivalued_key_is_a_set_to_the_set_operators(
    operator: str, wanted: list[str], keys: tuple[str, ...], allowed: bool
) -> None:
    policies = _with(_allow("chime:CreateMeeting", "*", Condition={operator: {"aws:TagKeys": wanted}}))
    access = Access("function:fn", "chime:CreateMeeting", "*", {"aws:TagKeys": keys})
    assert policies.decide(access).allowed is allowed


def test_an_unknown_condition_operator_is_an_error_on_load() -> None:
    with pytest.raises(PolicyError, match="StringSortOf"):
        _with(_allow("s3:GetObject", "*", Condition={"StringSortOf": {"s3:prefix": "a"}}))


# --- rendering --------------------------------------------------------------------------------------


def test_intrinsics_render_to_the_arns_aws_would_compare() -> None:
    resources = {
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"StateMachineName": "flow"}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
    }
    executions = {
        "Fn::Join": [
            "",
            [
                "arn:aws:states:us-east-1:",
                {"Ref": "AWS::AccountId"},
                ":execution:",
                {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": "Machine"}]}]},
                ":*",
            ],
        ]
    }
    sub = {
        "Fn::Sub": [
            "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Name}",
            {"Name": {"Fn::GetAtt": ["Queue", "QueueName"]}},
        ]
    }
    policies = _with(
        _allow("states:DescribeExecution", executions), _allow("sqs:SendMessage", sub), **resources
    )

    assert _decide(
        policies, "states:DescribeExecution", f"arn:aws:states:{REGION}:{FAKE_ACCOUNT}:execution:flow:run-1"
    ).allowed
    # A queue without a name gets a stable stand-in for CloudFormation's generated one.
    assert policies.physical("Queue", "Arn") == f"arn:aws:sqs:{REGION}:{FAKE_ACCOUNT}:telehealth-t-Queue"
    assert _decide(policies, "sqs:SendMessage", str(policies.physical("Queue", "Arn"))).allowed


def test_imports_resolve_from_the_baseline_exports_and_the_unresolvable_matches_nothing() -> None:
    baseline = {
        "Resources": {"Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "shared"}}},
        "Outputs": {"BusArn": {"Value": {"Fn::GetAtt": ["Bus", "Arn"]}, "Export": {"Name": "base:BusArn"}}},
    }
    role = _role()
    resources = {
        "Role": role,
        "RolePolicy": _policy(
            "Role",
            _allow("events:PutEvents", {"Fn::ImportValue": "base:BusArn"}),
            _allow("events:PutEvents", {"Fn::ImportValue": "base:Missing"}),
            _allow("sqs:SendMessage", {"Fn::GetAtt": ["Nowhere", "Arn"]}),
        ),
        "Fn": _function("fn"),
    }
    policies = _load(resources, baseline)

    assert _decide(
        policies, "events:PutEvents", f"arn:aws:events:{REGION}:{FAKE_ACCOUNT}:event-bus/shared"
    ).allowed
    rendered = [r for g in policies.grants("function:fn") for r in g.resources]
    assert "<unresolved:ImportValue.base:Missing>" in rendered
    assert "<unresolved:Nowhere.Arn>" in rendered
    assert not _decide(policies, "sqs:SendMessage", "*").allowed


# --- implied KMS calls ------------------------------------------------------------------------------


def test_implied_kms_calls_follow_the_stores_encryption() -> None:
    key_arn = {"Fn::GetAtt": ["Key", "Arn"]}
    resources = {
        "Key": _key(DELEGATE),
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": "bucket",
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": key_arn,
                            }
                        }
                    ]
                },
            },
        },
        "Plain": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "plain"}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q", "KmsMasterKeyId": key_arn}},
        "Topic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": "alarms", "KmsMasterKeyId": {"Ref": "Key"}},
        },
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "telehealth-t",
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
            },
        },
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "bus", "KmsKeyIdentifier": key_arn}},
        "Fhir": {
            "Type": "AWS::HealthLake::FHIRDatastore",
            "Properties": {
                "SseConfiguration": {
                    "KmsEncryptionConfig": {"CmkType": "CUSTOMER_MANAGED_KMS_KEY", "KmsKeyId": key_arn}
                }
            },
        },
    }
    policies = _with(_allow("*", "*"), **resources)
    datastore = f"arn:aws:healthlake:{REGION}:{FAKE_ACCOUNT}:datastore/fhir/local"

    def implied(action: str, resource: str) -> list[str]:
        found = policies.implied(Access("function:fn", action, resource))
        assert all(a.resource == KEY and a.principal == "function:fn" for a in found)
        return [a.action for a in found]

    assert implied("s3:PutObject", "arn:aws:s3:::bucket/k") == ["kms:GenerateDataKey"]
    assert implied("s3:GetObject", "arn:aws:s3:::bucket/k") == ["kms:Decrypt"]
    assert implied("s3:ListBucket", "arn:aws:s3:::bucket") == []
    assert implied("s3:PutObject", "arn:aws:s3:::plain/k") == []  # SSE-S3: no key of ours
    assert implied("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{FAKE_ACCOUNT}:q") == [
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
    assert implied("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{FAKE_ACCOUNT}:q") == ["kms:Decrypt"]
    assert implied("sns:Publish", f"arn:aws:sns:{REGION}:{FAKE_ACCOUNT}:alarms") == [
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
    assert implied("dynamodb:PutItem", TABLE) == ["kms:Decrypt"]
    assert implied("dynamodb:Query", f"{TABLE}/index/gsi1") == ["kms:Decrypt"]
    assert implied("dynamodb:DescribeTable", TABLE) == []
    assert implied("events:PutEvents", f"arn:aws:events:{REGION}:{FAKE_ACCOUNT}:event-bus/bus") == []
    assert implied("healthlake:CreateResource", datastore) == ["kms:DescribeKey", "kms:GenerateDataKey"]
    assert implied("healthlake:SearchWithPost", datastore) == ["kms:DescribeKey", "kms:Decrypt"]

    (call,) = policies.implied(Access("function:fn", "s3:GetObject", "arn:aws:s3:::bucket/k"))
    assert call.context["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert call.context["kms:CallerAccount"] == FAKE_ACCOUNT
    assert policies.decide(call).allowed


# --- the synthesized templates ----------------------------------------------------------------------

RECORDINGS = f"arn:aws:s3:::telehealth-riverside-recordings-{FAKE_ACCOUNT}"
CLINIC_TABLE = f"arn:aws:dynamodb:{REGION}:{FAKE_ACCOUNT}:table/telehealth-riverside"
CHIME = "service:mediapipelines.chime.amazonaws.com"


def _policies(assembly: Assembly, tenant_id: str) -> TemplatePolicies:
    return TemplatePolicies.load(
        assembly.tenant(tenant_id).body,
        assembly.baseline(REGION).body,
        tenant_id=tenant_id,
        account=FAKE_ACCOUNT,
        region=REGION,
    )


@pytest.fixture(scope="module")
def riverside(assembly: Assembly) -> TemplatePolicies:
    return _policies(assembly, "riverside")


@pytest.fixture(scope="module")
def desert(assembly: Assembly) -> TemplatePolicies:
    """Remote monitoring's stack: riverside has it off."""
    return _policies(assembly, "desert-clinic")


def _tenant_of(function: str) -> str:
    """A tenant whose stack has the function: riverside, but for a feature only desert-clinic has
    (remote monitoring, triage)."""
    spec = next(f for f in topology.FUNCTIONS if f.key == function)
    return "desert-clinic" if spec.feature in ("rpm", "triage") else "riverside"


def _allowed_with_its_kms(policies: TemplatePolicies, access: Access) -> None:
    decision = policies.decide(access)
    assert decision.allowed, decision.why
    for call in policies.implied(access):
        kms = policies.decide(call)
        assert kms.allowed, kms.why


def test_loading_a_tenant_stack_takes_well_under_a_second(
    assembly: Assembly, riverside: TemplatePolicies
) -> None:
    started = time.perf_counter()
    TemplatePolicies.load(
        assembly.tenant("riverside").body,
        assembly.baseline(REGION).body,
        tenant_id="riverside",
        account=FAKE_ACCOUNT,
        region=REGION,
    )
    assert time.perf_counter() - started < 0.5


def test_every_function_and_task_is_a_principal(
    riverside: TemplatePolicies, desert: TemplatePolicies
) -> None:
    principals = riverside.principals()
    for function in topology.FUNCTIONS:
        kept = desert.principals() if _tenant_of(function.key) == "desert-clinic" else principals
        assert f"function:{function.key}" in kept
    for task in topology.CONTAINER_TASKS:
        assert f"task:{task.key}" in principals
    for rule in topology.RULES:
        if isinstance(rule.target, topology.ContainerTask):
            assert f"rule-role:{rule.name('riverside')}" in principals
    assert "rule-role:telehealth-riverside-chime-forward" in principals  # the baseline's, for this tenant
    assert "rule-role:telehealth-desert-clinic-chime-forward" not in principals
    assert CHIME in principals


def test_no_grant_of_a_function_or_task_role_names_anything_unresolved(riverside: TemplatePolicies) -> None:
    for principal in riverside.principals():
        if principal.startswith(("function:", "task:", "rule-role:")):
            for grant in riverside.grants(principal):
                text = " ".join(grant.actions + grant.resources)
                assert "<unresolved:" not in text, (principal, grant)


@pytest.mark.parametrize("function", [f.key for f in topology.FUNCTIONS if not f.on_egress_path])
def test_every_function_reads_the_clinic_table_with_its_key_and_writes_it_if_granted(
    riverside: TemplatePolicies, desert: TemplatePolicies, function: str
) -> None:
    tenant_id = _tenant_of(function)
    policies = desert if tenant_id == "desert-clinic" else riverside
    table = CLINIC_TABLE.replace("telehealth-riverside", f"telehealth-{tenant_id}")
    for action in ("dynamodb:GetItem", "dynamodb:Query"):
        _allowed_with_its_kms(policies, Access(f"function:{function}", action, table))
    put = Access(f"function:{function}", "dynamodb:PutItem", table)
    spec = next(f for f in topology.FUNCTIONS if f.key == function)
    if "table:write" in spec.grants:
        _allowed_with_its_kms(policies, put)
    else:  # the visit reconciler only reads
        assert not policies.decide(put).allowed


def test_the_readings_queue_takes_the_api_s_messages_and_hands_them_to_the_readings_function_only(
    desert: TemplatePolicies,
) -> None:
    queue = f"arn:aws:sqs:{REGION}:{FAKE_ACCOUNT}:telehealth-desert-clinic-readings-work.fifo"
    _allowed_with_its_kms(desert, Access("function:api", "sqs:SendMessage", queue))
    _allowed_with_its_kms(desert, Access("function:readings", "sqs:ReceiveMessage", queue))
    _allowed_with_its_kms(desert, Access("function:readings", "sqs:DeleteMessage", queue))
    for other in ("outbox-relay", "visit-tasks", "chime-events"):
        assert not desert.decide(Access(f"function:{other}", "sqs:SendMessage", queue)).allowed
    assert not desert.decide(Access("function:api", "sqs:ReceiveMessage", queue)).allowed


def test_the_api_writes_the_table_and_reads_no_recording(riverside: TemplatePolicies) -> None:
    put = Access("function:api", "dynamodb:PutItem", CLINIC_TABLE)
    _allowed_with_its_kms(riverside, put)
    (decrypt,) = riverside.implied(put)
    assert decrypt.action == "kms:Decrypt"
    assert decrypt.resource == riverside.physical("Key961B73FD", "Arn")

    recording = riverside.decide(Access("function:api", "s3:GetObject", f"{RECORDINGS}/recordings/x.mp4"))
    assert not recording.allowed
    assert "function:api" in recording.why and "no identity policy" in recording.why


def test_a_photo_upload_slot_signed_by_the_api_may_put_a_cases_photo_and_nothing_else(
    riverside: TemplatePolicies,
) -> None:
    """The browser's presigned POST is the api role's PutObject: allowed under cases/ alone, with
    the tenant's key (the bucket encrypts with it); never a read of what was uploaded."""
    uploads = f"arn:aws:s3:::telehealth-riverside-uploads-{FAKE_ACCOUNT}"
    _allowed_with_its_kms(riverside, Access("function:api", "s3:PutObject", f"{uploads}/cases/c/p/original"))
    for action, resource in (
        ("s3:PutObject", f"{uploads}/elsewhere/x"),
        ("s3:GetObject", f"{uploads}/cases/c/p/original"),
        ("s3:PutObject", f"{RECORDINGS}/cases/c/p/original"),
    ):
        assert not riverside.decide(Access("function:api", action, resource)).allowed, (action, resource)


def test_the_payments_function_reads_its_stripe_secret_and_nothing_of_the_clinic(
    riverside: TemplatePolicies,
) -> None:
    # Secrets Manager's ARN for the secret: its name and six characters of its own.
    secret = f"arn:aws:secretsmanager:{REGION}:{FAKE_ACCOUNT}:secret:telehealth/riverside/stripe-Ab12Cd"
    read = Access("function:payments", "secretsmanager:GetSecretValue", secret)
    _allowed_with_its_kms(riverside, read)
    (decrypt,) = riverside.implied(read)
    assert decrypt.action == "kms:Decrypt"
    assert decrypt.context["kms:ViaService"] == f"secretsmanager.{REGION}.amazonaws.com"
    # Another tenant's secret, or a longer name sharing the prefix, is not this one.
    for other in (secret.replace("riverside", "desert-clinic"), secret.replace("stripe-", "stripe-old-")):
        refused = riverside.decide(Access("function:payments", "secretsmanager:GetSecretValue", other))
        assert not refused.allowed, other
    for action, resource in (
        ("dynamodb:GetItem", CLINIC_TABLE),
        ("s3:GetObject", f"{RECORDINGS}/recordings/x.mp4"),
        ("healthlake:ReadResource", f"arn:aws:healthlake:{REGION}:{FAKE_ACCOUNT}:datastore/fhir/local"),
    ):
        assert not riverside.decide(Access("function:payments", action, resource)).allowed, action
    # Only the payments function may read the secret.
    assert not riverside.decide(Access("function:api", "secretsmanager:GetSecretValue", secret)).allowed


def test_the_api_may_invoke_the_payments_function_and_no_other(riverside: TemplatePolicies) -> None:
    function = f"arn:aws:lambda:{REGION}:{FAKE_ACCOUNT}:function:telehealth-riverside-{{}}"
    payments = Access("function:api", "lambda:InvokeFunction", function.format("payments"))
    assert riverside.decide(payments).allowed
    for other in ("visit-tasks", "outbox-relay"):
        assert not riverside.decide(
            Access("function:api", "lambda:InvokeFunction", function.format(other))
        ).allowed, other
    assert not riverside.decide(
        Access("function:visit-tasks", "lambda:InvokeFunction", function.format("payments"))
    ).allowed


def test_the_rppg_task_reads_a_recording_and_decrypts_it(riverside: TemplatePolicies) -> None:
    read = Access("task:rppg", "s3:GetObject", f"{RECORDINGS}/recordings/x.mp4")
    _allowed_with_its_kms(riverside, read)
    assert [a.action for a in riverside.implied(read)] == ["kms:Decrypt"]
    # The raw captures are Chime's to write, not the worker's to read.
    assert not riverside.decide(Access("task:rppg", "s3:GetObject", f"{RECORDINGS}/captures/x")).allowed


def test_chime_media_pipelines_write_captures_only_for_this_account(riverside: TemplatePolicies) -> None:
    capture = f"{RECORDINGS}/captures/x"
    ours = Access(CHIME, "s3:PutObject", capture, {"aws:SourceAccount": FAKE_ACCOUNT})
    _allowed_with_its_kms(riverside, ours)
    assert not riverside.decide(Access(CHIME, "s3:PutObject", capture)).allowed
    assert not riverside.decide(
        Access(CHIME, "s3:PutObject", capture, {"aws:SourceAccount": "999999999999"})
    ).allowed
    # Not over plain HTTP either: the bucket's TLS-only statement denies it.
    plain = riverside.decide(
        Access(
            CHIME,
            "s3:PutObject",
            capture,
            {"aws:SourceAccount": FAKE_ACCOUNT, "aws:SecureTransport": "false"},
        )
    )
    assert not plain.allowed and "explicitly denied" in plain.why


def test_eventbridge_delivers_to_its_targets_and_their_dlqs(
    riverside: TemplatePolicies, desert: TemplatePolicies
) -> None:
    for rule in topology.RULES:
        # A rule of a feature only desert-clinic has is checked in its stack.
        tenant = _tenant_of(rule.target.key) if isinstance(rule.target, topology.Function) else "riverside"
        policies = desert if tenant == "desert-clinic" else riverside
        rule_arn = (
            f"arn:aws:events:{REGION}:{FAKE_ACCOUNT}:rule/"
            + (f"telehealth-{tenant}/" if rule.bus is topology.BusKind.TENANT else "")
            + rule.name(tenant)
        )
        context = {"aws:SourceArn": rule_arn, "aws:SourceAccount": FAKE_ACCOUNT}
        dlq = f"arn:aws:sqs:{REGION}:{FAKE_ACCOUNT}:{rule.dlq.name(tenant)}"
        _allowed_with_its_kms(
            policies, Access("service:events.amazonaws.com", "sqs:SendMessage", dlq, context)
        )
        if isinstance(rule.target, topology.Function):
            function = f"arn:aws:lambda:{REGION}:{FAKE_ACCOUNT}:function:{rule.target.name(tenant)}"
            invoke = Access("service:events.amazonaws.com", "lambda:InvokeFunction", function, context)
            assert policies.decide(invoke).allowed, rule.key


def test_the_baselines_forwarding_rule_puts_chime_events_on_the_tenant_bus(
    riverside: TemplatePolicies,
) -> None:
    bus = f"arn:aws:events:{REGION}:{FAKE_ACCOUNT}:event-bus/telehealth-riverside"
    forward = riverside.decide(
        Access("rule-role:telehealth-riverside-chime-forward", "events:PutEvents", bus)
    )
    assert forward.allowed and forward.matched[0].policy.startswith("baseline/")
    other = f"arn:aws:events:{REGION}:{FAKE_ACCOUNT}:event-bus/telehealth-desert-clinic"
    assert not riverside.decide(
        Access("rule-role:telehealth-riverside-chime-forward", "events:PutEvents", other)
    ).allowed


def test_every_managed_policy_the_templates_attach_exists(riverside: TemplatePolicies) -> None:
    assert riverside.problems == []
