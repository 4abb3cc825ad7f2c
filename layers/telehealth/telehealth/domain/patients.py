"""A patient's own details: what they must give before the clinic books them a visit, and the
rules those details meet. Pure: no I/O; the clock's day is passed in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.jurisdictions import JURISDICTION_ZONES, is_us_jurisdiction

OLDEST_AGE_YEARS = 130
# E.164: a plus, a country code that does not start with 0, at most fifteen digits in all.
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class PatientDetails:
    """What a patient tells the clinic about themselves (their e-mail is their sign-in's)."""

    given_name: str
    family_name: str
    birth_date: date
    home_state: str
    zone: str
    phone: str | None = None


@dataclass(frozen=True)
class RegisteredPatient:
    """A patient as the health system registers them: by MRN, with the details a visit needs (the
    time zone defaults to their home state's, which they can change in the portal)."""

    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    home_state: str
    zone: str
    gender: str | None = None
    phone: str | None = None
    email: str | None = None


def lookup_key(family_name: str, birth_date: date) -> str:
    """How the front desk finds a patient: their last name as written in any case or spacing,
    and their date of birth (two patients rarely share both; the few who do are told apart by
    their first name and home state)."""
    return f"{' '.join(family_name.split()).casefold()}#{birth_date.isoformat()}"


def birth_date_problem(birth_date: date, today: date) -> str | None:
    """Why a date of birth cannot be someone's, or None. The message names the rule only."""
    if birth_date > today:
        return "A date of birth cannot be in the future."
    if birth_date < today.replace(year=today.year - OLDEST_AGE_YEARS, day=min(today.day, 28)):
        return f"A date of birth is at most {OLDEST_AGE_YEARS} years ago."
    return None


def home_state_problem(state: str) -> str | None:
    return (
        None if is_us_jurisdiction(state) else "The home state is a US state, DC or territory, by its code."
    )


def home_zone(state: str) -> str:
    """A registered patient's time zone until they choose theirs: their home state's first (a
    state with several zones gets its most populous), the East's where none is known."""
    return JURISDICTION_ZONES.get(state, ("America/New_York",))[0]


def zone_problem(zone: str) -> str | None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return "The time zone is an IANA zone name, such as America/Chicago."
    return None


def phone_problem(phone: str) -> str | None:
    return None if _PHONE.match(phone) else "A phone number is written +, the country code, then the number."


def check_details_complete(complete: bool, *, own: bool) -> None:
    """A visit is booked only for a patient whose details the clinic has (their name and date of
    birth identify them to the provider; their state and zone are the visit's defaults)."""
    if not complete:
        raise AppointmentRuleError(
            "details-incomplete",
            "Add your name, date of birth and home state under Your details before booking."
            if own
            else "The patient has not yet given their name, date of birth and home state.",
        )


# --- merges (a health system's ADT A40) ----------------------------------------------------------

# Appointments moved in one transaction: each with its Appointment and its event, 90 of DynamoDB's 100.
MAX_MOVED_PER_WRITE = 30


@dataclass(frozen=True)
class PatientMerge:
    """One patient's record retired into another's: who asked and when, and which appointments
    moved with it, so that staff can undo the merge and move exactly those back."""

    retired_id: str
    survivor_id: str
    merged_at: datetime
    requested_by: str  # the agent as the audit trail names it (the health system's client)
    moved: tuple[str, ...] = ()
    # The retired record's e-mail and phone, where the survivor had none: reminders reach the
    # person the portal account belongs to. Undoing the merge takes back exactly these.
    copied_email: str | None = None
    copied_phone: str | None = None


class MergeRefusedError(Exception):
    """A merge the clinic cannot make: `code` says why (409 through the API, AE in an ACK)."""

    status = 409  # the records' state refuses it, not the request's shape

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_merge(
    retired_id: str, retired_into: str | None, survivor_id: str, survivor_into: str | None
) -> None:
    """A merge retires one live record into another live one. The message names the rule only."""
    if retired_id == survivor_id:
        raise MergeRefusedError("same-patient", "The two identifiers name the same patient.")
    if survivor_into is not None:
        raise MergeRefusedError("survivor-retired", "The surviving record was itself merged into another.")
    if retired_into is not None and retired_into != survivor_id:
        raise MergeRefusedError("already-merged", "The retired record was already merged into another.")
