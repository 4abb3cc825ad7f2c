"""A `next` link from HealthLake: fetched as written while it carries only paging state; one that
repeats a searched value is sent as a POST body, never as a URL carrying it; one that leaves the
data store is refused."""

from __future__ import annotations

import pytest

from telehealth.adapters.healthlake import next_page
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
