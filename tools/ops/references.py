"""Does every reference in the record resolve? A walk of a FHIR store, type by type, page by page.

A compliance officer follows an AuditEvent to who acted and what they touched; a reference to a
resource the store does not hold is a dead end. The walk reads every resource of the kinds the
platform writes (`_count` pages, following `next` links), collects each relative reference
(`Type/id`, or `Type/id/_history/n`) and looks up the ones whose kind it did not read. References
to another server (absolute URLs) and to contained resources (`#id`) are not the store's to hold.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# Every kind the platform writes into the record (and a few the next contexts will): walking a
# kind with nothing in it costs one request.
KINDS = (
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Device",
    "Schedule",
    "Slot",
    "Appointment",
    "Encounter",
    "Consent",
    "Observation",
    "RelatedPerson",
    "Composition",
    "DocumentReference",
    "Condition",
    "MedicationRequest",
    "AuditEvent",
)
PAGE = 100  # the stand-in's and HealthLake's largest page
_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]+)?$")


class FhirReader(Protocol):
    def search(
        self, resource_type: str, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def read_if_present(self, resource_type: str, resource_id: str) -> dict[str, Any] | None: ...


def references_in(value: Any) -> Iterator[str]:
    """Every `reference` string anywhere in a resource (agent.who, entity.what, subject ...)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "reference" and isinstance(inner, str):
                yield inner
            else:
                yield from references_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from references_in(inner)


@dataclass
class ReferenceReport:
    resources: Counter[str] = field(default_factory=Counter)  # by kind
    references: Counter[str] = field(default_factory=Counter)  # by the holder's kind
    resolved: Counter[str] = field(default_factory=Counter)  # by the holder's kind
    dangling: list[tuple[str, str]] = field(default_factory=list)  # (holder, reference)
    external: int = 0  # absolute URLs and contained references: not the store's to hold

    def summary(self) -> list[str]:
        lines = [f"resources: {sum(self.resources.values())} ({dict(sorted(self.resources.items()))})"]
        for kind in sorted(self.references):
            lines.append(f"{kind} references resolved: {self.resolved[kind]} / {self.references[kind]}")
        lines.append(f"dangling: {len(self.dangling)}")
        lines += [f"  {holder} -> {reference}" for holder, reference in self.dangling[:50]]
        return lines


def walk(store: FhirReader, kinds: Iterable[str] = KINDS, page: int = PAGE) -> ReferenceReport:
    report = ReferenceReport()
    held: set[str] = set()
    found: list[tuple[str, str, str]] = []  # (holder, holder kind, Type/id)
    walked = tuple(kinds)
    for kind in walked:
        for resource in store.search(kind, {"_count": str(page)}):
            holder = f"{kind}/{resource['id']}"
            held.add(holder)
            report.resources[kind] += 1
            for reference in references_in(resource):
                match = _RELATIVE.match(reference)
                if match is None:
                    report.external += 1
                    continue
                found.append((holder, kind, f"{match.group(1)}/{match.group(2)}"))
    # A kind the walk did not read (a reference to something the platform never writes) is
    # looked up once per target.
    elsewhere: dict[str, bool] = {}
    for _, _, target in found:
        kind, _, resource_id = target.partition("/")
        if kind not in walked and target not in elsewhere:
            elsewhere[target] = store.read_if_present(kind, resource_id) is not None
    for holder, holder_kind, target in found:
        report.references[holder_kind] += 1
        if target in held or elsewhere.get(target, False):
            report.resolved[holder_kind] += 1
        else:
            report.dangling.append((holder, target))
    return report
