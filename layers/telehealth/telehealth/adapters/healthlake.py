"""The FHIR store: a HealthLake data store's R4 REST API, signed with SigV4 for `healthlake`.

The endpoint comes from configuration (`FHIR_STORE_ENDPOINT`: the data store's endpoint in AWS,
the stand-in's locally); the credentials and region from the standard chain. botocore signs and
sends, so the layer needs nothing the Lambda runtime does not have.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

SERVICE = "healthlake"
FHIR_JSON = "application/fhir+json"


class FhirStoreError(Exception):
    """The store refused a request. Carries the status and the OperationOutcome's issue codes,
    never the resource, so it can be logged and raised through a state machine safely."""

    def __init__(self, status: int, codes: tuple[str, ...], diagnostics: tuple[str, ...] = ()) -> None:
        super().__init__(f"FHIR store answered {status}: {', '.join(codes) or 'no issue code'}")
        self.status = status
        self.codes = codes
        self.diagnostics = diagnostics


class HealthLakeFhirStore:
    def __init__(self, endpoint: str, *, region: str | None = None, timeout_s: float = 10.0) -> None:
        import botocore.session
        from botocore.httpsession import URLLib3Session

        self._base = endpoint.rstrip("/") + "/"
        session = botocore.session.get_session()
        self._credentials = session.get_credentials()
        self._region = region or session.get_config_variable("region") or "us-east-1"
        self._http = URLLib3Session(timeout=timeout_s)

    # --- the REST interactions the platform uses ------------------------------------------------

    def create(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", str(resource["resourceType"]), body=resource)

    def put(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update at a known id: a retried write lands on the same resource."""
        return self._call("PUT", f"{resource['resourceType']}/{resource['id']}", body=resource)

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return self._call("GET", f"{resource_type}/{resource_id}")

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> dict[str, Any]:
        return self._call("GET", f"{resource_type}/{resource_id}/_history/{version_id}")

    def history(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return self._call("GET", f"{resource_type}/{resource_id}/_history")

    def search(self, resource_type: str, params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every matching resource, following the store's `next` links page by page."""
        url: str | None = self._url(resource_type, params)
        while url:
            bundle = self._send("GET", url)
            for entry in bundle.get("entry", []):
                if entry.get("search", {}).get("mode", "match") == "match":
                    yield entry["resource"]
            url = next(
                (link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None
            )

    def transaction(self, entries: list[dict[str, Any]], *, kind: str = "transaction") -> dict[str, Any]:
        return self._call("POST", "", body={"resourceType": "Bundle", "type": kind, "entry": entries})

    def ping(self) -> None:
        """A cheap signed read: proves the endpoint answers and accepts our signature."""
        self._send("GET", self._url("Patient", {"_count": "1"}))

    # --- plumbing ------------------------------------------------------------------------------

    def _url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return urllib.parse.urljoin(self._base, path) + query

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._send(method, self._url(path), body)

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        data = json.dumps(body).encode() if body is not None else None
        request = AWSRequest(
            method=method,
            url=url,
            data=data,
            headers={"Accept": FHIR_JSON, **({"Content-Type": FHIR_JSON} if data else {})},
        )
        SigV4Auth(self._credentials, SERVICE, self._region).add_auth(request)
        response = self._http.send(request.prepare())
        payload: dict[str, Any] = json.loads(response.content) if response.content else {}
        if response.status_code >= 400:
            issues = payload.get("issue", []) if isinstance(payload, dict) else []
            raise FhirStoreError(
                response.status_code,
                tuple(str(i.get("code", "")) for i in issues),
                tuple(",".join(i.get("expression", [])) for i in issues),
            )
        return payload
