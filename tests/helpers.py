"""Answer scripts for the common paths through Appendix 1 (question code -> typed input)."""

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
