"""The tenant's web apps: a private bucket behind CloudFront (origin access control), the response
headers policy with the rendered CSP, and the build deployed beside its config.json.

Two steps, because the CSP and config.json name the API and the sign-in domains, which are built
after the web origin has to be known (the user pools' clients list the portal's URLs): the
construct makes the bucket and the distribution, `publish` renders the CSP into the headers
policies and deploys the build.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Aws, Duration, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra import topology, web_config
from infra.compliance import acknowledge
from infra.data import private_bucket
from infra.tenants import Tenant

WEB_DIST = web_config.ROOT / "web" / "dist"
# Vite's build metadata and the Makefile's stamp: not part of the site.
NOT_DEPLOYED = [".vite", ".vite/*", ".ready"]
# `/dashboard/` is the dashboard's index.html (S3 has no directory index; CloudFront's default root
# object covers `/` only), and `/dashboard` goes there, as the local gateway does.
INDEX_FUNCTION = """function handler(event) {
  var request = event.request;
  if (request.uri === "/dashboard") {
    return { statusCode: 301, statusDescription: "Moved Permanently",
             headers: { location: { value: "/dashboard/" } } };
  }
  if (request.uri.endsWith("/")) {
    request.uri += "index.html";
  }
  return request;
}
"""


def web_bucket_name(tenant_id: str, purpose: str) -> str:
    return f"{topology.tenant_prefix(tenant_id)}-{purpose}-{Aws.ACCOUNT_ID}"


class ClinicWeb(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        key: kms.Key,
        access_logs: s3.IBucket,
        dist: Path = WEB_DIST,
    ) -> None:
        super().__init__(scope, id)
        if not (dist / "index.html").is_file() or not (dist / "dashboard" / "index.html").is_file():
            raise ValueError(f"{dist} holds no build of the web apps: run `make setup` (it builds web/dist)")
        self.tenant, self.dist = tenant, dist
        self.csp: str | None = None
        prefix = topology.tenant_prefix(tenant.id)
        stack = Stack.of(self)
        name = web_bucket_name(tenant.id, "web")
        self.bucket = private_bucket(
            self,
            "Bucket",
            name=name,
            key=key,
            access_logs=access_logs,
            replication_ack="web-bucket-replication",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
                s3.LifecycleRule(id="old-versions", noncurrent_version_expiration=Duration.days(30)),
            ],
        )
        self.logs = private_bucket(
            self,
            "CdnLogs",
            name=web_bucket_name(tenant.id, "cdn-logs"),
            key=None,
            access_logs=access_logs,
            # CloudFront's standard logs are written with an ACL granting the bucket owner.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            replication_ack="log-bucket-replication",
            sse_s3_ack="cdn-log-bucket-sse-s3",
            lifecycle_rules=[s3.LifecycleRule(id="expire", expiration=Duration.days(365))],
        )
        # The distribution reaches the buckets by name, not by reference: the key's policy names
        # the distribution (below), and a reference from the distribution to a bucket under that
        # key would be a dependency cycle. CDK's own statement for the key would allow every
        # distribution in the account (`distribution/*`); these name this one.
        origin_bucket = s3.Bucket.from_bucket_attributes(
            self, "Origin", bucket_name=name, region=stack.region
        )
        log_bucket = s3.Bucket.from_bucket_attributes(
            self, "LogTarget", bucket_name=self.logs.bucket_name, region=stack.region
        )
        Annotations.of(self).acknowledge_warning(
            "@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac",
            "The bucket policy statement for this distribution is added to the bucket below.",
        )
        origin = origins.S3BucketOrigin.with_origin_access_control(origin_bucket)
        self.pages_headers = self._headers_policy("Pages", f"{prefix}-web-pages", web_config.NO_CACHE)
        self.assets_headers = self._headers_policy("Assets", f"{prefix}-web-assets", web_config.IMMUTABLE)
        index = cloudfront.Function(
            self,
            "Index",
            function_name=f"{prefix}-web-index",
            code=cloudfront.FunctionCode.from_inline(INDEX_FUNCTION),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Directory index for /dashboard/",
        )
        domain = tenant.web
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"{prefix}: patient portal and workforce dashboard",
            default_root_object="index.html",
            # index.html and config.json: never cached, so a deploy needs no invalidation.
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                response_headers_policy=self.pages_headers,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=index, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            # Hashed build output: cached at the edge and in browsers for a year.
            additional_behaviors={
                f"{web_config.ASSETS_PREFIX}*": cloudfront.BehaviorOptions(
                    origin=origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                    cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                    response_headers_policy=self.assets_headers,
                )
            },
            domain_names=[domain.domain] if domain else None,
            certificate=acm.Certificate.from_certificate_arn(self, "Certificate", domain.certificate_arn)
            if domain
            else None,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            # North America and Europe: where a US clinic's patients are (and cheapest).
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix="cloudfront/",
        )
        distribution_arn = stack.format_arn(
            service="cloudfront",
            region="",
            resource="distribution",
            resource_name=self.distribution.distribution_id,
        )
        this_distribution = {"StringEquals": {"AWS:SourceArn": distribution_arn}}
        cloudfront_principal = iam.ServicePrincipal("cloudfront.amazonaws.com")
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudFrontReadsThroughOriginAccessControl",
                principals=[cloudfront_principal],
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions=this_distribution,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudFrontDecryptsTheWebBucketForThisDistribution",
                principals=[cloudfront_principal],
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions=this_distribution,
            )
        )
        self.origin = f"https://{domain.domain}" if domain else f"https://{self.distribution.domain_name}"

    def _headers_policy(self, id: str, name: str, cache_control: str) -> cloudfront.ResponseHeadersPolicy:
        """web_config.security_headers, as CloudFront sets them; the CSP once `publish` has run."""
        return cloudfront.ResponseHeadersPolicy(
            self,
            id,
            response_headers_policy_name=name,
            comment="Security headers and the rendered CSP (web/csp.txt)",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                # The strictest policy until `publish` renders the template over it.
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy="default-src 'none'", override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(web_config.HSTS_MAX_AGE_S),
                    include_subdomains=True,
                    preload=False,
                    override=True,
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Cache-Control", value=cache_control, override=True
                    )
                ]
            ),
        )

    def publish(self, config: Mapping[str, Any]) -> None:
        """Render the CSP into the headers policies and deploy the build with this config.json."""
        self.csp = web_config.render_csp(config)
        for policy in (self.pages_headers, self.assets_headers):
            cfn = policy.node.default_child
            assert isinstance(cfn, cloudfront.CfnResponseHeadersPolicy)
            cfn.add_property_override(
                "ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy",
                self.csp,
            )
        deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            sources=[
                s3deploy.Source.asset(str(self.dist), exclude=NOT_DEPLOYED),
                s3deploy.Source.json_data("config.json", dict(config)),
            ],
            destination_bucket=self.bucket,
            # Files of earlier builds stay: a page loaded before a deploy still finds the chunks it
            # loads later (the call view). They are small; versions of replaced files expire.
            prune=False,
            retain_on_delete=True,
            server_side_encryption=s3deploy.ServerSideEncryption.AWS_KMS,
            server_side_encryption_aws_kms_key_id=self.bucket.encryption_key.key_id
            if self.bucket.encryption_key
            else None,
            memory_limit=512,
        )
        handler = deployment.handler_role.node.scope
        for ack in ("web-deployment-vpc", "web-deployment-dlq", "web-deployment-concurrency"):
            acknowledge(handler, ack)  # type: ignore[arg-type]
