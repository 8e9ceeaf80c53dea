"""Property: any mix of valid and invalid inputs (and backs) ends in a consistent questionnaire."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey_flow.engine import (
    Accepted,
    Answer,
    apply_input,
    condition_holds,
    go_back,
    is_complete,
    next_step,
)
from survey_flow.model import Questionnaire

NOISE = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "0", "6", "-1", "2(4)", "да", "нет", "удовлетворен", "Другое", "\x00", "🙂"]),
)


def valid_input(q: Questionnaire, answers: dict[str, Answer], choice: int) -> str:
    step = next_step(q, answers)
    assert step is not None
    if step.followup:
        return f"сложность {choice}"
    if step.question.kind == "scale":
        return str(choice % 5 + 1)
    options = step.question.options
    return options[choice % len(options)].text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    moves=st.lists(
        st.tuples(st.sampled_from(["valid", "noise", "back"]), st.integers(0, 99), NOISE), max_size=80
    )
)
def test_any_input_sequence_ends_consistent(
    questionnaire: Questionnaire, moves: list[tuple[str, int, str]]
) -> None:
    q = questionnaire
    answers: dict[str, Answer] = {}
    for kind, choice, noise in moves:
        if next_step(q, answers) is None:
            break
        if kind == "back":
            answers, _ = go_back(q, answers)
            continue
        text = valid_input(q, answers, choice) if kind == "valid" else noise
        outcome = apply_input(q, answers, text)
        if kind == "valid":
            assert isinstance(outcome, Accepted)
        if isinstance(outcome, Accepted):
            answers = outcome.answers
    # Finish with valid answers only.
    guard = 0
    while next_step(q, answers) is not None:
        outcome = apply_input(q, answers, valid_input(q, answers, guard))
        assert isinstance(outcome, Accepted)
        answers = outcome.answers
        guard += 1
        assert guard < 40
    assert is_complete(q, answers)
    for question in q.asked_questions:
        applicable = condition_holds(question, answers)
        answer = answers.get(question.code)
        assert (answer is not None) == bool(applicable), question.code
        if answer is not None:
            wants_followup = q.has_followup(question) and answer.option in q.followup.scores
            assert (answer.followup is not None) == wants_followup, question.code
            if wants_followup:
                assert answer.followup and answer.followup.strip()
    assert set(answers) <= {x.code for x in q.asked_questions}
