"""The survey through the real aiogram client, a fake Bot API server and real storage."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime

from sqlalchemy import select

from bot.core import texts
from storage import repository as repo
from storage.schema import answers, consents, respondents, survey_sessions
from storage.store import Storage
from tests.bot.telegram.conftest import CHAT, Service
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import (
    DISTRICT,
    FOLLOWUP_12,
    FOLLOWUP_14,
    IN_PERSON_LABELS,
    IN_PERSON_WITH_FOLLOWUPS_SAVED,
    LOW_SCORES_SAVED,
    MEASURE,
    POINT,
    SATISFIED,
    UNIT,
)


async def say(fake: FakeTelegram, text: str, chat: int = CHAT) -> None:
    fake.push_text(chat, text)
    await fake.wait_idle()


async def press(fake: FakeTelegram, label: str, chat: int = CHAT) -> None:
    fake.press(chat, label)
    await fake.wait_idle()


async def stored(storage: Storage) -> dict[str, tuple[str, str | None]]:
    async with storage.transaction() as conn:
        rows = await conn.execute(select(answers))
        return {r.question_code: (r.option_code, r.followup_text) for r in rows}


def last_question(fake: FakeTelegram, chat: int = CHAT) -> str:
    message = fake.last_with_buttons(chat)
    return message.text if message else ""


async def test_full_in_person_path_with_followup_and_consent(service: Service, fake_tg: FakeTelegram) -> None:
    await say(fake_tg, "/start")
    assert fake_tg.texts(CHAT)[0] == texts.GREETING
    assert last_question(fake_tg).startswith("Вопрос 1 из 16")
    first = fake_tg.last_with_buttons(CHAT)
    assert first is not None
    for label in (MEASURE, POINT, UNIT):
        await press(fake_tg, label)
    # The answered question is edited to show the choice, its buttons removed.
    assert first.markup is None and first.text.endswith(f"✅ {MEASURE}")
    await press(fake_tg, "»")  # the 35 districts are paged in place
    assert "Страница 2 из 5" in last_question(fake_tg)
    await press(fake_tg, "«")
    for label in (DISTRICT, *IN_PERSON_LABELS):
        await press(fake_tg, label)
    await press(fake_tg, SATISFIED)
    scores = fake_tg.last_with_buttons(CHAT)
    assert scores is not None and [b["text"] for b in scores.markup["inline_keyboard"][0]] == list("12345")
    await press(fake_tg, "5")
    await press(fake_tg, "2")
    assert "Уточните, пожалуйста, с какими конкретно сложностями" in fake_tg.texts(CHAT)[-1]
    await say(fake_tg, FOLLOWUP_12)
    for label in ("4", "3"):
        await press(fake_tg, label)
    await say(fake_tg, FOLLOWUP_14)
    await press(fake_tg, "5")
    assert texts.THANKS in fake_tg.texts(CHAT)
    await press(fake_tg, texts.CONSENT_YES)
    assert service.storage is not None
    saved = await stored(service.storage)
    assert sorted(saved, key=int) == IN_PERSON_WITH_FOLLOWUPS_SAVED
    assert saved["12"] == LOW_SCORES_SAVED["12"] and saved["14"] == LOW_SCORES_SAVED["14"]
    async with service.storage.transaction() as conn:
        session = (await conn.execute(select(survey_sessions))).one()
        consent = (await conn.execute(select(consents))).one()
    assert session.status == "completed" and session.channel == "telegram"
    assert consent.granted and consent.channel == "telegram" and consent.text_version == "v1"
    # Every button press was answered (no endless spinner in the client).
    assert len(fake_tg.callback_answers) == sum(1 for m, _ in fake_tg.calls if m == "answerCallbackQuery")


async def test_online_refused_path_typed_answers_and_consent_declined(
    service: Service, fake_tg: FakeTelegram
) -> None:
    await say(fake_tg, "/start")
    for text in ("1", "2", "3", "4", "2", "1", "2", "2"):
        await say(fake_tg, text)
    assert "После отказа Вам была предоставлена информация" in last_question(fake_tg)  # 10(22)
    await say(fake_tg, "1")
    for text in ("4", "4", "4", "4", "4"):
        await say(fake_tg, text)
    assert "Согласны ли Вы получать приглашения" in fake_tg.texts(CHAT)[-1]
    await say(fake_tg, "нет")
    assert fake_tg.texts(CHAT)[-1] == texts.CONSENT_DECLINED
    assert service.storage is not None
    saved = await stored(service.storage)
    assert "10" in saved and "13" not in saved and "14" not in saved and "15" in saved and "16" in saved
    async with service.storage.transaction() as conn:
        consent = (await conn.execute(select(consents))).one()
    assert consent.granted is False


async def test_back_and_interrupt(service: Service, fake_tg: FakeTelegram) -> None:
    await say(fake_tg, "/start")
    await press(fake_tg, MEASURE)
    await press(fake_tg, texts.BACK)
    assert last_question(fake_tg).startswith("Вопрос 1 из 16")
    await press(fake_tg, "Грант")
    await say(fake_tg, "назад")
    assert last_question(fake_tg).startswith("Вопрос 1 из 16")
    await press(fake_tg, MEASURE)
    await press(fake_tg, texts.ABORT)
    assert fake_tg.texts(CHAT)[-1] == texts.PAUSED.format(start="/start")
    assert service.storage is not None
    assert (await stored(service.storage)) == {"1": ("1", None)}


async def test_deep_link_prefills_block_one(service: Service, fake_tg: FakeTelegram) -> None:
    assert service.storage is not None
    async with service.storage.transaction() as conn:
        key = await repo.create_prefill(
            conn, {"1": "2", "2": "1", "3": "1", "5": "1"}, "qr", "Приёмная", datetime.now(UTC)
        )
    await say(fake_tg, f"/start {key}")
    assert last_question(fake_tg).startswith("Вопрос 1 из 10") and "Муниципальный район" in last_question(
        fake_tg
    )
    async with service.storage.transaction() as conn:
        session = (await conn.execute(select(survey_sessions))).one()
    assert (session.source, session.source_ref) == ("qr", key)
    # Unknown or malformed payloads are ignored: the questions are asked.
    await say(fake_tg, "/start nosuchkey", chat=CHAT + 1)
    assert last_question(fake_tg, CHAT + 1).startswith("Вопрос 1 из 16")
    await say(fake_tg, "/start " + "x" * 65 + "'; DROP TABLE answers;--", chat=CHAT + 2)
    assert last_question(fake_tg, CHAT + 2).startswith("Вопрос 1 из 16")


async def test_resume_after_crash_and_restart(database, fake_tg: FakeTelegram) -> None:  # type: ignore[no-untyped-def]
    first = await Service(database, fake_tg).start()
    await say(fake_tg, "/start")
    for label in (MEASURE, POINT):
        await press(fake_tg, label)
    await first.crash()
    second = await Service(database, fake_tg).start()
    try:
        await say(fake_tg, "/start")
        assert fake_tg.texts(CHAT)[-1] == texts.RESUME_PROMPT
        await press(fake_tg, texts.CONTINUE)
        assert last_question(fake_tg).startswith("Вопрос 3 из 16")
        await press(fake_tg, UNIT)
        assert second.storage is not None
        assert set(await stored(second.storage)) == {"1", "2", "3"}
    finally:
        await second.crash()


async def test_stop_without_consent_withdraws_nothing(service: Service, fake_tg: FakeTelegram) -> None:
    await say(fake_tg, "/stop")
    assert fake_tg.texts(CHAT)[-1] == texts.NOTHING_TO_WITHDRAW
    assert service.storage is not None
    async with service.storage.transaction() as conn:
        rows = list(await conn.execute(select(consents)))
    assert rows == []


async def test_non_text_stale_and_forged_buttons(service: Service, fake_tg: FakeTelegram) -> None:
    await say(fake_tg, "/start")
    fake_tg.push_sticker(CHAT)
    await fake_tg.wait_idle()
    assert fake_tg.texts(CHAT)[-1] == texts.UNSUPPORTED
    old = fake_tg.last_with_buttons(CHAT)
    assert old is not None
    stale_data = old.buttons[1]["callback_data"]
    await press(fake_tg, MEASURE)
    fake_tg.push_callback(CHAT, old.message_id, stale_data)  # a press on the already answered message
    fake_tg.push_callback(CHAT, old.message_id, "p|garbage")  # truncated / forged data
    fake_tg.push_callback(CHAT, old.message_id, "x" * 64)
    await fake_tg.wait_idle()
    answered = [a.get("text") for a in fake_tg.callback_answers[-3:]]
    assert answered == [texts.STALE_BUTTON] * 3
    assert service.storage is not None
    assert (await stored(service.storage)) == {"1": ("1", None)}


async def test_same_update_delivered_twice_is_processed_once(service: Service, fake_tg: FakeTelegram) -> None:
    await say(fake_tg, "/start")
    fake_tg.press(CHAT, MEASURE)
    pressed = fake_tg.updates[-1]
    await fake_tg.wait_idle()
    sent_before = len(fake_tg.messages)
    fake_tg.updates.append(dict(pressed))  # Telegram re-delivers after a lost acknowledgement
    fake_tg.push_text(CHAT, POINT)
    await fake_tg.wait_idle()
    assert service.storage is not None
    assert set(await stored(service.storage)) == {"1", "2"}
    assert len(fake_tg.messages) == sent_before + 1  # only the reply to the new answer


async def test_two_quick_taps_record_one_answer(service: Service, fake_tg: FakeTelegram) -> None:
    await say(fake_tg, "/start")
    fake_tg.press(CHAT, MEASURE)
    fake_tg.press(CHAT, "Грант")  # the second tap on the same keyboard, before the reply
    await fake_tg.wait_idle()
    assert service.storage is not None
    assert (await stored(service.storage)) == {"1": ("1", None)}
    assert fake_tg.callback_answers[-1].get("text") == texts.STALE_BUTTON


async def test_burst_of_429_is_waited_out(service: Service, fake_tg: FakeTelegram) -> None:
    fake_tg.fail("sendMessage", 429, "Too Many Requests: retry after 1", times=2, retry_after=1)
    started = time.monotonic()
    await say(fake_tg, "/start")
    assert time.monotonic() - started >= 2.0  # both retry_after waits were honoured
    assert fake_tg.texts(CHAT)[0] == texts.GREETING
    sends = [m for m, _ in fake_tg.calls if m == "sendMessage"]
    assert len(sends) == 5  # 2 refused + greeting + the form's title + first question


async def test_server_errors_and_timeouts_are_retried(service: Service, fake_tg: FakeTelegram) -> None:
    fake_tg.fail("sendMessage", 500, "Internal Server Error", times=2)
    fake_tg.fail("getUpdates", 502, "Bad Gateway", times=2)
    await say(fake_tg, "/start")
    assert fake_tg.texts(CHAT)[0] == texts.GREETING


async def test_blocked_bot_marks_respondent_unreachable(service: Service, fake_tg: FakeTelegram) -> None:
    fake_tg.blocked.add(CHAT)
    await say(fake_tg, "/start")
    assert service.storage is not None
    async with service.storage.transaction() as conn:
        row = (await conn.execute(select(respondents))).one()
    assert row.unreachable_at is not None
    fake_tg.blocked.clear()
    await say(fake_tg, "/start")  # they unblocked and wrote again
    async with service.storage.transaction() as conn:
        row = (await conn.execute(select(respondents))).one()
    assert row.unreachable_at is None


async def test_update_is_acknowledged_only_after_it_is_stored(
    service: Service, fake_tg: FakeTelegram
) -> None:
    """While the database is locked the update stays unacknowledged; then it is handled."""
    await say(fake_tg, "/start")
    assert service.storage is not None
    engine = service.storage.engine
    if engine.dialect.name == "sqlite":  # another process holding the write lock
        path = engine.url.database
        assert path is not None
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        update_id = fake_tg.press(CHAT, MEASURE)
        await asyncio.sleep(2.0)
        assert [u["update_id"] for u in fake_tg.updates] == [update_id]  # not acknowledged
        blocker.execute("ROLLBACK")
        blocker.close()
    else:
        async with engine.connect() as pg_blocker:
            await pg_blocker.exec_driver_sql("BEGIN")
            await pg_blocker.exec_driver_sql("LOCK TABLE processed_updates IN ACCESS EXCLUSIVE MODE")
            update_id = fake_tg.press(CHAT, MEASURE)
            await asyncio.sleep(2.0)
            assert [u["update_id"] for u in fake_tg.updates] == [update_id]  # not acknowledged
            await pg_blocker.exec_driver_sql("ROLLBACK")
    await fake_tg.wait_idle()
    assert (await stored(service.storage)) == {"1": ("1", None)}


async def test_group_chats_are_ignored(service: Service, fake_tg: FakeTelegram) -> None:
    fake_tg.push_text(CHAT, "/start")
    fake_tg.updates[-1]["message"]["chat"] = {"id": -100123, "type": "group", "title": "Чат"}
    await fake_tg.wait_idle()
    assert fake_tg.chat(-100123) == []


def test_callback_data_packing_matches_aiogram() -> None:
    import pytest

    from bot.core.messages import Button
    from bot.telegram.callbacks import Press, pack

    for token, action, value in (("12:3", "ans", "2"), ("7:resume", "cont", ""), ("99:11f", "pg", "4")):
        packed = pack(Button("x", action, value), token)
        assert packed == Press(token=token, action=action, value=value).pack()
        assert Press.unpack(packed) == Press(token=token, action=action, value=value)
    with pytest.raises(ValueError, match="separator"):
        pack(Button("x", "ans", "a|b"), "1:1")
    with pytest.raises(ValueError, match="too long"):
        pack(Button("x", "ans", "v" * 60), "1:1")
