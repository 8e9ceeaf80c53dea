"""The questionnaire file must match Appendix 1 of order No. 152-НПА word for word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from survey_flow.model import Questionnaire
from tests.conftest import REPO

# (code, platform code, text as in Appendix 1, kind)
APPENDIX_1 = [
    ("1", "11", "Вид меры поддержки", "choice"),
    ("2", "12", "Точка взаимодействия (где получалась мера государственной поддержки)", "choice"),
    (
        "3",
        "13",
        "Структурное подразделение министерства экономического развития Новосибирской области",
        "choice",
    ),
    ("4", "14", "Муниципальный район или городской округ", "choice"),
    ("5", "15", "Способ получения меры поддержки", "choice"),
    ("6", "17", "Мера поддержки получалась", "choice"),
    ("7", "18", "Дата и время получения меры поддержки/заполнения анкеты", "auto_datetime"),
    (
        "8",
        "19",
        "Результат обращения в орган власти: была ли предоставлена мера поддержки, за которой Вы обращались?",
        "choice",
    ),
    (
        "9",
        "21",
        "Вы скорее удовлетворены или скорее не удовлетворены мерой поддержки, за оказанием которой Вы обращались?",
        "choice",
    ),
    (
        "10",
        "22",
        "После отказа Вам была предоставлена информация о необходимых действиях для получения меры поддержки в будущем:",
        "choice",
    ),
    (
        "11",
        "23",
        "Насколько просто Вам было получить полную информацию о мере поддержки и порядке ее получения",
        "scale",
    ),
    (
        "12",
        "24",
        "Насколько просто Вам было собрать все документы и оформить заявку на меру поддержки",
        "scale",
    ),
    (
        "13",
        "25",
        "Насколько вежливы и компетентны были сотрудники организации, предоставляющей меру поддержки",
        "scale",
    ),
    (
        "14",
        "26",
        "Насколько удобно для Вас расположено место получения меры государственной поддержки",
        "scale",
    ),
    (
        "15",
        "27",
        "Насколько понятным и удобным для Вас было оформление заявки на получение меры поддержки в электронном виде",
        "scale",
    ),
    ("16", "28", "Насколько Вы удовлетворены информированием о статусе получения меры поддержки", "scale"),
    ("17", "29", "Насколько Вы удовлетворены сроком предоставления меры государственной поддержки", "scale"),
]

# (question, option form code, option platform code, text)
OPTIONS = [
    ("5", "1", "1", "Лично в органе власти"),
    ("5", "2", "4", "Онлайн на сайте органа власти"),
    ("6", "1", "1", "Физическим лицом"),
    ("6", "2", "2", "Юридическим лицом"),
    ("8", "1", "1", "Была предоставлена"),
    ("8", "2", "2", "Не была предоставлена"),
    ("9", "1", "1", "Скорее удовлетворен"),
    ("9", "2", "2", "Скорее не удовлетворен"),
    ("10", "1", "1", "Да"),
    ("10", "2", "2", "Нет"),
]

FOLLOWUP = (
    "Уточните, пожалуйста, с какими конкретно сложностями Вы столкнулись в процессе получения "
    "государственной поддержки. Впишите _____."
)
TITLE = (
    "ФОРМА опроса для проведения оценки удовлетворенности внешних клиентов в рамках предоставления "
    "мер государственной поддержки министерством экономического развития Новосибирской области"
)
BLOCK_TITLES = ("БЛОК 1. СТАТИСТИЧЕСКИЙ", "БЛОК 2. ОЦЕНКА КАЧЕСТВА МЕР ПОДДЕРЖКИ")
SCALE_INTRO = "Оцените, пожалуйста, по пятибалльной шкале, где 1 – самая низкая оценка, 5 – самая высокая:"
# The order's text beside the checkout (/work/main) or beside a worktree of it (/work/wt/<name>).
_SEED = Path("shared") / "seed" / "000_bcc6752bab5bf90c.txt"
SOURCE = next(
    (p / _SEED for p in REPO.parents[0:2] if (p / _SEED).exists()),
    REPO.parent / _SEED,
)


def test_every_question_text_and_both_numbers(questionnaire: Questionnaire) -> None:
    actual = [(q.code, q.platform_code, q.text, q.kind) for q in questionnaire.questions]
    assert actual == APPENDIX_1


def test_fixed_options_with_both_codes(questionnaire: Questionnaire) -> None:
    actual = [
        (q.code, o.code, o.platform_code, o.text)
        for q in questionnaire.questions
        if q.options_from is None
        for o in q.options
    ]
    assert actual == OPTIONS
    assert questionnaire.question("5").options[1].printed_code == "2(4)"


def test_conditions_followup_and_scale(questionnaire: Questionnaire) -> None:
    conditions = {
        q.code: (q.condition.question, q.condition.any_of) for q in questionnaire.questions if q.condition
    }
    # 13(25), 14(26): in person (see docs/questionnaire.md on the source's "онлайн" there).
    assert conditions == {
        "10": ("8", ("2",)),
        "13": ("5", ("1",)),
        "14": ("5", ("1",)),
        "15": ("5", ("2",)),
        "16": ("5", ("2",)),
    }
    assert questionnaire.followup.text == FOLLOWUP
    assert questionnaire.followup.scores == ("1", "2", "3")
    assert questionnaire.followup.questions == tuple(str(n) for n in range(11, 18))
    assert questionnaire.scale_intro == SCALE_INTRO
    assert not questionnaire.question("7").asked


def test_form_and_block_titles_as_printed(questionnaire: Questionnaire) -> None:
    assert questionnaire.title == TITLE
    assert tuple(b.title for b in questionnaire.blocks) == BLOCK_TITLES


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("*", "")).strip()


@pytest.mark.skipif(not SOURCE.exists(), reason=f"source document not found at {SOURCE}")
def test_texts_appear_verbatim_in_the_source_document(questionnaire: Questionnaire) -> None:
    source = _squash(SOURCE.read_text(encoding="utf-8"))
    pieces = [q.text for q in questionnaire.questions]
    pieces += [o.text for q in questionnaire.questions if q.options_from is None for o in q.options]
    pieces += [q.condition_note for q in questionnaire.questions if q.condition_note]
    pieces += [questionnaire.followup.text, questionnaire.scale_intro, questionnaire.title]
    pieces += [b.title for b in questionnaire.blocks]
    assert questionnaire.footnote is not None
    pieces += ["¹ " + questionnaire.footnote]
    missing = [p for p in pieces if _squash(p) not in source]
    assert missing == []
