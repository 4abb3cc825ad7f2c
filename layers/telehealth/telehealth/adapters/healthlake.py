"""The FHIR store: a HealthLake data store's R4 REST API, signed with SigV4 for `healthlake`.

The endpoint comes from configuration (`FHIR_STORE_ENDPOINT`: the data store's endpoint in AWS,
the stand-in's locally); the credentials and region from the standard chain. botocore signs and
sends, so the layer needs nothing the Lambda runtime does not have.

Searches never put what is searched for in a URL to HealthLake: the first page is a `POST
[type]/_search` with a form body (signed over the body), and a `next` link is fetched as HealthLake
wrote it only while it carries none of the values searched for; one that does is sent as a POST
with its parameters in the body instead (`next_page`; docs/upstream/healthlake.md says why).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC
from typing import Any

from telehealth.domain.exports import NDJSON, ExportAsked, ExportDestination, ExportLevel
from telehealth.fhir.healthlake_support import HEALTHLAKE
from telehealth.ports import FhirStoreError

SERVICE = "healthlake"
FHIR_JSON = "application/fhir+json"


# A form body: a mapping, or pairs where a parameter repeats (`_include` twice).
Form = Mapping[str, str] | Sequence[tuple[str, str]]

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


def _path(resource_type: str, *parts: str) -> str:
    """A relative FHIR path from checked pieces: a stray `..` or `/` in an id goes nowhere."""
    if not _TYPE.match(resource_type) or not all(_ID.match(p) or p in ("_history", "_search") for p in parts):
        raise ValueError("not a FHIR resource type or id")
    return "/".join((resource_type, *parts))


def _export_job(job_id: str) -> str:
    if not _ID.match(job_id):
        raise ValueError("not an export job id")
    return f"export/{job_id}"


def next_page(base: str, link: str, searched: Mapping[str, str]) -> tuple[str, str, Form | None]:
    """How to fetch a `next` link: (method, url, form body or None).

    HealthLake's documentation does not say what its `next` links carry. One that carries only
    paging state is fetched as written (GET); one that repeats a value searched for (other than
    the result parameters: page size, sort) is sent as `POST <path>/_search` with its parameters
    as the form body, which FHIR defines as the same search. A link off the data store is
    refused: the request would be signed for somewhere else.
    """
    if not link.startswith(base):
        raise FhirStoreError(502, ("next-link-off-store",))
    path, _, query = link[len(base) :].partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    values = {v for k, v in searched.items() if k.split(":")[0] not in HEALTHLAKE.result_parameters and v}
    if not any(v in values for _, v in pairs):
        return "GET", link, None
    return "POST", urllib.parse.urljoin(base, f"{path.rstrip('/')}/_search".lstrip("/")), pairs


def next_link(bundle: Mapping[str, Any]) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)


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
        return self._call("POST", _path(str(resource["resourceType"])), body=resource)

    def put(self, resource: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        """Create or update at a known id: a retried write lands on the same resource. With
        `if_match`, only if the stored version is still that one (412 otherwise)."""
        url = self._url(_path(str(resource["resourceType"]), str(resource["id"])))
        return self._send("PUT", url, resource, if_match=if_match)

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return self._call("GET", _path(resource_type, resource_id))

    def read_if_present(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        try:
            return self.read(resource_type, resource_id)
        except FhirStoreError as error:
            if error.status in (404, 410):
                return None
            raise

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> dict[str, Any]:
        return self._call("GET", _path(resource_type, resource_id, "_history", version_id))

    def history(self, resource_type: str, resource_id: str, *, count: int | None = None) -> dict[str, Any]:
        """The first page of a resource's versions, newest first; `follow` fetches the next."""
        path = _path(resource_type, resource_id, "_history")
        return self._call("GET", path if count is None else f"{path}?_count={count}")

    def search(self, resource_type: str, params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every matching resource, following the store's `next` links page by page."""
        searched = dict(params or {})
        bundle = self.search_page(resource_type, searched)
        while True:
            for entry in bundle.get("entry", []):
                if entry.get("search", {}).get("mode", "match") == "match":
                    yield entry["resource"]
            link = next_link(bundle)
            if link is None:
                return
            bundle = self.follow(link, searched)

    def search_page(self, resource_type: str, params: Form) -> dict[str, Any]:
        """The first page of a search, as the store's Bundle. A POST to `_search` with the
        parameters in a form body: search values (a name, a birth date) never travel in a URL,
        where access logs and CloudTrail keep them."""
        return self._send("POST", self._url(_path(resource_type, "_search")), form=params)

    def follow(self, link: str, searched: Form) -> dict[str, Any]:
        """The page a `next` link names, fetched so that no searched value travels in a URL
        (`next_page`)."""
        method, url, form = next_page(self._base, link, dict(searched))
        return self._send(method, url, form=form)

    def transaction(self, entries: list[dict[str, Any]], *, kind: str = "transaction") -> dict[str, Any]:
        return self._call("POST", "", body={"resourceType": "Bundle", "type": kind, "entry": entries})

    def batch(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A batch bundle's entries (160 at most, HealthLake's quota), each answered on its own:
        the response entries, in order."""
        return list(self.transaction(entries, kind="batch").get("entry", []))

    # --- bulk export: HealthLake's export job, into the tenant's export bucket ---------------------

    def start_export(self, asked: ExportAsked, job_name: str, destination: ExportDestination) -> str:
        """Starts HealthLake's export of what `asked` names (FHIR REST `$export`, which, unlike
        the SDK's StartFHIRExportJob, takes a level, `_type` and `_since`); its job id. A 429 is
        HealthLake running another export in the account."""
        level = {
            ExportLevel.SYSTEM: "$export",
            ExportLevel.PATIENT: "Patient/$export",
            ExportLevel.GROUP: f"{_path('Group', str(asked.group_id))}/$export",
        }[asked.level]
        query = [("_outputFormat", NDJSON), ("_type", ",".join(asked.types))]
        if asked.since is not None:
            query.append(("_since", asked.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
        body = {
            "JobName": job_name,
            "OutputDataConfig": {
                "S3Configuration": {"S3Uri": destination.s3_uri, "KmsKeyId": destination.kms_key_id}
            },
            "DataAccessRoleArn": destination.role_arn,
        }
        answer = self._send("POST", f"{self._url(level)}?{urllib.parse.urlencode(query)}", body)
        return str(answer["jobId"])

    def export_status(self, job_id: str) -> str:
        """The export job's status, in HealthLake's words (its message is not read: it may quote
        what it could not export)."""
        return str(self._call("GET", _export_job(job_id))["exportJobProperties"]["jobStatus"])

    def cancel_export(self, job_id: str) -> None:
        self._call("DELETE", _export_job(job_id))

    def ping(self) -> None:
        """The CapabilityStatement: proves the endpoint answers our signature, reads no record."""
        self._send("GET", self._url("metadata"))

    # --- plumbing ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return urllib.parse.urljoin(self._base, path)

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._send(method, self._url(path), body)

    def _send(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None = None,
        *,
        form: Form | None = None,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        headers = {"Accept": FHIR_JSON}
        data: bytes | None = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), FHIR_JSON
        elif form is not None:
            data, headers["Content-Type"] = (
                urllib.parse.urlencode(form).encode(),
                "application/x-www-form-urlencoded",
            )
        if if_match is not None:
            headers["If-Match"] = f'W/"{if_match}"'
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(self._credentials, SERVICE, self._region).add_auth(request)
        from botocore.exceptions import BotoCoreError, ConnectionClosedError

        # A read (a GET, or a search POSTed to `_search`) is sent again once if the connection
        # closed under it: a kept-alive connection the store had just closed as idle fails the
        # next request sent on it, and nothing was read. A write is not: it may have landed.
        reads = method == "GET" or urllib.parse.urlsplit(url).path.endswith("/_search")
        for attempt in (1, 2):
            try:
                response = self._http.send(request.prepare())
                break
            except ConnectionClosedError as error:
                if not reads or attempt == 2:
                    raise FhirStoreError(503, ("unreachable",)) from error
            except BotoCoreError as error:  # timeouts, refused connections: the store is unreachable
                raise FhirStoreError(503, ("unreachable",)) from error
        try:
            payload: dict[str, Any] = json.loads(response.content) if response.content else {}
        except ValueError:  # an HTML error page from something in between
            payload = {}
        if response.status_code >= 400:
            issues = payload.get("issue", []) if isinstance(payload, dict) else []
            raise FhirStoreError(
                response.status_code,
                tuple(str(i.get("code", "")) for i in issues),
                tuple(",".join(i.get("expression", [])) for i in issues),
            )
        return payload
