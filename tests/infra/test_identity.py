"""The tenant's sign-in: each pool's managed login (version 2) on a prefix domain, the patients'
self sign-up with a verified e-mail, the workforce's admin-made accounts with TOTP required, and
the portals' public clients: authorization code (with PKCE) for the web origins, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack

from infra import compliance, topology
from infra.identity import ClinicIdentity
from infra.tenants import load_tenants
from tests.conftest import Assembly, Template, render

WEB = "https://d111example.cloudfront.net"


def _pools(template: Template) -> dict[str, dict[str, Any]]:
    return {render(p["UserPoolName"]).rsplit("-", 1)[-1]: p for p in template.props("AWS::Cognito::UserPool")}


def test_each_pool_has_a_managed_login_domain_of_its_own(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        pool_ids = {
            render(r["Properties"]["UserPoolName"]).rsplit("-", 1)[-1]: lid
            for lid, r in t.of_type("AWS::Cognito::UserPool").items()
        }
        domains = {d["UserPoolId"]["Ref"]: d for d in t.props("AWS::Cognito::UserPoolDomain")}
        assert set(domains) == set(pool_ids.values())
        assert {d["ManagedLoginVersion"] for d in domains.values()} == {2}
        prefixes = {kind: render(domains[lid]["Domain"]) for kind, lid in pool_ids.items()}
        prefix = topology.tenant_prefix(tenant.id)
        assert prefixes == {
            "workforce": f"{prefix}-123456789012",
            "patients": f"{prefix}-patients-123456789012",
        }


def test_patients_sign_themselves_up_and_the_workforce_is_made_by_admins_with_totp(
    assembly: Assembly,
) -> None:
    for tenant in assembly.tenants:
        pools = _pools(assembly.tenant(tenant.id))
        patients, workforce = pools["patients"], pools["workforce"]
        assert patients["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
        assert patients["AutoVerifiedAttributes"] == ["email"]
        assert workforce["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
        assert workforce["MfaConfiguration"] == "ON" and workforce["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
        for kind, pool in pools.items():
            policy = pool["Policies"]["PasswordPolicy"]
            assert policy["MinimumLength"] == topology.PASSWORD_RULES[kind].min_length
            assert policy["RequireSymbols"] is topology.PASSWORD_RULES[kind].symbols


@pytest.fixture(scope="module")
def with_origins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    """The identity construct alone, with and without web origins, under the HIPAA pack (a stack
    of a few Cognito resources: quick to synthesize beside the session's whole app)."""
    outdir = tmp_path_factory.mktemp("identity.out")
    app = App(outdir=str(outdir))
    compliance.enable_hipaa_checks(app)
    tenant = load_tenants()[0]
    ClinicIdentity(Stack(app, "web"), "Identity", tenant=tenant, web_origins=[WEB])
    ClinicIdentity(Stack(app, "bare"), "Identity", tenant=tenant)
    app.synth()
    report = json.loads((outdir / "validation-report.json").read_text())
    assert [v for plugin in report["pluginReports"] for v in plugin["violations"]] == []
    return {
        name: Template(name, json.loads((Path(outdir) / f"{name}.template.json").read_text()))
        for name in ("web", "bare")
    }


def _portals(template: Template) -> dict[str, dict[str, Any]]:
    return {
        p["ClientName"]: p
        for p in template.props("AWS::Cognito::UserPoolClient")
        if p["ClientName"] in ("workforceportal", "patientportal")
    }


def test_portal_clients_use_the_code_grant_for_the_web_origins_only(
    with_origins: dict[str, Template],
) -> None:
    portals = _portals(with_origins["web"])
    for name, kind in (("patientportal", "patients"), ("workforceportal", "workforce")):
        client = portals[name]
        assert client["AllowedOAuthFlows"] == ["code"] and client["AllowedOAuthFlowsUserPoolClient"] is True
        assert client["GenerateSecret"] is False
        assert sorted(client["AllowedOAuthScopes"]) == sorted(topology.PORTAL_SCOPES)
        assert client["SupportedIdentityProviders"] == ["COGNITO"]
        home = WEB + topology.PORTAL_PATHS[kind]
        assert sorted(client["CallbackURLs"]) == sorted([home, WEB + "/docs/oauth2-redirect.html"])
        assert client["LogoutURLs"] == [home]
    # Managed login shows its pages to a client with a style: each portal has Cognito's default.
    styled = with_origins["web"].props("AWS::Cognito::ManagedLoginBranding")
    assert len(styled) == 2 and all(s["UseCognitoProvidedValues"] is True for s in styled)


def test_without_web_origins_the_portal_clients_have_no_oauth_flow(with_origins: dict[str, Template]) -> None:
    for client in _portals(with_origins["bare"]).values():
        assert client["AllowedOAuthFlowsUserPoolClient"] is False
        assert "AllowedOAuthFlows" not in client and "CallbackURLs" not in client
    assert with_origins["bare"].props("AWS::Cognito::ManagedLoginBranding") == []
