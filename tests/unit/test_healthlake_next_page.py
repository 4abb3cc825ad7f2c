"""A `next` link from HealthLake: fetched as written while it carries only paging state; one that
repeats a searched value is sent as a POST body, never as a URL carrying it; one that leaves the
data store is refused."""

from __future__ import annotations

import pytest

from telehealth.adapters.healthlake import HealthLakeFhirStore, next_page
from telehealth.ports import FhirStoreError

BASE = "https://healthlake.us-east-1.amazonaws.com/datastore/abc/r4/"


def test_a_next_link_with_only_paging_state_is_fetched_as_written() -> None:
    link = BASE + "Patient?_count=10&page=opaque"
    assert next_page(BASE, link, {"family": "Synthetic", "_count": "10"}) == ("GET", link, None)


def test_a_next_link_that_repeats_a_searched_value_is_sent_as_a_post_body() -> None:
    link = BASE + "Patient?family=Synthetic&_include=a&_include=b&page=2"
    method, url, form = next_page(BASE, link, {"family": "Synthetic", "_count": "10"})
    assert (method, url) == ("POST", BASE + "Patient/_search")
    assert form == [("family", "Synthetic"), ("_include", "a"), ("_include", "b"), ("page", "2")]


def test_a_next_link_off_the_data_store_is_refused() -> None:
    with pytest.raises(FhirStoreError):
        next_page("https://healthlake.example/datastore/abc/r4/", "https://elsewhere.example/Patient?x=1", {})


class _Line:
    """Stands in for the adapter's HTTP session: the first `closed` sends find the connection
    closed under them (a kept-alive one the store had closed as idle), the rest are answered."""

    def __init__(self, closed: int) -> None:
        self.closed, self.sent = closed, list[object]()

    def send(self, request: object) -> object:
        from botocore.exceptions import ConnectionClosedError

        self.sent.append(request)
        if self.closed:
            self.closed -= 1
            raise ConnectionClosedError(endpoint_url="https://healthlake.example/")
        return type(
            "Answer", (), {"status_code": 200, "content": b'{"resourceType": "Bundle", "entry": []}'}
        )()


def _store(line: _Line, monkeypatch: pytest.MonkeyPatch) -> HealthLakeFhirStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = HealthLakeFhirStore(BASE, region="us-east-1")
    store._http = line
    return store


def test_a_read_is_sent_again_once_when_the_connection_closed_under_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = _Line(closed=1)
    store = _store(line, monkeypatch)
    assert list(store.search("Appointment", {"slot": "Slot/x"})) == []
    assert len(line.sent) == 2
    twice = _Line(closed=2)  # closed again: the store is unreachable, said as such
    with pytest.raises(FhirStoreError) as unreachable:
        list(_store(twice, monkeypatch).search("Appointment", {}))
    assert unreachable.value.status == 503 and len(twice.sent) == 2


def test_a_write_is_not_sent_again_it_may_have_landed(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _Line(closed=1)
    with pytest.raises(FhirStoreError):
        _store(line, monkeypatch).put({"resourceType": "Patient", "id": "p-1"})
    assert len(line.sent) == 1
