"""Bulk export through the FHIR facade (FHIR Bulk Data Access): `$export` at the system, Patient
and Group level, the export's status to poll (then its manifest), its cancellation, and its files,
read with the same token (telehealth/application/exports.py).

Routed before the facade's own routes (functions/api/handler.py): its `[type]/[id]/[operation]`
would take `Group/<id>/$export` and `_export/<id>/<file>` otherwise. Powertools reads a route as a
regular expression, so the literal `$` is escaped. Like the facade's, these routes' contract is the
CapabilityStatement (`OperationDefinition`s named there), and their errors OperationOutcomes.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from functions.api import context, problems
from functions.api.routes.fhir import BASE, facade_url
from telehealth.application.fhir_facade import FacadeError
from telehealth.domain.exports import NDJSON, ExportLevel, ExportState, manifest

if TYPE_CHECKING:
    from collections.abc import Callable

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

EXPORTS = f"{BASE}/_export/<export_id>"


def _query() -> tuple[tuple[str, str], ...]:
    values = router.current_event.multi_value_query_string_parameters or {}
    return tuple((name, value) for name, listed in values.items() for value in listed)


def _refusal(error: FacadeError) -> Response[str]:
    return problems.operation_outcome(
        error.status,
        error.diagnostics,
        error.code,
        request=problems.request_id(router),  # type: ignore[arg-type]
    )


def _answered(answer: Callable[[], Response[str]]) -> Response[str]:
    try:
        return answer()
    except FacadeError as error:
        return _refusal(error)


def _kick_off(level: ExportLevel, group_id: str | None = None) -> Response[str]:
    """202 with the status URL to poll (`Content-Location`), as the specification has it."""

    def answer() -> Response[str]:
        headers = {k.lower(): v for k, v in (router.current_event.headers or {}).items()}
        # `respond-async`, perhaps with other preferences (`handling=lenient`, as bulk clients send).
        if "respond-async" not in {p.strip().lower() for p in headers.get("prefer", "").split(",")}:
            raise FacadeError(
                400, "invalid", "A bulk export runs asynchronously: send Prefer: respond-async."
            )
        base = facade_url()
        query = _query()
        requested = base + router.current_event.path.removeprefix(BASE)
        if query:
            requested += "?" + urllib.parse.urlencode(query, safe=",:")
        job = context.export_desk().kick_off(
            context.caller(router), level, query, requested, group_id=group_id
        )
        return Response(
            status_code=202,
            content_type=problems.FHIR_JSON,
            body=json.dumps(_information("The export is queued: poll Content-Location for its progress.")),
            headers={"Content-Location": f"{base}/_export/{job.export_id}"},
        )

    return _answered(answer)


@router.get(f"{BASE}/\\$export", include_in_schema=False)
def export_everything() -> Response[str]:
    return _kick_off(ExportLevel.SYSTEM)


@router.get(f"{BASE}/Patient/\\$export", include_in_schema=False)
def export_patients() -> Response[str]:
    return _kick_off(ExportLevel.PATIENT)


@router.get(f"{BASE}/Group/<group_id>/\\$export", include_in_schema=False)
def export_group(group_id: str) -> Response[str]:
    return _kick_off(ExportLevel.GROUP, group_id)


@router.get(EXPORTS, include_in_schema=False)
def export_status(export_id: str) -> Response[str]:
    """202 with `X-Progress` and `Retry-After` while it runs, 200 with the manifest when done, an
    OperationOutcome (500) when it failed."""

    def answer() -> Response[str]:
        job, ahead = context.export_desk().status(context.caller(router), export_id)
        if job.state is ExportState.COMPLETED:
            return Response(
                status_code=200,
                content_type="application/json",
                body=json.dumps(manifest(job, facade_url())),
            )
        if job.state is ExportState.FAILED:
            raise FacadeError(500, "exception", f"The export failed: {job.reason}")
        return Response(
            status_code=202,
            content_type=problems.FHIR_JSON,
            body=json.dumps(_information(job.progress(ahead))),
            headers={"X-Progress": job.progress(ahead), "Retry-After": str(job.retry_after)},
        )

    return _answered(answer)


@router.delete(EXPORTS, include_in_schema=False)
def cancel_export(export_id: str) -> Response[str]:
    def answer() -> Response[str]:
        context.export_desk().cancel(context.caller(router), export_id)
        return Response(
            status_code=202,
            content_type=problems.FHIR_JSON,
            body=json.dumps(_information("The export is cancelled and its files are gone.")),
        )

    return _answered(answer)


@router.get(f"{EXPORTS}/<file_name>", include_in_schema=False)
def export_file(export_id: str, file_name: str) -> Response[str]:
    """One file the manifest lists, as NDJSON: read through the facade with the token that asked
    for the export, never from a link to the bucket."""

    def answer() -> Response[str]:
        body = context.export_desk().file(context.caller(router), export_id, file_name)
        return Response(status_code=200, content_type=NDJSON, body=body.decode())

    return _answered(answer)


def _information(text: str) -> dict[str, object]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": text}],
    }
