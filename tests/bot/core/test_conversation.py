"""The channel-neutral conversation on real storage (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from bot.core import texts
from bot.core.conversation import Conversation
from bot.core.messages import Incoming
from storage import repository as repo
from storage.schema import answers, consents, survey_sessions
from storage.store import Storage
from tests.fakes.chat import Chat
from tests.helpers import (
    BLOCK1_LABELS,
    DISTRICT,
    FOLLOWUP_12,
    FOLLOWUP_14,
    IN_PERSON_LABELS,
    IN_PERSON_WITH_FOLLOWUPS_SAVED,
    LOW_SCORES_SAVED,
    MEASURE,
    POINT,
    SATISFIED,
)


async def stored(storage: Storage) -> dict[str, tuple[str, str | None]]:
    async with storage.transaction() as conn:
        rows = await conn.execute(select(answers))
        return {r.question_code: (r.option_code, r.followup_text) for r in rows}


async def test_full_in_person_path_with_consent(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    result = await chat.start()
    assert result.messages[0].text == texts.GREETING
    assert chat.last is not None and chat.last.text.startswith("Вопрос 1 из 16")
    await chat.answer_all(BLOCK1_LABELS[:3])
    await chat.press("»")  # the 35 districts are paged
    assert "Страница 2 из 5" in chat.last.text
    await chat.press("«")
    await chat.answer_all([DISTRICT, *IN_PERSON_LABELS])
    await chat.answer_all([SATISFIED, "5", "2"])
    assert chat.last.text.startswith("Вопрос 10 из 13")
    assert texts.FOLLOWUP_HINT in chat.last.text
    result = await chat.text(FOLLOWUP_12)
    assert result.answered is not None and "Долго искал" in result.answered
    await chat.answer_all(["4", "3"])
    await chat.text(FOLLOWUP_14)
    result = await chat.press("5")
    assert result.messages[0].text == texts.THANKS and result.phase == "consent"
    result = await chat.press(texts.CONSENT_YES)
    assert result.phase == "idle"
    saved = await stored(storage)
    assert sorted(saved, key=int) == IN_PERSON_WITH_FOLLOWUPS_SAVED
    assert saved["12"] == LOW_SCORES_SAVED["12"] and saved["14"] == LOW_SCORES_SAVED["14"]
    async with storage.transaction() as conn:
        session = (await conn.execute(select(survey_sessions))).one()
        consent = (await conn.execute(select(consents))).one()
    assert session.status == "completed" and session.completed_at is not None
    assert consent.granted and consent.channel == "test" and consent.text_version == "v1"


async def test_online_refused_path_declines_consent(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await chat.start()
    await chat.answer_all(
        [*BLOCK1_LABELS, "Онлайн на сайте органа власти", "Юридическим лицом", "Не была предоставлена"]
    )
    await chat.answer_all(["Скорее не удовлетворен", "Нет", "4", "4", "4", "4", "4"])
    result = await chat.text("нет")
    assert result.messages[0].text == texts.CONSENT_DECLINED
    saved = await stored(storage)
    assert {"10", "15", "16"} <= set(saved) and not {"13", "14"} & set(saved)
    assert saved["5"][0] == "2"
    async with storage.transaction() as conn:
        assert not (await conn.execute(select(consents))).one().granted


async def test_back_button_and_typed_back(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await chat.start()
    assert "◀ Назад" not in [b.label for r in chat.last.buttons for b in r]  # first question
    await chat.answer_all(BLOCK1_LABELS[:2])
    await chat.press("◀ Назад")
    assert chat.last.text.startswith("Вопрос 2 из")
    await chat.answer_all(["Электронная почта"])
    await chat.text("назад")
    await chat.text("Телефон")
    assert (await stored(storage))["2"] == ("4", None)


async def test_resume_after_restart_continue_or_start_over(storage: Storage, questionnaire) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import CONSENT

    first = Chat(Conversation(storage, questionnaire, CONSENT))
    await first.start()
    await first.answer_all(BLOCK1_LABELS)
    # A new Conversation object = a restarted process: state comes from the database only.
    second = Chat(Conversation(storage, questionnaire, CONSENT))
    result = await second.start()
    assert result.messages[0].text == texts.RESUME_PROMPT
    result = await second.press(texts.CONTINUE)
    assert second.last is not None and second.last.text.startswith("Вопрос 5 из 16")
    await second.start()
    await second.press(texts.RESTART)
    assert second.last.text.startswith("Вопрос 1 из 16")
    async with storage.transaction() as conn:
        statuses = [
            r.status for r in await conn.execute(select(survey_sessions).order_by(survey_sessions.c.id))
        ]
    assert statuses == ["abandoned", "in_progress"]


async def test_interrupt_keeps_answers(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await chat.start()
    await chat.answer_all(BLOCK1_LABELS[:2])
    result = await chat.press(texts.ABORT)
    assert result.phase == "idle" and "ответы сохранены" in result.messages[0].text
    result = await chat.text("что-нибудь")
    assert "Чтобы пройти опрос" in result.messages[0].text
    await chat.start()
    await chat.press(texts.CONTINUE)
    assert chat.last.text.startswith("Вопрос 3 из")


async def test_stale_and_forged_buttons_change_nothing(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await chat.start()
    first_question = chat.last
    await chat.press(MEASURE)
    result = await chat.press(POINT.replace("Телефон", "Телефон"), message=None)
    assert result.answered
    before = await stored(storage)
    stale = await chat.press("Грант", message=first_question)
    assert stale.notice == texts.STALE_BUTTON and not stale.messages
    forged = await chat.send(
        Incoming("test", "u1", "press", token=chat.last.token, action="ans", value="999")
    )
    assert forged.notice == texts.STALE_BUTTON  # not an option of this question: not read as text
    weird = await chat.send(Incoming("test", "u1", "press", token=chat.last.token, action="zzz", value="x"))
    assert weird.notice == texts.STALE_BUTTON
    assert await stored(storage) == before


async def test_duplicate_update_is_processed_once(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await chat.start()
    first = await chat.press(MEASURE, update_id="500")
    again = await chat.conversation.handle(
        Incoming(
            "test", "u1", "press", token=first.messages[0].token, action="ans", value="1", update_id="500"
        )
    )
    assert again.duplicate and not again.messages
    assert list(await stored(storage)) == ["1"]


async def test_two_quick_taps_record_one_answer(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    await chat.start()
    assert chat.last is not None
    button = chat.button(MEASURE)
    tap = Incoming("test", "u1", "press", token=chat.last.token, action=button.action, value=button.value)
    results = await asyncio.gather(*(conversation.handle(tap) for _ in range(2)))
    assert sorted(bool(r.answered) for r in results) == [False, True]
    assert [r.notice for r in results if not r.answered] == [texts.STALE_BUTTON]
    assert list(await stored(storage)) == ["1"]


async def test_prefill_from_start_payload(conversation: Conversation, storage: Storage) -> None:
    async with storage.transaction() as conn:
        key = await repo.create_prefill(
            conn, {"1": "2", "2": "1", "3": "1", "5": "1"}, "qr", "Приёмная", datetime.now(UTC)
        )
    chat = Chat(conversation)
    await chat.start(key)
    assert chat.last.text.startswith("Вопрос 1 из 10") and "Муниципальный район" in chat.last.text
    async with storage.transaction() as conn:
        session = (await conn.execute(select(survey_sessions))).one()
    assert (session.source, session.source_ref) == ("qr", key)
    other = Chat(conversation, user="u2")
    await other.start("unknown-key")
    assert other.last.text.startswith("Вопрос 1 из 16")
    bad = Chat(conversation, user="u3")
    await bad.start("'; DROP TABLE x; --" * 5)
    assert bad.last.text.startswith("Вопрос 1 из 16")


async def test_stop_without_consent_withdraws_nothing(conversation: Conversation, storage: Storage) -> None:
    chat = Chat(conversation)
    result = await chat.send(Incoming("test", "u1", "stop"))
    assert result.messages[0].text == texts.NOTHING_TO_WITHDRAW
    result = await chat.text("стоп")
    assert result.messages[0].text == texts.NOTHING_TO_WITHDRAW
    async with storage.transaction() as conn:
        rows = list(await conn.execute(select(consents)))
    assert rows == []


async def test_non_text_input_gets_a_hint(conversation: Conversation) -> None:
    chat = Chat(conversation)
    await chat.start()
    result = await chat.send(Incoming("test", "u1", "unsupported"))
    assert result.messages[0].text == texts.UNSUPPORTED


async def test_ambiguous_text_offers_candidates_as_buttons(conversation: Conversation) -> None:
    chat = Chat(conversation)
    await chat.start()
    await chat.answer_all(BLOCK1_LABELS[:3])
    result = await chat.text("Искитим")
    assert "несколько вариантов" in result.messages[0].text
    labels = [b.label for r in result.messages[1].buttons for b in r]
    assert labels[:2] == ["Искитимский район", "город Искитим"]
    await chat.press("город Искитим")
