"""Answer scripts for the common paths through Appendix 1: typed inputs for the engine, button labels
for the channels, and the questions each path asks."""

from __future__ import annotations

from bot.config import Settings
from storage.mailing import AudienceQuestions
from survey_flow.engine import Accepted, Answer, Rejected, apply_input, next_step
from survey_flow.loader import load_questionnaire
from survey_flow.model import Questionnaire

BLOCK1 = ["1", "2", "3", "4"]

# The questions a mailing audience filters by, in the default questionnaire (the `questionnaire` fixture).
AUDIENCE_QUESTIONS = AudienceQuestions.of(load_questionnaire(None, Settings().survey.lists.choice_lists()))


def walk(q: Questionnaire, inputs: list[str], answers: dict[str, Answer] | None = None) -> dict[str, Answer]:
    """Feed inputs one by one; every input must be accepted."""
    current = dict(answers or {})
    for text in inputs:
        step = next_step(q, current)
        outcome = apply_input(q, current, text)
        assert isinstance(outcome, Accepted), f"{step and step.key}: {text!r} -> {outcome}"
        current = outcome.answers
    return current


def rejected(q: Questionnaire, answers: dict[str, Answer], text: str) -> Rejected:
    outcome = apply_input(q, answers, text)
    assert isinstance(outcome, Rejected), outcome
    return outcome


# In person (5=1), provided (8=1), satisfied, all scores 5: 11 12 13 14 17 asked.
IN_PERSON_PROVIDED = [*BLOCK1, "1", "2", "1", "1", "5", "5", "5", "5", "5"]
# Online (5=2), refused (8=2): 10 asked, then 11 12 15 16 17.
ONLINE_REFUSED = [*BLOCK1, "2", "1", "2", "2", "1", "4", "4", "4", "4", "4"]
# The questions each typed path asks, in order.
IN_PERSON_PROVIDED_ASKED = ["1", "2", "3", "4", "5", "6", "8", "9", "11", "12", "13", "14", "17"]
ONLINE_REFUSED_ASKED = ["1", "2", "3", "4", "5", "6", "8", "9", "10", "11", "12", "15", "16", "17"]

# The in-person path by the buttons a respondent presses: Block 1; in person, a natural person,
# provided, satisfied; scores 5, 2 and 4, 3 (each low score with a typed follow-up), then 5.
MEASURE, POINT, UNIT, DISTRICT = (
    "Субсидия",
    "Телефон",
    "Управление инвестиционной политики",
    "Баганский район",
)
BLOCK1_LABELS = [MEASURE, POINT, UNIT, DISTRICT]
IN_PERSON_LABELS = ["Лично в органе власти", "Физическим лицом", "Была предоставлена"]
SATISFIED = "Скорее удовлетворен"
FOLLOWUP_12 = "Долго искал нужные формы"
FOLLOWUP_14 = "Неудобная парковка"
# What that path stores: question codes, and the two low scores with their follow-ups.
IN_PERSON_WITH_FOLLOWUPS_SAVED = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "11", "12", "13", "14", "17"]
LOW_SCORES_SAVED = {"12": ("2", FOLLOWUP_12), "14": ("3", FOLLOWUP_14)}
