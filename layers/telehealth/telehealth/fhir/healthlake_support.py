"""What AWS HealthLake supports on the FHIR R4 wire, as data, and what the facade offers of it.

One place for three readers: the FHIR facade (its CapabilityStatement and its refusals of a
search it cannot pass on), the local HealthLake stand-in (which refuses what HealthLake refuses:
it reads `document()`, committed as local/standins/healthlake/support.json by `make docs`), and
the tests that hold both to it. Where each fact comes from, and where HealthLake's documentation
is silent and what is assumed instead, is written in docs/upstream/healthlake.md.

- `HEALTHLAKE`: HealthLake's own rules for any search (page size, modifiers by parameter type,
  comparison prefixes, the values its result parameters take, what it does not support at all).
- `FACADE`: per resource type the facade serves, the interactions and the search parameters it
  offers (a subset of what HealthLake supports: every one an R4 search parameter of that type
  and none HealthLake lists as unsupported; tests/unit/test_healthlake_support.py checks both).
- `refusal(resource_type, params)`: why HealthLake would refuse a search, or None.

Pure: no AWS, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telehealth.domain.fhir_access import Interaction


class ParamType(StrEnum):
    """R4 search parameter types (https://hl7.org/fhir/R4/search.html#ptypes)."""

    NUMBER = "number"
    DATE = "date"
    STRING = "string"
    TOKEN = "token"  # noqa: S105 (FHIR's parameter type, not a secret)
    REFERENCE = "reference"
    COMPOSITE = "composite"
    QUANTITY = "quantity"
    URI = "uri"
    SPECIAL = "special"


@dataclass(frozen=True)
class HealthLakeRules:
    max_count: int
    # Modifiers HealthLake documents, by the parameter type they apply to.
    modifiers: Mapping[ParamType, frozenset[str]]
    prefixes: frozenset[str]
    prefixed_types: frozenset[ParamType]
    # Values the result parameters accept, where HealthLake restricts them.
    result_values: Mapping[str, frozenset[str]]
    result_parameters: frozenset[str]
    max_sort_rules: int
    # `Type-code` search parameters HealthLake does not support (`Resource-` applies to every type).
    unsupported: frozenset[str]


_ALL_BUT_COMPOSITE = frozenset(ParamType) - {ParamType.COMPOSITE}

HEALTHLAKE = HealthLakeRules(
    max_count=100,  # "Any values greater than 100 is invalid. _count=0 is not supported."
    modifiers={
        **{t: frozenset({"missing"}) for t in _ALL_BUT_COMPOSITE},
        ParamType.STRING: frozenset({"missing", "exact", "contains"}),
        ParamType.TOKEN: frozenset({"missing", "not", "text"}),
        # `:identifier`, and a resource type (`subject:Patient`) as chained searches use it.
        ParamType.REFERENCE: frozenset({"missing", "identifier"}),
        ParamType.URI: frozenset({"missing", "below"}),
    },
    prefixes=frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"}),
    prefixed_types=frozenset({ParamType.NUMBER, ParamType.DATE, ParamType.QUANTITY}),
    result_values={
        "_total": frozenset({"accurate", "none"}),
        "_summary": frozenset({"true", "text", "data", "false"}),
    },
    result_parameters=frozenset(
        {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total"}
    ),
    max_sort_rules=5,
    unsupported=frozenset(
        {
            "Bundle-composition",
            "Bundle-identifier",
            "Bundle-message",
            "Bundle-type",
            "Bundle-timestamp",
            "Location-near",
            "Consent-source-reference",
            "Contract-patient",
            "Resource-content",
            "Resource-query",
        }
    ),
)


@dataclass(frozen=True)
class SearchParameter:
    name: str
    type: ParamType


def _p(spec: str) -> tuple[SearchParameter, ...]:
    """`"identifier:token status:token"` -> the parameters, in the order written."""
    return tuple(SearchParameter(n, ParamType(t)) for n, t in (pair.split(":") for pair in spec.split()))


# Every resource type takes these (R4's `Resource` parameters; `_count` is a result parameter).
COMMON = _p("_id:token _lastUpdated:date")

# What the facade offers, per resource type: the parameters an integration engineer reaches for
# first (who it is about, when, which state, a business identifier). Each is HealthLake's too.
FACADE_SEARCH: Mapping[str, tuple[SearchParameter, ...]] = {
    "Patient": _p("identifier:token family:string given:string birthdate:date gender:token"),
    "Practitioner": _p("identifier:token family:string name:string active:token"),
    "PractitionerRole": _p("identifier:token practitioner:reference active:token date:date"),
    "Schedule": _p("identifier:token actor:reference active:token date:date"),
    "Slot": _p("identifier:token schedule:reference start:date status:token"),
    "Appointment": _p(
        "identifier:token patient:reference practitioner:reference actor:reference date:date status:token"
        " slot:reference"
    ),
    "Encounter": _p(
        "identifier:token patient:reference subject:reference practitioner:reference date:date"
        " status:token appointment:reference"
    ),
    "Observation": _p(
        "identifier:token patient:reference subject:reference encounter:reference date:date"
        " status:token code:token category:token"
    ),
    "Consent": _p("identifier:token patient:reference actor:reference date:date status:token category:token"),
    "AuditEvent": _p("patient:reference agent:reference entity:reference date:date type:token subtype:token"),
    "ServiceRequest": _p(
        "identifier:token patient:reference subject:reference requester:reference authored:date"
        " status:token intent:token"
    ),
    "RelatedPerson": _p("identifier:token patient:reference active:token"),
    "Device": _p("identifier:token patient:reference status:token type:token"),
    "Coverage": _p("identifier:token patient:reference beneficiary:reference payor:reference status:token"),
    "CoverageEligibilityResponse": _p(
        "identifier:token patient:reference created:date status:token outcome:token insurer:reference"
    ),
    "ChargeItem": _p(
        "identifier:token patient:reference subject:reference context:reference code:token"
        " entered-date:date occurrence:date"
    ),
    "Invoice": _p(
        "identifier:token patient:reference subject:reference recipient:reference status:token date:date"
    ),
    "Composition": _p(
        "identifier:token patient:reference subject:reference encounter:reference author:reference date:date"
        " status:token type:token"
    ),
    "DocumentReference": _p(
        "identifier:token patient:reference subject:reference encounter:reference author:reference date:date"
        " status:token type:token relatesto:reference"
    ),
    "Condition": _p(
        "identifier:token patient:reference subject:reference encounter:reference code:token category:token"
        " clinical-status:token verification-status:token recorded-date:date"
    ),
    "AllergyIntolerance": _p(
        "identifier:token patient:reference code:token clinical-status:token verification-status:token"
        " date:date"
    ),
    "MedicationStatement": _p(
        "identifier:token patient:reference subject:reference context:reference code:token status:token"
        " effective:date"
    ),
}

# Result parameters the facade passes on (its paging is HealthLake's, up to `max_count`).
FACADE_RESULT_PARAMETERS = ("_count",)

# HealthLake supports every one of these on every type; the facade offers all but delete (its
# writes go through the platform's own store, and what a health system may write is the facade's
# to say per route).
FACADE_INTERACTIONS = (
    Interaction.READ,
    Interaction.VREAD,
    Interaction.HISTORY_INSTANCE,
    Interaction.SEARCH,
)


def search_parameters(resource_type: str) -> tuple[SearchParameter, ...]:
    """What the facade offers on `resource_type` (empty when it does not serve the type)."""
    offered = FACADE_SEARCH.get(resource_type)
    return (*COMMON, *offered) if offered is not None else ()


# `_format` is documented on GET searches; `_has` (reverse chaining) is checked by HealthLake on
# the resource it names, which this check does not follow.
_PASSED_THROUGH = frozenset({"_format", "_has"})
_PREFIXED = re.compile(r"^([a-z]{2})(?=[-+0-9])")


def refusal(
    resource_type: str, params: Iterable[tuple[str, str]], types: Mapping[str, ParamType]
) -> str | None:
    """Why HealthLake refuses this search (a sentence without the values searched for), or None.

    `types` maps each search parameter of `resource_type` that R4 defines to its type; a name
    missing from it is a parameter HealthLake does not know. Chained (`subject:Patient.name`) and
    reverse-chained (`_has:`) parameters are checked on their first link only.
    """
    pairs = list(params)
    names = {k.split(":", 1)[0] for k, _ in pairs}
    for key, value in pairs:
        link = key.split(".", 1)[0]
        name, _, modifier = link.partition(":")
        if name in _PASSED_THROUGH:
            continue
        if name in HEALTHLAKE.result_parameters:
            if modifier:
                return f"{name} takes no modifier"
            problem = _result_problem(name, value, names)
            if problem:
                return problem
            continue
        if {f"{resource_type}-{name}", f"Resource-{name.lstrip('_')}"} & HEALTHLAKE.unsupported:
            return f"search parameter {name} is not supported on {resource_type}"
        kind = types.get(name)
        if kind is None:
            return f"unknown search parameter {name} for {resource_type}"
        if modifier and not (
            modifier in HEALTHLAKE.modifiers.get(kind, frozenset())
            or (kind is ParamType.REFERENCE and modifier[:1].isupper())
        ):
            return f"modifier :{modifier} is not supported on {name}"
        if kind in HEALTHLAKE.prefixed_types and modifier != "missing":
            for one in value.split(","):
                found = _PREFIXED.match(one)
                if found and found.group(1) not in HEALTHLAKE.prefixes:
                    return f"prefix {found.group(1)} is not supported on {name}"
    return None


def _result_problem(name: str, value: str, names: set[str]) -> str | None:
    if name == "_count":
        if not value.isdigit() or not 1 <= int(value) <= HEALTHLAKE.max_count:
            return f"_count must be a whole number from 1 to {HEALTHLAKE.max_count}"
    elif name in HEALTHLAKE.result_values and value not in HEALTHLAKE.result_values[name]:
        return f"{name} must be one of {', '.join(sorted(HEALTHLAKE.result_values[name]))}"
    elif name == "_sort" and len(value.split(",")) > HEALTHLAKE.max_sort_rules:
        return f"_sort takes at most {HEALTHLAKE.max_sort_rules} rules"
    if name == "_summary" and value == "text" and names & {"_include", "_revinclude"}:
        return "_summary=text cannot be combined with _include or _revinclude"
    if name == "_elements" and "_summary" in names:
        return "_elements cannot be combined with _summary"
    return None


def document() -> dict[str, Any]:
    """The data as JSON, for the stand-in (Node) and for anyone reading without Python."""
    return {
        "source": "layers/telehealth/telehealth/fhir/healthlake_support.py (make docs)",
        "healthlake": {
            "maxCount": HEALTHLAKE.max_count,
            "modifiers": {t.value: sorted(m) for t, m in sorted(HEALTHLAKE.modifiers.items())},
            "prefixes": sorted(HEALTHLAKE.prefixes),
            "prefixedTypes": sorted(t.value for t in HEALTHLAKE.prefixed_types),
            "resultParameters": sorted(HEALTHLAKE.result_parameters),
            "resultValues": {k: sorted(v) for k, v in sorted(HEALTHLAKE.result_values.items())},
            "maxSortRules": HEALTHLAKE.max_sort_rules,
            "unsupported": sorted(HEALTHLAKE.unsupported),
        },
        "facade": {
            "interactions": [i.code for i in FACADE_INTERACTIONS],
            "resultParameters": list(FACADE_RESULT_PARAMETERS),
            "search": {
                kind: [{"name": p.name, "type": p.type.value} for p in search_parameters(kind)]
                for kind in FACADE_SEARCH
            },
        },
    }
