"""Who may call the tenant's API: the workforce pool, the patient pool and machine clients.

Access and ID tokens live 15 minutes; group membership (providers, staff, admins) is set by
admins only, and no authorization decision reads an attribute a user can write.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import topology
from infra.tenants import MACHINE_SCOPES, Tenant
from telehealth.domain import fhir_access

TOKEN_LIFETIME = Duration.minutes(15)
REFRESH_LIFETIME = Duration.hours(12)
WORKFORCE_GROUPS = {
    "providers": "Clinicians who see patients",
    "staff": "Front desk and care coordinators of this tenant",
    "admins": "Tenant administrators: users, availability, settings",
}


PORTAL_SCOPES = {
    "openid": cognito.OAuthScope.OPENID,
    "email": cognito.OAuthScope.EMAIL,
    "profile": cognito.OAuthScope.PROFILE,
    topology.USER_SCOPE: cognito.OAuthScope.COGNITO_ADMIN,
}


def _portal_client(
    pool: cognito.UserPool, id: str, kind: str, web_origins: Sequence[str], api_bases: Sequence[str]
) -> cognito.UserPoolClient:
    """A portal's public client (no secret: it runs in a browser). With web origins or the API's
    base URLs, the managed login's authorization code grant, which a public client uses with
    PKCE, for the portal's callback and sign-out URLs on those origins and Swagger UI's redirect
    page below the API's; no implicit grant. Without either, no OAuth at all."""
    signs_in = bool(web_origins or api_bases)
    o_auth = (
        cognito.OAuthSettings(
            flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False),
            scopes=[PORTAL_SCOPES[s] for s in topology.PORTAL_SCOPES],
            callback_urls=topology.portal_callback_urls(kind, web_origins, api_bases),
            logout_urls=topology.portal_logout_urls(kind, web_origins),
        )
        if signs_in
        else None
    )
    return pool.add_client(
        id,
        user_pool_client_name=id.lower(),
        auth_flows=cognito.AuthFlow(user_srp=True),
        # Without any URL CDK would otherwise enable the implicit grant for localhost.
        disable_o_auth=not signs_in,
        o_auth=o_auth,
        supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
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


def _password_policy(kind: str) -> cognito.PasswordPolicy:
    rules = topology.PASSWORD_RULES[kind]
    return cognito.PasswordPolicy(
        min_length=rules.min_length,
        require_digits=True,
        require_lowercase=True,
        require_uppercase=True,
        require_symbols=rules.symbols,
        # Admins create the workforce's accounts with a temporary password; patients sign up.
        temp_password_validity=Duration.days(3) if kind == "workforce" else None,
    )


class ClinicIdentity(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        web_origins: Sequence[str] = (),
        api_bases: Sequence[str] = (),
    ) -> None:
        """`web_origins`: where the portals are served (the distribution's URL), for the portal
        clients' callback and sign-out URLs; `api_bases`: where the API is (its stage's URL), for
        Swagger UI's redirect page at `/docs`. Neither, and the clients have no OAuth flows."""
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
            password_policy=_password_policy("workforce"),
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
        self.workforce_portal = _portal_client(
            self.workforce, "WorkforcePortal", "workforce", web_origins, api_bases
        )

        self.patients = cognito.UserPool(
            self,
            "Patients",
            user_pool_name=f"{prefix}-patients",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=_password_policy("patients"),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.patient_portal = _portal_client(
            self.patients, "PatientPortal", "patients", web_origins, api_bases
        )
        # A patient's record is made when they confirm their sign-up (functions/identity/). The
        # function is named by its ARN, not referenced: its environment names this pool.
        enrolment = lambda_.Function.from_function_attributes(
            self,
            "PatientEnrolment",
            function_arn=topology.function_arn(
                topology.PATIENT_ENROLMENT, tenant.id, region=Aws.REGION, account=Aws.ACCOUNT_ID
            ),
            same_environment=True,
        )
        self.patients.add_trigger(cognito.UserPoolOperation.POST_CONFIRMATION, enrolment)

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
        # The FHIR facade's SMART scopes, on a server named `system`: Cognito writes its scope
        # `Patient.rs` into the token as `system/Patient.rs`, which is SMART's own spelling.
        self.smart_scopes = {
            name: cognito.ResourceServerScope(scope_name=name, scope_description=description)
            for name, description in fhir_access.SCOPE_NAMES.items()
        }
        self.smart_server = self.workforce.add_resource_server(
            "SmartScopes",
            identifier=topology.SMART_RESOURCE_SERVER,
            user_pool_resource_server_name=f"{prefix}-fhir",
            scopes=list(self.smart_scopes.values()),
        )
        # Each pool's managed login (version 2) on a Cognito prefix domain. The workforce pool's is
        # also where machine clients get tokens; its construct id predates the sign-in pages and
        # stays, as a new id would replace the domain (and a prefix is held until it is deleted).
        self.domain = self.workforce.add_domain(
            "MachineDomain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=Fn.join("-", [prefix, Aws.ACCOUNT_ID])),
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
        )
        self.patients_domain = self.patients.add_domain(
            "PatientsDomain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=Fn.join("-", [prefix, "patients", Aws.ACCOUNT_ID])
            ),
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
        )
        if web_origins or api_bases:
            # Managed login shows its pages for a client only once the client has a style;
            # Cognito's own default look is enough.
            for pool, client, name in (
                (self.workforce, self.workforce_portal, "WorkforcePortalLogin"),
                (self.patients, self.patient_portal, "PatientPortalLogin"),
            ):
                cognito.CfnManagedLoginBranding(
                    self,
                    name,
                    user_pool_id=pool.user_pool_id,
                    client_id=client.user_pool_client_id,
                    use_cognito_provided_values=True,
                )
        self.machine_clients = {
            client.name: self.workforce.add_client(
                f"Machine-{client.name}",
                user_pool_client_name=f"machine-{client.name}",
                generate_secret=True,
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(client_credentials=True),
                    scopes=[self._machine_scope(s) for s in client.scopes],
                ),
                access_token_validity=TOKEN_LIFETIME,
                enable_token_revocation=True,
                prevent_user_existence_errors=True,
            )
            for client in tenant.machine_clients
        }

    def _machine_scope(self, scope: str) -> cognito.OAuthScope:
        """A tenant file's scope as the app client allows it: on the `system` server when it is
        a SMART scope (`system/Patient.rs`), else on the integrations' server."""
        smart = scope.removeprefix(f"{topology.SMART_RESOURCE_SERVER}/")
        if smart != scope:
            return cognito.OAuthScope.resource_server(self.smart_server, self.smart_scopes[smart])
        return cognito.OAuthScope.resource_server(self.resource_server, self.scopes[scope])

    @property
    def login_domains(self) -> dict[str, str]:
        """Each pool's managed-login base URL (https://<prefix>.auth.<region>.amazoncognito.com):
        `/oauth2/authorize`, `/oauth2/token`, `/logout` and `/signup` are below it."""
        return {"workforce": self.domain.base_url(), "patients": self.patients_domain.base_url()}

    @property
    def portal_clients(self) -> dict[str, str]:
        """Each pool's portal client's id, by pool kind."""
        return {
            "workforce": self.workforce_portal.user_pool_client_id,
            "patients": self.patient_portal.user_pool_client_id,
        }

    @property
    def pools(self) -> list[cognito.IUserPool]:
        return [self.workforce, self.patients]
