"""The refusals the application raises that the API answers with a problem, in a module that
imports nothing heavy: the API function maps them at import time, and must not load the services
(every event model, the FHIR projection) to do so. Their old homes re-export them."""

from __future__ import annotations

from telehealth.domain.licensure import Refusal


class NotFoundError(Exception):
    """No such record, or none this caller may see (the two look the same from outside)."""


class LicensureError(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


class SlotTakenError(Exception):
    """Another booking holds this slot."""


class VisitChangedError(Exception):
    """The visit moved on since it was read (another step or event changed it)."""


class StaleWriteError(Exception):
    """The record changed since it was read (or was cancelled meanwhile)."""


class IdempotencyMismatchError(Exception):
    """The key was used before for a different request."""


class DeviceTakenError(Exception):
    """A remote-monitoring device is registered already (for another patient, or this one)."""


class NotEnrolledError(Exception):
    """The patient is in no remote-monitoring program (enrol them first)."""


class LedgerEntryError(ValueError):
    """A billing-ledger entry the clinic's record cannot take (a day in the future, before the
    enrolment; not a provider of the clinic): says which (422)."""


class TriageUnavailableError(Exception):
    """The clinic's medical director has not signed off the triage rule set the platform runs (409)."""


class IntakeClosedError(Exception):
    """A symptom intake already ended (a red flag held, or it routed): its answers stay (409)."""


class ReadingsRefusedError(Exception):
    """Not one reading of a request could be taken: each entry, with its reason."""

    def __init__(self, refused: tuple[tuple[int, str], ...]) -> None:
        super().__init__(f"{len(refused)} entries refused")
        self.refused = refused


class DexcomRefusedError(Exception):
    """Dexcom refused a sign-in's code or a refresh token (the patient links their account again);
    the code is Dexcom's error's name, never what was sent."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class DexcomLinkError(ValueError):
    """A Dexcom sign-in that cannot finish a link (expired, used, refused): connect again (422)."""


class DexcomUnavailableError(Exception):
    """Dexcom did not answer, or answered 5xx: try again later (503)."""


class DexcomThrottledError(DexcomUnavailableError):
    """Dexcom's rate (calls per app per hour) is spent: the poll stops and resumes at its next
    run; a patient's sign-in is told to try again in a few minutes (503), as for any outage."""
