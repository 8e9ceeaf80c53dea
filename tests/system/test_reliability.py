"""Reliability: a database outage mid-run, a burst of 1,000 updates, Bot API timeouts, and two
workers sharing one PostgreSQL. Each asserts nothing lost and nothing duplicated."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import aiohttp
from sqlalchemy import select

from storage.schema import answers, survey_sessions
from storage.store import Storage
from tests.bot.telegram.conftest import Service
from tests.bot.telegram.test_webhook_staff_process import start_update
from tests.conftest import PG_URL, Database
from tests.fakes.tcp_proxy import OutageProxy
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port

# In person, provided: questions 1-9 answered by typing their numbers.
TYPED = ["1", "2", "3", "4", "1", "2", "1", "1", "5"]
EXPECTED = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "1", "6": "2", "8": "1", "9": "1", "11": "5"}


async def answers_by_chat(storage: Storage) -> dict[str, dict[str, str]]:
    from storage.schema import respondents

    query = (
        select(respondents.c.external_id, answers.c.question_code, answers.c.option_code)
        .join(survey_sessions, survey_sessions.c.respondent_id == respondents.c.id)
        .join(answers, answers.c.session_id == survey_sessions.c.id)
    )
    found: dict[str, dict[str, str]] = defaultdict(dict)
    async with storage.transaction() as conn:
        for chat, code, option in await conn.execute(query):
            found[chat][code] = option
    return found


async def test_burst_of_1000_updates_from_100_chats_keeps_per_chat_order(
    database: Database, fake_tg: FakeTelegram
) -> None:
    service = await Service(database, fake_tg).start()
    try:
        chats = [7_000_000 + n for n in range(100)]
        for chat in chats:
            fake_tg.push_text(chat, "/start")
        for text in TYPED:  # interleaved: every chat's next answer, then the next round
            for chat in chats:
                fake_tg.push_text(chat, text)
        assert fake_tg.pending() == 1000
        await fake_tg.wait_idle(timeout=240)
        assert service.storage is not None
        found = await answers_by_chat(service.storage)
        assert len(found) == 100
        assert all(found[str(chat)] == EXPECTED for chat in chats)  # order kept, each answer once
    finally:
        await service.stop()


async def test_database_outage_of_10_seconds_mid_run_loses_nothing(
    pg_database: Database, fake_tg: FakeTelegram
) -> None:
    proxy = await OutageProxy("127.0.0.1", 5432).start()
    proxied = Database(
        "postgresql", PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), pg_database.schema
    )
    service = await Service(proxied, fake_tg).start()
    chat = 7_100_000
    try:
        fake_tg.push_text(chat, "/start")
        await fake_tg.wait_idle(timeout=30)
        proxy.cut()
        for text in TYPED[:4]:
            fake_tg.push_text(chat, text)
        await asyncio.sleep(10)
        assert fake_tg.pending() == 4  # nothing acknowledged while the database is away
        proxy.restore()
        await fake_tg.wait_idle(timeout=60)
        assert service.storage is not None
        found = await answers_by_chat(service.storage)
        assert found[str(chat)] == {code: EXPECTED[code] for code in ("1", "2", "3", "4")}
        assert proxy.refused > 0  # the outage was real: connection attempts were refused
    finally:
        await service.stop()
        await proxy.stop()


async def test_bot_api_timeouts_are_retried(database: Database, fake_tg: FakeTelegram) -> None:
    service = await Service(database, fake_tg, request_timeout=1.0).start()
    try:
        fake_tg.fail("sendMessage", 500, "slow", delay=2.0, times=1)  # the client gives up after 1 s
        fake_tg.push_text(7_200_000, "/start")
        await fake_tg.wait_idle(timeout=30)
        assert len(fake_tg.chat(7_200_000)) == 3  # greeting, title, first question: once each
    finally:
        await service.stop()


async def test_two_webhook_workers_on_one_postgresql(pg_database: Database, fake_tg: FakeTelegram) -> None:
    """Two taps of one chat reach two workers at once: exactly one answer is recorded."""
    ports = [free_port(), free_port()]
    workers = [
        await Service(
            pg_database,
            fake_tg,
            mode="webhook",
            webhook_url="https://example.org/hook",
            webhook_listen=f"127.0.0.1:{port}",
            webhook_secret="shared-secret",
        ).start()
        for port in ports
    ]
    headers = {"X-Telegram-Bot-Api-Secret-Token": "shared-secret"}
    chat = 7_300_000
    try:
        await fake_tg.wait_for(lambda: sum(m == "setWebhook" for m, _ in fake_tg.calls) == 2, timeout=20)
        async with aiohttp.ClientSession() as http:

            async def post(port: int, update: dict[str, object]) -> int:
                async with http.post(
                    f"http://127.0.0.1:{port}/hook", json=update, headers=headers
                ) as response:
                    return response.status

            assert await post(ports[0], start_update(1, chat)) == 200
            question = fake_tg.last_with_buttons(chat)
            assert question is not None
            taps = []
            for update_id, label in ((2, "Субсидия"), (3, "Грант")):
                data = next(b["callback_data"] for b in question.buttons if b["text"] == label)
                taps.append({
                    "update_id": update_id,
                    "callback_query": {"id": f"q{update_id}", "chat_instance": "c", "data": data,
                                       "from": {"id": chat, "is_bot": False, "first_name": "Анна"},
                                       "message": {"message_id": question.message_id, "date": 0,
                                                   "chat": {"id": chat, "type": "private"}, "text": "?"}},
                })  # fmt: skip
            statuses = await asyncio.gather(post(ports[0], taps[0]), post(ports[1], taps[1]))
            assert statuses == [200, 200]
            # The same update re-delivered to the other worker is skipped there.
            assert await post(ports[1], taps[0]) == 200
        assert workers[0].storage is not None
        found = await answers_by_chat(workers[0].storage)
        assert len(found[str(chat)]) == 1 and found[str(chat)]["1"] in {"1", "2"}
    finally:
        for worker in workers:
            await worker.stop()
