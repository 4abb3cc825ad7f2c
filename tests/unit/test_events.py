"""The event catalogue: what docs/architecture.md promises is what the code publishes (which
fields an event may carry at all is held in test_topology)."""

from __future__ import annotations

from pathlib import Path

import pytest

from telehealth.events import CATALOGUE, DomainEvent

DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


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
