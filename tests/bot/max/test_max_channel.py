"""End to end: the MAX channel (long poll, events, delivery) against the fake MAX Bot API, on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.core import texts
from bot.core.conversation import Conversation
from bot.core.messages import Incoming, Message, Result
from bot.max.api import MaxClient
from bot.max.events import MAX_COMMANDS
from bot.max.render import MAX_LAYOUT
from bot.max.runner import MaxChannel
from bot.runtime.health import Health
from reports.export import export_file
from reports.period import date_range
from storage import repository as repo
from storage.channels import list_dead_letters
from storage.schema import answers, consents, survey_sessions
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.bot.max.conftest import Bot, User
from tests.conftest import CONSENT, Database
from tests.fakes.max_api import BOT_ID, TOKEN, FakeMax
from tests.helpers import IN_PERSON_PROVIDED, ONLINE_REFUSED

MARKER_KEY = f"max:{BOT_ID}:marker"
NSK = ZoneInfo("Asia/Novosibirsk")


async def rows(storage: Storage, query: Any) -> list[Any]:
    async with storage.transaction() as conn:
        return list(await conn.execute(query))


async def stored_answers(storage: Storage) -> dict[str, str]:
    found = await rows(storage, select(answers.c.question_code, answers.c.option_code))
    return {r.question_code: r.option_code for r in found}


async def respondent(storage: Storage, user: User) -> repo.Respondent:
    async with storage.transaction() as conn:
        found = await repo.get_respondent(conn, "max", str(user.id))
    assert found is not None
    return found


def notifications(fake: FakeMax) -> list[str]:
    return [a["notification"] for a in fake.answers if a.get("notification")]


async def test_full_survey_by_buttons_then_consent_and_its_withdrawal(
    bot: Bot, fake: FakeMax, user: User
) -> None:
    sent = await user.start()
    assert sent[0].text == texts.GREETING
    assert sent[1].text.startswith("ФОРМА опроса") and sent[1].text.endswith("БЛОК 1. СТАТИСТИЧЕСКИЙ")
    assert sent[2].text.startswith("Вопрос 1 из")
    for value in IN_PERSON_PROVIDED:
        question = user.last_with_buttons()
        await user.choose(value)
        # The press is answered with the question turned into its echo: buttons gone, answer shown.
        assert question.buttons == [] and "✅" in question.text, question.text
    assert texts.THANKS in [m.text for m in user.inbox()]
    assert user.last_with_buttons().labels() == [texts.CONSENT_YES, texts.CONSENT_NO]
    after = await user.press(texts.CONSENT_YES)
    assert after[-1].labels() == [texts.WITHDRAW_BUTTON]
    await user.say("стоп")
    assert user.last_text == texts.CONSENT_WITHDRAWN
    # Every press was answered (the spinner stops), none with a notification.
    assert len(fake.answers) == len(IN_PERSON_PROVIDED) + 1 and notifications(fake) == []
    sessions = await rows(bot.db, select(survey_sessions.c.status, survey_sessions.c.channel))
    assert [(s.status, s.channel) for s in sessions] == [("completed", "max")]
    got = await stored_answers(bot.db)
    assert got["1"] == "1" and got["4"] == "4" and got["17"] == "5" and "7" in got
    granted = await rows(bot.db, select(consents.c.granted, consents.c.channel).order_by(consents.c.id))
    assert [(g.granted, g.channel) for g in granted] == [(True, "max"), (False, "max")]
    assert fake.calls_of("PUT /messages") == []  # presses edit through their answers


async def test_online_refused_by_typed_answers_and_consent_declined(
    bot: Bot, fake: FakeMax, user: User
) -> None:
    await user.say("Начать")
    for text in ONLINE_REFUSED:
        question = user.last_with_buttons()
        await user.say(text)
        # A typed answer turns the question into the echo, as a pressed button does.
        assert question.buttons == [] and "✅" in question.text
    assert "Согласны получать приглашения?" in user.last_with_buttons().text
    await user.say("нет")
    assert user.last_text == texts.CONSENT_DECLINED
    saved = await stored_answers(bot.db)
    assert "10" in saved and "13" not in saved and "15" in saved and "16" in saved
    granted = await rows(bot.db, select(consents.c.granted))
    assert [g.granted for g in granted] == [False]


async def test_deep_link_payload_prefills_block_1(bot: Bot, fake: FakeMax, user: User) -> None:
    async with bot.db.transaction() as conn:
        key = await repo.create_prefill(
            conn, {"1": "2", "2": "1", "3": "1", "4": "5"}, "qr", "стенд", datetime.now(UTC)
        )
    sent = await user.start(payload=key)
    assert sent[-1].text.startswith("Вопрос 1 из 12") and "Способ получения" in sent[-1].text
    sessions = await rows(bot.db, select(survey_sessions.c.source, survey_sessions.c.source_ref))
    assert [(s.source, s.source_ref) for s in sessions] == [("qr", key)]
    assert await stored_answers(bot.db) == {"1": "2", "2": "1", "3": "1", "4": "5"}


async def test_back_abort_and_resume(bot: Bot, fake: FakeMax, user: User) -> None:
    await user.start()
    await user.choose("1")
    await user.press(texts.BACK)
    assert user.last_with_buttons().text.startswith("Вопрос 1 из")
    assert await stored_answers(bot.db) == {}
    await user.choose("3")
    await user.choose("2")
    await user.press(texts.ABORT)
    assert "Опрос приостановлен" in user.last_text
    await user.start()
    assert user.last_with_buttons().labels() == [texts.CONTINUE, texts.RESTART]
    await user.press(texts.CONTINUE)
    assert user.last_with_buttons().text.startswith("Вопрос 3 из")
    await user.choose("1")
    assert await stored_answers(bot.db) == {"1": "3", "2": "2", "3": "1"}


async def test_long_lists_are_paged_in_place(bot: Bot, fake: FakeMax, user: User) -> None:
    await user.start()
    for value in ("1", "2", "3"):
        await user.choose(value)
    districts = user.last_with_buttons()
    assert "Страница 1 из" in districts.text
    assert await user.press("»") == []  # paging replaces the pressed message through the answer
    assert "Страница 2 из" in districts.text and len(districts.edits) == 1
    on_page_2 = json.loads(districts.buttons[0]["payload"])["v"]
    await user.choose(on_page_2)
    assert (await stored_answers(bot.db))["4"] == on_page_2
    assert districts.buttons == [] and "✅" in districts.text


async def test_restart_mid_survey_takes_the_updates_sent_while_down(
    bot: Bot, fake: FakeMax, user: User
) -> None:
    await user.start()
    await user.choose("2")
    await bot.stop()
    # While the service is down the user answers two more questions.
    await fake.user_presses(user.id, user.answer_button("3"), message=user.last_with_buttons())
    await fake.user_writes(user.id, "Телефон, нет, 4")  # not an option: the bot asks again
    await fake.user_writes(user.id, "1")
    await bot.start()
    await fake.settled()
    assert await stored_answers(bot.db) == {"1": "2", "2": "3", "3": "1"}
    assert user.last_with_buttons().text.startswith("Вопрос 4 из")
    async with bot.db.transaction() as conn:
        assert await repo.get_state(conn, MARKER_KEY) == str(fake.updates[-1][0] + 1)


async def test_a_batch_handled_but_not_confirmed_is_not_handled_twice(
    bot: Bot, fake: FakeMax, user: User
) -> None:
    await user.start()
    await user.choose("2")
    # A crash after handling but before the marker was stored: the server sends the batch again.
    async with bot.db.transaction() as conn:
        await repo.set_state(conn, MARKER_KEY, "1", datetime.now(UTC))
    await bot.stop()
    fake.confirmed = 1
    count = len(user.inbox())
    await bot.start()
    await fake.settled()
    assert len(user.inbox()) == count  # nothing answered twice
    assert await stored_answers(bot.db) == {"1": "2"}
    assert len(await rows(bot.db, select(survey_sessions.c.id))) == 1


async def test_a_duplicate_update_is_handled_once(bot: Bot, fake: FakeMax, user: User) -> None:
    await fake.user_writes(user.id, "Начать")
    _seq, update = fake.updates[-1]
    await fake.push(json.loads(json.dumps(update)))
    await fake.settled()
    assert [m.text for m in user.inbox()][:1] == [texts.GREETING]
    assert len(user.inbox()) == 3  # greeting, the form's title, the first question
    assert len(await rows(bot.db, select(survey_sessions.c.id))) == 1


async def test_two_quick_taps_record_one_answer(bot: Bot, fake: FakeMax, user: User) -> None:
    await user.start()
    label = user.answer_button("2")
    question = user.last_with_buttons()
    await fake.user_presses(user.id, label, message=question)
    await fake.user_presses(user.id, label, message=question)
    await fake.settled()
    assert await stored_answers(bot.db) == {"1": "2"}
    assert len(fake.answers) == 2 and notifications(fake) == [texts.STALE_BUTTON]
    assert [m.text.split("\n")[0] for m in user.inbox()].count("Вопрос 2 из 16") == 1


async def test_stickers_stale_and_forged_presses(bot: Bot, fake: FakeMax, user: User) -> None:
    await user.start()
    sent = await user.say("")  # a sticker, photo or file: a message without text
    assert [m.text for m in sent] == [texts.UNSUPPORTED]
    first = user.last_with_buttons()
    payload = json.loads(first.buttons[0]["payload"])
    await user.choose("1")
    # A press on the old question (its buttons are gone, an old copy keeps them) is stale.
    await fake.press_payload(user.id, json.dumps({**payload, "v": "2"}), message=first)
    for forged in (
        json.dumps({**payload, "a": "drop table"}),
        json.dumps({**payload, "t": user.last_with_buttons().buttons[0]["payload"][7:20], "v": "99"}),
        "not even json",
        "[1, 2]",
    ):
        await fake.press_payload(user.id, forged, message=user.last_with_buttons())
    await fake.settled()
    assert notifications(fake) == [texts.STALE_BUTTON] * 5
    assert len(fake.answers) == 6  # the real press and five refused ones: every one answered
    assert await stored_answers(bot.db) == {"1": "1"}


async def test_a_forged_answer_with_the_live_token_is_refused(bot: Bot, fake: FakeMax, user: User) -> None:
    await user.start()
    live = user.last_with_buttons()
    payload = json.loads(live.buttons[0]["payload"])
    for value in ("99", "0", "Другое: 99", ""):
        await fake.press_payload(user.id, json.dumps({**payload, "a": "ans", "v": value}), message=live)
    await fake.settled()
    assert notifications(fake) == [texts.STALE_BUTTON] * 4
    assert await stored_answers(bot.db) == {}


async def test_huge_text_and_group_chats(bot: Bot, fake: FakeMax, user: User) -> None:
    await user.start()
    before = len(user.inbox())
    await user.say("я" * 50_000)  # not an option: asked again, the bot stays within MAX's limits
    assert len(user.inbox()) > before and all(len(m.text) <= 4000 for m in user.inbox())
    assert await stored_answers(bot.db) == {}
    _seq, update = fake.updates[-1]
    chat = json.loads(json.dumps(update))
    chat["message"]["recipient"]["chat_type"] = "chat"
    chat["message"]["body"]["text"] = "1"
    chat["message"]["body"]["mid"] = "in.chat"
    count = len(user.inbox())
    await user.push(chat)
    assert len(user.inbox()) == count


async def test_long_texts_are_split(bot: Bot, fake: FakeMax, user: User) -> None:
    assert bot.channel is not None
    text = "\n\n".join(f"Абзац {n}. " + "слово " * 300 for n in range(1, 8))
    await bot.channel.send(user.id, Message(text))
    chunks = [m.text for m in user.inbox()]
    assert len(chunks) >= 3 and all(len(c) <= 4000 for c in chunks)
    assert " ".join(chunks).split() == text.split()


async def test_rate_limits_and_server_errors_are_retried(bot: Bot, fake: FakeMax, user: User) -> None:
    fake.fail("POST /messages", 429, "too.many.requests", retry_after="0")
    fake.fail("POST /messages", 503, "service.unavailable")
    fake.fail("GET /updates", 502, "bad.gateway")
    sent = await user.start()
    assert [m.text for m in sent][:1] == [texts.GREETING] and len(user.inbox()) == 3
    await user.choose("1")
    assert await stored_answers(bot.db) == {"1": "1"}


async def test_a_user_who_blocked_the_bot_is_marked_unreachable(bot: Bot, fake: FakeMax, user: User) -> None:
    await user.start()
    assert (await respondent(bot.db, user)).unreachable_at is None
    fake.blocked.add(user.id)  # blocked without the bot being told
    calls = len(fake.calls_of("POST /messages"))
    await user.choose("1")
    assert (await respondent(bot.db, user)).unreachable_at is not None
    assert len(fake.calls_of("POST /messages")) == calls + 1  # refused once, never retried
    fake.blocked.discard(user.id)
    await user.start()  # the user opens the dialog again
    assert (await respondent(bot.db, user)).unreachable_at is None
    await fake.bot_stopped(user.id)
    await fake.settled()
    assert (await respondent(bot.db, user)).unreachable_at is not None


async def test_many_people_in_one_batch_each_in_order(bot: Bot, fake: FakeMax) -> None:
    await bot.stop()
    people = [User(fake, 3000 + n) for n in range(6)]
    for person in people:
        await fake.user_writes(person.id, "Начать")
        await fake.user_writes(person.id, "1")
    await bot.start()
    await fake.settled()
    for person in people:
        assert person.last_with_buttons().text.startswith("Вопрос 2 из"), person.id
    assert len(await rows(bot.db, select(answers.c.id))) == len(people)


async def test_the_export_shows_max_as_its_own_channel(
    bot: Bot, fake: FakeMax, user: User, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await user.start()
    for value in IN_PERSON_PROVIDED:
        await user.choose(value)
    for labels in (False, True):
        out = tmp_path / f"export-{labels}.csv"
        await export_file(
            bot.db, questionnaire, period=date_range(None, None, NSK), unit=None, out=out, fmt="csv",
            labels=labels,
        )  # fmt: skip
        with out.open(encoding="utf-8-sig", newline="") as fh:
            header, _titles, row = list(csv.reader(fh, delimiter=";"))
        assert dict(zip(header, row, strict=True))["channel"] == "max"


async def test_a_broken_update_goes_to_dead_letters_and_the_next_is_handled(
    bot: Bot, fake: FakeMax, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bot.channel is not None
    other = User(fake, 1002)
    await fake.push(["not", "an", "object"])  # type: ignore[arg-type]
    conversation = bot.channel.conversation
    handle = conversation.handle

    async def broken_for_one(incoming: Incoming) -> Result:
        if incoming.external_id == str(other.id):
            raise ValueError("a bug met by this one update")
        return await handle(incoming)

    monkeypatch.setattr(conversation, "handle", broken_for_one)
    await fake.user_writes(other.id, "Начать")
    await user.start()
    await fake.settled()
    assert [m.text for m in user.inbox()][:1] == [texts.GREETING]
    assert other.inbox() == []
    async with bot.db.transaction() as conn:
        letters = await list_dead_letters(conn, channel="max")
        marker = await repo.get_state(conn, MARKER_KEY)
    assert len(letters) == 2 and {x.bot for x in letters} == {str(BOT_ID)}
    assert any("ValueError: a bug met by this one update" in x.error for x in letters)
    assert any(x.update_id and x.update_id.startswith("m:") for x in letters)
    assert marker == str(fake.updates[-1][0] + 1)  # the batch is done: nothing is fetched again
    # A press whose handling fails is still answered (the client's spinner stops).
    monkeypatch.setattr(conversation, "handle", handle)
    await other.start()
    monkeypatch.setattr(conversation, "handle", broken_for_one)
    answered = len(fake.answers)
    await other.choose("1")
    assert len(fake.answers) == answered + 1


async def test_health_sees_a_stale_poll_while_max_refuses_and_a_fresh_one_after(
    fake: FakeMax, database: Database, questionnaire: Questionnaire
) -> None:
    health = Health()
    storage = await database.open()
    client = MaxClient(TOKEN, api_base_url=fake.url, rps=1000, backoff=0.01, attempts=2)
    for _ in range(6):  # more than the client's attempts: the long poll itself waits and tries again
        fake.fail("GET /updates", 503, "service.unavailable")
    conversation = Conversation(storage, questionnaire, CONSENT, layout=MAX_LAYOUT, commands=MAX_COMMANDS)

    def handled() -> None:
        health.handled("max")
        health.polled("max")

    channel = MaxChannel(client, conversation, storage, BOT_ID, hold=1, backoff=0.05, on_handled=handled)
    health.polling("max")
    began = health.last_poll_at["max"]
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run(stop))
    try:
        for _ in range(200):
            if len(fake.calls_of("GET /updates")) >= 6:
                break
            await asyncio.sleep(0.02)
        assert health.last_poll_at["max"] == began  # no successful poll yet: the age grows
        for _ in range(200):
            if health.last_poll_at["max"] > began:
                break
            await asyncio.sleep(0.02)
        assert health.last_poll_at["max"] > began  # MAX answers again: the poll is fresh
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.close()
        await storage.close()
