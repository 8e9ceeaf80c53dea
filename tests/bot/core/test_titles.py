"""The form's title at the start and each block's title when the respondent enters it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core import texts
from bot.core.conversation import Conversation
from storage import repository as repo
from storage.store import Storage
from survey_flow import loader
from survey_flow.loader import QuestionnaireError, default_questionnaire_text, parse_questionnaire
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT
from tests.fakes.chat import Chat

TITLE = (
    "ФОРМА опроса для проведения оценки удовлетворенности внешних клиентов в рамках предоставления "
    "мер государственной поддержки министерством экономического развития Новосибирской области"
)
BLOCK_1 = "БЛОК 1. СТАТИСТИЧЕСКИЙ"
BLOCK_2 = "БЛОК 2. ОЦЕНКА КАЧЕСТВА МЕР ПОДДЕРЖКИ"
TO_BLOCK_2 = ["1", "2", "3", "4", "Лично в органе власти", "Физическим лицом"]


def texts_of(result: object) -> list[str]:
    return [m.text for m in result.messages]  # type: ignore[attr-defined]


async def test_titles_as_the_form_lays_them_out(conversation: Conversation) -> None:
    chat = Chat(conversation)
    result = await chat.start()
    shown = texts_of(result)
    assert shown[0] == texts.GREETING
    assert shown[1] == f"{TITLE}\n\n{BLOCK_1}"
    assert shown[2].startswith("Вопрос 1 из 16")
    for text in TO_BLOCK_2:  # inside a block: no title
        result = await chat.text(text)
        assert not any(BLOCK_1 in t or BLOCK_2 in t for t in texts_of(result)), texts_of(result)
    result = await chat.press("Была предоставлена")  # 8(19), the last of Block 1
    shown = texts_of(result)
    assert shown[0] == BLOCK_2 and shown[1].startswith("Вопрос 8 из")
    assert "Вы скорее удовлетворены" in shown[1]
    result = await chat.press("Скорее удовлетворен")
    assert BLOCK_2 not in texts_of(result)
    # Back within Block 2: no title; back across the boundary: Block 1's title again.
    result = await chat.press("◀ Назад")
    assert BLOCK_2 not in texts_of(result) and "Вы скорее удовлетворены" in texts_of(result)[-1]
    result = await chat.press("◀ Назад")
    shown = texts_of(result)
    assert shown[0] == BLOCK_1 and "Результат обращения" in shown[1]
    result = await chat.press("Была предоставлена")
    assert texts_of(result)[0] == BLOCK_2
    # Resuming after a pause says which block the respondent is in.
    await chat.text("прервать")
    await chat.start()
    result = await chat.press(texts.CONTINUE)
    shown = texts_of(result)
    assert shown[0] == BLOCK_2 and "Вы скорее удовлетворены" in shown[1]


async def test_prefilled_block_1_starts_with_the_block_2_title(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    # A questionnaire whose whole Block 1 can come from a deep link: the survey starts in Block 2.
    prefillable = {"1", "2", "3", "4", "5", "6", "8"}
    custom = questionnaire.model_copy(
        update={
            "questions": tuple(
                q.model_copy(update={"prefillable": q.code in prefillable}) for q in questionnaire.questions
            )
        }
    )
    values = {"1": "1", "2": "2", "3": "1", "4": "5", "5": "2", "6": "2", "8": "1"}
    async with storage.transaction() as conn:
        key = await repo.create_prefill(conn, values, "qr", "стойка", datetime.now(UTC))
    chat = Chat(Conversation(storage, custom, CONSENT))
    result = await chat.start(key)
    shown = texts_of(result)
    assert shown[1] == f"{TITLE}\n\n{BLOCK_2}"
    assert shown[2].startswith("Вопрос 1 из") and "Вы скорее удовлетворены" in shown[2]


def test_a_title_too_long_for_one_message_is_refused() -> None:
    # The form's and a block's titles go out as one chat message (Telegram and VK: 4096 characters).
    limit = 1000
    assert limit == loader.MAX_TITLE
    text = default_questionnaire_text().replace(
        'title = "БЛОК 1. СТАТИСТИЧЕСКИЙ"', f'title = "{"Б" * (limit + 1)}"'
    )
    with pytest.raises(QuestionnaireError) as caught:
        parse_questionnaire(text, {name: _list() for name in _LISTS})
    assert f"заголовок блока 1 длиннее {limit} символов" in str(caught.value)
    assert 2 * limit + 2 <= 4096


_LISTS = ("support_measures", "points_of_interaction", "structural_units", "districts")


def _list():  # type: ignore[no-untyped-def]
    from survey_flow.loader import ChoiceList

    return ChoiceList(items=(("1", "Первый"), ("2", "Второй")))
