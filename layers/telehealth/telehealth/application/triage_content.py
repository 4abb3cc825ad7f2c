"""A clinic's symptom-check content, from the tenant file (`TRIAGE_CONTENT`, the functions'
environment): its questionnaire, by file name among those the platform ships, and its own red
flags after the platform's, as one rule set with one version for the medical director to sign off."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from telehealth.domain.questionnaires import EnableWhen, Operator, Questionnaire
from telehealth.domain.triage import Call, RuleSet, clinic_red_flag, with_clinic_flags
from telehealth.fhir.questionnaire import TRIAGE_INTAKE, authored


def rule_set_of(content: Mapping[str, Any]) -> tuple[Questionnaire, RuleSet]:
    """The questionnaire and the rule set the content names; ValueError for content the check
    cannot run on (a questionnaire that does not load, a flag that clashes with the platform's)."""
    _, questionnaire = authored(str(content.get("questionnaire") or TRIAGE_INTAKE))
    flags = tuple(
        clinic_red_flag(
            str(raw["code"]),
            Call(str(raw["call"])),
            str(raw["instruction"]),
            str(raw["source"]),
            tuple(EnableWhen(str(c["question"]), Operator(c["operator"]), c["answer"]) for c in raw["when"]),
            any_of=raw.get("behavior", "all") == "any",
        )
        for raw in content.get("red_flags") or ()
    )
    return questionnaire, with_clinic_flags(flags, content.get("red_flags_version"))


def from_environment() -> tuple[str, Questionnaire, RuleSet]:
    """The tenant's content as its functions are told it: the questionnaire's file name too."""
    content = json.loads(os.environ.get("TRIAGE_CONTENT") or "{}")
    questionnaire, rule_set = rule_set_of(content)
    return str(content.get("questionnaire") or TRIAGE_INTAKE), questionnaire, rule_set
