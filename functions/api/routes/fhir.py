"""The FHIR facade (`/fhir/r4/...`): a health system's software and signed-in users read the
clinical record in FHIR R4, checked, audited and passed on to HealthLake
(telehealth/application/fhir_facade.py).

Its contract is its CapabilityStatement (`GET /fhir/r4/metadata`), not the OpenAPI document: FHIR
clients read the former, and the routes below take whatever search parameters FHIR defines, which
an OpenAPI schema would only restate loosely. Errors here are OperationOutcomes
(functions/api/problems.py answers every error under /fhir/ so).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from functions.api import context, idempotent, problems
from functions.api.contract import INTEGRATIONS, OAUTH_TOKEN
from telehealth import api_conventions
from telehealth.domain.fhir_access import Interaction
from telehealth.fhir.subscriptions import SIGNING_SECRET_PATH

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    from telehealth.application.fhir_facade import FacadeAnswer, FhirRequest

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

BASE = api_conventions.FHIR_BASE
TYPE, INSTANCE = f"{BASE}/<resource_type>", f"{BASE}/<resource_type>/<resource_id>"
WRITES = ["POST", "PUT", "DELETE", "PATCH"]


def facade_url() -> str:
    """The facade's base URL as the client addressed it: API Gateway's domain and the path before
    the route (the stage, or a custom domain's base path), never HealthLake's."""
    event: APIGatewayProxyEvent = router.current_event  # type: ignore[assignment]  # a REST API's
    scheme = _headers().get("x-forwarded-proto", "https")
    prefix = event.request_context.path.removesuffix(event.path) if event.request_context.path else ""
    return f"{scheme}://{event.request_context.domain_name}{prefix}{BASE}"


def _headers() -> dict[str, str]:
    """The request's headers by lower-case name."""
    return {k.lower(): v for k, v in (router.current_event.headers or {}).items()}


def _fhir(status: int, body: Any) -> Response[str]:
    return Response(status_code=status, content_type=problems.FHIR_JSON, body=json.dumps(body))


def _answer(request: FhirRequest) -> Response[str]:
    from telehealth.application.fhir_facade import FacadeError

    try:
        found = context.fhir_facade().answer(context.caller(router), request, facade_url())
    except FacadeError as error:
        return problems.operation_outcome(
            error.status,
            error.diagnostics,
            error.code,
            request=problems.request_id(router),  # type: ignore[arg-type]
        )
    return _response(found)


def _response(found: FacadeAnswer) -> Response[str]:
    if found.status == 204:  # a delete: no body, no content type
        return Response(status_code=204, body="", headers=dict(found.headers))
    return Response(
        status_code=found.status,
        content_type=problems.FHIR_JSON,
        body=json.dumps(found.body),
        headers=dict(found.headers),
    )


def _query() -> tuple[tuple[str, str], ...]:
    values = router.current_event.multi_value_query_string_parameters or {}
    return tuple((name, value) for name, listed in values.items() for value in listed)


def _paged(
    interaction: Interaction,
    resource_type: str,
    params: tuple[tuple[str, str], ...],
    resource_id: str | None = None,
) -> Response[str]:
    """A search or a history: its first page, or the later page its `next` link's cursor names."""
    from telehealth.application.fhir_facade import CURSOR_PARAMETER, FhirRequest

    cursor = [v for k, v in params if k == CURSOR_PARAMETER]
    if cursor and len(params) == 1:
        return _answer(FhirRequest(interaction, resource_type, resource_id, cursor=cursor[0]))
    return _answer(FhirRequest(interaction, resource_type, resource_id, params=params))


@router.get(
    f"{BASE}/metadata",
    summary="The FHIR facade's CapabilityStatement: what it serves, and how to get a token (public)",
    tags=[INTEGRATIONS],
    responses={200: {"description": "OK", "content": {problems.FHIR_JSON: {"schema": {"type": "object"}}}}},
)
def metadata() -> Response[str]:
    """Public, as FHIR clients expect: they read it before they have a token, and it names no
    record."""
    from telehealth.fhir.capability import capability_statement

    login = os.environ[api_conventions.login_url_variable("workforce")].rstrip("/")
    # Coverage is written only where the clinic checks insurance (its eligibility function).
    insurance = bool(os.environ.get("ELIGIBILITY_FUNCTION"))
    return _fhir(200, capability_statement(facade_url(), login + OAUTH_TOKEN, insurance=insurance))


@router.get(TYPE, include_in_schema=False)
def search(resource_type: str) -> Response[str]:
    return _paged(Interaction.SEARCH, resource_type, _query())


@router.post(f"{TYPE}/_search", include_in_schema=False)
def search_by_post(resource_type: str) -> Response[str]:
    """FHIR's POST search: parameters in a form body (and the query string), so they stay out of
    every URL; the facade passes it on the same way."""
    from telehealth.application.fhir_facade import FhirRequest

    if not _headers().get("content-type", "").startswith("application/x-www-form-urlencoded"):
        # Refused by the facade, which audits the attempt as every request.
        return _answer(FhirRequest(Interaction.SEARCH, resource_type, body_type_known=False))
    body = urllib.parse.parse_qsl(router.current_event.decoded_body or "", keep_blank_values=True)
    return _paged(Interaction.SEARCH, resource_type, (*_query(), *body))


@router.get(INSTANCE, include_in_schema=False)
def read(resource_type: str, resource_id: str) -> Response[str]:
    from telehealth.application.fhir_facade import FhirRequest

    return _answer(FhirRequest(Interaction.READ, resource_type, resource_id))


@router.get(f"{INSTANCE}/_history", include_in_schema=False)
def history(resource_type: str, resource_id: str) -> Response[str]:
    """A page of the resource's versions, newest first (`_count` of them)."""
    return _paged(Interaction.HISTORY_INSTANCE, resource_type, _query(), resource_id)


@router.get(f"{INSTANCE}/<operation>", include_in_schema=False)
def instance_operation(resource_type: str, resource_id: str, operation: str) -> Response[str]:
    """An operation on an instance (`$status` of a Subscription): `_history` is matched above."""
    from telehealth.application.fhir_facade import FhirRequest

    return _answer(FhirRequest(Interaction.READ, resource_type, resource_id, operation=operation))


@router.get(f"{INSTANCE}/_history/<version_id>", include_in_schema=False)
def vread(resource_type: str, resource_id: str, version_id: str) -> Response[str]:
    from telehealth.application.fhir_facade import FhirRequest

    return _answer(FhirRequest(Interaction.VREAD, resource_type, resource_id, version_id))


# A created Subscription's answer carries its signing secret: a kept answer holds it sealed.
_KEPT = idempotent.in_transaction(sealed=(SIGNING_SECRET_PATH,))


@router.route(TYPE, method=WRITES, include_in_schema=False, middlewares=[_KEPT])
@router.route(INSTANCE, method=WRITES, include_in_schema=False, middlewares=[_KEPT])
def write(resource_type: str, resource_id: str | None = None) -> Response[str]:
    """A Patient created (by its MRN, conditionally with If-None-Exist) or updated (If-Match
    optional), a referral created, a patient's Coverage created or updated (If-Match optional);
    any other write answers 405. Each after the caller's access is
    checked, audited as every request is; a create with an Idempotency-Key keeps its answer in its
    own transaction, for a retry to get back."""
    from telehealth.application.fhir_facade import FhirRequest

    event = router.current_event
    headers, query, method = _headers(), _query(), event.http_method
    interaction = {"POST": Interaction.CREATE, "DELETE": Interaction.DELETE}.get(method, Interaction.UPDATE)
    body: Any = None
    json_sent = headers.get("content-type", "").startswith(("application/fhir+json", "application/json"))
    if method in ("POST", "PUT") and json_sent:
        try:
            body = json.loads(event.decoded_body or "null", parse_constant=_no_constant)
        except (ValueError, RecursionError):
            body = None  # the facade refuses it (and audits the attempt)
    return _answer(
        FhirRequest(
            interaction,
            resource_type,
            resource_id,
            body=body if isinstance(body, dict) else None,
            # FHIR's If-None-Exist; or a POST with the search in its query string, as fhirpy and
            # Aidbox send a conditional create.
            if_none_exist=headers.get("if-none-exist")
            or (urllib.parse.urlencode(query) if method == "POST" and query else None),
            if_match=headers.get("if-match"),
            body_type_known=json_sent or method not in ("POST", "PUT"),
            idempotency=context.idempotency(_response),
        )
    )


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
