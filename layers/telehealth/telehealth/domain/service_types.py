"""What kind of visit an appointment is, as the clinical record codes it.

The clinic names its services in its own words (`general`, `follow-up`: the slugs availability
and booking use); the record says the same with a code a receiving system understands. Codes are
SNOMED CT procedures (the code system FHIR's own examples and most EHRs use for the kind of
visit). A service with no code here is recorded by its name alone: a code is given only where
one is known, never guessed. The clinic's own service list (with its codes) can supply these in
place of the default table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SNOMED_CT = "http://snomed.info/sct"


@dataclass(frozen=True)
class ServiceType:
    code: str
    system: str
    display: str


DEFAULT_SERVICE_TYPES: Mapping[str, ServiceType] = {
    "general": ServiceType("11429006", SNOMED_CT, "Consultation"),
    "follow-up": ServiceType("390906007", SNOMED_CT, "Follow-up encounter"),
}


def service_type_of(
    service: str, known: Mapping[str, ServiceType] = DEFAULT_SERVICE_TYPES
) -> ServiceType | None:
    """The code for one of the clinic's services; None where there is none to give."""
    return known.get(service)
