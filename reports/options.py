"""Resolving what staff type on the command line (a unit, a point) to questionnaire option codes."""

from __future__ import annotations

from reports.errors import ReportError
from survey_flow.model import Questionnaire
from survey_flow.text import normalize

MEASURE, POINT, UNIT, DISTRICT, METHOD = "1", "2", "3", "4", "5"


def resolve_option(q: Questionnaire, question_code: str, value: str, flag: str) -> str:
    """An option code of the question from its code or its exact text (case-insensitive)."""
    question = q.question(question_code)
    key = normalize(value)
    for option in question.options:
        if value.strip() == option.code or key == normalize(option.text):
            return option.code
    choices = "; ".join(f"{o.code} – {o.text}" for o in question.options)
    raise ReportError(
        f"{flag}: нет варианта «{value}» в вопросе {question.printed_code}. Варианты: {choices}"
    )


def option_text(q: Questionnaire, question_code: str, code: str) -> str:
    option = q.question(question_code).option(code)
    return option.text if option is not None else code
