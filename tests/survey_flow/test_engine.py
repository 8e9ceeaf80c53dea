"""The pure engine: skip logic, validation, back, progress, prefill."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from survey_flow.engine import (
    Answer,
    finalize,
    go_back,
    is_complete,
    next_step,
    prefill_answers,
    progress,
)
from survey_flow.model import Questionnaire
from tests.helpers import (
    BLOCK1,
    IN_PERSON_PROVIDED,
    IN_PERSON_PROVIDED_ASKED,
    ONLINE_REFUSED,
    ONLINE_REFUSED_ASKED,
    rejected,
    walk,
)


def asked_codes(answers: dict[str, Answer]) -> list[str]:
    return sorted(answers, key=int)


def test_in_person_provided_path(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, IN_PERSON_PROVIDED)
    assert is_complete(questionnaire, answers)
    assert asked_codes(answers) == IN_PERSON_PROVIDED_ASKED
    assert all(a.followup is None for a in answers.values())


def test_online_refused_path_asks_10_and_online_scores(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, ONLINE_REFUSED)
    assert is_complete(questionnaire, answers)
    assert asked_codes(answers) == ONLINE_REFUSED_ASKED
    assert answers["10"].option == "1"


@pytest.mark.parametrize("score", ["1", "2", "3", "4", "5"])
def test_each_score_with_or_without_followup(questionnaire: Questionnaire, score: str) -> None:
    answers = walk(questionnaire, [*BLOCK1, "1", "1", "1", "1", score])
    step = next_step(questionnaire, answers)
    assert step is not None
    if score in ("1", "2", "3"):
        assert step.followup and step.question.code == "11"
        answers = walk(questionnaire, ["  очень долго ждал ответа  "], answers)
        assert answers["11"].followup == "очень долго ждал ответа"
    else:
        assert not step.followup and step.question.code == "12"
    assert answers["11"].option == score


def test_typed_forms_are_accepted(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, [*BLOCK1, "  лично В ОРГАНЕ власти ", "Юридическим лицом", " 2 "])
    assert answers["5"].option == "1" and answers["6"].option == "2" and answers["8"].option == "2"
    answers = walk(questionnaire, ["скорее  удовлетворен", " ДА! "], answers)
    assert answers["9"].option == "1" and answers["10"].option == "1"
    answers = walk(questionnaire, ["5 баллов"], answers)
    assert answers["11"].option == "5"


def test_online_option_accepts_printed_code(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, [*BLOCK1, "2(4)"])
    assert answers["5"].option == "2"


def test_invalid_inputs_give_clear_russian_messages(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, BLOCK1)
    assert (
        "Выберите вариант кнопкой или напишите его номер (1–2)"
        in rejected(questionnaire, answers, "7").message
    )
    assert "выберите один из вариантов" in rejected(questionnaire, answers, "   ").message
    answers = walk(questionnaire, ["1", "1", "1", "1"], answers)
    assert "от 1 до 5" in rejected(questionnaire, answers, "6").message
    assert "от 1 до 5" in rejected(questionnaire, answers, "отлично").message
    answers = walk(questionnaire, ["2"], answers)
    assert "опишите сложности" in rejected(questionnaire, answers, " \x00\x07 ").message
    too_long = rejected(questionnaire, answers, "я" * 2001).message
    assert "2000" in too_long


def test_ambiguous_text_lists_candidates(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, [*BLOCK1, "1", "1", "1"])
    outcome = rejected(questionnaire, answers, "удовлетворен")
    assert {o.code for o in outcome.candidates} == {"1", "2"}
    assert "несколько вариантов" in outcome.message


def test_district_found_by_part_of_its_name(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, ["1", "1", "1", "искитимский"])
    assert answers["4"].option == "7"
    outcome = rejected(questionnaire, walk(questionnaire, ["1", "1", "1"]), "Искитим")
    assert {o.text for o in outcome.candidates} == {"Искитимский район", "город Искитим"}


def test_other_variant_is_typed_text(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, ["Компенсация затрат на сертификацию"])
    assert answers["1"] == Answer(option="other", text="Компенсация затрат на сертификацию")
    assert "свой вариант" in rejected(questionnaire, {}, "Другое").message
    answers = walk(questionnaire, ["Другое: выставка"])
    assert answers["1"].text == "выставка"


def test_control_characters_stripped_text_kept_verbatim(questionnaire: Questionnaire) -> None:
    answers = walk(
        questionnaire, [*BLOCK1, "1", "1", "1", "1", "1", "Строка 1\nстрока\x07 2; DROP TABLE answers;"]
    )
    assert answers["11"].followup == "Строка 1\nстрока 2; DROP TABLE answers;"


def test_back_undoes_followup_then_question(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, [*BLOCK1, "1", "1", "1", "1", "2", "сложно"])
    answers, undone = go_back(questionnaire, answers)
    assert undone is not None and undone.key == "11f"
    assert answers["11"].followup is None
    answers, undone = go_back(questionnaire, answers)
    assert undone is not None and undone.key == "11" and "11" not in answers
    answers = walk(questionnaire, ["5"], answers)
    step = next_step(questionnaire, answers)
    assert step is not None and step.key == "12"


def test_back_to_changed_branch_drops_inapplicable_answers(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, [*BLOCK1, "1", "1", "2", "1", "1"])  # refused: 10 answered
    assert "10" in answers
    for _ in range(3):
        answers, _undone = go_back(questionnaire, answers)
    assert "8" not in answers and "10" not in answers and "9" not in answers
    answers = walk(questionnaire, ["1", "1"], answers)  # provided now: 10 no longer asked
    step = next_step(questionnaire, answers)
    assert step is not None and step.question.code == "11"


def test_back_at_start_and_never_into_prefill(questionnaire: Questionnaire) -> None:
    answers, undone = go_back(questionnaire, {})
    assert undone is None and answers == {}
    prefilled, problems = prefill_answers(questionnaire, {"1": "2", "2": "1", "3": "1", "5": "2"})
    assert problems == []
    answers, undone = go_back(questionnaire, prefilled)
    assert undone is None and answers == prefilled


def test_prefill_skips_block1_questions_and_reports_bad_entries(questionnaire: Questionnaire) -> None:
    prefilled, problems = prefill_answers(
        questionnaire, {"1": "2", "2": "1", "3": "1", "5": "2", "9": "1", "4": "999", "77": "1"}
    )
    assert set(prefilled) == {"1", "2", "3", "5"}
    assert all(a.prefilled for a in prefilled.values())
    assert len(problems) == 3
    step = next_step(questionnaire, prefilled)
    assert step is not None and step.question.code == "4"
    assert progress(questionnaire, prefilled) == (1, 10)  # 4, 6, 8, 9, 10?, 11, 12, 15, 16, 17


def test_progress_counts_only_applicable_questions(questionnaire: Questionnaire) -> None:
    assert progress(questionnaire, {}) == (1, 16)
    answers = walk(questionnaire, [*BLOCK1, "1"])
    assert progress(questionnaire, answers) == (6, 14)  # 10 undecided, 15/16 ruled out
    answers = walk(questionnaire, ["1", "1"], answers)
    assert progress(questionnaire, answers) == (8, 13)
    done = walk(questionnaire, ["1", "5", "5", "5", "5", "5"], answers)
    assert progress(questionnaire, done) == (13, 13)


def test_finalize_records_date_and_time(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, IN_PERSON_PROVIDED)
    final = finalize(questionnaire, answers, datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    assert final["7"].option == "2026-03-01T09:30:00+00:00"
    with pytest.raises(ValueError):
        finalize(questionnaire, walk(questionnaire, BLOCK1), datetime.now(UTC))
    done = rejected(questionnaire, answers, "5")
    assert "уже заполнена" in done.message
