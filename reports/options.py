"""Resolving what staff type on the command line (a unit, a point) to questionnaire option codes."""

from __future__ import annotations

from reports.errors import ReportError
from storage.reports_repo import Answered
from survey_flow.model import Questionnaire, QuestionRole
from survey_flow.text import normalize

# The questions staff name options of (on the command line, in staff commands), by role.
MEASURE, POINT, UNIT = QuestionRole.MEASURE, QuestionRole.POINT, QuestionRole.UNIT


def resolve_option(q: Questionnaire, role: QuestionRole, value: str, flag: str) -> str:
    """An option code of the question from its code or its exact text (case-insensitive)."""
    question = q.by_role(role)
    key = normalize(value)
    for option in question.options:
        if value.strip() == option.code or key == normalize(option.text):
            return option.code
    choices = "; ".join(f"{o.code} – {o.text}" for o in question.options)
    raise ReportError(
        f"{flag}: нет варианта «{value}» в вопросе {question.printed_code}. Варианты: {choices}"
    )


def option_text(q: Questionnaire, role: QuestionRole, code: str) -> str:
    option = q.by_role(role).option(code)
    return option.text if option is not None else code


def of_unit(q: Questionnaire, unit: str | None) -> Answered | None:
    """The questionnaires of one unit (an option code of the unit question); None: of all units."""
    return None if unit is None else Answered(q.by_role(QuestionRole.UNIT).code, unit)
