"""Drugs, their ingredients and their classes, from the curated subset `rxnorm.json` beside this
module: RxNorm's prescribable drugs (NLM, public domain) with DEA schedules (21 CFR 1308) and
MED-RT classes (VA, public domain). Each entry says where it was confirmed; `docs/operations.md`
asks for the file to be checked against RxNav before a deployment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MEDRT = "http://va.gov/terminology/medrt"
FIXTURE = Path(__file__).with_name("rxnorm.json")
MAX_RESULTS = 25


@dataclass(frozen=True)
class Ingredient:
    rxcui: str
    name: str


@dataclass(frozen=True)
class DrugClass:
    id: str  # MED-RT's NUI
    name: str
    kind: str  # EPC (established pharmacologic class) or Chemical/Ingredient


@dataclass(frozen=True)
class Drug:
    rxcui: str
    name: str
    ingredients: tuple[Ingredient, ...]
    strength: str
    dose_form: str
    route: str
    dose_unit: str
    schedule: str | None  # DEA schedule II-V, None when not controlled
    class_ids: tuple[str, ...]
    opioid_use_disorder: bool = False


@dataclass(frozen=True)
class Substance:
    """What a patient can be allergic to, coded: an ingredient (RxNorm) or a class (MED-RT)."""

    system: str
    code: str
    display: str


@cache
def _fixture() -> tuple[dict[str, Drug], dict[str, DrugClass]]:
    raw = json.loads(FIXTURE.read_text(encoding="utf-8"))
    classes = {c["id"]: DrugClass(c["id"], c["name"], c["kind"]) for c in raw["classes"]}
    drugs = {
        d["rxcui"]: Drug(
            d["rxcui"],
            d["name"],
            tuple(Ingredient(i["rxcui"], i["name"]) for i in d["ingredients"]),
            d["strength"],
            d["dose_form"],
            d["route"],
            d["dose_unit"],
            d["schedule"],
            tuple(d["classes"]),
            bool(d.get("opioid_use_disorder", False)),
        )
        for d in raw["drugs"]
    }
    return drugs, classes


def drugs() -> dict[str, Drug]:
    return _fixture()[0]


def classes() -> dict[str, DrugClass]:
    return _fixture()[1]


def drug(rxcui: str) -> Drug | None:
    return drugs().get(rxcui)


@cache
def substances() -> dict[tuple[str, str], Substance]:
    """Every ingredient and class a patient may name as an allergy, by (system, code)."""
    found: dict[tuple[str, str], Substance] = {}
    for d in drugs().values():
        for i in d.ingredients:
            found[(RXNORM, i.rxcui)] = Substance(RXNORM, i.rxcui, i.name)
    for c in classes().values():
        found[(MEDRT, c.id)] = Substance(MEDRT, c.id, c.name)
    return found


def substance(system: str, code: str) -> Substance | None:
    return substances().get((system, code))


def _matches(text: str, query: str) -> bool:
    words = text.casefold().replace("-", " ").replace("/", " ").split()
    return all(any(w.startswith(q) for w in words) for q in query.casefold().split())


def search_drugs(query: str, limit: int = MAX_RESULTS) -> list[Drug]:
    """Drugs whose name's words start with every word of the query (`amox 500`)."""
    if len(query.strip()) < 2:
        return []
    return sorted((d for d in drugs().values() if _matches(d.name, query)), key=lambda d: d.name)[:limit]


def search_substances(query: str, limit: int = MAX_RESULTS) -> list[Substance]:
    """Ingredients and classes whose names' words start with every word of the query: classes
    first (`penicillin` finds the penicillins as well as each one)."""
    if len(query.strip()) < 2:
        return []
    found = [s for s in substances().values() if _matches(s.display, query)]
    return sorted(found, key=lambda s: (s.system != MEDRT, s.display.casefold()))[:limit]
