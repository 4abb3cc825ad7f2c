"""GET /fhir/r4/.well-known/smart-configuration: how a health system's software gets a token for
the FHIR facade, and exactly what it may ask for (SMART App Launch, discovery).

Public, as SMART wants it (read before any token exists). It says only what Cognito does: client
credentials at the workforce pool's token endpoint, the client authenticating with its secret in
HTTP Basic (Cognito has no `private_key_jwt`, so SMART Backend Services' asymmetric
authentication is not offered), and the `system/` scopes the resource server defines. No
authorization endpoint, no launch, no OpenID Connect: none of those is served to health systems.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, Field

from functions.api.contract import INTEGRATIONS, OAUTH_TOKEN, answers
from telehealth import api_conventions
from telehealth.domain import fhir_access

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

# SMART's capability codes for what is true here: a confidential client with a shared secret, and
# both scope syntaxes (v1's .read/.write/.*, v2's letters).
CAPABILITIES = ("client-confidential-symmetric", "permission-v1", "permission-v2")
# The document changes only with a deploy; clients may keep it an hour.
CACHE_CONTROL = "public, max-age=3600"


class SmartConfiguration(BaseModel):
    token_endpoint: str = Field(description="The workforce pool's OAuth 2.0 token endpoint")
    token_endpoint_auth_methods_supported: list[str]
    grant_types_supported: list[str]
    scopes_supported: list[str]
    capabilities: list[str]


def configuration() -> SmartConfiguration:
    """The document, with the tenant's token endpoint from the function's configuration (where
    the workforce pool's managed login is; machine clients get tokens there)."""
    login = os.environ[api_conventions.login_url_variable("workforce")].rstrip("/")
    return SmartConfiguration(
        token_endpoint=login + OAUTH_TOKEN,
        token_endpoint_auth_methods_supported=["client_secret_basic"],
        grant_types_supported=["client_credentials"],
        scopes_supported=list(fhir_access.SUPPORTED_SCOPES),
        capabilities=list(CAPABILITIES),
    )


@router.get(
    api_conventions.SMART_CONFIGURATION,
    summary="How to get a token for the FHIR facade, and which SMART scopes exist (public)",
    tags=[INTEGRATIONS],
    **answers(model=SmartConfiguration),
)
def smart_configuration() -> Response[SmartConfiguration]:
    return Response(
        status_code=200,
        content_type="application/json",
        body=configuration(),
        headers={"Cache-Control": CACHE_CONTROL},
    )
