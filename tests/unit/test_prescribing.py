"""The checks before a prescription is sent: allergies by ingredient and by class, duplicate
therapy, and every branch of the controlled-substance rules, on both sides of the date the
telemedicine flexibilities end (2026-12-31), with the drugs of the clinic's list."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from telehealth.domain.prescribing import (
    ControlledSubstanceRules,
    DeaRegistration,
    DrugFacts,
    KnownAllergy,
    MedicineTaken,
    Modality,
    Severity,
    TelemedicineFacts,
    allergy_findings,
    controlled_substance_findings,
    duplicate_findings,
    review,
)
from telehealth.terminology import drugs

RULES = ControlledSubstanceRules()
LAST_DAY, DAY_AFTER = date(2026, 12, 31), date(2027, 1, 1)
NY_ALL = DeaRegistration("AB1234563", "NY", frozenset({"II", "III", "IV", "V"}), date(2028, 6, 30))


def facts_of(name: str) -> DrugFacts:
    d = next(d for d in drugs.drugs().values() if d.name == name)
    return DrugFacts(
        d.rxcui,
        d.name,
        frozenset(i.rxcui for i in d.ingredients),
        frozenset(d.class_ids),
        d.schedule,
        d.opioid_use_disorder,
    )


AMOXICILLIN = facts_of("amoxicillin 500 MG Oral Capsule")
OXYCODONE = facts_of("oxycodone hydrochloride 5 MG Oral Tablet")
SUBOXONE = facts_of("buprenorphine 8 MG / naloxone 2 MG Sublingual Film")
ALPRAZOLAM = facts_of("alprazolam 0.5 MG Oral Tablet")
SERTRALINE = facts_of("sertraline 50 MG Oral Tablet")
TRAZODONE = facts_of("trazodone hydrochloride 50 MG Oral Tablet")


def telemedicine(on: date, modality: Modality = Modality.AUDIO_VIDEO, **given: object) -> TelemedicineFacts:
    base: dict[str, object] = {"patient_state": "NY", "days_supply": 30, "registrations": (NY_ALL,)}
    return TelemedicineFacts(on, modality, **{**base, **given})  # type: ignore[arg-type]


def codes(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.code for f in findings]


# --- allergies and duplicates ------------------------------------------------------------------


def test_a_penicillin_allergy_stops_amoxicillin_by_class_and_by_ingredient() -> None:
    penicillins = next(s for s in drugs.search_substances("penicillins") if s.display == "Penicillins")
    by_class = allergy_findings(AMOXICILLIN, [KnownAllergy("Penicillins", penicillins.code)])
    assert codes(by_class) == ["allergy"] and by_class[0].severity is Severity.REFUSAL
    assert "its class" in by_class[0].message
    amoxicillin = next(iter(AMOXICILLIN.ingredients))
    by_ingredient = allergy_findings(AMOXICILLIN, [KnownAllergy("amoxicillin", amoxicillin)])
    assert "an ingredient" in by_ingredient[0].message
    assert allergy_findings(SERTRALINE, [KnownAllergy("Penicillins", penicillins.code)]) == []


def test_an_allergy_in_words_warns_where_the_words_match_and_cannot_refuse() -> None:
    warned = allergy_findings(AMOXICILLIN, [KnownAllergy("amoxicillin")])
    assert [(f.code, f.severity) for f in warned] == [("allergy-in-words", Severity.WARNING)]
    assert allergy_findings(AMOXICILLIN, [KnownAllergy("peanuts")]) == []


def test_duplicate_therapy_by_ingredient_and_by_class_is_a_warning() -> None:
    assert codes(duplicate_findings(SERTRALINE, [MedicineTaken("Sertraline 50", SERTRALINE)])) == [
        "duplicate-ingredient"
    ]
    same_class = duplicate_findings(SERTRALINE, [MedicineTaken("Trazodone", TRAZODONE)])
    assert codes(same_class) == ["duplicate-class"] and same_class[0].severity is Severity.WARNING
    assert (
        duplicate_findings(SERTRALINE, [MedicineTaken("Fish oil"), MedicineTaken("Amoxicillin", AMOXICILLIN)])
        == []
    )


# --- controlled substances ---------------------------------------------------------------------


def test_a_drug_that_is_not_controlled_meets_no_controlled_rule() -> None:
    assert (
        controlled_substance_findings(
            AMOXICILLIN, telemedicine(DAY_AFTER, Modality.AUDIO_ONLY, registrations=()), RULES
        )
        == []
    )


def test_schedules_come_from_the_list() -> None:
    assert (OXYCODONE.schedule, SUBOXONE.schedule, ALPRAZOLAM.schedule) == ("II", "III", "IV")
    assert SUBOXONE.opioid_use_disorder and not OXYCODONE.opioid_use_disorder


@pytest.mark.parametrize(
    ("registrations", "refused"),
    [
        ((NY_ALL,), False),
        ((), True),  # none
        (
            (
                DeaRegistration(
                    "AB1234563", "NJ", frozenset(SCHEDULE := {"II", "III", "IV", "V"}), date(2028, 1, 1)
                ),
            ),
            True,
        ),
        (
            (DeaRegistration("AB1234563", "NY", frozenset({"III", "IV", "V"}), date(2028, 1, 1)),),
            True,
        ),  # not II
        ((DeaRegistration("AB1234563", "NY", frozenset(SCHEDULE), date(2026, 12, 30)),), True),  # expired
    ],
)
def test_the_prescriber_needs_a_dea_registration_in_the_patients_state_in_force_for_the_schedule(
    registrations: tuple[DeaRegistration, ...], refused: bool
) -> None:
    found = controlled_substance_findings(
        OXYCODONE, telemedicine(LAST_DAY, registrations=registrations), RULES
    )
    assert ("dea-registration" in codes(found)) is refused


def test_until_the_flexibilities_end_schedule_ii_by_video_needs_no_prior_in_person_visit() -> None:
    assert controlled_substance_findings(OXYCODONE, telemedicine(LAST_DAY), RULES) == []
    assert controlled_substance_findings(ALPRAZOLAM, telemedicine(LAST_DAY), RULES) == []


def test_until_then_audio_only_is_for_schedule_iii_to_v_opioid_use_disorder_drugs_alone() -> None:
    audio = telemedicine(LAST_DAY, Modality.AUDIO_ONLY, pdmp_checked_on=LAST_DAY)
    assert codes(controlled_substance_findings(OXYCODONE, audio, RULES)) == ["audio-only-controlled"]
    assert codes(controlled_substance_findings(ALPRAZOLAM, audio, RULES)) == ["audio-only-controlled"]
    assert controlled_substance_findings(SUBOXONE, audio, RULES) == []


def test_after_the_flexibilities_a_prior_in_person_evaluation_is_needed_unless_a_special_registration() -> (
    None
):
    assert codes(controlled_substance_findings(OXYCODONE, telemedicine(DAY_AFTER), RULES)) == [
        "in-person-required"
    ]
    assert codes(controlled_substance_findings(ALPRAZOLAM, telemedicine(DAY_AFTER), RULES)) == [
        "in-person-required"
    ]
    assert (
        controlled_substance_findings(OXYCODONE, telemedicine(DAY_AFTER, prior_in_person=True), RULES) == []
    )
    assert (
        controlled_substance_findings(OXYCODONE, telemedicine(DAY_AFTER, special_registration=True), RULES)
        == []
    )
    audio = telemedicine(DAY_AFTER, Modality.AUDIO_ONLY, prior_in_person=True)
    assert codes(controlled_substance_findings(OXYCODONE, audio, RULES)) == ["audio-only-controlled"]


def test_after_them_the_buprenorphine_rule_allows_audio_only_within_its_supply_limit() -> None:
    for modality in (Modality.AUDIO_VIDEO, Modality.AUDIO_ONLY):
        assert (
            controlled_substance_findings(
                SUBOXONE, telemedicine(DAY_AFTER, modality, days_supply=180, pdmp_checked_on=DAY_AFTER), RULES
            )
            == []
        )
    over = telemedicine(DAY_AFTER, days_supply=181, pdmp_checked_on=DAY_AFTER)
    assert codes(controlled_substance_findings(SUBOXONE, over, RULES)) == ["buprenorphine-supply"]
    seen = telemedicine(DAY_AFTER, days_supply=181, prior_in_person=True, pdmp_checked_on=DAY_AFTER)
    assert controlled_substance_findings(SUBOXONE, seen, RULES) == []


@pytest.mark.parametrize(
    ("checked", "refused"),
    [
        (None, True),
        (LAST_DAY, False),
        (LAST_DAY - timedelta(days=7), False),
        (LAST_DAY - timedelta(days=8), True),
        (DAY_AFTER, True),
    ],
)
def test_a_drug_for_opioid_use_disorder_needs_a_recent_pdmp_check_attested_first(
    checked: date | None, refused: bool
) -> None:
    found = controlled_substance_findings(SUBOXONE, telemedicine(LAST_DAY, pdmp_checked_on=checked), RULES)
    assert ("pdmp-check" in codes(found)) is refused


def test_the_rules_are_the_settings_dates_not_the_codes() -> None:
    extended = ControlledSubstanceRules.from_plain({"flexibilities_until": "2027-12-31"})
    assert controlled_substance_findings(OXYCODONE, telemedicine(DAY_AFTER), extended) == []
    assert ControlledSubstanceRules.from_plain(RULES.as_plain()) == RULES
    with pytest.raises(ValueError):
        ControlledSubstanceRules.from_plain({"after_flexibilities": "anything-goes"})


def test_a_review_puts_refusals_before_warnings() -> None:
    penicillins = next(s for s in drugs.search_substances("penicillins") if s.display == "Penicillins")
    found = review(
        AMOXICILLIN,
        allergies=[KnownAllergy("Penicillins", penicillins.code)],
        taking=[MedicineTaken("Amoxicillin", AMOXICILLIN)],
        facts=telemedicine(LAST_DAY),
        rules=RULES,
    )
    assert [f.severity for f in found.findings] == [Severity.REFUSAL, Severity.WARNING]
    assert codes(list(found.refusals)) == ["allergy"] and codes(list(found.warnings)) == [
        "duplicate-ingredient"
    ]


def test_the_rules_live_in_the_clinic_settings_and_change_there_field_by_field() -> None:
    from telehealth.domain.clinic_settings import ClinicSettings, SettingsError, with_changes

    assert ClinicSettings().controlled_substances == RULES
    moved = with_changes(ClinicSettings(), {"controlled_substances": {"flexibilities_until": "2027-12-31"}})
    assert moved.controlled_substances.flexibilities_until == date(2027, 12, 31)
    assert moved.controlled_substances.buprenorphine_max_days == RULES.buprenorphine_max_days  # kept
    assert ClinicSettings.from_seconds(moved.as_seconds()) == moved
    bad_rules = (
        {"buprenorphine_max_days": 0},
        {"flexibilities_until": "someday"},
        {"after_flexibilities": "none"},
    )
    for bad in bad_rules:
        with pytest.raises(SettingsError):
            with_changes(ClinicSettings(), {"controlled_substances": bad})


def test_a_dea_number_is_two_letters_six_digits_and_its_check_digit() -> None:
    from telehealth.domain.prescribing import dea_number_valid

    assert dea_number_valid("AB1234563")  # 1+3+5 + 2*(2+4+6) = 33: the check digit is 3
    assert not dea_number_valid("AB1234564")
    assert not dea_number_valid("A11234563") and not dea_number_valid("AB123456")
    with pytest.raises(ValueError, match="check digit"):
        DeaRegistration("AB1234564", "NY", frozenset({"II"}), date(2028, 1, 1))
    with pytest.raises(ValueError, match="schedules"):
        DeaRegistration("AB1234563", "NY", frozenset({"I"}), date(2028, 1, 1))


@pytest.mark.parametrize("on", [LAST_DAY, DAY_AFTER])
def test_from_a_case_of_photos_every_controlled_substance_is_refused_and_nothing_else(on: date) -> None:
    """Store-and-forward is not the real-time telemedicine the Ryan Haight Act and DEA's
    flexibilities speak of: no registration, attestation or flexibility makes a case of photos
    one, for any schedule, buprenorphine included. A drug of no schedule is checked as in a visit."""
    attested = {"prior_in_person": True, "special_registration": True, "pdmp_checked_on": on}
    facts = telemedicine(on, Modality.STORE_AND_FORWARD, **attested)
    for drug in (OXYCODONE, ALPRAZOLAM, SUBOXONE):
        found = controlled_substance_findings(drug, facts, RULES)
        assert codes(found) == ["store-and-forward-controlled"], drug.name
        assert found[0].severity is Severity.REFUSAL and "live visit" in found[0].message
    for drug in (AMOXICILLIN, SERTRALINE):
        assert controlled_substance_findings(drug, facts, RULES) == []
