"""End to end: the real vk_api client against the fake VK server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.core import texts
from bot.core.messages import Message
from bot.vk.staff import NOT_AVAILABLE
from storage import repository as repo
from storage.schema import answers, consents, survey_sessions
from storage.store import Storage
from tests.bot.vk.conftest import Bot, User
from tests.fakes.vk_api import TS_BASE, FakeVk
from tests.helpers import IN_PERSON_PROVIDED, ONLINE_REFUSED

START = json.dumps({"command": "start"})


async def rows(storage: Storage, query: Any) -> list[Any]:
    async with storage.transaction() as conn:
        return list(await conn.execute(query))


async def stored_answers(storage: Storage) -> dict[str, str]:
    found = await rows(storage, select(answers.c.question_code, answers.c.option_code))
    return {r.question_code: r.option_code for r in found}


async def respondent(storage: Storage, user: User) -> repo.Respondent:
    async with storage.transaction() as conn:
        found = await repo.get_respondent(conn, "vk", str(user.id))
    assert found is not None
    return found


def snackbars(fake: FakeVk) -> list[str]:
    return [json.loads(a["event_data"])["text"] for a in fake.answers if a.get("event_data")]


async def test_full_survey_by_callback_buttons(bot: Bot, fake: FakeVk, user: User) -> None:
    sent = await user.say("Начать", payload=START)
    assert sent[0].text == texts.GREETING
    assert sent[1].text.startswith("ФОРМА опроса") and sent[1].text.endswith("БЛОК 1. СТАТИСТИЧЕСКИЙ")
    assert sent[2].text.startswith("Вопрос 1 из")
    for value in IN_PERSON_PROVIDED:
        question = user.last_with_buttons()
        await user.choose(value)
        assert question.keyboard == {"inline": True, "buttons": []}, "the answered question keeps buttons"
        assert "✅" in question.text
    assert texts.THANKS in [m.text for m in user.inbox()]
    assert user.last_with_buttons().labels() == [texts.CONSENT_YES, texts.CONSENT_NO]
    after = await user.press(texts.CONSENT_YES)
    assert after[-1].labels() == [texts.WITHDRAW_BUTTON]
    await user.say("стоп")
    assert user.last_text == texts.CONSENT_WITHDRAWN
    # Every press was answered (the spinner stops), with nothing to show in a snackbar.
    presses = len(IN_PERSON_PROVIDED) + 1
    assert len(fake.answers) == presses and snackbars(fake) == []
    sessions = await rows(bot.db, select(survey_sessions.c.status, survey_sessions.c.channel))
    assert [(s.status, s.channel) for s in sessions] == [("completed", "vk")]
    got = await stored_answers(bot.db)
    assert got["1"] == "1" and got["4"] == "4" and got["17"] == "5" and "7" in got
    granted = await rows(bot.db, select(consents.c.granted, consents.c.channel).order_by(consents.c.id))
    assert [(g.granted, g.channel) for g in granted] == [(True, "vk"), (False, "vk")]


async def test_full_survey_by_typed_answers(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("начать")
    for text in IN_PERSON_PROVIDED:
        question = user.last_with_buttons()
        await user.say(text)
        # A typed answer turns the question into the echo, as a pressed button does.
        assert question.keyboard == {"inline": True, "buttons": []} and "✅" in question.text
    await user.say("да")
    assert user.last_with_buttons().labels() == [texts.WITHDRAW_BUTTON]
    await user.press(texts.WITHDRAW_BUTTON)
    assert user.last_text == texts.CONSENT_WITHDRAWN
    sessions = await rows(bot.db, select(survey_sessions.c.status))
    assert [s.status for s in sessions] == ["completed"]
    assert len(await stored_answers(bot.db)) == 14  # 13 asked + the automatic date (7)
    granted = await rows(bot.db, select(consents.c.granted).order_by(consents.c.id))
    assert [g.granted for g in granted] == [True, False]
    assert len(fake.answers) == 1 and snackbars(fake) == []  # the withdrawal text came as a message


async def test_long_lists_are_paged_within_vk_limits(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать", payload=START)
    for value in ("1", "2", "3"):
        await user.choose(value)
    districts = user.last_with_buttons()
    assert "Страница 1 из 9" in districts.text
    assert await user.press("»") == []  # paging edits the message in place
    assert "Страница 2 из 9" in districts.text and districts.edits == 1
    await user.choose("6")  # on page 2
    assert (await stored_answers(bot.db))["4"] == "6"
    # A typed search with many matches shows what fits and still accepts typing.
    await user.press(texts.BACK)
    await user.say("район")
    assert "подходит несколько вариантов" in user.inbox()[-2].text
    await user.say("Здвинский район")
    assert (await stored_answers(bot.db))["4"] == "6"


async def test_ref_link_prefills_block_1(bot: Bot, fake: FakeVk, user: User) -> None:
    async with bot.db.transaction() as conn:
        key = await repo.create_prefill(
            conn, {"1": "2", "2": "1", "3": "1", "4": "5"}, "qr", "стенд", datetime.now(UTC)
        )
    sent = await user.say("Начать", payload=START, ref=key, ref_source="qr")
    assert sent[-1].text.startswith("Вопрос 1 из 12") and "Способ получения" in sent[-1].text
    sessions = await rows(bot.db, select(survey_sessions.c.source, survey_sessions.c.source_ref))
    assert [(s.source, s.source_ref) for s in sessions] == [("qr", key)]
    assert await stored_answers(bot.db) == {"1": "2", "2": "1", "3": "1", "4": "5"}


async def test_back_abort_and_resume(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать", payload=START)
    await user.choose("1")
    await user.press(texts.BACK)
    assert user.last_with_buttons().text.startswith("Вопрос 1 из")
    assert await stored_answers(bot.db) == {}
    await user.choose("3")
    await user.choose("2")
    await user.press(texts.ABORT)
    assert "Опрос приостановлен" in user.last_text
    await user.say("Начать", payload=START)
    assert user.last_with_buttons().labels() == [texts.CONTINUE, texts.RESTART]
    await user.press(texts.CONTINUE)
    assert user.last_with_buttons().text.startswith("Вопрос 3 из")
    await user.choose("1")
    assert await stored_answers(bot.db) == {"1": "3", "2": "2", "3": "1"}


async def test_non_text_and_stale_button(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать", payload=START)
    sent = await user.say("", attachments=[{"type": "sticker", "sticker": {"sticker_id": 1}}])
    assert [m.text for m in sent] == [texts.UNSUPPORTED]
    first = user.last_with_buttons()
    await user.choose("1")
    # The first question's buttons are gone from the edited message; a press of an old copy is stale.
    stale = await user.push(
        {
            "type": "message_event",
            "object": {
                "user_id": user.id,
                "peer_id": user.id,
                "event_id": "stale-1",
                "payload": {"t": "0:q1", "a": "ans", "v": "2"},
                "conversation_message_id": first.cmid,
            },
        }
    )
    assert stale == [] and snackbars(fake) == [texts.STALE_BUTTON]
    assert await stored_answers(bot.db) == {"1": "1"}


async def test_duplicate_event_is_processed_once(bot: Bot, fake: FakeVk, user: User) -> None:
    update = user.message_new("Начать", payload=START)
    update["event_id"] = "e" * 40
    fake.push(update)
    fake.push(json.loads(json.dumps(update)))
    await fake.settled()
    assert [m.text for m in user.inbox()][:1] == [texts.GREETING]
    assert len(user.inbox()) == 3  # greeting, the form's title, the first question
    assert len(await rows(bot.db, select(survey_sessions.c.id))) == 1


async def test_long_poll_failed_1_2_3(bot: Bot, fake: FakeVk, user: User) -> None:
    other = User(fake, 2002)
    # failed=1: history partly lost; the bot goes on from the new ts (the lost event stays lost).
    fake.lp_failures.append((1, other.message_new("Начать", payload=START)))
    await user.say("Начать", payload=START)
    await user.choose("1")
    assert other.inbox() == []
    # failed=2: a new key, the same ts: an event that arrived meanwhile is not lost.
    fake.lp_failures.append((2, other.message_new("Начать", payload=START)))
    calls = len(fake.calls_of("groups.getLongPollServer"))
    await user.choose("1")
    await fake.settled()
    assert len(fake.calls_of("groups.getLongPollServer")) == calls + 1
    assert [m.text for m in other.inbox()][:1] == [texts.GREETING]
    # failed=3: key and ts lost: new key and ts, and the bot carries on.
    fake.lp_failures.append((3, None))
    await user.choose("1")
    await fake.settled()
    assert len(fake.calls_of("groups.getLongPollServer")) == calls + 2
    await user.choose("1")
    assert await stored_answers(bot.db) == {"1": "1", "2": "1", "3": "1", "4": "1"}
    async with bot.db.transaction() as conn:
        assert await repo.get_state(conn, "vk:777:ts") == str(fake.head)


async def test_restart_picks_up_events_sent_while_down(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать", payload=START)
    await user.choose("2")
    await bot.stop()
    # While the service is down the user answers two more questions.
    fake.push(user.message_event(user.answer_button("3")))
    fake.push(user.message_new("Телефон, нет, 4"))  # not an option: the bot asks again
    fake.push(user.message_new("1"))
    await bot.start()
    await fake.settled()
    assert await stored_answers(bot.db) == {"1": "2", "2": "3", "3": "1"}
    assert user.last_with_buttons().text.startswith("Вопрос 4 из")
    async with bot.db.transaction() as conn:
        assert await repo.get_state(conn, "vk:777:ts") == str(TS_BASE + len(fake.events))


@pytest.mark.parametrize("code", [901, 902])
async def test_user_without_permission_is_marked_unreachable(
    bot: Bot, fake: FakeVk, user: User, code: int
) -> None:
    await user.say("Начать", payload=START)
    fake.refuse_peers[user.id] = code
    await user.choose("1")
    assert (await respondent(bot.db, user)).unreachable_at is not None
    assert len(fake.calls_of("messages.send")) == 4  # 3 at the start, 1 refused: no retries
    del fake.refuse_peers[user.id]
    await user.push({"type": "message_allow", "object": {"user_id": user.id, "key": ""}})
    assert (await respondent(bot.db, user)).unreachable_at is None
    await user.push({"type": "message_deny", "object": {"user_id": user.id}})
    assert (await respondent(bot.db, user)).unreachable_at is not None


async def test_errors_6_9_10_are_retried_with_the_same_random_id(bot: Bot, fake: FakeVk, user: User) -> None:
    fake.fail("messages.send", 6, 9, 10)
    sent = await user.say("Начать", payload=START)
    assert [m.text for m in sent][:1] == [texts.GREETING]
    attempts = fake.calls_of("messages.send")[:4]
    assert len({a["random_id"] for a in attempts}) == 1 and len({a["message"] for a in attempts}) == 1
    assert len(user.inbox()) == 3
    ids = [int(a["random_id"]) for a in fake.calls_of("messages.send")]
    assert all(0 < i < 2**31 for i in ids)


async def test_long_texts_are_split(bot: Bot, fake: FakeVk, user: User) -> None:
    assert bot.channel is not None
    text = "\n\n".join(f"Абзац {n}. " + "слово " * 300 for n in range(1, 8))
    await bot.channel.send(user.id, Message(text), "long")
    chunks = [m.text for m in user.inbox()]
    assert len(chunks) >= 3 and all(len(c) <= 4096 for c in chunks)
    assert " ".join(chunks).split() == text.split()
    # Sending the same message again (same identity) is deduplicated by its random_ids.
    await bot.channel.send(user.id, Message(text), "long")
    assert len(user.inbox()) == len(chunks)


async def test_the_event_loop_stays_free_during_long_polls(bot: Bot, fake: FakeVk, user: User) -> None:
    await fake.wait_for(lambda: len(fake.polls) >= 1)
    worst = 0.0
    for _ in range(30):
        started = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - started - 0.01)
    assert worst < 0.2


async def test_many_people_in_one_batch(bot: Bot, fake: FakeVk) -> None:
    await bot.stop()
    people = [User(fake, 3000 + n) for n in range(6)]
    for person in people:
        fake.push(person.message_new("Начать", payload=START))
        fake.push(person.message_new("1"))
    await bot.start()
    await fake.settled()
    for person in people:
        assert person.last_with_buttons().text.startswith("Вопрос 2 из"), person.id
    assert len(await rows(bot.db, select(answers.c.id))) == len(people)


async def test_clients_without_callback_buttons_get_text_buttons(bot: Bot, fake: FakeVk, user: User) -> None:
    update = user.message_new("Начать", payload=START)
    update["object"]["client_info"]["button_actions"] = ["text"]
    await user.push(update)
    question = user.last_with_buttons()
    assert {b["type"] for b in question.buttons()} == {"text"}
    button = next(b for b in question.buttons() if json.loads(b["payload"])["v"] == "2")
    # A text button sends its label as a message, with the payload attached as a JSON string.
    await user.push(user.message_new(button["label"], payload=button["payload"]))
    assert await stored_answers(bot.db) == {"1": "2"}


async def test_an_event_that_keeps_failing_is_skipped(bot: Bot, fake: FakeVk, user: User) -> None:
    broken = user.message_new("Начать")
    broken["object"]["message"]["from_id"] = "not a number"
    fake.push(broken)
    await user.say("Начать", payload=START)
    await fake.settled()
    assert [m.text for m in user.inbox()][:1] == [texts.GREETING]
    async with bot.db.transaction() as conn:
        assert await repo.get_state(conn, "vk:777:ts") == str(fake.head)


async def test_an_answer_that_cannot_be_edited_in_is_sent_as_an_echo(
    bot: Bot, fake: FakeVk, user: User
) -> None:
    await user.say("Начать", payload=START)
    question = user.last_with_buttons()
    fake.fail("messages.edit", 909)  # "message is too old to edit"
    sent = await user.choose("2")
    assert sent[0].text.endswith("✅ Грант") and sent[0].keyboard is None
    assert sent[1].text.startswith("Вопрос 2 из")
    assert question.edits == 0 and question.buttons()


async def test_low_scores_ask_for_details_by_buttons(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать", payload=START)
    for value in ("1", "2", "3", "4", "1", "2", "1", "1"):
        await user.choose(value)
    scores = user.last_with_buttons()
    assert scores.labels()[:5] == ["1", "2", "3", "4", "5"]
    await user.choose("2")
    assert "Уточните, пожалуйста, с какими конкретно сложностями" in user.last_text
    await user.say("Долго искал нужные формы")
    for value in ("5", "5", "5", "5"):
        await user.choose(value)
    assert texts.THANKS in [m.text for m in user.inbox()]
    async with bot.db.transaction() as conn:
        found = await conn.execute(
            select(answers.c.option_code, answers.c.followup_text).where(answers.c.question_code == "11")
        )
        assert [tuple(r) for r in found] == [("2", "Долго искал нужные формы")]


async def test_online_refused_typed_and_consent_declined(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать")
    for text in ONLINE_REFUSED:
        await user.say(text)
    assert "Согласны получать приглашения?" in user.last_with_buttons().text
    await user.say("нет")
    assert user.last_text == texts.CONSENT_DECLINED
    saved = await stored_answers(bot.db)
    assert "10" in saved and "13" not in saved and "15" in saved and "16" in saved
    granted = await rows(bot.db, select(consents.c.granted))
    assert [g.granted for g in granted] == [False]


async def test_two_quick_taps_record_one_answer(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать", payload=START)
    label = user.answer_button("2")
    first, second = user.message_event(label), user.message_event(label)
    fake.push(first)
    fake.push(second)
    await fake.settled()
    assert await stored_answers(bot.db) == {"1": "2"}
    assert len(fake.answers) == 2 and snackbars(fake) == [texts.STALE_BUTTON]
    assert [m.text.split("\n")[0] for m in user.inbox()].count("Вопрос 2 из 16") == 1


async def test_forged_buttons_and_group_chats_are_ignored(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать", payload=START)
    before = len(user.inbox())
    forged = user.message_event(user.answer_button("1"))
    forged["object"]["payload"] = {"t": "1:1", "a": "drop table", "v": "1"}
    await user.push(forged)
    garbage = user.message_event(user.answer_button("1"))
    garbage["object"]["payload"] = "not even json"
    await user.push(garbage)
    assert len(user.inbox()) == before and snackbars(fake) == [texts.STALE_BUTTON] * 2
    chat = user.message_new("Начать", payload=START)
    chat["object"]["message"]["peer_id"] = 2_000_000_001
    await user.push(chat)
    assert fake.messages_to(2_000_000_001) == [] and len(user.inbox()) == before
    assert await stored_answers(bot.db) == {}


async def test_staff_commands_for_staff_only(bot: Bot, fake: FakeVk, user: User) -> None:
    for command in ("/stats", "/staffhelp"):
        await user.say(command)
    assert [m.text for m in user.inbox()] == [NOT_AVAILABLE, NOT_AVAILABLE]
    admin, operator, telegram_admin = User(fake, 900), User(fake, 901), User(fake, 902)
    await admin.say("/staffhelp")
    assert "/stats" in admin.last_text and "роль admin" in admin.last_text
    await admin.say("/stats")
    assert admin.last_text.startswith("Анкеты (все подразделения)")
    await operator.say("/stats")
    assert operator.last_text.startswith("Анкеты (подразделение 1)")
    await telegram_admin.say("/stats")
    assert telegram_admin.last_text == NOT_AVAILABLE
    # Staff can still take the survey like anyone else.
    await admin.say("Начать", payload=START)
    assert admin.last_with_buttons().text.startswith("Вопрос 1 из")
    assert len(await rows(bot.db, select(survey_sessions.c.id))) == 1


async def test_long_poll_http_errors_are_waited_out(bot: Bot, fake: FakeVk, user: User) -> None:
    fake.lp_http_errors = 3
    await user.say("Начать", payload=START)
    await user.choose("1")
    await user.choose("2")
    assert await stored_answers(bot.db) == {"1": "1", "2": "2"}
    assert fake.lp_http_errors == 0


async def test_typed_answer_after_paging_and_a_stale_press_closes_the_live_question(
    bot: Bot, fake: FakeVk, user: User
) -> None:
    await user.say("Начать", payload=START)
    for value in ("1", "2", "3"):
        await user.choose(value)
    districts = user.last_with_buttons()
    await user.press("»")
    stale = user.message_event(user.answer_button("5", districts))
    stale["object"]["payload"]["t"] = "0:q1"
    await user.push(stale)
    await user.say("Здвинский район")
    assert districts.keyboard == {"inline": True, "buttons": []} and districts.text.endswith(
        "✅ Здвинский район"
    )
