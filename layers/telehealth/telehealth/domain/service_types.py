"""What kind of visit an appointment is, as the clinical record codes it.

The clinic names its services in its own words (`general`, `follow-up`: the slugs availability
and booking use); the record says the same with a code a receiving system understands, which the
clinic gives each service it lists (`Service.coding`, kept in the table behind the admin API). A
service with no coding is recorded by its name alone: a code is given only where the clinic gave
one, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SNOMED_CT = "http://snomed.info/sct"

# FHIR's own rules for a Coding: `system` an absolute URI (a scheme, then no whitespace), `code` a
# FHIR `code` (no leading, trailing or doubled whitespace), `display` a non-empty string (here one
# line, nothing blank at either end). Matched whole (`fullmatch`: `$` alone lets a newline end
# it); the API's schema carries the same patterns. The lengths are the platform's: a code system's
# URI, a code and its display fit comfortably (SNOMED CT ids are at most 18 digits), and a
# service's item in the table stays small.
ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
FHIR_CODE = re.compile(r"^\S+( \S+)*$")
DISPLAY = re.compile(r"^\S([^\r\n]*\S)?$")
MAX_SYSTEM, MAX_CODE, MAX_DISPLAY = 255, 64, 200


@dataclass(frozen=True)
class ServiceType:
    """One Coding of a kind of visit (FHIR `Coding`: system, code, display)."""

    code: str
    system: str
    display: str | None = None

    def as_fields(self) -> dict[str, str]:
        """As the table, the API and a change's history spell it (no display: none given)."""
        shown = {"display": self.display} if self.display else {}
        return {"system": self.system, "code": self.code, **shown}

    @classmethod
    def from_fields(cls, raw: Mapping[str, Any] | None) -> ServiceType | None:
        return cls(str(raw["code"]), str(raw["system"]), raw.get("display")) if raw else None


def coding_problem(coded: ServiceType) -> str | None:
    """What makes this coding one FHIR would refuse (or the table would not keep); None if fine."""
    if not (len(coded.system) <= MAX_SYSTEM and ABSOLUTE_URI.fullmatch(coded.system)):
        return f"a coding's system is an absolute URI (such as {SNOMED_CT}), at most {MAX_SYSTEM} characters"
    if not (len(coded.code) <= MAX_CODE and FHIR_CODE.fullmatch(coded.code)):
        return f"a coding's code is 1 to {MAX_CODE} characters, without leading, trailing or doubled spaces"
    shown = coded.display
    if shown is not None and not (len(shown) <= MAX_DISPLAY and DISPLAY.fullmatch(shown)):
        return f"a coding's display, if given, is one line of 1 to {MAX_DISPLAY} characters"
    return None
