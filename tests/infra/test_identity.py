"""The tenant's sign-in: each pool's managed login (version 2) on a prefix domain, the patients'
self sign-up with a verified e-mail, the workforce's admin-made accounts with TOTP required, and
the portals' public clients: authorization code (with PKCE) for the web origins, nothing else."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack

from infra import compliance, topology
from infra.identity import ClinicIdentity
from infra.tenants import load_tenants
from tests.conftest import Assembly, Template, as_list, render

WEB = "https://d111example.cloudfront.net"
API = "https://abc123.execute-api.us-east-1.amazonaws.com/live"
DOCS_REDIRECT = "/docs/oauth2-redirect.html"


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
    ClinicIdentity(Stack(app, "web"), "Identity", tenant=tenant, web_origins=[WEB], api_bases=[API])
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


def test_portal_clients_use_the_code_grant_for_the_web_origins_and_the_apis_docs_only(
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
        # Swagger UI's redirect page is on the API's URL, not the portals' (/docs is the API's).
        assert sorted(client["CallbackURLs"]) == sorted([home, API + DOCS_REDIRECT])
        assert client["LogoutURLs"] == [home]
    # Managed login shows its pages to a client with a style: each portal has Cognito's default.
    styled = with_origins["web"].props("AWS::Cognito::ManagedLoginBranding")
    assert len(styled) == 2 and all(s["UseCognitoProvidedValues"] is True for s in styled)


def test_without_web_origins_the_portal_clients_have_no_oauth_flow(with_origins: dict[str, Template]) -> None:
    for client in _portals(with_origins["bare"]).values():
        assert client["AllowedOAuthFlowsUserPoolClient"] is False
        assert "AllowedOAuthFlows" not in client and "CallbackURLs" not in client
    assert with_origins["bare"].props("AWS::Cognito::ManagedLoginBranding") == []


def _references(value: Any) -> Iterator[str]:
    """The logical ids a property value refers to (Ref, GetAtt, ${...} in Sub)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            yield value["Ref"]
        elif set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            yield target[0] if isinstance(target, list) else target.split(".")[0]
        elif set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            yield from (name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
            if isinstance(value["Fn::Sub"], list):
                yield from _references(value["Fn::Sub"][1])
        else:
            for item in value.values():
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _cycle(template: Template) -> list[str] | None:
    """A chain of resources that depend on each other in a circle, as CloudFormation would refuse."""
    resources = template.resources
    needs = {
        lid: {r for r in _references(res.get("Properties", {})) if r in resources}
        | set(as_list(res.get("DependsOn", [])))
        for lid, res in resources.items()
    }
    done: set[str] = set()

    def visit(lid: str, path: list[str]) -> list[str] | None:
        if lid in path:
            return [*path[path.index(lid) :], lid]
        if lid in done:
            return None
        for need in sorted(needs[lid]):
            if found := visit(need, [*path, lid]):
                return found
        done.add(lid)
        return None

    return next((found for lid in resources if (found := visit(lid, []))), None)


def test_swagger_ui_on_the_apis_url_signs_in_through_both_pools_without_a_cycle(assembly: Assembly) -> None:
    """The docs' redirect page is a callback of both portal clients, on the stage's URL built from
    the RestApi's id; the api function is told each pool's managed login and portal client. The
    function's environment names the clients, the clients the API, the API's methods the function:
    the callback names the RestApi alone (not its stage, whose deployment waits for the methods),
    so CloudFormation finds no circle."""
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        (rest_api,) = [
            lid
            for lid, r in t.of_type("AWS::ApiGateway::RestApi").items()
            if r["Properties"]["Name"] == topology.tenant_prefix(tenant.id)  # the clinic's, not the facade's
        ]
        docs = f"https://<ref:{rest_api}>.execute-api.us-east-1.<ref:AWS::URLSuffix>/live{DOCS_REDIRECT}"
        clients = {
            lid: r["Properties"]
            for lid, r in t.of_type("AWS::Cognito::UserPoolClient").items()
            if r["Properties"]["ClientName"] in ("workforceportal", "patientportal")
        }
        assert len(clients) == 2
        for client in clients.values():
            assert docs in [render(url) for url in client["CallbackURLs"]]
            assert client["AllowedOAuthFlows"] == ["code"] and client["GenerateSecret"] is False
        (api_fn,) = [
            f
            for f in t.props("AWS::Lambda::Function")
            if "FunctionName" in f and render(f["FunctionName"]) == topology.API.name(tenant.id)
        ]
        env = api_fn["Environment"]["Variables"]
        by_name = {p["ClientName"]: lid for lid, p in clients.items()}
        assert env["PATIENT_PORTAL_CLIENT_ID"] == {"Ref": by_name["patientportal"]}
        assert env["WORKFORCE_PORTAL_CLIENT_ID"] == {"Ref": by_name["workforceportal"]}
        for kind in ("PATIENT", "WORKFORCE"):
            assert re.fullmatch(
                r"https://<ref:\w+>\.auth\.us-east-1\.amazoncognito\.com", render(env[f"{kind}_LOGIN_URL"])
            )
        assert _cycle(t) is None, _cycle(t)


def test_a_patient_who_confirms_their_sign_up_is_enrolled_by_the_tenants_own_function(
    assembly: Assembly,
) -> None:
    """The patient pool's post-confirmation trigger is the enrolment function of the same stack,
    named by its ARN (a reference would make a cycle: the function's environment names the pool),
    and Cognito, for that pool alone, may invoke it."""
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        pools = _pools(t)
        assert "LambdaConfig" not in pools["workforce"]
        trigger = render(pools["patients"]["LambdaConfig"]["PostConfirmation"])
        name = topology.PATIENT_ENROLMENT.name(tenant.id)
        assert re.fullmatch(rf"arn:aws:lambda:[^:]+:[^:]+:function:{re.escape(name)}", trigger), trigger
        (function,) = [f for f in t.props("AWS::Lambda::Function") if f.get("FunctionName") == name]
        assert function["Handler"] == topology.PATIENT_ENROLMENT.handler
        assert function["Timeout"] <= 5  # Cognito waits five seconds for a trigger
        (pool_id,) = [
            lid
            for lid, r in t.of_type("AWS::Cognito::UserPool").items()
            if render(r["Properties"]["UserPoolName"]).endswith("-patients")
        ]
        (permission,) = [
            p for p in t.props("AWS::Lambda::Permission") if p.get("Principal") == "cognito-idp.amazonaws.com"
        ]
        assert render(permission["FunctionName"]) == trigger
        assert permission["SourceArn"] == {"Fn::GetAtt": [pool_id, "Arn"]}
