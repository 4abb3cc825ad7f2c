"""The tenant's REST APIs (the clinic's and the FHIR facade's): Cognito authorizer over both pools,
logs, X-Ray, throttling and WAF."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from aws_cdk import ArnFormat, Aws, Duration, Fn, NestedStack, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as waf
from aws_cdk import aws_xray as xray
from constructs import Construct

from infra import topology
from infra.compliance import acknowledge
from infra.identity import ClinicIdentity
from infra.monitoring import encrypted_log_group
from infra.tenants import Tenant
from telehealth import api_conventions
from telehealth.api_conventions import RestApiKind

STAGE = topology.API_STAGE

# Access-log fields: who, what route, how it went. No body, no query string, no headers: a
# request's path carries ids only, and tokens never travel in URLs.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integration.latency",
    "caller": "$context.authorizer.claims.sub",
    "clientId": "$context.authorizer.claims.client_id",
    "wafAction": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
# The per-client rule counts each Authorization header's requests over this window (WAF's
# default; it also takes 60, 120 and 600).
CLIENT_RATE_WINDOW_S = 300
# Headers WAF must never write to its logs: bearer tokens and session cookies.
WAF_REDACTED_HEADERS = ("authorization", "cookie")
# WAF's redaction is per field, not per path: the query string is redacted on every request, so
# a FHIR search by GET (`/fhir/r4/Patient?family=...&birthdate=...`) leaves no PHI in the log.
# API Gateway's X-Ray segment records the request's URL with its query string, so the FHIR
# facade's requests are never sampled: a sampling rule for them at rate 0, above the default.
UNTRACED_PATHS = (f"{api_conventions.FHIR_BASE}/*",)


def _group_throttles(
    tenant: Tenant, routes: Sequence[topology.Route]
) -> dict[str, apigw.MethodDeploymentOptions]:
    """Each route group's limits on each of its methods (API Gateway keeps a bucket per method).
    An override is a method's whole settings, so it repeats the stage's logging and metrics."""
    return {
        key: apigw.MethodDeploymentOptions(
            logging_level=apigw.MethodLoggingLevel.INFO,
            data_trace_enabled=False,  # full request/response logging would write PHI
            metrics_enabled=True,
            throttling_rate_limit=tenant.throttle_of(route.group).rate,
            throttling_burst_limit=tenant.throttle_of(route.group).burst,
        )
        for route in routes
        if route.group is not topology.RouteGroup.PUBLIC
        for key in route.throttle_keys
    }


def _stage_url(rest_api: apigw.RestApi) -> str:
    return f"https://{rest_api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{STAGE}"


def _rate_body_key(kind: RestApiKind) -> str:
    key = api_conventions.CLIENT_RATE_BODY_KEY
    return key if kind is RestApiKind.CLINIC else f"{key}-{kind.value}"


def _rate_body(kind: RestApiKind) -> dict[str, object]:
    """WAF's 429 body, without a request id: WAF answers before API Gateway gives one."""
    limited = api_conventions.CLIENT_RATE_LIMITED
    if kind is RestApiKind.FHIR:
        return limited.outcome(None)
    return {k: v for k, v in limited.body("").items() if k != "instance"}


def _visibility(name: str) -> waf.CfnWebACL.VisibilityConfigProperty:
    return waf.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=False
    )


class ClinicApi(Construct):
    """The tenant's two REST APIs, in front of the one `api` function: the clinic's (`/v1`, the
    integrations, the docs) and the FHIR facade's (`/fhir/r4`). Gateway Responses belong to a
    REST API, so only an API of its own lets what API Gateway answers itself on the facade (a 401,
    a 404, a 429) be an OperationOutcome while the clinic's API answers problem+json. Both have
    the Cognito authorizer over both pools, access and execution logs, X-Ray, the route groups'
    throttles, and the one firewall."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        key: kms.IKey,
        identity: ClinicIdentity,
        handler: lambda_.IFunction,
        cors_origins: Sequence[str] | None = None,
    ) -> None:
        """`cors_origins`: where the portals run (the web distribution first); the tenant file's
        portal origins when not given."""
        super().__init__(scope, id)
        prefix = topology.tenant_prefix(tenant.id)
        self.cors_origins = tuple(tenant.portal_origins if cors_origins is None else cors_origins)
        # API Gateway's own answers (a score per REST API) in a nested stack of their own: a stack
        # holds at most 500 resources, and they need nothing from IAM. Each stage's deployment
        # waits for them and is redeployed when they change, as when they lived beside it.
        self.gateway_answers = NestedStack(
            self, "GatewayAnswers", description=f"{tenant.display_name}: API Gateway's own answers"
        )
        # The routes' resources and methods (two hundred and more, a CORS preflight on each
        # resource) in one of their own, for the same reason: with them beside the functions, a
        # tenant with every feature on would not fit in one stack.
        self.routes = NestedStack(self, "Routes", description=f"{tenant.display_name}: the APIs' routes")
        access_logs = encrypted_log_group(
            self, "AccessLogs", name=f"/telehealth/{tenant.id}/api/access", key=key
        )
        # One invoke permission for the whole API, not two per method (CDK's default: the method's
        # and the console's test stage): every route reaches the same function, which routes
        # itself, and a stack holds at most 500 resources (per-method permissions were 108 of them).
        integration = apigw.LambdaIntegration(handler, proxy=True, scope_permission_to_method=False)
        self.rest_api = self._rest_api(
            "RestApi",
            RestApiKind.CLINIC,
            name=prefix,
            description=f"{tenant.display_name}: telehealth API",
            tenant=tenant,
            key=key,
            identity=identity,
            integration=integration,
            access_logs=access_logs,
        )
        self.fhir_api = self._rest_api(
            "FhirApi",
            RestApiKind.FHIR,
            name=f"{prefix}-fhir",
            description=f"{tenant.display_name}: FHIR R4 facade",
            tenant=tenant,
            key=key,
            identity=identity,
            integration=integration,
            access_logs=access_logs,
        )
        self._firewall(tenant, key)
        self._untraced(tenant, self.fhir_api.deployment_stage.stage_arn)

    @property
    def apis(self) -> dict[RestApiKind, apigw.RestApi]:
        return {RestApiKind.CLINIC: self.rest_api, RestApiKind.FHIR: self.fhir_api}

    @property
    def url(self) -> str:
        return self.rest_api.url

    @property
    def base_url(self) -> str:
        """The stage's URL, built from the RestApi's id and the stage's name rather than taken
        from the stage: the stage's deployment waits for the methods, the methods for the function,
        and the function's environment names the portal clients, whose callbacks include this URL
        (a reference to the stage would close that circle)."""
        return _stage_url(self.rest_api)

    @property
    def fhir_base_url(self) -> str:
        """Where health systems find the FHIR facade: its API's stage and the FHIR base below it."""
        return _stage_url(self.fhir_api) + api_conventions.FHIR_BASE

    def _rest_api(
        self,
        id: str,
        kind: RestApiKind,
        *,
        name: str,
        description: str,
        tenant: Tenant,
        key: kms.IKey,
        identity: ClinicIdentity,
        integration: apigw.Integration,
        access_logs: logs.ILogGroup,
    ) -> apigw.RestApi:
        routes = [route for route in topology.routes_for(tenant) if route.api is kind]
        rest_api = apigw.RestApi(
            self,
            id,
            rest_api_name=name,
            description=description,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # the account baseline owns API Gateway's logging role
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(self.cors_origins),
                allow_methods=list(api_conventions.CORS_ALLOW_METHODS),
                allow_headers=list(api_conventions.CORS_ALLOW_HEADERS),
                max_age=Duration.seconds(api_conventions.CORS_MAX_AGE_S),
            )
            if self.cors_origins
            else None,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # full request/response logging would write PHI
                metrics_enabled=True,
                tracing_enabled=True,
                # The stage's default, per method; each route group's methods get their own below.
                throttling_rate_limit=tenant.api_throttle.rate,
                throttling_burst_limit=tenant.api_throttle.burst,
                method_options=_group_throttles(tenant, routes),
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        stage = rest_api.deployment_stage
        acknowledge(stage, "api-cache")
        acknowledge(stage, "api-client-cert")
        # API Gateway writes execution logs to this group name; declaring it first gives it the
        # tenant's key, a retention and the data-protection policy instead of AWS's defaults.
        encrypted_log_group(
            self,
            f"{id}ExecutionLogs" if kind is not RestApiKind.CLINIC else "ExecutionLogs",
            name=Fn.join("", ["API-Gateway-Execution-Logs_", rest_api.rest_api_id, f"/{STAGE}"]),
            key=key,
        )
        # An authorizer belongs to one REST API: each has its own, over the same pools.
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer" if kind is RestApiKind.CLINIC else f"{id}Authorizer",
            cognito_user_pools=identity.pools,
            authorizer_name=f"{name}-cognito",
        )
        # Each first segment is made in the routes' stack, and every resource below it with it.
        tops: dict[str, apigw.Resource] = {}
        for route in routes:
            first, _, rest = route.path.strip("/").partition("/")
            if first not in tops:
                tops[first] = apigw.Resource(
                    self.routes, f"{id}{first.title()}", parent=rest_api.root, path_part=first
                )
            resource = tops[first].resource_for_path(rest) if rest else tops[first]
            for method in route.methods:
                if route.scopes:
                    resource.add_method(
                        method,
                        integration,
                        authorizer=authorizer,
                        authorization_type=apigw.AuthorizationType.COGNITO,
                        authorization_scopes=list(route.scopes),
                    )
                else:
                    resource.add_method(method, integration, authorization_type=apigw.AuthorizationType.NONE)
        self._gateway_responses(rest_api, kind)
        return rest_api

    def _gateway_responses(self, rest_api: apigw.RestApi, kind: RestApiKind) -> None:
        """API Gateway's own answers in the API's words (problem+json; an OperationOutcome on the
        FHIR facade's), with the CORS header a browser needs to read them (without it a portal
        sees a CORS error, not the 401 or 429)."""
        content_type, _ = api_conventions.GATEWAY_PROBLEMS[0].answer(kind, "")
        headers = {"Content-Type": f"'{content_type}'"}
        origin = api_conventions.gateway_cors_origin(self.cors_origins)
        if origin is not None:
            # A header mapping: a literal in quotes, or where in the request to take it from.
            headers["Access-Control-Allow-Origin"] = (
                origin if origin == api_conventions.REQUEST_ORIGIN else f"'{origin}'"
            )
            headers["Vary"] = "'Origin'"
        for problem in api_conventions.GATEWAY_PROBLEMS:
            _, body = problem.answer(kind, api_conventions.REQUEST_ID_PLACEHOLDER)
            apigw.GatewayResponse(
                self.gateway_answers,
                f"{kind.value}-{problem.response_type.replace('_', '-').lower()}",
                rest_api=rest_api,
                type=apigw.ResponseType.of(problem.response_type),
                status_code=str(problem.status) if problem.status is not None else None,
                response_headers=headers,
                # API Gateway picks the `application/json` template when the request names no
                # other; the body's Content-Type is the header above.
                templates={"application/json": json.dumps(body)},
            )

    def _untraced(self, tenant: Tenant, stage_arn: str) -> None:
        """X-Ray sampling rules (account-wide, so each names the tenant's stage) that sample none of
        the requests whose URLs may carry PHI; the Lambda behind them is then untraced too."""
        for i, path in enumerate(UNTRACED_PATHS):
            digest = hashlib.sha256(f"{tenant.id}{path}".encode()).hexdigest()[:16]
            xray.CfnSamplingRule(
                self,
                f"Untraced{i}",
                sampling_rule=xray.CfnSamplingRule.SamplingRuleProperty(
                    rule_name=f"untraced-{digest}",  # at most 32 characters
                    priority=1,  # before the default rule (10000) and any the account adds
                    fixed_rate=0,
                    reservoir_size=0,
                    host="*",
                    http_method="*",
                    service_name="*",
                    service_type="*",
                    url_path=path,
                    resource_arn=stage_arn,
                    version=1,
                    attributes={},
                ),
            )

    def _firewall(self, tenant: Tenant, key: kms.IKey) -> None:
        """One web ACL before both APIs' stages."""
        prefix = topology.tenant_prefix(tenant.id)
        rules = [
            waf.CfnWebACL.RuleProperty(
                name=group,
                priority=i,
                override_action=waf.CfnWebACL.OverrideActionProperty(none={}),
                statement=waf.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=waf.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=_visibility(f"{prefix}-{group}"),
            )
            for i, group in enumerate(MANAGED_RULE_GROUPS)
        ]
        # One client (one token) past its limit is blocked with a 429 while its rate stays over
        # it, so a runaway script cannot hold a group's throttle for everyone else. WAF answers
        # before API Gateway, so no Gateway Response shapes the body: a rule per API, each with
        # its API's body, told apart by the path (the FHIR facade's is under /fhir/, behind any
        # stage or base path).
        for kind in RestApiKind:
            rules.append(self._client_rate_rule(tenant, kind, priority=len(rules)))
        rules.append(
            waf.CfnWebACL.RuleProperty(
                name="per-ip-rate",
                priority=len(rules),
                action=waf.CfnWebACL.RuleActionProperty(block={}),
                statement=waf.CfnWebACL.StatementProperty(
                    rate_based_statement=waf.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=2000
                    )
                ),
                visibility_config=_visibility(f"{prefix}-per-ip-rate"),
            )
        )
        self.web_acl = waf.CfnWebACL(
            self,
            "WebAcl",
            name=prefix,
            scope="REGIONAL",
            default_action=waf.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(prefix),
            rules=rules,
            custom_response_bodies={
                _rate_body_key(kind): waf.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=json.dumps(_rate_body(kind))
                )
                for kind in RestApiKind
            },
        )
        for kind, api in self.apis.items():
            waf.CfnWebACLAssociation(
                self,
                "WebAclAssociation"
                if kind is RestApiKind.CLINIC
                else f"{kind.value.title()}WebAclAssociation",
                resource_arn=api.deployment_stage.stage_arn,
                web_acl_arn=self.web_acl.attr_arn,
            )
        # WAF requires the log group's name to start with aws-waf-logs-, and its ARN without ":*".
        log_name = f"aws-waf-logs-{prefix}"
        log_group = encrypted_log_group(self, "WafLogs", name=log_name, key=key)
        logging = waf.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                *(
                    waf.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                    for header in WAF_REDACTED_HEADERS
                ),
                waf.CfnLoggingConfiguration.FieldToMatchProperty(query_string={}),
            ],
        )
        logging.node.add_dependency(log_group)

    def _client_rate_rule(
        self, tenant: Tenant, kind: RestApiKind, *, priority: int
    ) -> waf.CfnWebACL.RuleProperty:
        """The per-client limit on one API's requests: a 429 in that API's words."""
        prefix = topology.tenant_prefix(tenant.id)
        # WAF sends fixed headers only: the portal's origin where there is exactly one.
        portal = self.cors_origins[0] if len(self.cors_origins) == 1 else None
        on_fhir = waf.CfnWebACL.StatementProperty(
            byte_match_statement=waf.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=waf.CfnWebACL.FieldToMatchProperty(uri_path={}),
                positional_constraint="CONTAINS",
                search_string=f"{api_conventions.FHIR_BASE}/",
                text_transformations=[waf.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
            )
        )
        on_api = (
            on_fhir
            if kind is RestApiKind.FHIR
            else waf.CfnWebACL.StatementProperty(
                not_statement=waf.CfnWebACL.NotStatementProperty(statement=on_fhir)
            )
        )
        name = "per-client-rate" if kind is RestApiKind.CLINIC else f"per-client-rate-{kind.value}"
        return waf.CfnWebACL.RuleProperty(
            name=name,
            priority=priority,
            action=waf.CfnWebACL.RuleActionProperty(
                block=waf.CfnWebACL.BlockActionProperty(
                    custom_response=waf.CfnWebACL.CustomResponseProperty(
                        response_code=api_conventions.CLIENT_RATE_LIMITED.status or 429,
                        custom_response_body_key=_rate_body_key(kind),
                        response_headers=[
                            waf.CfnWebACL.CustomHTTPHeaderProperty(
                                name="Access-Control-Allow-Origin", value=portal
                            )
                        ]
                        if portal
                        else None,
                    )
                )
            ),
            statement=waf.CfnWebACL.StatementProperty(
                rate_based_statement=waf.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="CUSTOM_KEYS",
                    limit=tenant.client_rate_limit,
                    evaluation_window_sec=CLIENT_RATE_WINDOW_S,
                    # A request without the header is not counted here; the per-IP rule covers it.
                    custom_keys=[
                        waf.CfnWebACL.RateBasedStatementCustomKeyProperty(
                            header=waf.CfnWebACL.RateLimitHeaderProperty(
                                name="authorization",
                                text_transformations=[
                                    waf.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                                ],
                            )
                        )
                    ],
                    scope_down_statement=on_api,
                )
            ),
            visibility_config=_visibility(f"{prefix}-{name}"),
        )
