"""Pydantic models of the declarative questionnaire file."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

QuestionKind = Literal["choice", "scale", "auto_datetime"]
SCALE_CODES: tuple[str, ...] = ("1", "2", "3", "4", "5")
OTHER_CODE = "other"
OTHER_LABEL = "Другое"


class QuestionRole(StrEnum):
    """What a question is to the code that must find it (reports, statistics, alerts, mailing
    audiences), so nothing outside the questionnaire depends on how the form numbers it."""

    MEASURE = "measure"  # the support measure
    POINT = "point"  # the point of interaction
    UNIT = "unit"  # the ministry's structural unit
    DISTRICT = "district"  # the municipal district
    METHOD = "method"  # how the measure was received: in person or online
    SATISFACTION = "satisfaction"  # satisfied or not, overall


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    code: str = Field(min_length=1)
    platform_code: str = Field(min_length=1)
    text: str = Field(min_length=1)

    @property
    def printed_code(self) -> str:
        """The code as the form prints it: `2(4)` where the platform code differs."""
        if self.platform_code == self.code:
            return self.code
        return f"{self.code}({self.platform_code})"


class Condition(_Strict):
    """The question applies when the answer to `question` is one of `any_of` (option codes)."""

    question: str
    any_of: tuple[str, ...] = Field(min_length=1)


class Followup(_Strict):
    text: str
    scores: tuple[str, ...]
    questions: tuple[str, ...]


class Block(_Strict):
    number: int
    title: str


class Question(_Strict):
    code: str = Field(min_length=1)
    platform_code: str = Field(min_length=1)
    block: int
    kind: QuestionKind
    text: str = Field(min_length=1)
    instruction: str | None = None
    condition_note: str | None = None
    condition: Condition | None = None
    options: tuple[Option, ...] = ()
    options_from: str | None = None
    allow_other: bool = False
    prefillable: bool = False
    role: QuestionRole | None = None

    @property
    def printed_code(self) -> str:
        return f"{self.code}({self.platform_code})"

    @property
    def asked(self) -> bool:
        """Auto-recorded questions (the date and time) are never asked."""
        return self.kind != "auto_datetime"

    def option(self, code: str) -> Option | None:
        for option in self.options:
            if option.code == code:
                return option
        return None


class Questionnaire(_Strict):
    version: str
    title: str
    scale_intro: str
    # The note ¹ on the bracketed numbers (printed on the paper form, where 1(11) carries the mark).
    footnote: str | None = None
    followup: Followup
    blocks: tuple[Block, ...]
    questions: tuple[Question, ...]

    def question(self, code: str) -> Question:
        for question in self.questions:
            if question.code == code:
                return question
        raise KeyError(code)

    def by_role(self, role: QuestionRole) -> Question:
        """The question tagged with `role` (the loader allows one question a role)."""
        for question in self.questions:
            if question.role == role:
                return question
        raise KeyError(f"no question has the role {role.value!r}")

    def has_followup(self, question: Question) -> bool:
        return question.code in self.followup.questions

    @cached_property  # the questionnaire is frozen; the engine walks this list several times per answer
    def asked_questions(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.asked)
