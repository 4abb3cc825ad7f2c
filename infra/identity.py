"""Who may call the tenant's API: the workforce pool, the patient pool and machine clients.

Access and ID tokens live 15 minutes; group membership (providers, staff, admins) is set by
admins only, and no authorization decision reads an attribute a user can write.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra import topology
from infra.tenants import MACHINE_SCOPES, Tenant

TOKEN_LIFETIME = Duration.minutes(15)
REFRESH_LIFETIME = Duration.hours(12)
WORKFORCE_GROUPS = {
    "providers": "Clinicians who see patients",
    "staff": "Front desk and care coordinators of this tenant",
    "admins": "Tenant administrators: users, availability, settings",
}


def _portal_client(pool: cognito.UserPool, id: str) -> cognito.UserPoolClient:
    return pool.add_client(
        id,
        user_pool_client_name=id.lower(),
        auth_flows=cognito.AuthFlow(user_srp=True),
        # SRP sign-in only: no hosted-UI OAuth flows (CDK would otherwise enable implicit grant).
        disable_o_auth=True,
        generate_secret=False,
        access_token_validity=TOKEN_LIFETIME,
        id_token_validity=TOKEN_LIFETIME,
        refresh_token_validity=REFRESH_LIFETIME,
        prevent_user_existence_errors=True,
        enable_token_revocation=True,
        # What users may change about themselves: names and contact preferences, not the e-mail
        # they sign in with (admins change that), so no decision can rest on a self-written claim.
        write_attributes=cognito.ClientAttributes().with_standard_attributes(
            given_name=True, family_name=True, phone_number=True, locale=True, timezone=True
        ),
    )


class ClinicIdentity(Construct):
    def __init__(self, scope: Construct, id: str, *, tenant: Tenant) -> None:
        super().__init__(scope, id)
        prefix = topology.tenant_prefix(tenant.id)

        self.workforce = cognito.UserPool(
            self,
            "Workforce",
            user_pool_name=f"{prefix}-workforce",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for group, description in WORKFORCE_GROUPS.items():
            cognito.CfnUserPoolGroup(
                self,
                f"Group-{group}",
                user_pool_id=self.workforce.user_pool_id,
                group_name=group,
                description=description,
            )
        self.workforce_portal = _portal_client(self.workforce, "WorkforcePortal")

        self.patients = cognito.UserPool(
            self,
            "Patients",
            user_pool_name=f"{prefix}-patients",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=False,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.patient_portal = _portal_client(self.patients, "PatientPortal")

        # Machine clients (health-system integrations) use client credentials against the
        # workforce pool's resource server; the domain serves the /oauth2/token endpoint.
        self.scopes = {
            name: cognito.ResourceServerScope(scope_name=name, scope_description=f"Integration scope {name}")
            for name in MACHINE_SCOPES
        }
        self.resource_server = self.workforce.add_resource_server(
            "Integrations",
            identifier=topology.RESOURCE_SERVER,
            user_pool_resource_server_name=f"{prefix}-integrations",
            scopes=list(self.scopes.values()),
        )
        self.domain = self.workforce.add_domain(
            "MachineDomain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=Fn.join("-", [prefix, Aws.ACCOUNT_ID])),
        )
        self.machine_clients = {
            client.name: self.workforce.add_client(
                f"Machine-{client.name}",
                user_pool_client_name=f"machine-{client.name}",
                generate_secret=True,
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(client_credentials=True),
                    scopes=[
                        cognito.OAuthScope.resource_server(self.resource_server, self.scopes[s])
                        for s in client.scopes
                    ],
                ),
                access_token_validity=TOKEN_LIFETIME,
                enable_token_revocation=True,
                prevent_user_existence_errors=True,
            )
            for client in tenant.machine_clients
        }

    @property
    def pools(self) -> list[cognito.IUserPool]:
        return [self.workforce, self.patients]
