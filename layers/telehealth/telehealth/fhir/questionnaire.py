"""Questionnaires as FHIR R4 keeps them: read a `Questionnaire` resource (authored as data, in
`questionnaires/`) into the domain's, and write a patient's answers as a `QuestionnaireResponse`.

Only what the flow uses is read: items of type boolean, integer, decimal, choice (codings) and
text; `required`; `enableWhen` with `enableBehavior`; the minValue and maxValue extensions; a
`display` child item as the question's help line. Anything else is refused when the questionnaire
loads, so a clinic's authored questionnaire cannot ask what the flow would mishandle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from telehealth.domain.questionnaires import EnableWhen, Item, ItemType, Operator, Option, Questionnaire
from telehealth.fhir.projection import instant

MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
TRIAGE_INTAKE = "triage-intake-2026.1.json"  # the platform's; a clinic's own would sit beside it

_TYPES = {"boolean": ItemType.BOOLEAN, "integer": ItemType.INTEGER, "decimal": ItemType.DECIMAL}
_TYPES |= {"choice": ItemType.CHOICE, "text": ItemType.TEXT, "string": ItemType.TEXT}
_ANSWER_KEYS = ("answerBoolean", "answerInteger", "answerDecimal", "answerCoding", "answerString")


def _extension(raw: Mapping[str, Any], url: str) -> float | None:
    for ext in raw.get("extension", ()):
        if ext.get("url") == url:
            value = ext.get("valueInteger", ext.get("valueDecimal"))
            return float(value) if value is not None else None
    return None


def _condition(raw: Mapping[str, Any]) -> EnableWhen:
    operator = Operator(raw["operator"])
    answer: Any = next((raw[k] for k in _ANSWER_KEYS if k in raw), None)
    if isinstance(answer, Mapping):
        answer = answer["code"]
    if answer is None:
        raise ValueError(f"enableWhen on {raw['question']} has no answer")
    return EnableWhen(str(raw["question"]), operator, answer)


def _item(raw: Mapping[str, Any]) -> Item:
    if raw["type"] not in _TYPES:
        raise ValueError(f"{raw['linkId']}: item type {raw['type']} is not one the intake asks")
    help_lines = [c["text"] for c in raw.get("item", ()) if c.get("type") == "display"]
    behavior = raw.get("enableBehavior", "all")
    if behavior not in ("all", "any"):
        raise ValueError(f"{raw['linkId']}: enableBehavior is all or any")
    return Item(
        link_id=str(raw["linkId"]),
        text=str(raw["text"]),
        type=_TYPES[raw["type"]],
        required=bool(raw.get("required", False)),
        options=tuple(
            Option(o["valueCoding"]["code"], o["valueCoding"].get("display", o["valueCoding"]["code"]))
            for o in raw.get("answerOption", ())
        ),
        enable_when=tuple(_condition(c) for c in raw.get("enableWhen", ())),
        enable_any=behavior == "any",
        minimum=_extension(raw, MIN_VALUE),
        maximum=_extension(raw, MAX_VALUE),
        help=" ".join(help_lines),
    )


def questionnaire_from(resource: Mapping[str, Any]) -> Questionnaire:
    """The domain's questionnaire from a FHIR Questionnaire; ValueError for one the flow cannot ask."""
    if resource.get("resourceType") != "Questionnaire":
        raise ValueError("not a Questionnaire")
    found = Questionnaire(
        url=str(resource["url"]),
        version=str(resource["version"]),
        title=str(resource.get("title", "")),
        items=tuple(_item(i) for i in resource["item"]),
    )
    found.check()
    return found


@cache
def authored(name: str = TRIAGE_INTAKE) -> tuple[dict[str, Any], Questionnaire]:
    """A questionnaire shipped with the platform: the FHIR resource as authored, and the domain's."""
    text = resources.files("telehealth.fhir").joinpath("questionnaires", name).read_text(encoding="utf-8")
    resource = json.loads(text)
    return resource, questionnaire_from(resource)


def _answer(item: Item, value: Any, system: str | None) -> dict[str, Any]:
    if item.type is ItemType.BOOLEAN:
        return {"valueBoolean": value}
    if item.type is ItemType.INTEGER:
        return {"valueInteger": int(value)}
    if item.type is ItemType.DECIMAL:
        return {"valueDecimal": value}
    if item.type is ItemType.CHOICE:
        display = next((o.display for o in item.options if o.code == value), value)
        return {"valueCoding": {**({"system": system} if system else {}), "code": value, "display": display}}
    return {"valueString": value}


def response(
    questionnaire: Questionnaire,
    *,
    response_id: str,
    patient_id: str,
    answers: Mapping[str, Any],
    status: str,
    authored_at: datetime,
    choice_systems: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A QuestionnaireResponse of the answers (blank ones left out, as FHIR has no empty answer),
    in the questionnaire's order; `status` is in-progress, completed or stopped."""
    items = []
    for item in questionnaire.items:
        value = answers.get(item.link_id)
        if value is None:
            continue
        system = (choice_systems or {}).get(item.link_id)
        items.append({"linkId": item.link_id, "text": item.text, "answer": [_answer(item, value, system)]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": response_id,
        "questionnaire": questionnaire.canonical,
        "status": status,
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": instant(authored_at),
        "item": items,
    }


def choice_systems(resource: Mapping[str, Any]) -> dict[str, str]:
    """Each choice question's code system, as the authored resource names it (for the response)."""
    found: dict[str, str] = {}
    for item in resource["item"]:
        for option in item.get("answerOption", ()):
            if "system" in option.get("valueCoding", {}):
                found[item["linkId"]] = option["valueCoding"]["system"]
                break
    return found
