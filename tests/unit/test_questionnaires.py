"""The symptom intake's questionnaire: FHIR data the flow reads, adaptive by `enableWhen`, and able
to reach every red flag and every routing the rules decide (walked with each vignette's answers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from telehealth.domain.questionnaires import (
    EnableWhen,
    Item,
    ItemType,
    Operator,
    Questionnaire,
    QuestionnaireError,
)
from telehealth.domain.triage import Disposition, triage
from telehealth.fhir.questionnaire import authored, questionnaire_from, response
from tools.triage_walk import asked_in_turn

VIGNETTES = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "triage" / "vignettes.json").read_text()
)["vignettes"]


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v["id"])
def test_asked_one_question_at_a_time_each_vignette_ends_where_its_answers_lead(
    vignette: dict[str, Any],
) -> None:
    """The questionnaire asks what the rules need: every emergent vignette reaches its red flag,
    and every other ends where the rules send its answers."""
    _, ended = asked_in_turn(vignette["answers"])
    if vignette["category"] == "emergent":
        assert ended is Disposition.EMERGENCY
    else:
        assert ended is triage(vignette["answers"])[1].disposition


def test_the_red_flag_stops_the_questions_at_once() -> None:
    answers, ended = asked_in_turn({"age": 71, "complaint": "neurological", "face_droop": True})
    assert ended is Disposition.EMERGENCY
    assert "days" not in answers and "severity" not in answers  # nothing asked after it


def test_the_universal_screen_reaches_the_red_flags_whatever_the_complaint() -> None:
    """A patient who chose a rash but has chest pain is asked about it once they say yes to the
    emergency screen."""
    _, questionnaire = authored()
    answers = {"age": 50, "complaint": "rash", "emergency_now": True}
    asked = []
    while (q := questionnaire.next_question(answers)) is not None and q.link_id != "days":
        asked.append(q.link_id)
        answers[q.link_id] = False if q.type is ItemType.BOOLEAN else (None if not q.required else 0)
    assert {"face_droop", "chest_pain", "cannot_speak_full_sentences", "suicidal_thoughts"} <= set(asked)


def test_answers_to_a_branch_left_behind_are_dropped() -> None:
    _, questionnaire = authored()
    kept = questionnaire.in_force(
        {"age": 40, "complaint": "urinary", "emergency_now": False, "flank_pain": True}
    )
    assert kept["flank_pain"] is True
    changed = questionnaire.in_force({**kept, "complaint": "cold"})
    assert "flank_pain" not in changed


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        ({"age": "seventy"}, "age is a whole number"),
        ({"age": 130}, "age is 0 to 120"),
        ({"age": 30.5}, "age is a whole number"),
        ({"age": True}, "age is a whole number"),
        ({"age": 30, "complaint": "hangnail"}, "complaint is one of its options"),
        ({"age": 30, "complaint": "cold", "emergency_now": "no"}, "emergency_now is true or false"),
        ({"age": None}, "age must be answered"),
        ({"shoe_size": 9}, "no question shoe_size"),
    ],
)
def test_an_answer_the_question_cannot_take_is_refused_naming_the_question_not_the_value(
    answers: dict[str, Any], problem: str
) -> None:
    _, questionnaire = authored()
    with pytest.raises(QuestionnaireError) as refused:
        questionnaire.in_force(answers)
    assert problem in str(refused.value)
    assert "seventy" not in str(refused.value) and "hangnail" not in str(refused.value)


def test_a_blank_optional_answer_moves_the_flow_on() -> None:
    _, questionnaire = authored()
    answers = {"age": 30, "complaint": "cold", "emergency_now": False, "temperature_f": "  "}
    kept = questionnaire.in_force(answers)
    assert kept["temperature_f"] is None
    assert questionnaire.next_question(kept).link_id == "days"  # type: ignore[union-attr]


def test_enable_when_reads_fhir_s_operators() -> None:
    high = EnableWhen("systolic", Operator.AT_LEAST, 180)
    assert high.holds({"systolic": 185}) and not high.holds({"systolic": 150}) and not high.holds({})
    assert EnableWhen("x", Operator.NOT_EQUALS, "a").holds({})  # unanswered differs from everything
    assert EnableWhen("x", Operator.EXISTS, True).holds({"x": 0})
    assert not EnableWhen("x", Operator.EXISTS, True).holds({"x": None})


def test_a_questionnaire_whose_condition_names_a_later_question_is_refused() -> None:
    later = Item("a", "A?", ItemType.BOOLEAN, enable_when=(EnableWhen("b", Operator.EQUALS, True),))
    with pytest.raises(ValueError, match="not an earlier question"):
        Questionnaire("urn:x", "1", "x", (later, Item("b", "B?", ItemType.BOOLEAN))).check()


def test_an_item_type_the_flow_cannot_ask_is_refused_when_it_loads() -> None:
    resource, _ = authored()
    broken = {
        **resource,
        "item": [*resource["item"], {"linkId": "photo", "text": "A photo", "type": "attachment"}],
    }
    with pytest.raises(ValueError, match="attachment"):
        questionnaire_from(broken)


def test_the_response_names_the_questionnaire_version_and_leaves_blank_answers_out() -> None:
    from datetime import UTC, datetime

    resource, questionnaire = authored()
    answers = {"age": 30, "complaint": "cold", "emergency_now": False, "temperature_f": None, "days": 2}
    made = response(
        questionnaire,
        response_id="triage-x",
        patient_id="p-1",
        answers=answers,
        status="completed",
        authored_at=datetime(2026, 12, 1, tzinfo=UTC),
        choice_systems={"complaint": "urn:telehealth:triage-complaint"},
    )
    assert made["questionnaire"] == "urn:telehealth:questionnaire:triage-intake|2026.1"
    assert [i["linkId"] for i in made["item"]] == ["age", "complaint", "emergency_now", "days"]
    complaint = made["item"][1]["answer"][0]["valueCoding"]
    assert complaint == {
        "system": "urn:telehealth:triage-complaint",
        "code": "cold",
        "display": "Cold or flu symptoms",
    }
    assert resource["version"] == questionnaire.version
