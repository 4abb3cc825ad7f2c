"""The API function: API Gateway proxy events in, Powertools resolver, pydantic at the edges.

OpenAPI 3.1 is generated from the routes (finished by functions/api/contract.py) and served at
/openapi.json, Swagger UI at /docs.

What a cold start imports is what every request needs: the resolver, the routes' models and the
error types. The services and their adapters load on first use (functions/services.py), and so
does the tracer: the X-Ray SDK it loads is a fifth of a second a request pays only if it is made.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api import contract, problems, swagger
from functions.api.routes import (
    admin,
    coverage,
    fhir,
    fhir_export,
    health,
    hl7v2,
    medical_history,
    monitoring,
    notes,
    patients,
    payments,
    photo_cases,
    prescriptions,
    referrals,
    scheduling,
    smart,
    triage,
    visits,
)
from functions.services import features
from telehealth import api_conventions
from telehealth.observability import logger_for, traced_from_first_call

logger = logger_for("api")


def _cors() -> CORSConfig | None:
    """Response headers for a portal on another origin; API Gateway answers the preflight."""
    origins = [o for o in os.environ.get("CORS_ORIGINS", "").split(",") if o]
    if not origins:
        return None
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        allow_headers=list(api_conventions.CORS_ALLOW_HEADERS),
        max_age=api_conventions.CORS_MAX_AGE_S,
    )


app = APIGatewayRestResolver(enable_validation=True, cors=_cors(), json_body_deserializer=problems.json_body)
app.include_router(health.router)
app.include_router(patients.router)
app.include_router(referrals.router)
app.include_router(hl7v2.router)
app.include_router(scheduling.router)
app.include_router(payments.router)
app.include_router(coverage.router)
app.include_router(visits.router)
app.include_router(notes.router)
app.include_router(medical_history.router)
app.include_router(prescriptions.router)
app.include_router(monitoring.router)
app.include_router(triage.router)
app.include_router(photo_cases.router)
app.include_router(admin.router)
app.include_router(smart.router)
app.include_router(fhir_export.router)  # before the facade's: `[type]/[id]/[operation]` would match
app.include_router(fhir.router)  # after smart: its discovery path would match a read
problems.install(app, logger)


@cache
def _document() -> dict[str, Any]:
    return contract.document(app)


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    """The document with the tenant's managed login in its security schemes (the committed one
    has placeholders there: it is the same for every tenant)."""
    login_urls = {pool: p.login_url for pool, p in swagger.sign_in().items()}
    return Response(
        status_code=200,
        content_type="application/json",
        body=json.dumps(contract.signed_in_at(_document(), login_urls, features())),
    )


@app.get("/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    return swagger.page()


@app.get("/docs/<asset>", include_in_schema=False)
def swagger_ui_asset(asset: str) -> Response[str]:
    found = swagger.asset(asset)
    if found is None:
        return problems.problem(404, "not-found", "Not found.", "The documentation has no such file.")
    return found


@logger.inject_lambda_context(log_event=False, correlation_id_path=correlation_paths.API_GATEWAY_REST)
@traced_from_first_call("api")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
