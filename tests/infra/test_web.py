"""The tenant's web hosting: private bucket, CloudFront with origin access control, the response
headers policy carrying the rendered CSP, the key policy, and the build deployed with config.json."""

from __future__ import annotations

import json
from typing import Any

from infra import web_config
from tests.conftest import Assembly, Template, render


def _web_bucket(t: Template) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (lid, r)
        for lid, r in t.of_type("AWS::S3::Bucket").items()
        if "-web-" in render(r["Properties"]["BucketName"])
    ]
    return found


def _distribution(t: Template) -> tuple[str, dict[str, Any]]:
    lid, r = t.one("AWS::CloudFront::Distribution")
    return lid, r["Properties"]["DistributionConfig"]


def _flatten(value: Any) -> str:
    """A Fn::Join rendered with each reference as <ref:Id> (enough to read a policy in a test)."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(_flatten(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<ref:{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<getatt:{'.'.join(value['Fn::GetAtt'])}>"
    return str(value)


def test_the_web_bucket_is_private_under_the_tenants_key_and_read_only_by_its_distribution(
    assembly: Assembly,
) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        bucket_id, bucket = _web_bucket(t)
        p = bucket["Properties"]
        key_id, _ = t.tenant_key()
        encryption = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]
        assert encryption == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]}}
        assert p["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
        assert "LoggingConfiguration" in p  # S3 access logs, as every other bucket's
        dist_id, config = _distribution(t)
        distribution_arn = f"arn:aws:cloudfront::<ref:AWS::AccountId>:distribution/<ref:{dist_id}>"
        (policy,) = [
            b["PolicyDocument"]["Statement"]
            for b in t.props("AWS::S3::BucketPolicy")
            if b["Bucket"] == {"Ref": bucket_id}
        ]
        (reads,) = [s for s in policy if s["Effect"] == "Allow"]
        assert reads["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert reads["Action"] == "s3:GetObject"
        assert _flatten(reads["Condition"]["StringEquals"]["AWS:SourceArn"]) == distribution_arn
        # The key lets CloudFront decrypt for this distribution only (not CDK's distribution/*).
        key_policy = t.resources[key_id]["Properties"]["KeyPolicy"]["Statement"]
        cloudfront = [s for s in key_policy if "cloudfront.amazonaws.com" in json.dumps(s["Principal"])]
        assert len(cloudfront) == 1
        assert cloudfront[0]["Action"] == "kms:Decrypt"
        assert _flatten(cloudfront[0]["Condition"]["StringEquals"]["AWS:SourceArn"]) == distribution_arn
        # The origin is that bucket, through origin access control (no legacy identity).
        (origin,) = config["Origins"]
        assert _flatten(origin["DomainName"]).startswith(f"telehealth-{tenant.id}-web-")
        assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
        oac_id = origin["OriginAccessControlId"]["Fn::GetAtt"][0]
        oac = t.resources[oac_id]["Properties"]["OriginAccessControlConfig"]
        assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")


def test_the_distribution_is_https_only_logged_and_caches_hashed_assets_only(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        _, config = _distribution(t)
        assert config["DefaultRootObject"] == "index.html"
        behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
        assert {b["ViewerProtocolPolicy"] for b in behaviours} == {"redirect-to-https"}
        assert {tuple(b["AllowedMethods"]) for b in behaviours} == {("GET", "HEAD")}
        (assets,) = config["CacheBehaviors"]
        assert assets["PathPattern"] == "assets/*"
        # AWS's managed policies: CachingOptimized for hashed files, CachingDisabled for the rest.
        assert assets["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"
        assert config["DefaultCacheBehavior"]["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
        (index,) = config["DefaultCacheBehavior"]["FunctionAssociations"]
        assert index["EventType"] == "viewer-request"
        assert "Logging" in config and config["Logging"]["Prefix"] == "cloudfront/"
        if tenant.web:
            assert config["Aliases"] == [tenant.web.domain]
            certificate = config["ViewerCertificate"]
            assert certificate["AcmCertificateArn"] == tenant.web.certificate_arn
            assert ":acm:us-east-1:" in certificate["AcmCertificateArn"]
            assert certificate["MinimumProtocolVersion"] == "TLSv1.2_2021"
            assert certificate["SslSupportMethod"] == "sni-only"
        else:
            assert "Aliases" not in config
    assert any(t.web for t in assembly.tenants) and not all(t.web for t in assembly.tenants)


def test_every_response_carries_the_security_headers_and_the_rendered_csp(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        _, config = _distribution(t)
        cache_control = {}
        for behaviour in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
            policy_id = behaviour["ResponseHeadersPolicyId"]["Ref"]
            policy = t.resources[policy_id]["Properties"]["ResponseHeadersPolicyConfig"]
            security = policy["SecurityHeadersConfig"]
            assert security["StrictTransportSecurity"] == {
                "AccessControlMaxAgeSec": web_config.HSTS_MAX_AGE_S,
                "IncludeSubdomains": True,
                "Preload": False,
                "Override": True,
            }
            assert security["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
            assert security["ContentTypeOptions"] == {"Override": True}
            assert security["ReferrerPolicy"] == {
                "ReferrerPolicy": web_config.REFERRER_POLICY,
                "Override": True,
            }
            csp = _flatten(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
            directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
            assert directives["frame-ancestors"] == ["'none'"] and directives["object-src"] == ["'none'"]
            assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp and "report-uri" not in csp
            assert directives["worker-src"] == ["'self'", "blob:"]  # Chime's SDK runs here
            connect = directives["connect-src"]
            assert "https://*.chime.aws" in connect and "wss://*.chime.aws" in connect
            api_ids = list(t.of_type("AWS::ApiGateway::RestApi"))
            assert f"https://<ref:{api_ids[0]}>.execute-api.<ref:AWS::Region>.<ref:AWS::URLSuffix>" in connect
            assert sum(".auth." in origin for origin in connect) == 2  # both pools' sign-in domains
            assert set(directives["form-action"]) == {o for o in connect if ".auth." in o}
            stripe = "https://js.stripe.com" in directives["script-src"]
            assert stripe == tenant.features.payments  # Stripe only where the clinic takes payments
            (header,) = policy["CustomHeadersConfig"]["Items"]
            assert header["Header"] == "Cache-Control"
            cache_control[behaviour.get("PathPattern", "*")] = header["Value"]
        assert cache_control == {"*": "no-cache", "assets/*": "public, max-age=31536000, immutable"}


def test_the_build_is_deployed_with_the_tenants_config_json(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        (deployment,) = t.props("Custom::CDKBucketDeployment")
        bucket_id, _ = _web_bucket(t)
        assert deployment["DestinationBucketName"] == {"Ref": bucket_id}
        assert deployment["Prune"] is False  # a page loaded before a deploy still finds its chunks
        assert len(deployment["SourceObjectKeys"]) == 2  # the build, and config.json
        markers = json.dumps(deployment["SourceMarkers"])
        api_id = next(iter(t.of_type("AWS::ApiGateway::RestApi")))
        assert api_id in markers and "/live" in markers  # apiBase: the stage's URL
        assert "/oauth2/authorize" in markers and "/signup" in markers
        for client in t.of_type("AWS::Cognito::UserPoolClient"):
            if "Portal" in client:
                assert client in markers
        assert "Secret" not in markers and "secret" not in markers


def test_the_api_and_the_functions_allow_the_portals_origin(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        dist_id, _ = _distribution(t)
        expected = f"https://{tenant.web.domain}" if tenant.web else f"https://<getatt:{dist_id}.DomainName>"
        api = next(
            fn["Properties"]["Environment"]["Variables"]
            for fn in t.of_type("AWS::Lambda::Function").values()
            if render(fn["Properties"].get("FunctionName", "")).endswith("-api")
        )
        assert _flatten(api["CORS_ORIGINS"]).split(",")[0] == expected
        assert _flatten(api["PORTAL_URL"]) == expected
