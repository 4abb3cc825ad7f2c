"""A questionnaire asked one question at a time, as FHIR's Questionnaire shapes one: items with a
type, whether they must be answered, and `enableWhen` conditions that make the flow adaptive (a
question is asked only when the earlier answers call for it).

Answers are by linkId. A question left blank on purpose (an optional one) is answered `None`: it
counts as answered, so the flow moves on. An answer to a question the other answers do not enable
is dropped (`in_force`), as FHIR asks of a response: a patient who goes back and changes their
complaint leaves no answers of the branch they left. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_TEXT = 2000  # a free-text answer's characters


class QuestionnaireError(ValueError):
    """Answers the questionnaire cannot take (422): each problem names its question, never the value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ItemType(StrEnum):
    BOOLEAN = "boolean"
    INTEGER = "integer"
    DECIMAL = "decimal"
    CHOICE = "choice"
    TEXT = "text"


class Operator(StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    AT_LEAST = ">="
    AT_MOST = "<="
    MORE = ">"
    LESS = "<"
    EXISTS = "exists"


@dataclass(frozen=True)
class Option:
    code: str
    display: str


@dataclass(frozen=True)
class EnableWhen:
    question: str
    operator: Operator
    answer: Any

    def holds(self, answers: Mapping[str, Any]) -> bool:
        given = answers.get(self.question)
        if self.operator is Operator.EXISTS:
            return (given is not None) is bool(self.answer)
        if given is None:  # an unanswered question equals nothing and differs from everything
            return self.operator is Operator.NOT_EQUALS
        if self.operator is Operator.EQUALS:
            return bool(given == self.answer)
        if self.operator is Operator.NOT_EQUALS:
            return bool(given != self.answer)
        if isinstance(given, bool) or not isinstance(given, int | float):
            return False
        bound = float(self.answer)
        return {
            Operator.AT_LEAST: given >= bound,
            Operator.AT_MOST: given <= bound,
            Operator.MORE: given > bound,
            Operator.LESS: given < bound,
        }[self.operator]


@dataclass(frozen=True)
class Item:
    link_id: str
    text: str
    type: ItemType
    required: bool = True
    options: tuple[Option, ...] = ()
    enable_when: tuple[EnableWhen, ...] = ()
    enable_any: bool = False  # FHIR enableBehavior: any (else all)
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""  # a line under the question (what counts, how to measure)

    def enabled(self, answers: Mapping[str, Any]) -> bool:
        if not self.enable_when:
            return True
        held = (c.holds(answers) for c in self.enable_when)
        return any(held) if self.enable_any else all(held)

    def problem(self, value: Any) -> str | None:
        """Why `value` cannot answer this question; None when it can."""
        if value is None:
            return None if not self.required else f"{self.link_id} must be answered"
        kind = self.type
        if kind is ItemType.BOOLEAN:
            return None if isinstance(value, bool) else f"{self.link_id} is true or false"
        if kind is ItemType.CHOICE:
            codes = {o.code for o in self.options}
            return (
                None if isinstance(value, str) and value in codes else f"{self.link_id} is one of its options"
            )
        if kind is ItemType.TEXT:
            fits = isinstance(value, str) and len(value) <= MAX_TEXT
            return None if fits else f"{self.link_id} is text of at most {MAX_TEXT} characters"
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if kind is ItemType.INTEGER and not (number and float(value).is_integer()):
            return f"{self.link_id} is a whole number"
        if not number:
            return f"{self.link_id} is a number"
        low = self.minimum if self.minimum is not None else float("-inf")
        high = self.maximum if self.maximum is not None else float("inf")
        if not low <= value <= high:
            return f"{self.link_id} is {self.minimum:g} to {self.maximum:g}"
        return None


@dataclass(frozen=True)
class Questionnaire:
    """One version of a questionnaire: its canonical `url` and `version` name it in a response."""

    url: str
    version: str
    title: str
    items: tuple[Item, ...]

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}"

    def item(self, link_id: str) -> Item | None:
        return next((i for i in self.items if i.link_id == link_id), None)

    def in_force(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The answers to questions the answers before them enable, in the questionnaire's order;
        the rest are dropped. Raises QuestionnaireError for a linkId the questionnaire lacks or a
        value its question cannot take."""
        unknown = sorted(set(answers) - {i.link_id for i in self.items})
        if unknown:
            raise QuestionnaireError([f"the questionnaire has no question {link_id}" for link_id in unknown])
        kept: dict[str, Any] = {}
        problems: list[str] = []
        for item in self.items:
            if item.link_id not in answers or not item.enabled(kept):
                continue
            value = answers[item.link_id]
            if isinstance(value, str) and item.type is not ItemType.CHOICE:
                value = value.strip() or None
            if (problem := item.problem(value)) is not None:
                problems.append(problem)
                continue
            kept[item.link_id] = value
        if problems:
            raise QuestionnaireError(problems)
        return kept

    def next_question(self, answers: Mapping[str, Any]) -> Item | None:
        """The first question the answers enable and do not yet answer; None: all are answered."""
        return next((i for i in self.items if i.link_id not in answers and i.enabled(answers)), None)

    def check(self) -> None:
        """A questionnaire's own consistency (each linkId once; each condition on an earlier
        question, so one pass in order decides every item)."""
        seen: set[str] = set()
        for item in self.items:
            if item.link_id in seen:
                raise ValueError(f"linkId {item.link_id} appears twice")
            for condition in item.enable_when:
                if condition.question not in seen:
                    raise ValueError(
                        f"{item.link_id} is enabled by {condition.question}, not an earlier question"
                    )
            if item.type is ItemType.CHOICE and not item.options:
                raise ValueError(f"{item.link_id} is a choice with no options")
            seen.add(item.link_id)
