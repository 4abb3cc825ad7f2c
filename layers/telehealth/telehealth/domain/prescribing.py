"""The checks a prescription passes before it is sent: the patient's allergies against the drug's
ingredients and classes, duplicate therapy against what they already take, and the rules for
controlled substances prescribed by telemedicine.

The controlled-substance rules are data with dates (`ControlledSubstanceRules`, kept in the clinic
settings and changed there without a deploy), never code paths keyed on the calendar:
- until `flexibilities_until` (the DEA and HHS telemedicine flexibilities, extended to 2026-12-31):
  Schedule II-V by audio-video without a prior in-person evaluation; Schedule III-V drugs for
  opioid use disorder also audio-only;
- after it, the rule the settings name (`after_flexibilities`): `in-person-required`, a prior
  in-person evaluation, unless the prescriber holds a special registration for telemedicine or the
  buprenorphine rule applies (Schedule III-V drugs for opioid use disorder, audio-video or
  audio-only, at most `buprenorphine_max_days` of supply without an in-person evaluation);
- always: the prescriber's DEA registration in the patient's state, in force and covering the
  schedule; and for a drug for opioid use disorder, a check of the state's prescription drug
  monitoring program (PDMP) attested within `pdmp_max_age_days`.

Schedules come from the drug list (DEA's lists, 21 CFR 1308.11-15). EPCS's two-factor signing is
the e-prescribing vendor's, not this platform's sign-in. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum
from typing import Any

SCHEDULES = ("II", "III", "IV", "V")
AFTER_FLEXIBILITIES = ("in-person-required",)


class Modality(Enum):
    AUDIO_VIDEO = "audio-video"
    AUDIO_ONLY = "audio-only"
    STORE_AND_FORWARD = "store-and-forward"  # a case of photos, answered without a call


class Severity(Enum):
    REFUSAL = "refusal"  # the prescription is not sent
    WARNING = "warning"  # shown; the prescriber acknowledges it to send


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str  # what the prescriber reads: names the drug and the rule, never the patient


@dataclass(frozen=True)
class DrugFacts:
    """What the checks need of a drug: its codes (RxNorm), its ingredients' codes, its classes'
    codes (MED-RT), its DEA schedule and whether it treats opioid use disorder."""

    rxcui: str
    name: str
    ingredients: frozenset[str]
    classes: frozenset[str]
    schedule: str | None = None
    opioid_use_disorder: bool = False


@dataclass(frozen=True)
class KnownAllergy:
    """An active allergy as the checks see it: its code (an RxNorm ingredient or a MED-RT
    class), or its words alone."""

    text: str
    code: str | None = None


@dataclass(frozen=True)
class MedicineTaken:
    text: str
    drug: DrugFacts | None = None  # None: told in words, not on the drug list


@dataclass(frozen=True)
class DeaRegistration:
    number: str
    state: str
    schedules: frozenset[str]
    expires: date

    def __post_init__(self) -> None:
        if not dea_number_valid(self.number):
            raise ValueError(
                "a DEA registration number is two letters and seven digits, its last the check digit"
            )
        if not self.schedules or not self.schedules <= set(SCHEDULES):
            raise ValueError(f"schedules are among {', '.join(SCHEDULES)}")


MAX_DEA_REGISTRATIONS = 60  # one per state a prescriber practises in, and some to spare


def dea_number_valid(number: str) -> bool:
    """DEA's check: two letters, seven digits; the first, third and fifth digits summed, plus twice
    the sum of the second, fourth and sixth, end in the seventh."""
    if len(number) != 9 or not number[:2].isalpha() or not number[2:].isdigit():
        return False
    d = [int(c) for c in number[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


@dataclass(frozen=True)
class ControlledSubstanceRules:
    flexibilities_until: date = date(2026, 12, 31)
    after_flexibilities: str = "in-person-required"
    buprenorphine_max_days: int = 180
    pdmp_max_age_days: int = 7

    def __post_init__(self) -> None:
        if self.after_flexibilities not in AFTER_FLEXIBILITIES:
            raise ValueError(f"after_flexibilities is one of {', '.join(AFTER_FLEXIBILITIES)}")
        if not 1 <= self.buprenorphine_max_days <= 365:
            raise ValueError("buprenorphine_max_days is 1 to 365")
        if not 0 <= self.pdmp_max_age_days <= 90:
            raise ValueError("pdmp_max_age_days is 0 to 90")

    def as_plain(self) -> dict[str, Any]:
        return {
            "flexibilities_until": self.flexibilities_until.isoformat(),
            "after_flexibilities": self.after_flexibilities,
            "buprenorphine_max_days": self.buprenorphine_max_days,
            "pdmp_max_age_days": self.pdmp_max_age_days,
        }

    @classmethod
    def from_plain(cls, raw: Mapping[str, Any]) -> ControlledSubstanceRules:
        given = {**cls().as_plain(), **raw}
        return cls(
            date.fromisoformat(str(given["flexibilities_until"])),
            str(given["after_flexibilities"]),
            int(given["buprenorphine_max_days"]),
            int(given["pdmp_max_age_days"]),
        )


@dataclass(frozen=True)
class TelemedicineFacts:
    """The circumstances of one prescription: when, by what means, where the patient is, and
    what the prescriber and the clinic know."""

    on: date
    modality: Modality
    patient_state: str
    days_supply: int
    registrations: tuple[DeaRegistration, ...] = ()
    prior_in_person: bool = False  # a prior in-person evaluation by this prescriber, attested
    special_registration: bool = False  # DEA's special registration for telemedicine
    pdmp_checked_on: date | None = None  # the day the prescriber attests they checked the PDMP


@dataclass(frozen=True)
class Review:
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def refusals(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.REFUSAL)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)


def _refuse(code: str, message: str) -> Finding:
    return Finding(code, Severity.REFUSAL, message)


def allergy_findings(drug: DrugFacts, allergies: Iterable[KnownAllergy]) -> list[Finding]:
    """An allergy coded as one of the drug's ingredients or classes stops it (a penicillin
    allergy stops amoxicillin). An allergy in words alone is matched by its words against the
    drug's name, as a warning: it cannot be checked by code."""
    found: list[Finding] = []
    for allergy in allergies:
        if allergy.code is not None and allergy.code in drug.ingredients | drug.classes:
            kind = "an ingredient" if allergy.code in drug.ingredients else "its class"
            found.append(_refuse("allergy", f"Allergy on file to {allergy.text}: {kind} of {drug.name}."))
        elif (
            allergy.code is None and allergy.text.strip() and allergy.text.casefold() in drug.name.casefold()
        ):
            found.append(
                Finding(
                    "allergy-in-words",
                    Severity.WARNING,
                    f"An allergy told in words ({allergy.text}) may concern {drug.name}: "
                    "check with the patient.",
                )
            )
    return found


def duplicate_findings(drug: DrugFacts, taking: Iterable[MedicineTaken]) -> list[Finding]:
    """A medicine already taken that shares an ingredient or a class with the drug: duplicate
    therapy, to be acknowledged."""
    found: list[Finding] = []
    for medicine in taking:
        other = medicine.drug
        if other is None:
            continue  # told in words: nothing to match by code
        shared_ingredient = drug.ingredients & other.ingredients
        shared_class = drug.classes & other.classes
        if other.rxcui == drug.rxcui or shared_ingredient:
            found.append(
                Finding(
                    "duplicate-ingredient",
                    Severity.WARNING,
                    f"The patient already takes {medicine.text}: the same ingredient.",
                )
            )
        elif shared_class:
            found.append(
                Finding(
                    "duplicate-class",
                    Severity.WARNING,
                    f"The patient already takes {medicine.text}: the same drug class.",
                )
            )
    return found


def controlled_substance_findings(
    drug: DrugFacts, facts: TelemedicineFacts, rules: ControlledSubstanceRules
) -> list[Finding]:
    """Refusals for a controlled substance prescribed by telemedicine (none for another drug)."""
    schedule = drug.schedule
    if schedule is None:
        return []
    if facts.modality is Modality.STORE_AND_FORWARD:
        # The Ryan Haight Act's telemedicine, and each of DEA's flexibilities, is real-time: a
        # case of photos has no call, so no registration, attestation or date makes it one.
        return [
            _refuse(
                "store-and-forward-controlled",
                f"{drug.name} is Schedule {schedule}: a controlled substance is prescribed in a live "
                "visit, never from photos. Offer the patient a visit.",
            )
        ]
    found: list[Finding] = []
    registration = next(
        (
            r
            for r in facts.registrations
            if r.state == facts.patient_state and schedule in r.schedules and r.expires >= facts.on
        ),
        None,
    )
    if registration is None:
        found.append(
            _refuse(
                "dea-registration",
                f"{drug.name} is Schedule {schedule}: you need a DEA registration in {facts.patient_state}, "
                f"in force and covering Schedule {schedule}.",
            )
        )
    oud = drug.opioid_use_disorder and schedule in ("III", "IV", "V")
    if drug.opioid_use_disorder:
        window = timedelta(days=rules.pdmp_max_age_days)
        if facts.pdmp_checked_on is None or not facts.on - window <= facts.pdmp_checked_on <= facts.on:
            found.append(
                _refuse(
                    "pdmp-check",
                    f"Before prescribing {drug.name}, check {facts.patient_state}'s prescription drug "
                    f"monitoring program and attest it (within {rules.pdmp_max_age_days} days).",
                )
            )
    if facts.on <= rules.flexibilities_until:
        if facts.modality is Modality.AUDIO_ONLY and not oud:
            found.append(
                _refuse(
                    "audio-only-controlled",
                    f"Until {rules.flexibilities_until.isoformat()}, an audio-only visit may prescribe only "
                    "Schedule III-V drugs for opioid use disorder; use video for this one.",
                )
            )
        return found
    # After the flexibilities: the rule the clinic's settings name.
    if oud:  # the buprenorphine rule, by audio-video or audio-only
        if not facts.prior_in_person and facts.days_supply > rules.buprenorphine_max_days:
            found.append(
                _refuse(
                    "buprenorphine-supply",
                    f"Without an in-person evaluation, at most {rules.buprenorphine_max_days} days' "
                    f"supply of {drug.name} (the buprenorphine rule).",
                )
            )
        return found
    if facts.modality is Modality.AUDIO_ONLY:
        found.append(
            _refuse("audio-only-controlled", f"{drug.name} is not prescribed in an audio-only visit.")
        )
    elif not (facts.prior_in_person or facts.special_registration):
        found.append(
            _refuse(
                "in-person-required",
                f"Since {(rules.flexibilities_until + timedelta(days=1)).isoformat()}, Schedule {schedule} "
                "drugs by telemedicine need a prior in-person evaluation (or a special registration).",
            )
        )
    return found


def review(
    drug: DrugFacts,
    *,
    allergies: Iterable[KnownAllergy],
    taking: Iterable[MedicineTaken],
    facts: TelemedicineFacts,
    rules: ControlledSubstanceRules,
) -> Review:
    """Every check, refusals first."""
    findings = [
        *allergy_findings(drug, allergies),
        *controlled_substance_findings(drug, facts, rules),
        *duplicate_findings(drug, taking),
    ]
    return Review(tuple(sorted(findings, key=lambda f: f.severity is not Severity.REFUSAL)))
