"""Questionnaires with questions left without an answer (paper forms).

The order makes no answer mandatory: on paper a respondent may leave any question, or the
difficulties text after a low score, empty. A blank is remembered by its step key (`Step.key`:
"9", or "11f" for a follow-up) so the walk moves past it; a blank is never stored as an answer.
Pure functions, like the engine: no I/O.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime

from survey_flow.engine import Answer, Answers, Step, condition_holds, needs_followup
from survey_flow.model import Questionnaire


def next_step(q: Questionnaire, answers: Answers, blank: Set[str]) -> Step | None:
    """The first applicable step that is neither answered nor left blank; None when done.

    A question whose condition refers to a blank answer is undecided and stays applicable: nothing
    on the form excludes it, so an answer to it is accepted.
    """
    for question in q.asked_questions:
        if condition_holds(question, answers) is False:
            continue
        step = Step(question)
        answer = answers.get(question.code)
        if answer is None:
            if step.key in blank:
                continue
            return step
        followup = Step(question, followup=True)
        if needs_followup(q, question, answer) and answer.followup is None and followup.key not in blank:
            return followup
    return None


def finalize(
    q: Questionnaire, answers: Answers, blank: Set[str], completed_at: datetime
) -> dict[str, Answer]:
    """The answers to store: every step answered or blank, plus the date and time 7(18)."""
    if next_step(q, answers, blank) is not None:
        raise ValueError("questionnaire has unanswered steps that are not blank")
    done = dict(answers)
    for question in q.questions:
        if question.kind == "auto_datetime":
            done[question.code] = Answer(option=completed_at.isoformat(timespec="seconds"))
    return done
