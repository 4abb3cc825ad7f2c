"""The tenant's REST API: Cognito authorizer over both pools, logs, X-Ray, throttling and WAF."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, Fn, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as waf
from constructs import Construct

from infra import topology
from infra.compliance import acknowledge
from infra.identity import ClinicIdentity
from infra.monitoring import encrypted_log_group
from infra.tenants import Tenant
from telehealth import api_conventions

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
# Headers WAF must never write to its logs: bearer tokens and session cookies.
WAF_REDACTED_HEADERS = ("authorization", "cookie")


def _visibility(name: str) -> waf.CfnWebACL.VisibilityConfigProperty:
    return waf.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=False
    )


class ClinicApi(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        key: kms.IKey,
        identity: ClinicIdentity,
        handler: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, id)
        prefix = topology.tenant_prefix(tenant.id)
        access_logs = encrypted_log_group(
            self, "AccessLogs", name=f"/telehealth/{tenant.id}/api/access", key=key
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=prefix,
            description=f"{tenant.display_name}: telehealth API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # the account baseline owns API Gateway's logging role
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(tenant.portal_origins),
                allow_methods=list(api_conventions.CORS_ALLOW_METHODS),
                allow_headers=list(api_conventions.CORS_ALLOW_HEADERS),
                max_age=Duration.seconds(api_conventions.CORS_MAX_AGE_S),
            )
            if tenant.portal_origins
            else None,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # full request/response logging would write PHI
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=tenant.api_throttle.rate,
                throttling_burst_limit=tenant.api_throttle.burst,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        stage = self.rest_api.deployment_stage
        acknowledge(stage, "api-cache")
        acknowledge(stage, "api-client-cert")
        # API Gateway writes execution logs to this group name; declaring it first gives it the
        # tenant's key, a retention and the data-protection policy instead of AWS's defaults.
        encrypted_log_group(
            self,
            "ExecutionLogs",
            name=Fn.join("", ["API-Gateway-Execution-Logs_", self.rest_api.rest_api_id, f"/{STAGE}"]),
            key=key,
        )

        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=identity.pools, authorizer_name=f"{prefix}-cognito"
        )
        integration = apigw.LambdaIntegration(handler, proxy=True)
        for route in topology.ROUTES:
            resource = self.rest_api.root.resource_for_path(route.path)
            if route.scopes:
                resource.add_method(
                    "ANY",
                    integration,
                    authorizer=authorizer,
                    authorization_type=apigw.AuthorizationType.COGNITO,
                    authorization_scopes=list(route.scopes),
                )
            else:
                resource.add_method("GET", integration, authorization_type=apigw.AuthorizationType.NONE)

        self._firewall(tenant, key, stage.stage_arn)

    @property
    def url(self) -> str:
        return self.rest_api.url

    def _firewall(self, tenant: Tenant, key: kms.IKey, stage_arn: str) -> None:
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
        )
        waf.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn
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
                waf.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in WAF_REDACTED_HEADERS
            ],
        )
        logging.node.add_dependency(log_group)
