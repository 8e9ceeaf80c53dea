"""Broken questionnaire files: every problem is reported with its question code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from survey_flow.loader import (
    QuestionnaireError,
    default_questionnaire_text,
    load_questionnaire,
    parse_questionnaire,
)
from survey_flow.model import QuestionRole

LISTS = Settings().survey.lists.choice_lists()


def broken(replace: str, by: str) -> str:
    text = default_questionnaire_text()
    assert replace in text, replace
    return text.replace(replace, by, 1)


def problems_of(text: str) -> list[str]:
    with pytest.raises(QuestionnaireError) as info:
        parse_questionnaire(text, LISTS, "test.toml")
    return [str(p) for p in info.value.problems]


def test_duplicate_question_and_platform_codes() -> None:
    text = broken('code = "12"\nplatform_code = "24"', 'code = "11"\nplatform_code = "23"')
    problems = problems_of(text)
    assert "[вопрос 11] номер вопроса повторяется" in problems
    assert "[вопрос 11] код платформы 23 уже занят вопросом 11" in problems


def test_roles_find_their_questions() -> None:
    q = load_questionnaire(None, LISTS)
    found = {role: q.by_role(role).code for role in QuestionRole}
    assert found == {
        QuestionRole.MEASURE: "1", QuestionRole.POINT: "2", QuestionRole.UNIT: "3",
        QuestionRole.DISTRICT: "4", QuestionRole.METHOD: "5", QuestionRole.SATISFACTION: "9",
    }  # fmt: skip


def test_unknown_role_is_refused_with_the_question_code() -> None:
    problems = problems_of(broken('role = "district"', 'role = "region"'))
    assert len(problems) == 1 and problems[0].startswith("[вопрос 4] поле role:"), problems


def test_duplicated_role_is_refused_with_the_question_code() -> None:
    text = broken('role = "district"', 'role = "unit"')
    assert problems_of(text) == ["[вопрос 4] роль «unit» уже задана вопросу 3"]


def test_a_questionnaire_without_a_role_has_no_question_for_it() -> None:
    q = parse_questionnaire(broken('role = "satisfaction"\n', ""), LISTS)
    with pytest.raises(KeyError, match="satisfaction"):
        q.by_role(QuestionRole.SATISFACTION)


def test_condition_on_a_later_question() -> None:
    text = broken(
        'condition = { question = "8", any_of = ["2"] }', 'condition = { question = "12", any_of = ["2"] }'
    )
    assert problems_of(text) == ["[вопрос 10] условие ссылается на вопрос 12, который идет позже"]


def test_condition_on_missing_question_or_option() -> None:
    text = broken(
        'condition = { question = "5", any_of = ["2"] }', 'condition = { question = "5", any_of = ["3"] }'
    )
    assert problems_of(text) == ["[вопрос 15] условие ссылается на вариант 3 вопроса 5, которого нет"]
    text = broken(
        'condition = { question = "8", any_of = ["2"] }', 'condition = { question = "99", any_of = ["2"] }'
    )
    assert problems_of(text) == ["[вопрос 10] условие ссылается на вопрос 99, которого нет в анкете"]


def test_unknown_list_wrong_kind_unknown_field() -> None:
    assert problems_of(broken('options_from = "districts"', 'options_from = "regions"')) == [
        "[вопрос 4] список вариантов «regions» не задан в конфигурации",
    ]
    problems = problems_of(broken('kind = "scale"', 'kind = "stars"'))
    assert len(problems) == 1 and problems[0].startswith("[вопрос 11] поле kind:")
    problems = problems_of(
        broken('text = "Вид меры поддержки"', 'text = "Вид меры поддержки"\ncolour = "red"')
    )
    assert len(problems) == 1 and problems[0].startswith("[вопрос 1] поле colour:")


def test_duplicate_option_codes_and_followup_on_choice() -> None:
    text = broken(
        '{ code = "2", platform_code = "2", text = "Юридическим лицом" }',
        '{ code = "1", platform_code = "2", text = "Юридическим лицом" }',
    )
    assert problems_of(text) == ["[вопрос 6] код варианта «1» повторяется"]
    text = broken('questions = ["11",', 'questions = ["9", "11",')
    assert problems_of(text) == ["[вопрос 9] уточняющий вопрос возможен только после оценки 1–5"]


def test_toml_syntax_error() -> None:
    problems = problems_of(default_questionnaire_text() + "\n[[questions]\n")
    assert len(problems) == 1 and "синтаксическая ошибка TOML" in problems[0]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaire(tmp_path / "missing.toml", LISTS)
    assert "не удалось прочитать файл" in str(info.value)


def test_cli_reports_broken_file_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "q.toml"
    bad.write_text(broken('platform_code = "29"', 'platform_code = "28"'), encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[survey]\nquestionnaire = "{bad}"\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "--config", str(config), "questionnaire"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "[вопрос 17] код платформы 28 уже занят вопросом 16" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_questionnaire_json_lists_codes_texts_options_conditions() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "questionnaire", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by_code = {q["code"]: q for q in data["questions"]}
    assert len(by_code) == 17
    assert by_code["9"]["platform_code"] == "21"
    assert by_code["5"]["options"][1] == {
        "code": "2",
        "platform_code": "4",
        "printed_code": "2(4)",
        "text": "Онлайн на сайте органа власти",
    }
    assert by_code["10"]["condition"] == {"question": "8", "any_of": ["2"]}
    assert by_code["4"]["options"][0]["text"] == "Баганский район" and len(by_code["4"]["options"]) == 35
    assert by_code["1"]["options"][-1]["text"] == "Другое"
    assert by_code["11"]["followup_after"] == ["1", "2", "3"]
    assert by_code["7"]["asked"] is False
