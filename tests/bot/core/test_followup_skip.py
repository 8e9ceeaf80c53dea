"""The follow-up after a score 1–3 is offered, not required: «Пропустить» in chat and console."""

from __future__ import annotations

from sqlalchemy import select

from bot.core import texts
from bot.core.conversation import Conversation
from bot.core.messages import Action, Incoming
from storage.schema import answers, survey_sessions
from storage.store import Storage
from survey_flow import engine
from survey_flow.model import Questionnaire
from tests.fakes.chat import Chat
from tests.helpers import BLOCK1, rejected, walk

FOLLOWUP = (
    "Уточните, пожалуйста, с какими конкретно сложностями Вы столкнулись в процессе получения "
    "государственной поддержки. Впишите _____."
)
# In person, provided, satisfied; 11(23) = 2 asks the follow-up.
TO_LOW_SCORE = ["1", "2", "3", "4", "Лично в органе власти", "Физическим лицом", "Была предоставлена"]


async def followup_rows(storage: Storage) -> dict[str, tuple[str | None, bool]]:
    async with storage.transaction() as conn:
        rows = await conn.execute(
            select(answers.c.question_code, answers.c.followup_text, answers.c.followup_skipped)
        )
        return {r.question_code: (r.followup_text, bool(r.followup_skipped)) for r in rows}


async def reach_followup(chat: Chat) -> None:
    await chat.start()
    for text in TO_LOW_SCORE:
        await chat.text(text)
    await chat.press("Скорее удовлетворен")
    await chat.press("2")


async def test_skip_button_moves_on_and_stores_no_text(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await reach_followup(chat)
    assert chat.last is not None
    assert FOLLOWUP in chat.last.text  # the order's sentence in full
    assert texts.SKIP in [b.label for row in chat.last.buttons for b in row]
    result = await chat.press(texts.SKIP)
    assert result.answered is not None and result.answered.endswith(texts.SKIPPED)
    assert chat.last.text.startswith("Вопрос 10 из") and "Насколько просто Вам было собрать" in chat.last.text
    assert (await followup_rows(storage))["11"] == (None, True)
    # A low score later gets the follow-up again: skipping one does not switch them off.
    await chat.press("3")
    assert FOLLOWUP in chat.last.text
    await chat.text("Много бумаг")
    for label in ("5", "5", "5"):
        await chat.press(label)
    result = await chat.press(texts.CONSENT_NO)
    saved = await followup_rows(storage)
    assert saved["11"] == (None, True) and saved["12"] == ("Много бумаг", False)
    async with storage.transaction() as conn:
        assert (await conn.execute(select(survey_sessions.c.status))).scalar_one() == "completed"


async def test_skip_by_typed_word_and_back_asks_again(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await reach_followup(chat)
    await chat.text("Пропустить")
    assert (await followup_rows(storage))["11"] == (None, True)
    await chat.press("◀ Назад")  # back to the skipped follow-up, not past it
    assert FOLLOWUP in chat.last.text
    assert (await followup_rows(storage))["11"] == (None, False)
    await chat.text("Сайт не открывался")
    assert (await followup_rows(storage))["11"] == ("Сайт не открывался", False)


async def test_main_questions_cannot_be_skipped(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await chat.start()
    result = await chat.text("пропустить")
    assert result.messages[0].text == engine.MAIN_QUESTION_REQUIRED
    assert texts.SKIP not in [b.label for row in chat.last.buttons for b in row]
    # A forged «Пропустить» press on a main question's live token changes nothing either.
    assert chat.last is not None
    result = await chat.send(Incoming("test", "u1", "press", token=chat.last.token, action=Action.SKIP))
    assert result.notice == engine.MAIN_QUESTION_REQUIRED
    assert await followup_rows(storage) == {}


def test_engine_skip_is_pure_and_only_for_the_followup(questionnaire: Questionnaire) -> None:
    answers = walk(questionnaire, [*BLOCK1, "1", "1", "1", "1"])
    rejected(questionnaire, answers, "пропустить")  # 11(23) itself is required
    answers = walk(questionnaire, ["2"], answers)
    step = engine.next_step(questionnaire, answers)
    assert step is not None and step.followup
    outcome = engine.skip_followup(questionnaire, answers)
    assert isinstance(outcome, engine.Accepted)
    assert outcome.answers["11"] == engine.Answer(option="2", followup_skipped=True)
    next_step = engine.next_step(questionnaire, outcome.answers)
    assert next_step is not None and next_step.question.code == "12" and not next_step.followup
    # A changed score (4 after «Назад») drops the skip mark with the follow-up.
    back, _ = engine.go_back(questionnaire, outcome.answers)
    back, _ = engine.go_back(questionnaire, back)
    assert "11" not in back
    assert isinstance(engine.skip_followup(questionnaire, back), engine.Rejected)
