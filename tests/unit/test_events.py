"""The event catalogue: what docs/architecture.md promises is what the code publishes, and no
event carries anything but ids, instants and outcomes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from telehealth.events import CATALOGUE, DomainEvent

DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
# Field names that would carry PHI or what reveals it (a diagnosis, a place, a contact).
PHI_NAMES = re.compile(r"name|reason_text|state$|address|phone|email|contact|birth|diagnos|specialty|note")


@pytest.mark.parametrize("event", CATALOGUE, ids=lambda e: e.detail_type)
def test_each_event_is_in_the_documented_catalogue_with_its_fields(event: type[DomainEvent]) -> None:
    rows = [
        line
        for line in DOCS.read_text().splitlines()
        if line.startswith(f"| `{event.source}` | `{event.detail_type}` |")
    ]
    assert rows, f"{event.detail_type} is missing from the catalogue in docs/architecture.md"
    assert f"`{event.source}`" in rows[0]
    documented = rows[0].split("|")[3]
    if "the same" not in documented:
        fields = set(event.model_fields) - {"schema_version"}
        assert {f for f in fields if f not in documented} == set()


@pytest.mark.parametrize("event", CATALOGUE, ids=lambda e: e.detail_type)
def test_no_event_has_a_field_that_could_hold_phi(event: type[DomainEvent]) -> None:
    assert [f for f in event.model_fields if PHI_NAMES.search(f)] == []
