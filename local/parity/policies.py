"""Would AWS allow it? IAM evaluation over the synthesized CloudFormation templates.

moto checks no IAM policy, so a call that works locally can still be refused in AWS. This module
reads the tenant's template (and the account baseline's, for its imports and forwarding rules),
renders the intrinsics that build names and ARNs, and evaluates a principal's request the way AWS
does within one account: an explicit Deny in any applicable policy wins; otherwise an identity
policy or a resource policy naming the principal allows; a KMS key's policy is authoritative (it
must name the principal, or delegate to the account so that an identity policy can allow).

Physical ids that CloudFormation generates (a key id, an API id) are rendered as stable
placeholders derived from the logical id; anything that cannot be rendered becomes
`<unresolved:LogicalId.Attribute>`, which matches no real ARN, so it can only deny, never allow.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.parity.actions import ContextValue, bucket_of, queue_arn

Context = Mapping[str, ContextValue]

# --- The types callers use ------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    principal: str  # function:<key>, task:<key>, rule-role:<rule name>, role:<logical id>, service:<sp>
    action: str  # "dynamodb:PutItem", as AWS documents the IAM action
    resource: str  # a full ARN, or "*" for actions with no resource type
    context: Context = field(default_factory=dict)  # condition keys the call carries


@dataclass(frozen=True)
class StatementRef:
    policy: str  # a logical id, "aws-managed:<name>", "bucket-policy:<logical id>", ...
    index: int  # the statement's position in that policy document
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]  # as written, rendered; ("NOT", ...) for NotAction
    resources: tuple[str, ...]  # rendered; ("NOT", ...) for NotResource


@dataclass(frozen=True)
class Decision:
    allowed: bool
    why: str
    matched: tuple[StatementRef, ...]  # the Allow statements that granted it (empty when denied)


class PolicyError(Exception):
    """The templates hold something this evaluator cannot decide on (rather than guess)."""


# --- Wildcards ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _glob(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's `*` (any run of characters, `:` and `/` included) and `?` (one character)."""
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def _arn_like(glob: str, value: str) -> bool:
    """ArnLike/ArnEquals: the six colon-separated parts are matched one by one."""
    wanted, given = glob.split(":", 5), value.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return _glob(glob, value)
    return all(_glob(w, g) for w, g in zip(wanted, given, strict=True))


# --- Conditions -----------------------------------------------------------------------------------

_Matcher = Callable[[str, str], bool]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> _Matcher:
    def match(given: str, wanted: str) -> bool:
        a, b = _number(given), _number(wanted)
        return a is not None and b is not None and compare(a, b)

    return match


def _ip(given: str, wanted: str) -> bool:
    try:
        return ipaddress.ip_address(given) in ipaddress.ip_network(wanted, strict=False)
    except ValueError:
        return False


# Operator -> (how one request value matches one policy value, whether the operator is negated).
# A negated operator holds when no policy value matches (and when the key is absent, as AWS
# documents: "if the key is not present ... StringNotLike or ArnNotLike ... the condition is true").
_OPERATORS: dict[str, tuple[_Matcher, bool]] = {
    "stringequals": (lambda g, w: g == w, False),
    "stringnotequals": (lambda g, w: g == w, True),
    "stringequalsignorecase": (lambda g, w: g.lower() == w.lower(), False),
    "stringnotequalsignorecase": (lambda g, w: g.lower() == w.lower(), True),
    "stringlike": (lambda g, w: _glob(w, g), False),
    "stringnotlike": (lambda g, w: _glob(w, g), True),
    "arnequals": (lambda g, w: _arn_like(w, g), False),
    "arnlike": (lambda g, w: _arn_like(w, g), False),
    "arnnotequals": (lambda g, w: _arn_like(w, g), True),
    "arnnotlike": (lambda g, w: _arn_like(w, g), True),
    "bool": (lambda g, w: g.lower() == w.lower(), False),
    "numericequals": (_numeric(lambda a, b: a == b), False),
    "numericnotequals": (_numeric(lambda a, b: a == b), True),
    "numericlessthan": (_numeric(lambda a, b: a < b), False),
    "numericlessthanequals": (_numeric(lambda a, b: a <= b), False),
    "numericgreaterthan": (_numeric(lambda a, b: a > b), False),
    "numericgreaterthanequals": (_numeric(lambda a, b: a >= b), False),
    "ipaddress": (_ip, False),
    "notipaddress": (_ip, True),
}


def _condition_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_operator(name: str) -> None:
    """Fail on load, not on the one request that happens to reach the statement."""
    op = name
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if op.startswith(prefix):
            op = op[len(prefix) :]
    op = op.removesuffix("IfExists")
    if op.lower() not in _OPERATORS and op != "Null":
        raise PolicyError(f"unknown condition operator {name!r}")


def _condition_holds(operator: str, key: str, wanted: Sequence[str], context: Context) -> bool:
    given = context.get(key.lower())
    if operator == "Null":
        # {"Null": {"key": "true"}}: holds when the key is absent.
        return any((given is None) == (w.lower() == "true") for w in wanted)
    set_operator = ""
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if operator.startswith(prefix):
            set_operator, operator = prefix, operator[len(prefix) :]
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists").lower()
    try:
        match, negated = _OPERATORS[base]
    except KeyError:
        raise PolicyError(f"unknown condition operator {operator!r}") from None
    if given is None:
        if set_operator == "ForAllValues:":
            return True  # vacuously: every one of no values matches
        if set_operator == "ForAnyValue:":
            return False
        return if_exists or negated
    # A multivalued key (aws:TagKeys) is a tuple; a single value is, to a set operator, a set of one.
    values = list(given) if isinstance(given, tuple) else [given]

    def one(value: str) -> bool:
        hit = any(match(value, w) for w in wanted)
        return not hit if negated else hit

    if set_operator == "ForAllValues:":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def _conditions_hold(
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]], context: Context
) -> tuple[bool, str]:
    """All operators and all keys must hold (AND); a key's values are alternatives (OR)."""
    for operator, keys in conditions.items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, wanted, context):
                given = context.get(key.lower())
                shown = "absent" if given is None else repr(given)
                return False, f"{operator} {key} {list(wanted)} (request: {shown})"
    return True, ""


# --- Statements -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Statement:
    ref: StatementRef
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    # Resource policies only: "*" or {"AWS": (...), "Service": (...), ...}.
    principals: Mapping[str, tuple[str, ...]] | None
    not_principal: bool
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]]

    @property
    def allow(self) -> bool:
        return self.ref.effect == "Allow"

    def covers_action(self, action: str) -> bool:
        hit = any(_glob(a, action, ignore_case=True) for a in self.actions)
        return not hit if self.not_action else hit

    def covers_resource(self, resource: str, context: Context) -> bool:
        hit = any(_glob(_substitute(r, context), resource) for r in self.resources)
        return not hit if self.not_resource else hit


_POLICY_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _substitute(resource: str, context: Context) -> str:
    """Policy variables (`${aws:username}`) in a resource; an unknown one matches nothing."""
    if "${" not in resource:
        return resource

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        specials = {"*": "*", "?": "?", "$": "$"}
        if name in specials:
            return specials[name]
        given = context.get(name.lower())
        return given if isinstance(given, str) else "<no-policy-variable>"

    return _POLICY_VARIABLE.sub(value, resource)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(_condition_text(v) for v in items)


def _statements(document: Any, label: str, *, resource_policy: bool) -> list[_Statement]:
    if not isinstance(document, Mapping):
        raise PolicyError(f"{label}: a policy document must be an object, got {document!r}")
    raw = document.get("Statement", [])
    found = []
    for index, s in enumerate(raw if isinstance(raw, list) else [raw]):
        effect = s.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{label}#{index}: Effect {effect!r}")
        not_action = "NotAction" in s
        actions = _strings(s.get("NotAction") if not_action else s.get("Action"))
        not_resource = "NotResource" in s
        resources = _strings(s.get("NotResource") if not_resource else s.get("Resource", "*"))
        not_principal = "NotPrincipal" in s
        principal = s.get("NotPrincipal") if not_principal else s.get("Principal")
        principals: dict[str, tuple[str, ...]] | None = None
        if resource_policy or principal is not None:
            if principal == "*":
                principals = {"*": ("*",)}
            elif isinstance(principal, Mapping):
                principals = {kind: _strings(v) for kind, v in principal.items()}
            else:
                raise PolicyError(f"{label}#{index}: a resource policy statement needs a Principal")
        conditions: dict[str, dict[str, tuple[str, ...]]] = {}
        for operator, keys in (s.get("Condition") or {}).items():
            _check_operator(operator)
            conditions[operator] = {key: _strings(v) for key, v in keys.items()}
        ref = StatementRef(
            policy=label,
            index=index,
            effect=effect,
            actions=(("NOT", *actions) if not_action else actions),
            resources=(("NOT", *resources) if not_resource else resources),
        )
        found.append(
            _Statement(
                ref, actions, not_action, resources, not_resource, principals, not_principal, conditions
            )
        )
    return found


# --- AWS managed policies ---------------------------------------------------------------------------


@functools.cache
def _aws_managed_policies() -> dict[str, Any]:
    # Imported here: moto is large, and only roles with AWS managed policies need its bundled copy.
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies: dict[str, Any] = json.loads(aws_managed_policies_data)
    return policies


def _aws_managed(arn: str) -> tuple[str, Any]:
    """(name, document) of `arn:aws:iam::aws:policy/<path>/<name>`, from moto's bundled copy."""
    path_and_name = arn.split(":policy", 1)[1]
    name = path_and_name.rsplit("/", 1)[-1]
    found = _aws_managed_policies().get(name)
    if found is None:
        raise PolicyError(
            f"AWS managed policy {arn} is not in moto's bundled copy "
            "(moto.iam.aws_managed_policies): add its document, or upgrade moto"
        )
    published = f"arn:aws:iam::aws:policy{found.get('Path', '/')}{name}"
    if published != arn:
        raise PolicyError(f"no AWS managed policy has the ARN {arn}: AWS publishes {name} as {published}")
    return name, found["Document"]


# --- Rendering the intrinsics ----------------------------------------------------------------------

_NO_VALUE = object()  # AWS::NoValue: removes the property or list item it stands for

# The property that names a resource, when the template gives one.
_NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Events::Archive": "ArchiveName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::ECS::TaskDefinition": "Family",
    "AWS::HealthLake::FHIRDatastore": "DatastoreName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::Backup::BackupVault": "BackupVaultName",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::ApiGateway::Stage": "StageName",
    "AWS::SecretsManager::Secret": "Name",
}


def _unresolved(logical_id: str, attribute: str) -> str:
    return f"<unresolved:{logical_id}.{attribute}>"


class _Renderer:
    """Resolves one stack's intrinsics to the strings AWS would see, as far as a template can."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        stack_name: str,
        account: str,
        region: str,
        key_id_prefix: str,
        fhir_datastore_id: str,
        imports: Callable[[str], Any],
    ) -> None:
        self.template = template
        self.resources: Mapping[str, Mapping[str, Any]] = template.get("Resources", {})
        self.stack_name = stack_name
        self.account = account
        self.region = region
        self.key_id_prefix = key_id_prefix
        self.fhir_datastore_id = fhir_datastore_id
        self.imports = imports
        self._conditions: dict[str, bool | None] = {}

    # -- names and ARNs

    def props(self, logical_id: str) -> Mapping[str, Any]:
        props: Mapping[str, Any] = self.resources[logical_id].get("Properties", {})
        return props

    def name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        prop = _NAME_PROPERTY.get(resource["Type"])
        if prop and prop in resource.get("Properties", {}):
            return str(self.render(resource["Properties"][prop]))
        # CloudFormation would add a random suffix; a stable stand-in keeps decisions repeatable.
        generated = f"{self.stack_name}-{logical_id}"
        return generated.lower() if resource["Type"] == "AWS::S3::Bucket" else generated

    def _arn(self, service: str, rest: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account if account else ''}:{rest}"

    def key_arn(self, logical_id: str) -> str:
        return self._arn("kms", f"key/{self.key_id_prefix}{logical_id}")

    def role_arn(self, logical_id: str) -> str:
        path = str(self.render(self.props(logical_id).get("Path", "/")))
        return self._arn("iam", f"role{path}{self.name(logical_id)}", region=False)

    def rule_arn(self, logical_id: str) -> str:
        bus = self.render(self.props(logical_id).get("EventBusName", "default"))
        bus_name = str(bus).rsplit("event-bus/", 1)[-1]
        prefix = "" if bus_name == "default" else f"{bus_name}/"
        return self._arn("events", f"rule/{prefix}{self.name(logical_id)}")

    def ref(self, logical_id: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self._arn("cloudformation", f"stack/{self.stack_name}/local"),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        parameters = self.template.get("Parameters", {})
        if logical_id in parameters:
            default = parameters[logical_id].get("Default")
            return default if default is not None else _unresolved(logical_id, "Ref")
        if logical_id not in self.resources:
            return _unresolved(logical_id, "Ref")
        kind = self.resources[logical_id]["Type"]
        name = functools.partial(self.name, logical_id)
        refs: dict[str, Callable[[], Any]] = {
            "AWS::DynamoDB::Table": name,
            "AWS::S3::Bucket": name,
            "AWS::SQS::Queue": lambda: f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name()}",
            "AWS::SNS::Topic": lambda: self._arn("sns", name()),
            "AWS::Lambda::Function": name,
            "AWS::StepFunctions::StateMachine": lambda: self._arn("states", f"stateMachine:{name()}"),
            "AWS::Events::EventBus": name,
            "AWS::Events::Rule": lambda: self._rule_ref(logical_id),
            "AWS::Events::Archive": name,
            "AWS::IAM::Role": name,
            "AWS::IAM::ManagedPolicy": lambda: self._arn("iam", f"policy/{name()}", region=False),
            "AWS::KMS::Key": lambda: f"{self.key_id_prefix}{logical_id}",
            "AWS::KMS::Alias": name,
            "AWS::Logs::LogGroup": name,
            "AWS::ECS::Cluster": name,
            # The first registration of a family is revision 1, as it is in moto.
            "AWS::ECS::TaskDefinition": lambda: self._arn("ecs", f"task-definition/{name()}:1"),
            "AWS::HealthLake::FHIRDatastore": lambda: self.fhir_datastore_id,
            "AWS::Cognito::UserPool": lambda: f"{self.region}_{logical_id}",
            "AWS::ApiGateway::RestApi": lambda: logical_id.lower(),
            "AWS::ApiGateway::Stage": name,
            "AWS::Backup::BackupVault": name,
            # Secrets Manager appends six random characters to a secret's name in its ARN; the
            # policy's ARN is that one secret's, which IAM's `?` spells out here.
            "AWS::SecretsManager::Secret": lambda: self._arn("secretsmanager", f"secret:{name()}-??????"),
        }
        make = refs.get(kind)
        return make() if make else _unresolved(logical_id, "Ref")

    def _rule_ref(self, logical_id: str) -> str:
        bus = self.props(logical_id).get("EventBusName")
        if bus is None:
            return self.name(logical_id)
        bus_name = str(self.render(bus)).rsplit("event-bus/", 1)[-1]
        return self.name(logical_id) if bus_name == "default" else f"{bus_name}|{self.name(logical_id)}"

    def getatt(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources:
            return _unresolved(logical_id, attribute)
        kind = self.resources[logical_id]["Type"]
        name = functools.partial(self.name, logical_id)
        datastore = self.fhir_datastore_id
        attributes: dict[tuple[str, str], Callable[[], Any]] = {
            ("AWS::DynamoDB::Table", "Arn"): lambda: self._arn("dynamodb", f"table/{name()}"),
            ("AWS::DynamoDB::Table", "StreamArn"): lambda: self._arn(
                "dynamodb", f"table/{name()}/stream/LOCAL"
            ),
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:aws:s3:::{name()}",
            ("AWS::S3::Bucket", "DomainName"): lambda: f"{name()}.s3.amazonaws.com",
            ("AWS::S3::Bucket", "RegionalDomainName"): lambda: f"{name()}.s3.{self.region}.amazonaws.com",
            ("AWS::SQS::Queue", "Arn"): lambda: self._arn("sqs", name()),
            ("AWS::SQS::Queue", "QueueName"): name,
            ("AWS::SQS::Queue", "QueueUrl"): lambda: self.ref(logical_id),
            ("AWS::SNS::Topic", "TopicArn"): lambda: self._arn("sns", name()),
            ("AWS::SNS::Topic", "TopicName"): name,
            ("AWS::Lambda::Function", "Arn"): lambda: self._arn("lambda", f"function:{name()}"),
            ("AWS::StepFunctions::StateMachine", "Arn"): lambda: self.ref(logical_id),
            ("AWS::StepFunctions::StateMachine", "Name"): name,
            ("AWS::Events::EventBus", "Arn"): lambda: self._arn("events", f"event-bus/{name()}"),
            ("AWS::Events::EventBus", "Name"): name,
            ("AWS::Events::Rule", "Arn"): lambda: self.rule_arn(logical_id),
            ("AWS::Events::Archive", "Arn"): lambda: self._arn("events", f"archive/{name()}"),
            ("AWS::IAM::Role", "Arn"): lambda: self.role_arn(logical_id),
            ("AWS::IAM::Role", "RoleId"): lambda: f"AROA{logical_id.upper()}",
            ("AWS::KMS::Key", "Arn"): lambda: self.key_arn(logical_id),
            ("AWS::KMS::Key", "KeyId"): lambda: f"{self.key_id_prefix}{logical_id}",
            ("AWS::Logs::LogGroup", "Arn"): lambda: self._arn("logs", f"log-group:{name()}:*"),
            ("AWS::ECS::Cluster", "Arn"): lambda: self._arn("ecs", f"cluster/{name()}"),
            ("AWS::ECS::TaskDefinition", "TaskDefinitionArn"): lambda: self.ref(logical_id),
            ("AWS::HealthLake::FHIRDatastore", "DatastoreArn"): lambda: self._arn(
                "healthlake", f"datastore/fhir/{datastore}"
            ),
            ("AWS::HealthLake::FHIRDatastore", "DatastoreEndpoint"): lambda: (
                f"https://healthlake.{self.region}.amazonaws.com/datastore/{datastore}/r4/"
            ),
            ("AWS::HealthLake::FHIRDatastore", "DatastoreId"): lambda: datastore,
            ("AWS::Cognito::UserPool", "Arn"): lambda: self._arn(
                "cognito-idp", f"userpool/{self.ref(logical_id)}"
            ),
            ("AWS::Backup::BackupVault", "BackupVaultArn"): lambda: self._arn(
                "backup", f"backup-vault:{name()}"
            ),
            ("AWS::Backup::BackupVault", "BackupVaultName"): name,
        }
        make = attributes.get((kind, attribute))
        return make() if make else _unresolved(logical_id, attribute)

    # -- the intrinsic functions

    def render(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.render(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            handler = self._functions.get(fn)
            if handler is not None:
                return handler(self, arg)
        rendered = {k: self.render(v) for k, v in value.items()}
        return {k: v for k, v in rendered.items() if v is not _NO_VALUE}

    def _fn_ref(self, arg: Any) -> Any:
        return self.ref(str(arg))

    def _fn_getatt(self, arg: Any) -> Any:
        if isinstance(arg, str):
            logical_id, _, attribute = arg.partition(".")
        else:
            logical_id, attribute = arg[0], str(self.render(arg[1]))
        return self.getatt(logical_id, attribute)

    def _fn_join(self, arg: Any) -> Any:
        separator, parts = arg
        rendered = self.render(parts)
        if not isinstance(rendered, list):
            return _unresolved("Fn::Join", "list")
        return str(self.render(separator)).join(_condition_text(p) for p in rendered)

    def _fn_sub(self, arg: Any) -> Any:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.render(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} stays a literal ${Literal}
            if name in variables:
                return _condition_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return _condition_text(self.getatt(logical_id, attribute))
            return _condition_text(self.ref(name))

        return _POLICY_VARIABLE.sub(value, str(text))

    def _fn_select(self, arg: Any) -> Any:
        index, items = self.render(arg[0]), self.render(arg[1])
        try:
            return items[int(index)]
        except (IndexError, ValueError, TypeError, KeyError):
            return _unresolved("Fn::Select", str(index))

    def _fn_split(self, arg: Any) -> Any:
        separator, text = self.render(arg[0]), self.render(arg[1])
        return str(text).split(str(separator))

    def _fn_if(self, arg: Any) -> Any:
        condition, when_true, when_false = arg
        holds = self.condition(condition)
        if holds is None:
            return _unresolved(f"Condition:{condition}", "Fn::If")
        return self.render(when_true if holds else when_false)

    def _fn_import(self, arg: Any) -> Any:
        return self.imports(str(self.render(arg)))

    def _fn_find_in_map(self, arg: Any) -> Any:
        name, first, second = (str(self.render(a)) for a in arg[:3])
        try:
            return self.render(self.template["Mappings"][name][first][second])
        except KeyError:
            return _unresolved(f"Mappings:{name}", f"{first}.{second}")

    def _fn_base64(self, arg: Any) -> Any:
        return self.render(arg)

    _functions: Mapping[str, Callable[[_Renderer, Any], Any]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_getatt,
        "Fn::Join": _fn_join,
        "Fn::Sub": _fn_sub,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::If": _fn_if,
        "Fn::ImportValue": _fn_import,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::Base64": _fn_base64,
    }

    def condition(self, name: str) -> bool | None:
        """A template condition's value, or None when it depends on what only a deploy knows."""
        if name not in self._conditions:
            self._conditions[name] = None  # a cycle cannot be evaluated
            expression = self.template.get("Conditions", {}).get(name)
            self._conditions[name] = None if expression is None else self._evaluate(expression)
        return self._conditions[name]

    def _evaluate(self, expression: Any) -> bool | None:
        if not isinstance(expression, Mapping) or len(expression) != 1:
            return None
        ((fn, arg),) = expression.items()
        if fn == "Condition":
            return self.condition(str(arg))
        if fn == "Fn::Equals":
            a, b = self.render(arg[0]), self.render(arg[1])
            if any("<unresolved:" in json.dumps(v, default=str) for v in (a, b)):
                return None
            return bool(a == b)
        parts = [self._evaluate(a) for a in (arg if isinstance(arg, list) else [arg])]
        if fn == "Fn::Not":
            return None if parts[0] is None else not parts[0]
        if fn == "Fn::And":
            return False if False in parts else None if None in parts else True
        if fn == "Fn::Or":
            return True if True in parts else None if None in parts else False
        return None


# --- The principals' roles, and the resource policies ----------------------------------------------


@dataclass
class _Role:
    label: str  # the logical id, "baseline/" first for the baseline's
    arn: str
    statements: list[_Statement] = field(default_factory=list)  # identity policies, in order
    boundary: list[_Statement] | None = None  # a permissions boundary, when the role has one
    # Why its policies cannot be known (a managed policy that does not exist): raised when the role
    # is asked about, so that one broken role does not hide the answers for all the others.
    error: str | None = None


def _strip_qualifier(function_arn: str) -> str:
    parts = function_arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else function_arn


def _table_arn_of(arn: str) -> str | None:
    """The table an index or stream ARN belongs to."""
    if not arn.startswith("arn:aws:dynamodb:") or ":table/" not in arn:
        return None
    head, _, rest = arn.partition(":table/")
    return f"{head}:table/{rest.split('/', 1)[0]}"


class _Stack:
    """One template, rendered: its roles, resource policies and the keys its stores are encrypted with."""

    def __init__(self, renderer: _Renderer, label_prefix: str) -> None:
        self.r = renderer
        self.prefix = label_prefix
        self.resources = renderer.resources

    def of_type(self, kind: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] == kind:
                yield logical_id, self.r.props(logical_id)

    def label(self, text: str) -> str:
        return f"{self.prefix}{text}"


# Which data calls a service makes to KMS for its caller, by the caller's IAM action.
_S3_KMS = {
    "s3:putobject": ("kms:GenerateDataKey",),
    # API operations authorized as s3:PutObject, for callers that name them: a multipart upload's
    # parts are encrypted with data keys S3 must decrypt again to complete it.
    "s3:createmultipartupload": ("kms:GenerateDataKey", "kms:Decrypt"),
    "s3:uploadpart": ("kms:GenerateDataKey", "kms:Decrypt"),
    "s3:uploadpartcopy": ("kms:GenerateDataKey", "kms:Decrypt"),
    "s3:copyobject": ("kms:GenerateDataKey",),  # the target; the source is its own s3:GetObject
    "s3:getobject": ("kms:Decrypt",),
    "s3:getobjectversion": ("kms:Decrypt",),
}
# The SQS developer guide's key management: a producer needs GenerateDataKey and Decrypt, a
# consumer Decrypt.
_SQS_KMS = {
    "sqs:sendmessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:sendmessagebatch": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:receivemessage": ("kms:Decrypt",),
}
_SNS_KMS = {
    "sns:publish": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sns:publishbatch": ("kms:GenerateDataKey", "kms:Decrypt"),
}
# DynamoDB ("DynamoDB encryption at rest usage notes", Amazon DynamoDB Developer Guide,
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.usagenotes.html):
# "When you access an encrypted DynamoDB table, DynamoDB ... sends a Decrypt request to AWS KMS ...
# The user is the principal in your AWS account who is accessing the table" (invokedBy
# dynamodb.amazonaws.com), and it caches the table key for five minutes, then asks again, which
# "will capture any changes made to the access policies". The table key is generated by DynamoDB's
# own service account when the table is created, so a caller's read or write needs only
# kms:Decrypt via DynamoDB. Streams "are always encrypted with a table-level encryption key", so
# reading a stream is an access too.
_DYNAMODB_DATA = frozenset(
    f"dynamodb:{a}".lower()
    for a in (
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "ConditionCheckItem",
        "PartiQLSelect",
        "PartiQLInsert",
        "PartiQLUpdate",
        "PartiQLDelete",
        "GetRecords",
    )
)
# HealthLake ("Encryption at rest for Amazon HealthLake", AWS HealthLake Developer Guide,
# https://docs.aws.amazon.com/healthlake/latest/devguide/encryption-at-rest.html): with a customer
# managed key, "kms:DescribeKey ... is required for all operations", "kms:GenerateDataKey provides
# access to encrypt resources at rest for all write operations" and "kms:Decrypt provides access to
# read or search operations"; its CloudTrail examples show these calls made as the caller's role,
# invokedBy healthlake.amazonaws.com.
_HEALTHLAKE_WRITES = frozenset(
    f"healthlake:{a}".lower()
    for a in ("CreateResource", "UpdateResource", "DeleteResource", "PatchResource", "ProcessBundle")
)
_HEALTHLAKE_READS = frozenset(
    f"healthlake:{a}".lower()
    for a in (
        "ReadResource",
        "SearchWithGet",
        "SearchWithPost",
        "VersionReadResource",
        "GetHistoryByResourceId",
        "GetHistoryByResourceType",
        "GetHistory",
    )
)
# EventBridge: nothing for the caller. "Authorizing EventBridge to use a customer managed key"
# (Amazon EventBridge User Guide, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-key-policy.html):
# the key policy must give EventBridge (the service principal events.amazonaws.com) kms:DescribeKey,
# kms:GenerateDataKey and kms:Decrypt; "EventBridge uses this for event pattern matching; users
# never have access to the data". PutEvents asks no KMS permission of the one who calls it.


class TemplatePolicies:
    """The policies of one tenant's stack (and the account baseline's), ready to answer `decide`."""

    def __init__(self, account: str, region: str, tenant_id: str) -> None:
        self.account = account
        self.region = region
        self.tenant_id = tenant_id
        self._stacks: list[_Stack] = []
        self._roles: dict[str, _Role] = {}  # by ARN
        self._principals: dict[str, str] = {}  # principal name -> role ARN
        self._services: set[str] = set()
        self._resource_policies: dict[str, list[_Statement]] = {}  # resource key -> statements
        self._key_policies: dict[str, list[_Statement]] = {}  # key ARN -> statements
        self._key_aliases: dict[str, str] = {}  # alias name or alias ARN -> key ARN
        self._key_ids: dict[str, str] = {}  # key id -> key ARN
        self._encryption: dict[str, tuple[str, str]] = {}  # resource key -> (service, key ARN)
        self._bucket_keys: set[str] = set()  # buckets with S3 Bucket Keys on
        # What would fail in AWS before any request is made (a role naming a managed policy that
        # does not exist fails its deployment); such a role raises PolicyError when asked about.
        self.problems: list[str] = []

    # -- loading

    @classmethod
    def load(
        cls,
        tenant: Mapping[str, Any],
        baseline: Mapping[str, Any] | None,
        *,
        tenant_id: str,
        account: str,
        region: str,
        fhir_datastore_id: str = "local",
        baseline_stack: str | None = None,
    ) -> TemplatePolicies:
        found = cls(account, region, tenant_id)
        exports: dict[str, Any] = {}
        stacks: list[_Stack] = []
        base: _Renderer | None = None
        if baseline is not None:
            base = _Renderer(
                baseline,
                stack_name=baseline_stack or f"telehealth-baseline-{region}",
                account=account,
                region=region,
                key_id_prefix="baseline-",
                fhir_datastore_id=fhir_datastore_id,
                imports=lambda name: f"<unresolved:ImportValue.{name}>",
            )
            for output in baseline.get("Outputs", {}).values():
                if "Export" in output:
                    exports[str(base.render(output["Export"]["Name"]))] = output["Value"]
            stacks.append(_Stack(base, "baseline/"))

        def imported(name: str) -> Any:
            if base is None or name not in exports:
                return f"<unresolved:ImportValue.{name}>"
            return base.render(exports[name])

        tenant_renderer = _Renderer(
            tenant,
            stack_name=f"telehealth-{tenant_id}",
            account=account,
            region=region,
            key_id_prefix="",
            fhir_datastore_id=fhir_datastore_id,
            imports=imported,
        )
        stacks.insert(0, _Stack(tenant_renderer, ""))
        found._stacks = stacks
        for stack in stacks:
            found._index_keys(stack)
        for stack in stacks:
            found._index_roles(stack)
            found._index_resource_policies(stack)
            found._index_encryption(stack)
        found._index_principals(stacks[0], tenant_id)
        for stack in stacks[1:]:
            # The baseline's rules for this tenant (its Chime forwarding), not other tenants'.
            found._index_rule_roles(stack, f"telehealth-{tenant_id}-")
        return found

    def _index_keys(self, stack: _Stack) -> None:
        for logical_id, props in stack.of_type("AWS::KMS::Key"):
            arn = stack.r.key_arn(logical_id)
            self._key_ids[f"{stack.r.key_id_prefix}{logical_id}"] = arn
            policy = stack.r.render(props.get("KeyPolicy", {}))
            self._key_policies[arn] = _statements(
                policy, stack.label(f"key-policy:{logical_id}"), resource_policy=True
            )
        for logical_id, props in stack.of_type("AWS::KMS::Alias"):
            target = self._key_arn(str(stack.r.render(props.get("TargetKeyId"))))
            if target:
                alias = stack.r.name(logical_id)
                self._key_aliases[alias] = target
                self._key_aliases[f"arn:aws:kms:{self.region}:{self.account}:{alias}"] = target

    def _key_arn(self, reference: str) -> str | None:
        """A key ARN from what a template names a key with: an ARN, a key id, an alias."""
        if reference in self._key_policies:
            return reference
        return self._key_ids.get(reference) or self._key_aliases.get(reference)

    def _index_roles(self, stack: _Stack) -> None:
        r = stack.r
        by_name: dict[str, _Role] = {}
        managed: dict[str, tuple[str, Any]] = {}  # ARN -> (label, document) of the stack's own
        for logical_id, props in stack.of_type("AWS::IAM::ManagedPolicy"):
            managed[str(r.ref(logical_id))] = (stack.label(logical_id), r.render(props["PolicyDocument"]))
        for logical_id, props in stack.of_type("AWS::IAM::Role"):
            role = _Role(label=stack.label(logical_id), arn=r.role_arn(logical_id))
            for policy in r.render(props.get("Policies", [])):
                label = stack.label(f"inline:{logical_id}/{policy.get('PolicyName', '')}")
                role.statements += _statements(policy["PolicyDocument"], label, resource_policy=False)
            errors = []
            for arn in r.render(props.get("ManagedPolicyArns", [])):
                try:
                    label, document = self._managed(str(arn), managed)
                except PolicyError as error:
                    errors.append(str(error))
                    continue
                role.statements += _statements(document, label, resource_policy=False)
            if "PermissionsBoundary" in props:
                try:
                    label, document = self._managed(str(r.render(props["PermissionsBoundary"])), managed)
                    role.boundary = _statements(document, label, resource_policy=False)
                except PolicyError as error:
                    errors.append(str(error))
            if errors:
                role.error = f"role {role.label}: {'; '.join(errors)}"
                self.problems.append(role.error)
            self._roles[role.arn] = role
            by_name[r.name(logical_id)] = role
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for logical_id, props in stack.of_type(kind):
                document = r.render(props["PolicyDocument"])
                for role_name in r.render(props.get("Roles", [])):
                    attached = by_name.get(str(role_name))
                    if attached is None:
                        continue  # a role of another stack: not one this evaluator answers for
                    attached.statements += _statements(
                        document, stack.label(logical_id), resource_policy=False
                    )

    def _managed(self, arn: str, own: Mapping[str, tuple[str, Any]]) -> tuple[str, Any]:
        if arn in own:
            return own[arn]
        if arn.startswith("arn:aws:iam::aws:policy/"):
            name, document = _aws_managed(arn)
            return f"aws-managed:{name}", document
        raise PolicyError(f"managed policy {arn} is neither in the templates nor AWS managed")

    def _add_resource_policy(self, resource: str, statements: Iterable[_Statement]) -> None:
        for s in statements:
            self._resource_policies.setdefault(resource, []).append(s)
            self._note_services(s)

    def _note_services(self, statement: _Statement) -> None:
        if statement.principals and not statement.not_principal:
            self._services.update(statement.principals.get("Service", ()))

    def _index_resource_policies(self, stack: _Stack) -> None:
        r = stack.r
        for statements in self._key_policies.values():
            for s in statements:
                self._note_services(s)
        for logical_id, props in stack.of_type("AWS::S3::BucketPolicy"):
            bucket = str(r.render(props["Bucket"]))
            label = stack.label(f"bucket-policy:{logical_id}")
            statements = _statements(r.render(props["PolicyDocument"]), label, resource_policy=True)
            self._add_resource_policy(f"s3:{bucket}", statements)
        for logical_id, props in stack.of_type("AWS::SQS::QueuePolicy"):
            label = stack.label(f"queue-policy:{logical_id}")
            statements = _statements(r.render(props["PolicyDocument"]), label, resource_policy=True)
            for url in r.render(props.get("Queues", [])):
                self._add_resource_policy(queue_arn(str(url)), statements)
        for logical_id, props in stack.of_type("AWS::SNS::TopicPolicy"):
            label = stack.label(f"topic-policy:{logical_id}")
            statements = _statements(r.render(props["PolicyDocument"]), label, resource_policy=True)
            for topic in r.render(props.get("Topics", [])):
                self._add_resource_policy(str(topic), statements)
        for logical_id, props in stack.of_type("AWS::Lambda::Permission"):
            function = self._function_arn(str(r.render(props["FunctionName"])))
            document = {"Statement": [self._permission_statement(r.render(dict(props)), function)]}
            label = stack.label(f"lambda-permission:{logical_id}")
            self._add_resource_policy(function, _statements(document, label, resource_policy=True))

    def _function_arn(self, name: str) -> str:
        if name.startswith("arn:"):
            return _strip_qualifier(name)
        if ":function:" in name:  # <account>:function:<name>, a partial ARN
            account, _, function = name.partition(":function:")
            return f"arn:aws:lambda:{self.region}:{account}:function:{function}"
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    @staticmethod
    def _permission_statement(props: Mapping[str, Any], function: str) -> dict[str, Any]:
        principal = str(props["Principal"])
        if principal == "*":
            who: Any = "*"
        elif principal.startswith("arn:") or principal.isdigit():
            who = {"AWS": principal}
        else:
            who = {"Service": principal}
        condition: dict[str, dict[str, str]] = {}
        if "SourceArn" in props:
            condition.setdefault("ArnLike", {})["aws:SourceArn"] = props["SourceArn"]
        if "SourceAccount" in props:
            condition.setdefault("StringEquals", {})["aws:SourceAccount"] = props["SourceAccount"]
        if "PrincipalOrgID" in props:
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = props["PrincipalOrgID"]
        if "FunctionUrlAuthType" in props:
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = props[
                "FunctionUrlAuthType"
            ]
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": who,
            "Action": props["Action"],
            "Resource": function,
        }
        if condition:
            statement["Condition"] = condition
        return statement

    def _index_encryption(self, stack: _Stack) -> None:
        r = stack.r

        def note(resource: str, service: str, reference: Any) -> None:
            key = self._key_arn(str(r.render(reference))) if reference is not None else None
            if key:  # only keys the templates define: AWS owned and AWS managed keys ask nothing
                self._encryption[resource] = (service, key)

        for logical_id, props in stack.of_type("AWS::S3::Bucket"):
            rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
            for rule in rules:
                default = rule.get("ServerSideEncryptionByDefault", {})
                if str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
                    note(f"s3:{r.name(logical_id)}", "s3", default.get("KMSMasterKeyID"))
                    if rule.get("BucketKeyEnabled"):
                        self._bucket_keys.add(f"s3:{r.name(logical_id)}")
        for logical_id, props in stack.of_type("AWS::SQS::Queue"):
            note(str(r.getatt(logical_id, "Arn")), "sqs", props.get("KmsMasterKeyId"))
        for logical_id, props in stack.of_type("AWS::SNS::Topic"):
            note(str(r.ref(logical_id)), "sns", props.get("KmsMasterKeyId"))
        for logical_id, props in stack.of_type("AWS::DynamoDB::Table"):
            sse = props.get("SSESpecification", {})
            if sse.get("SSEEnabled") and sse.get("SSEType", "KMS") == "KMS":
                note(str(r.getatt(logical_id, "Arn")), "dynamodb", sse.get("KMSMasterKeyId"))
        for logical_id, props in stack.of_type("AWS::Events::EventBus"):
            note(str(r.getatt(logical_id, "Arn")), "events", props.get("KmsKeyIdentifier"))
        for logical_id, props in stack.of_type("AWS::SecretsManager::Secret"):
            note(str(r.ref(logical_id)), "secretsmanager", props.get("KmsKeyId"))
        for logical_id, props in stack.of_type("AWS::HealthLake::FHIRDatastore"):
            config = props.get("SseConfiguration", {}).get("KmsEncryptionConfig", {})
            if config.get("CmkType") == "CUSTOMER_MANAGED_KMS_KEY":
                note(str(r.getatt(logical_id, "DatastoreArn")), "healthlake", config.get("KmsKeyId"))

    def _index_principals(self, stack: _Stack, tenant_id: str) -> None:
        r = stack.r
        prefix = f"telehealth-{tenant_id}-"
        for logical_id, props in stack.of_type("AWS::Lambda::Function"):
            name = r.name(logical_id)
            if name.startswith(prefix) and "Role" in props:
                self._principals[f"function:{name.removeprefix(prefix)}"] = str(r.render(props["Role"]))
        for logical_id, props in stack.of_type("AWS::ECS::TaskDefinition"):
            name = r.name(logical_id)
            if name.startswith(prefix) and "TaskRoleArn" in props:
                self._principals[f"task:{name.removeprefix(prefix)}"] = str(r.render(props["TaskRoleArn"]))
        self._index_rule_roles(stack, "")

    def _index_rule_roles(self, stack: _Stack, prefix: str) -> None:
        for logical_id, props in stack.of_type("AWS::Events::Rule"):
            if not stack.r.name(logical_id).startswith(prefix):
                continue
            for target in props.get("Targets", []):
                if "RoleArn" in target:
                    self._principals.setdefault(
                        f"rule-role:{stack.r.name(logical_id)}", str(stack.r.render(target["RoleArn"]))
                    )

    # -- what callers ask

    def principals(self) -> list[str]:
        """The functions, tasks and rule roles by name, every other role by logical id, and the
        service principals the resource policies name."""
        named = set(self._principals.values())
        others = [f"role:{role.label}" for role in self._roles.values() if role.arn not in named]
        services = [f"service:{s}" for s in sorted(self._services)]
        return sorted(self._principals) + sorted(others) + services

    def grants(self, principal: str) -> list[StatementRef]:
        if principal.startswith("service:"):
            return []  # a service acting as itself has no identity policy
        role = self._role(principal)
        if role is None:
            raise KeyError(f"{principal}: not a principal of these templates (see principals())")
        return [s.ref for s in role.statements if s.allow]

    def physical(self, logical_id: str, attribute: str | None = None) -> Any:
        """A tenant resource's Ref (or attribute), as this evaluator renders it: the ARNs and ids
        it compares requests with (key ARNs end in the key's logical id, for one)."""
        r = self._stacks[0].r
        return r.ref(logical_id) if attribute is None else r.getatt(logical_id, attribute)

    def _role(self, principal: str) -> _Role | None:
        role = None
        if principal in self._principals:
            role = self._roles.get(self._principals[principal])
        elif principal.startswith("role:"):
            label = principal.removeprefix("role:")
            role = next((r for r in self._roles.values() if r.label == label), None)
        if role is not None and role.error is not None:
            raise PolicyError(role.error)
        return role

    def implied(self, access: Access) -> list[Access]:
        """The KMS calls AWS makes with the caller's authority to serve `access`: the caller needs
        them allowed too (on the key that encrypts the resource, as the template configures it)."""
        action = access.action.lower()
        resource = access.resource
        kms: tuple[str, ...] = ()
        encrypted: tuple[str, str] | None = None
        extra: dict[str, str] = {}
        bucket = bucket_of(resource)
        if bucket is not None and "/" in resource.removeprefix("arn:aws:s3:::"):
            kms = _S3_KMS.get(action, ())
            encrypted = self._encryption.get(f"s3:{bucket}")
            # A request may name its own key, whatever the bucket's default.
            named = access.context.get("s3:x-amz-server-side-encryption-aws-kms-key-id", "")
            override = self._key_arn(named) if isinstance(named, str) else None
            if override:
                encrypted = ("s3", override)
            # With S3 Bucket Keys the data key belongs to the bucket, and so does the context.
            bucket_keys = f"s3:{bucket}" in self._bucket_keys
            extra["kms:EncryptionContext:aws:s3:arn"] = f"arn:aws:s3:::{bucket}" if bucket_keys else resource
        elif resource.startswith("arn:aws:sqs:"):
            kms = _SQS_KMS.get(action, ())
            encrypted = self._encryption.get(resource)
            extra["kms:EncryptionContext:aws:sqs:arn"] = resource
        elif resource.startswith("arn:aws:sns:"):
            kms = _SNS_KMS.get(action, ())
            encrypted = self._encryption.get(resource)
            extra["kms:EncryptionContext:aws:sns:topicArn"] = resource
        elif (table := _table_arn_of(resource)) is not None:
            kms = ("kms:Decrypt",) if action in _DYNAMODB_DATA else ()
            encrypted = self._encryption.get(table)
            extra["kms:EncryptionContext:aws:dynamodb:tableName"] = table.rsplit("/", 1)[-1]
            extra["kms:EncryptionContext:aws:dynamodb:subscriberId"] = self.account
        elif resource.startswith("arn:aws:secretsmanager:"):
            # Secrets Manager decrypts a secret's value with the caller's authority, through
            # itself ("How Secrets Manager uses AWS KMS", encryption context SecretARN).
            kms = ("kms:Decrypt",) if action == "secretsmanager:getsecretvalue" else ()
            encrypted = next(
                (
                    found
                    for secret, found in self._encryption.items()
                    if secret.startswith("arn:aws:secretsmanager:") and _glob(secret, resource)
                ),
                None,
            )
            extra["kms:EncryptionContext:SecretARN"] = resource
        elif resource.startswith("arn:aws:healthlake:"):
            if action in _HEALTHLAKE_WRITES:
                kms = ("kms:DescribeKey", "kms:GenerateDataKey")
            elif action in _HEALTHLAKE_READS:
                kms = ("kms:DescribeKey", "kms:Decrypt")
            encrypted = self._encryption.get(resource)
        # EventBridge: see above; the bus's key is used by the service principal, never the caller.
        if not kms or encrypted is None:
            return []
        service, key = encrypted
        # HealthLake's own example key policy conditions on "kms:ViaService": "healthlake.amazonaws.com"
        # (no region), where every other service uses <service>.<region>.amazonaws.com; the
        # templates here put no ViaService condition on the key, so either value decides the same.
        context: dict[str, ContextValue] = {
            **access.context,
            **extra,
            "kms:ViaService": f"{service}.{self.region}.amazonaws.com",
        }
        if not access.principal.startswith("service:"):
            context["kms:CallerAccount"] = self.account
        return [Access(access.principal, a, key, context) for a in kms]

    def decide(self, access: Access) -> Decision:
        action, resource = access.action, access.resource
        asked = f"{access.principal} {action} on {resource}"
        service = (
            access.principal.removeprefix("service:") if access.principal.startswith("service:") else None
        )
        role = None if service else self._role(access.principal)
        if service is None and role is None:
            return Decision(False, f"{asked}: {access.principal} is not a principal of these templates", ())
        context = self._context(access, role)

        identity = [] if role is None else [s for s in role.statements if self._applies(s, access, context)]
        key_arn = self._key_arn(resource) if resource.startswith("arn:aws:kms:") else None
        if key_arn is not None and key_arn != resource:
            # An alias is authorized as the key it points to.
            return self.decide(Access(access.principal, action, key_arn, access.context))
        if key_arn is not None:
            resource_statements = self._key_policies[key_arn]
        elif resource.startswith("arn:aws:kms:"):
            return Decision(
                False,
                f"{asked}: no key in the templates has this ARN, so its key policy (which KMS "
                "requires to allow the call) is unknown",
                (),
            )
        else:
            resource_statements = self._resource_policy(resource)
        on_resource = [
            (s, how)
            for s in resource_statements
            if self._applies(s, access, context) and (how := self._names(s, role, service)) is not None
        ]
        for s in identity + [s for s, _ in on_resource]:
            if not s.allow:
                return Decision(False, f"{asked}: explicitly denied by {self._show(s)}", ())

        identity_allows = [s for s in identity if s.allow]
        boundary = role.boundary if role is not None else None
        if boundary is not None and not any(s.allow for s in boundary if self._applies(s, access, context)):
            identity_allows = []  # a permissions boundary caps what identity policies grant
        direct = [s for s, how in on_resource if s.allow and how == "direct"]
        account = [s for s, how in on_resource if s.allow and how == "account"]

        if key_arn is not None:
            if direct:
                return Decision(
                    True, f"{asked}: allowed by {self._show(direct[0])}", tuple(s.ref for s in direct)
                )
            if role is not None and account and identity_allows:
                matched = (account[0].ref, *(s.ref for s in identity_allows))
                return Decision(
                    True,
                    f"{asked}: the key policy delegates to IAM ({self._show(account[0])}) and "
                    f"{self._show(identity_allows[0])} allows it",
                    matched,
                )
            if role is not None and account:
                return Decision(
                    False,
                    f"{asked}: the key policy delegates to IAM ({self._show(account[0])}) but no "
                    f"identity policy of {role.label} allows it{self._near(role, access, context)}",
                    (),
                )
            if identity_allows:
                return Decision(
                    False,
                    f"{asked}: {self._show(identity_allows[0])} allows it, but the key policy neither "
                    "names the principal nor delegates to the account (root)",
                    (),
                )
            if service is not None:
                near = self._near_resource(resource_statements, access, service)
                return Decision(False, f"{asked}: no key policy statement allows {service} this{near}", ())
            return Decision(False, f"{asked}: neither the key policy nor an identity policy allows it", ())

        foreign = self._foreign(resource)
        if foreign:
            # Across accounts both sides must allow (the templates describe one account).
            if identity_allows and (direct or account):
                matched = tuple(s.ref for s in identity_allows + direct + account)
                return Decision(True, f"{asked}: allowed by identity and resource policy", matched)
            return Decision(
                False, f"{asked}: the resource is in account {foreign}; both sides must allow", ()
            )
        if identity_allows or direct:
            first = (identity_allows + direct)[0]
            return Decision(
                True,
                f"{asked}: allowed by {self._show(first)}",
                tuple(s.ref for s in identity_allows + direct),
            )
        if service is not None:
            near = self._near_resource(resource_statements, access, service)
            return Decision(
                False,
                f"{asked}: a service principal has no identity policy, and no resource policy "
                f"statement allows {service} this{near}",
                (),
            )
        assert role is not None
        hint = ""
        if account:
            hint = (
                f"; {self._show(account[0])} names the account, which delegates to IAM but allows "
                "no role by itself"
            )
        return Decision(
            False,
            f"{asked}: no identity policy of {role.label} allows it and no resource policy names "
            f"the role{hint}{self._near(role, access, context)}",
            (),
        )

    # -- evaluation helpers

    def _context(self, access: Access, role: _Role | None) -> dict[str, ContextValue]:
        context: dict[str, ContextValue] = {"aws:securetransport": "true"}
        if role is not None:
            # What AWS sets for a role's own request; aws:SourceAccount/SourceArn exist only when a
            # service calls on a resource's behalf, so callers say so in `access.context`.
            context["aws:principalaccount"] = self.account
            context["aws:principalarn"] = role.arn
            if access.action.lower().startswith("kms:"):
                context["kms:calleraccount"] = self.account
        context.update({k.lower(): v for k, v in access.context.items()})
        return context

    def _resource_policy(self, resource: str) -> list[_Statement]:
        bucket = bucket_of(resource)
        if bucket is not None:
            return self._resource_policies.get(f"s3:{bucket}", [])
        if resource.startswith("arn:aws:lambda:"):
            return self._resource_policies.get(_strip_qualifier(resource), [])
        return self._resource_policies.get(resource, [])

    @staticmethod
    def _applies(s: _Statement, access: Access, context: Context) -> bool:
        return (
            s.covers_action(access.action)
            and s.covers_resource(access.resource, context)
            and _conditions_hold(s.conditions, context)[0]
        )

    def _names(self, s: _Statement, role: _Role | None, service: str | None) -> str | None:
        """How a resource policy statement's Principal covers the caller: "direct", "account"
        (the account root or id, which delegates to the account's IAM policies), or None."""
        principals = s.principals or {}
        how: str | None = None
        if "*" in principals.get("*", ()) or "*" in principals.get("AWS", ()):
            how = "direct"
        elif service is not None:
            how = "direct" if service in principals.get("Service", ()) else None
        elif role is not None:
            for p in principals.get("AWS", ()):
                if p == role.arn or self._assumed_role(p) == role.arn:
                    how = "direct"
                    break
                if p in (self.account, f"arn:aws:iam::{self.account}:root"):
                    how = "account"
        if s.not_principal:
            # NotPrincipal (with Deny): applies to everyone it does not name.
            return None if how is not None else "direct"
        return how

    @staticmethod
    def _assumed_role(arn: str) -> str | None:
        # arn:aws:sts::<account>:assumed-role/<role name>/<session>
        if ":assumed-role/" not in arn:
            return None
        head, _, rest = arn.partition(":assumed-role/")
        account = head.rsplit(":", 1)[-1]
        return f"arn:aws:iam::{account}:role/{rest.split('/', 1)[0]}"

    def _foreign(self, resource: str) -> str | None:
        parts = resource.split(":")
        if len(parts) < 5 or not parts[4] or parts[4] in (self.account, "aws"):
            return None
        return parts[4]

    @staticmethod
    def _show(s: _Statement) -> str:
        return f"{s.ref.policy}#{s.ref.index}"

    def _near(self, role: _Role, access: Access, context: Context) -> str:
        """The role's statements that grant the action elsewhere or under a condition: where the
        missing grant most likely belongs."""
        notes = []
        for s in role.statements:
            if not s.allow or not s.covers_action(access.action):
                continue
            if not s.covers_resource(access.resource, context):
                notes.append(f"{self._show(s)} grants it on {list(s.ref.resources)}")
            else:
                held, failed = _conditions_hold(s.conditions, context)
                if not held:
                    notes.append(f"{self._show(s)} grants it only if {failed}")
        return f" ({'; '.join(notes[:3])})" if notes else ""

    def _near_resource(self, statements: Sequence[_Statement], access: Access, service: str) -> str:
        for s in statements:
            if not s.allow or service not in (s.principals or {}).get("Service", ()):
                continue
            if s.covers_action(access.action):
                context = self._context(access, None)
                held, failed = _conditions_hold(s.conditions, context)
                if s.covers_resource(access.resource, context) and not held:
                    return f" ({self._show(s)} would, if {failed})"
                if held:
                    return f" ({self._show(s)} allows it on {list(s.ref.resources)})"
        return ""
