"""Triage's rules on the vignette suite (tests/fixtures/triage/vignettes.json, 45 cases with their
sources): every emergent vignette escalates, to 988 for a suicidal crisis (the hard gate); no other
does; and the others route as their vignettes say, a figure (`make bench --only triage` prints it).
The blood-pressure red flag is remote monitoring's rule; a rule set is used once signed off."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.assets import ROOT
from telehealth.domain.triage import (
    RULE_SET,
    Call,
    Disposition,
    RuleSet,
    SignOff,
    enabled,
    red_flag,
    triage,
)

VIGNETTES: list[dict[str, Any]] = json.loads(
    (ROOT / "tests" / "fixtures" / "triage" / "vignettes.json").read_text()
)["vignettes"]


def test_the_suite_is_45_vignettes_each_with_its_source() -> None:
    assert len(VIGNETTES) >= 45
    assert {v["category"] for v in VIGNETTES} == {"emergent", "non-emergent", "self-care"}
    assert all(v["source"] and v["summary"] for v in VIGNETTES)
    assert len({v["id"] for v in VIGNETTES}) == len(VIGNETTES)


@pytest.mark.parametrize(
    "vignette", [v for v in VIGNETTES if v["category"] == "emergent"], ids=lambda v: v["id"]
)
def test_every_emergent_vignette_escalates(vignette: dict[str, Any]) -> None:
    flag, routing = triage(vignette["answers"])
    assert flag is not None and routing.disposition is Disposition.EMERGENCY
    suicidal = vignette["answers"].get("suicidal_thoughts") is True
    assert flag.call is (Call.CRISIS_LINE if suicidal else Call.EMERGENCY)
    assert flag.call.value in routing.why  # the instruction names the number, in words


def test_no_other_vignette_escalates_and_most_route_as_they_say() -> None:
    others = [v for v in VIGNETTES if v["category"] != "emergent"]
    routed = [(v["id"], triage(v["answers"])[1].disposition.value, v["expected"]) for v in others]
    assert not [r for r in routed if r[1] == Disposition.EMERGENCY.value]
    agreed = [r for r in routed if r[1] == r[2]]
    assert len(agreed) / len(routed) >= 0.8, [r for r in routed if r[1] != r[2]]


def test_the_blood_pressure_red_flag_is_monitorings_rule_with_symptoms() -> None:
    assert red_flag({"systolic": 180, "diastolic": 100, "blood_pressure_symptoms": True}) is not None
    assert red_flag({"systolic": 150, "diastolic": 120, "blood_pressure_symptoms": True}) is not None
    assert red_flag({"systolic": 179, "diastolic": 119, "blood_pressure_symptoms": True}) is None
    assert red_flag({"systolic": 200, "diastolic": 130, "blood_pressure_symptoms": False}) is None


def test_a_red_flag_comes_before_routing_and_free_text_is_never_read() -> None:
    flag, routing = triage(
        {"chest_pain": True, "chest_pain_minutes": 30, "temperature_f": 101, "complaint": "cough"}
    )
    assert flag is not None and flag.code == "chest-pain" and routing.disposition is Disposition.EMERGENCY
    # Words alone decide nothing: "I think I'm having a stroke" in the free text is for the clinician.
    assert red_flag({"free_text": "I think I'm having a stroke", "complaint": "headache"}) is None


def test_a_rule_set_is_used_only_once_its_version_is_signed_off() -> None:
    director = SignOff("2026.1", "user-medical-director", datetime(2026, 12, 1, tzinfo=UTC))
    assert enabled(RULE_SET, (director,))
    assert not enabled(RuleSet("2026.2", RULE_SET.red_flags), (director,))
    assert not enabled(RULE_SET, ())
    assert all(flag.source for flag in RULE_SET.red_flags)
