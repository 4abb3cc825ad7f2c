"""The API function: API Gateway proxy events in, Powertools resolver, pydantic at the edges.

OpenAPI 3.1 is generated from the routes and served at /openapi.json, Swagger UI at /docs.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api import problems
from functions.api.routes import admin, health, scheduling, visits
from telehealth import api_conventions
from telehealth.observability import logger_for, tracer_for

logger = logger_for("api")
tracer = tracer_for("api")


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


app = APIGatewayRestResolver(enable_validation=True, cors=_cors())
app.include_router(health.router)
app.include_router(scheduling.router)
app.include_router(visits.router)
app.include_router(admin.router)
problems.install(app)
app.enable_swagger(path="/docs", title="Telehealth API", version="1")


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> dict[str, Any]:
    schema: dict[str, Any] = app.get_openapi_schema(title="Telehealth API", version="1").model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return schema


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
