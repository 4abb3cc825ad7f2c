"""A symptom check answered as a patient answers it: one question at a time through the
questionnaire, from what a vignette says, the red flags held after each answer (the unit tests and
the bench walk the vignettes this way)."""

from __future__ import annotations

from typing import Any

from telehealth.domain.questionnaires import ItemType
from telehealth.domain.triage import Disposition, red_flag, triage
from telehealth.fhir.questionnaire import authored


def asked_in_turn(answers_known: dict[str, Any]) -> tuple[dict[str, Any], Disposition]:
    """Answer the questionnaire one question at a time as the portal does, from what the vignette
    says (no for a yes/no it does not mention, the lowest for a number, blank where optional),
    holding the answers to the red flags after each one, as the intake does."""
    _, questionnaire = authored()
    answers: dict[str, Any] = {}
    while (question := questionnaire.next_question(answers)) is not None:
        if question.link_id in answers_known:
            value = answers_known[question.link_id]
        elif not question.required:
            value = None
        elif question.type is ItemType.BOOLEAN:
            value = False
        elif question.type in (ItemType.INTEGER, ItemType.DECIMAL):
            value = int(question.minimum or 0)
        else:
            raise AssertionError(f"the vignette does not answer {question.link_id}")
        answers = questionnaire.in_force({**answers, question.link_id: value})
        if red_flag(answers) is not None:
            return answers, Disposition.EMERGENCY
    return answers, triage(answers)[1].disposition
