"""ICD-10-CM, the diagnosis code system of US claims and problem lists, from the curated subset
`icd10cm.tsv` beside this module (its header names the CDC release it was taken from). SNOMED CT
is licensed and cannot ship with an open-source project, so the clinic codes diagnoses in this
alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
FIXTURE = Path(__file__).with_name("icd10cm.tsv")
MAX_RESULTS = 25


@dataclass(frozen=True)
class Icd10Code:
    code: str  # with its dot, as the tabular list writes it (J06.9)
    description: str  # the official long description
    plain: str  # in words a patient reads (the after-visit summary)


@cache
def codes() -> dict[str, Icd10Code]:
    found: dict[str, Icd10Code] = {}
    lines = (
        line for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")
    )
    header = next(lines)
    if header.split("\t") != ["code", "description", "plain"]:
        raise ValueError(f"{FIXTURE.name}: unexpected header {header!r}")
    for line in lines:
        code, description, plain = line.split("\t")
        found[code] = Icd10Code(code, description, plain)
    return found


def lookup(code: str) -> Icd10Code | None:
    """The code as the subset has it; None for a code it does not carry (or none at all)."""
    return codes().get(code.strip().upper())


def _bare(text: str) -> str:
    return text.replace(".", "").upper()


def search(query: str, limit: int = MAX_RESULTS) -> list[Icd10Code]:
    """Codes starting with the query (`j06`, `J06.9`), then those whose words start with every
    word of it (`upper resp`), in code order. Fewer than two characters find nothing."""
    text = query.strip()
    if len(text) < 2:
        return []
    bare = _bare(text)
    by_code = [c for c in codes().values() if _bare(c.code).startswith(bare)]
    words = text.casefold().split()
    by_words = [
        c
        for c in codes().values()
        if c not in by_code
        and all(
            any(w.startswith(word) for w in f"{c.description} {c.plain}".casefold().replace(",", " ").split())
            for word in words
        )
    ]
    return (
        sorted(by_code, key=lambda c: c.code)[:limit]
        + sorted(by_words, key=lambda c: c.code)[: max(0, limit - len(by_code))]
    )
