"""What a clinic changes in the course of business, without a deploy: its settings (windows, the
visit's clocks, the booking horizon, how many open bookings a patient may hold) and its services
(code, length, price). Kept in the clinic table, versioned, changed by admins only.

Pure rules, no I/O: what a valid setting is, and the guard rails booking applies with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.charges import billing_code_problem
from telehealth.domain.notes import SOAP, check_template
from telehealth.domain.prescribing import ControlledSubstanceRules
from telehealth.domain.scheduling import LONGEST_VISIT
from telehealth.domain.service_types import ServiceType, coding_problem
from telehealth.domain.visits import VisitTimings

# A Standard Step Functions execution lives one year at most, and each booked visit's lifecycle is
# one execution started at booking (a reschedule starts another). It runs to the visit's end, then
# waits for admission (`admit_by_after_end`) and a call's overrun, and then documents and closes
# the visit: a day is kept in hand for that and for a loaded service. A horizon longer than this
# would book visits whose workflow AWS stops before they happen.
WORKFLOW_LIMIT = timedelta(days=365)
AFTER_VISIT_ALLOWANCE = timedelta(days=1)
MAX_REMINDER_AHEAD = timedelta(days=14)
MAX_OPEN_BOOKINGS = 100  # a ceiling on the clinic's own cap: every booking reads that many rows

SERVICE_CODE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_PRICE_MINOR = 10_000_000  # a price or a fee, in minor units


class SettingsError(ValueError):
    """A setting the clinic asked for is not one the platform can keep (400, says which)."""


MAX_ESCALATION_CHAIN = 5


@dataclass(frozen=True)
class AlertEscalation:
    """Remote monitoring: an urgent alert no clinician has acknowledged `after` this long goes to
    the first provider `to` names, `after` later to the next, and so on (none named: it waits on
    the care team's panel alone)."""

    after: timedelta = timedelta(minutes=15)
    to: tuple[str, ...] = ()

    def as_plain(self) -> dict[str, Any]:
        return {"after_minutes": int(self.after.total_seconds() // 60), "to": list(self.to)}

    @classmethod
    def from_plain(cls, raw: Any) -> AlertEscalation:
        if not isinstance(raw, Mapping) or set(raw) - {"after_minutes", "to"}:
            raise SettingsError("alert_escalation is an object of after_minutes and to")
        minutes = raw.get("after_minutes", 15)
        to = raw.get("to", [])
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 240:
            raise SettingsError("alert_escalation.after_minutes is a whole number, 1 to 240")
        if (
            not isinstance(to, list | tuple)
            or not all(isinstance(p, str) and 0 < len(p) <= 64 for p in to)
            or len(set(to)) != len(to)
            or len(to) > MAX_ESCALATION_CHAIN
        ):
            raise SettingsError(
                f"alert_escalation.to is a list of up to {MAX_ESCALATION_CHAIN} provider ids, each once"
            )
        return cls(timedelta(minutes=minutes), tuple(to))


@dataclass(frozen=True)
class TriageSettings:
    """Virtual triage: the medical director who signs its rule sets off, the providers told when a
    patient is shown an emergency instruction (the on-call), how soon "now" must find an urgent
    slot, and whether a patient may be sent to self-care (else to a visit within days)."""

    medical_director: str | None = None
    on_call: tuple[str, ...] = ()
    urgent_within: timedelta = timedelta(hours=4)
    self_care: bool = True
    # Store-and-forward: how soon the clinic promises a clinician answers a case of photos, and
    # how long before that a case still unanswered is escalated to the on-call (as long as the
    # turnaround: on arrival). Overdue, the medical director is paged too.
    photo_turnaround: timedelta = timedelta(hours=48)
    photo_warning: timedelta = timedelta(hours=8)

    def as_plain(self) -> dict[str, Any]:
        return {
            "medical_director": self.medical_director,
            "on_call": list(self.on_call),
            "urgent_within_minutes": int(self.urgent_within.total_seconds() // 60),
            "self_care": self.self_care,
            "photo_turnaround_hours": int(self.photo_turnaround.total_seconds() // 3600),
            "photo_warning_hours": int(self.photo_warning.total_seconds() // 3600),
        }

    @classmethod
    def from_plain(cls, raw: Any) -> TriageSettings:
        names = {
            "medical_director",
            "on_call",
            "urgent_within_minutes",
            "self_care",
            "photo_turnaround_hours",
            "photo_warning_hours",
        }
        if not isinstance(raw, Mapping) or set(raw) - names:
            raise SettingsError("triage is an object of " + ", ".join(sorted(names)))
        director, on_call = raw.get("medical_director"), raw.get("on_call", [])
        minutes, self_care = raw.get("urgent_within_minutes", 240), raw.get("self_care", True)
        if director is not None and not (isinstance(director, str) and 0 < len(director) <= 64):
            raise SettingsError("triage.medical_director is a provider id, or null")
        if (
            not isinstance(on_call, list | tuple)
            or not all(isinstance(p, str) and 0 < len(p) <= 64 for p in on_call)
            or len(set(on_call)) != len(on_call)
            or len(on_call) > MAX_ESCALATION_CHAIN
        ):
            raise SettingsError(
                f"triage.on_call is a list of up to {MAX_ESCALATION_CHAIN} provider ids, each once"
            )
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 30 <= minutes <= 1440:
            raise SettingsError("triage.urgent_within_minutes is a whole number, 30 to 1440")
        if not isinstance(self_care, bool):
            raise SettingsError("triage.self_care is true or false")
        hours = raw.get("photo_turnaround_hours", 48)
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 168:
            raise SettingsError("triage.photo_turnaround_hours is a whole number, 1 to 168")
        warning = raw.get("photo_warning_hours", min(8, hours))
        if isinstance(warning, bool) or not isinstance(warning, int) or not 0 <= warning <= hours:
            raise SettingsError(
                "triage.photo_warning_hours is a whole number, 0 to the turnaround (photo_turnaround_hours)"
            )
        return cls(
            director,
            tuple(on_call),
            timedelta(minutes=minutes),
            self_care,
            timedelta(hours=hours),
            timedelta(hours=warning),
        )


@dataclass(frozen=True)
class ClinicSettings:
    """The clinic's rules as booking and the visit lifecycle read them at run time."""

    # Patients change their own visits up to this long before the start (staff until it starts).
    cancellation_window: timedelta = timedelta(hours=24)
    # How far ahead a visit may be booked or moved to.
    booking_horizon: timedelta = timedelta(days=180)
    # How many open (booked, not yet over) visits one patient may hold at once.
    max_open_bookings: int = 10
    timings: VisitTimings = field(default_factory=VisitTimings)
    # Payments (tenants with the feature on): the clinic's currency, what a no-show and a late
    # cancellation the patient asked for cost (taken from the visit's hold instead of its price; 0:
    # nothing), and whether a visit whose hold the card refused goes ahead.
    currency: str = "USD"
    no_show_fee_minor: int = 0
    late_cancellation_fee_minor: int = 0
    proceed_unpaid: bool = True
    # The sections of a clinician's note, in order (a note keeps the ones it was started with).
    note_template: tuple[str, ...] = SOAP
    # The rules, with their dates, for prescribing controlled substances by telemedicine.
    controlled_substances: ControlledSubstanceRules = field(default_factory=ControlledSubstanceRules)
    alert_escalation: AlertEscalation = field(default_factory=AlertEscalation)
    triage: TriageSettings = field(default_factory=TriageSettings)

    def __post_init__(self) -> None:
        check_settings(self)

    def as_seconds(self) -> dict[str, Any]:
        """Plain values (seconds, counts): how the table keeps them and how the API shows them."""
        return {
            "cancellation_window_hours": int(self.cancellation_window.total_seconds() // 3600),
            "booking_horizon_days": self.booking_horizon.days,
            "max_open_bookings": self.max_open_bookings,
            "visit_timings": timings_as_seconds(self.timings),
            "currency": self.currency,
            "no_show_fee_minor": self.no_show_fee_minor,
            "late_cancellation_fee_minor": self.late_cancellation_fee_minor,
            "proceed_unpaid": self.proceed_unpaid,
            "note_template": list(self.note_template),
            "controlled_substances": self.controlled_substances.as_plain(),
            "alert_escalation": self.alert_escalation.as_plain(),
            "triage": self.triage.as_plain(),
        }

    @classmethod
    def from_seconds(cls, raw: Mapping[str, Any]) -> ClinicSettings:
        """The reverse of `as_seconds`; a field left out keeps the platform's default. Raises
        SettingsError, naming the field, for a value that is not valid."""
        given = {**cls().as_seconds(), **raw}
        try:
            return cls(
                cancellation_window=timedelta(hours=int(given["cancellation_window_hours"])),
                booking_horizon=timedelta(days=int(given["booking_horizon_days"])),
                max_open_bookings=int(given["max_open_bookings"]),
                timings=timings_from_seconds(raw.get("visit_timings") or {}),
                currency=str(given["currency"]),
                no_show_fee_minor=_whole(given, "no_show_fee_minor"),
                late_cancellation_fee_minor=_whole(given, "late_cancellation_fee_minor"),
                proceed_unpaid=_flag(given, "proceed_unpaid"),
                note_template=_template(given["note_template"]),
                controlled_substances=_controlled(given["controlled_substances"]),
                alert_escalation=AlertEscalation.from_plain(given["alert_escalation"]),
                triage=TriageSettings.from_plain(given["triage"]),
            )
        except SettingsError:
            raise
        except (TypeError, ValueError) as error:
            raise SettingsError(str(error)) from error


def _whole(given: Mapping[str, Any], name: str) -> int:
    value = given[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{name} is a whole number of minor units")
    return value


def _controlled(value: Any) -> ControlledSubstanceRules:
    if not isinstance(value, Mapping):
        raise SettingsError("controlled_substances is an object of rules")
    try:
        return ControlledSubstanceRules.from_plain(value)
    except (TypeError, ValueError) as error:
        raise SettingsError(f"controlled_substances: {error}") from error


def _template(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise SettingsError("note_template is a list of section titles")
    try:
        return check_template(value)
    except ValueError as error:
        raise SettingsError(f"note_template: {error}") from error


def _flag(given: Mapping[str, Any], name: str) -> bool:
    value = given[name]
    if not isinstance(value, bool):
        raise SettingsError(f"{name} is true or false")
    return value


def timings_as_seconds(timings: VisitTimings) -> dict[str, float | list[float]]:
    out: dict[str, float | list[float]] = {}
    for name, value in asdict(timings).items():
        out[name] = [v.total_seconds() for v in value] if isinstance(value, tuple) else value.total_seconds()
    return out


def timings_from_seconds(raw: Mapping[str, Any]) -> VisitTimings:
    """The visit's clocks from seconds (the tenant file's and the table's spelling); a clock left
    out keeps the clinic default."""
    known = {f.name for f in fields(VisitTimings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(f"visit_timings has no clock named {', '.join(unknown)}")
    given: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, list | tuple):
            given[name] = tuple(timedelta(seconds=float(v)) for v in value)
        else:
            given[name] = timedelta(seconds=float(value))
    try:
        return VisitTimings(**given)
    except ValueError as error:
        raise SettingsError(f"visit_timings: {error}") from error


def longest_horizon(timings: VisitTimings) -> timedelta:
    """The furthest ahead a visit can be booked whose lifecycle still ends within the year a
    Standard execution may run (it starts at booking)."""
    after_start = LONGEST_VISIT + timings.admit_by_after_end + timings.overrun + AFTER_VISIT_ALLOWANCE
    return WORKFLOW_LIMIT - after_start


def check_settings(settings: ClinicSettings) -> None:
    hours = settings.cancellation_window.total_seconds() / 3600
    if not 0 <= hours <= 168:
        raise SettingsError("cancellation_window_hours is 0 to 168 (a week)")
    if settings.booking_horizon < timedelta(days=1):
        raise SettingsError("booking_horizon_days is at least 1")
    if settings.booking_horizon > longest_horizon(settings.timings):
        raise SettingsError(
            f"booking_horizon_days is at most {longest_horizon(settings.timings).days}: a visit's "
            "workflow runs from booking to after the visit, and a workflow lives one year"
        )
    if not 1 <= settings.max_open_bookings <= MAX_OPEN_BOOKINGS:
        raise SettingsError(f"max_open_bookings is 1 to {MAX_OPEN_BOOKINGS}")
    if not CURRENCY.match(settings.currency):
        raise SettingsError("currency is an ISO 4217 code, such as USD")
    for name in ("no_show_fee_minor", "late_cancellation_fee_minor"):
        if not 0 <= getattr(settings, name) <= MAX_PRICE_MINOR:
            raise SettingsError(f"{name} is 0 to {MAX_PRICE_MINOR:,} minor units")
    if any(not timedelta(0) < r <= MAX_REMINDER_AHEAD for r in settings.timings.reminders):
        raise SettingsError("each reminder goes out more than 0 seconds and at most 14 days before the visit")


def check_within_horizon(start: datetime, now: datetime, settings: ClinicSettings) -> None:
    """A visit starts within the clinic's booking horizon (booking and moving alike)."""
    if start - now > settings.booking_horizon:
        raise AppointmentRuleError(
            "beyond-booking-horizon",
            f"This clinic books visits up to {settings.booking_horizon.days} days ahead.",
        )


def check_open_bookings(open_now: int, settings: ClinicSettings) -> None:
    """A patient holding the clinic's limit of open visits books another after one is over or
    cancelled: slots are not for hoarding."""
    if open_now >= settings.max_open_bookings:
        raise AppointmentRuleError(
            "too-many-open-bookings",
            f"A patient may hold {settings.max_open_bookings} booked visits at once; "
            "cancel one or wait until one is over.",
        )


@dataclass(frozen=True)
class Service:
    """What the clinic offers and charges: a visit type (the `service_type` of a booking), its
    usual length, its price in minor units of `currency` (0: no charge), and the code the clinical
    record gives it (`coding`; None: the record names it by `code` alone), and the CPT code it is
    billed as (`billing_code`; None: the clinic's biller adds one)."""

    code: str
    display: str
    minutes: int
    price_minor: int
    currency: str = "USD"
    active: bool = True
    coding: ServiceType | None = None
    billing_code: str | None = None

    def __post_init__(self) -> None:
        if not SERVICE_CODE.match(self.code):
            raise SettingsError("a service code is 2 to 31 lowercase letters, digits and dashes")
        if not 1 <= len(self.display) <= 80:
            raise SettingsError("a service's display name is 1 to 80 characters")
        if not 5 <= self.minutes <= LONGEST_VISIT.total_seconds() // 60 or self.minutes % 5:
            raise SettingsError("a service lasts 5 to 240 minutes, in steps of five")
        if not 0 <= self.price_minor <= MAX_PRICE_MINOR:
            raise SettingsError(f"a price is 0 to {MAX_PRICE_MINOR:,} minor units")
        if not CURRENCY.match(self.currency):
            raise SettingsError("currency is an ISO 4217 code, such as USD")
        if self.coding is not None and (problem := coding_problem(self.coding)):
            raise SettingsError(problem)
        if self.billing_code is not None and (problem := billing_code_problem(self.billing_code)):
            raise SettingsError(problem)


def check_service_offered(service_type: str, services: Mapping[str, Service]) -> None:
    """A booking names a service the clinic offers now. A clinic that has listed no services yet
    (a fresh deploy) takes any visit type its providers publish hours for."""
    if services and not (service_type in services and services[service_type].active):
        raise AppointmentRuleError("service-not-offered", "The clinic does not offer that service.")


def coding_of(service_type: str, services: Mapping[str, Service]) -> ServiceType | None:
    """The coding the clinic gives a service (kept when it is made inactive: past visits keep
    their code); None where it lists the service without one, or not at all: the record then
    names it by its text."""
    service = services.get(service_type)
    return service.coding if service else None


@dataclass(frozen=True)
class Change:
    """One version of something an admin changed: who, when, and each field's value before and
    after (settings and services hold no PHI, so the change itself is kept)."""

    version: int
    at: datetime
    by: str  # who, as the audit trail names them (Practitioner/user-<sub> for an admin)
    changes: dict[str, tuple[Any, Any]]


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Each top-level field whose value differs, as (before, after); everything, on a first write."""
    before = before or {}
    return {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}


def with_changes(settings: ClinicSettings, raw: Mapping[str, Any]) -> ClinicSettings:
    """The settings with the fields `raw` names replaced (the rest as they stand)."""
    merged = {**settings.as_seconds(), **raw}
    for nested in ("visit_timings", "controlled_substances", "alert_escalation", "triage"):
        if nested in raw:
            merged[nested] = {**settings.as_seconds()[nested], **raw[nested]}
    return ClinicSettings.from_seconds(merged)
