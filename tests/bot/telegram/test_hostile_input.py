"""Hostile and broken input in the Telegram channel: unparsable updates, another bot on the same
database, forged button data, a webhook body nested past the JSON parser's depth."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.cli.main import main
from bot.core import texts
from bot.telegram import texts as tg_texts
from bot.telegram.reports_dialog import BAD_BUTTON, Pick
from storage.channels import list_dead_letters
from storage.schema import answers
from storage.store import Storage
from tests.bot.telegram.conftest import CHAT, Service
from tests.bot.telegram.test_webhook_staff_process import start_update
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port

ANALYST = 902


def malformed_update(chat: int) -> dict[str, Any]:
    """A message aiogram cannot parse: `message_id` must be a number."""
    return {
        "message": {
            "message_id": "not a number",
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Анна"},
            "text": "/start",
        }
    }


async def stored_answers(storage: Storage) -> dict[str, tuple[str, str]]:
    async with storage.transaction() as conn:
        rows = await conn.execute(select(answers))
        return {r.question_code: (r.option_code, r.value_text) for r in rows}


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def cli(database: Database, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)
    return main(["--database", database.url, *argv])


async def test_an_unparsable_update_is_kept_and_the_next_ones_are_handled(
    service: Service,
    fake_tg: FakeTelegram,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_tg.push_text(CHAT, "/start")
    bad_id = fake_tg.push_raw(malformed_update(CHAT + 1))
    fake_tg.push_text(CHAT + 2, "/start")
    await fake_tg.wait_idle()  # the offset moved past all three
    assert fake_tg.texts(CHAT)[0] == texts.GREETING
    assert fake_tg.texts(CHAT + 2)[0] == texts.GREETING
    assert fake_tg.texts(CHAT + 1) == []
    assert service.storage is not None
    async with service.storage.transaction() as conn:
        letters = await list_dead_letters(conn)
    assert [(x.channel, x.bot, x.update_id) for x in letters] == [("telegram", "123456", str(bad_id))]
    assert '"not a number"' in letters[0].raw and "message_id" in letters[0].error
    # Later updates still flow.
    fake_tg.push_text(CHAT, "1")
    await fake_tg.wait_idle()
    assert "1" in await stored_answers(service.storage)

    monkeypatch.chdir(tmp_path)
    assert (
        await asyncio.to_thread(cli, database, monkeypatch, "dead-letters", "list", "--channel", "telegram")
        == 0
    )
    listed = capsys.readouterr().out
    assert f"{letters[0].id}\t" in listed and "telegram" in listed and "message_id" in listed
    assert await asyncio.to_thread(cli, database, monkeypatch, "dead-letters", "list", "--channel", "vk") == 0
    assert "нет" in capsys.readouterr().out
    assert (
        await asyncio.to_thread(cli, database, monkeypatch, "dead-letters", "show", str(letters[0].id)) == 0
    )
    assert '"not a number"' in capsys.readouterr().out
    assert await asyncio.to_thread(cli, database, monkeypatch, "dead-letters", "show", "999") == 2
    assert "№ 999 нет" in capsys.readouterr().err


async def test_another_bot_on_the_same_database_gets_its_own_update_ids(
    database: Database, fake_tg: FakeTelegram
) -> None:
    first = await Service(database, fake_tg).start()
    try:
        first_id = fake_tg.push_text(CHAT, "/start")
        await fake_tg.wait_idle()
    finally:
        await first.stop()
    other = await FakeTelegram(token="654321:OTHER-token_abcdef").start()  # its ids start at 1000 too
    second = await Service(database, other).start()
    try:
        second_id = other.push_text(CHAT + 1, "/start")
        await other.wait_idle()
        assert second_id == first_id
        assert other.texts(CHAT + 1)[0] == texts.GREETING
    finally:
        await second.stop()
        await other.stop()


async def test_forged_report_picker_data_is_refused_politely(
    service: Service, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    forged = [
        Pick(what="export", period="9999Q9", unit="*", fmt="csv").pack(),
        Pick(what="report", period="9999Q4", unit="*").pack(),
        Pick(what="nonsense", period="2025Q1", unit="*", fmt="csv").pack(),
        Pick(what="export", period="all", unit="no-such-unit", fmt="csv").pack(),
        Pick(what="export", period="all", unit="*", fmt="exe").pack(),
        Pick(what="app2", period="2025Q1", unit="*").pack(),
        Pick(what="export", period="٢٠٢٥Q1", unit="*", fmt="csv").pack(),
        "s|nonsense",
        "s|export|all|*|csv|extra",
    ]
    for data in forged:
        fake_tg.push_callback(ANALYST, 1, data)
    await fake_tg.wait_idle()
    answered = [a.get("text") for a in fake_tg.callback_answers]
    assert len(answered) == len(forged)
    assert answered[:7] == [BAD_BUTTON] * 7 and answered[7:] == [texts.STALE_BUTTON] * 2
    assert fake_tg.documents == [] and fake_tg.texts(ANALYST) == []
    assert tracebacks(caplog) == []


async def test_forged_survey_presses_are_stale(
    service: Service, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    fake_tg.push_text(CHAT, "/start")
    await fake_tg.wait_idle()
    live = fake_tg.last_with_buttons(CHAT)
    assert live is not None
    token = live.buttons[0]["callback_data"].split("|")[1]  # a valid token of the current step
    for value in ("99", "0", "Другое: 99", "", "1" * 60):
        fake_tg.push_callback(CHAT, live.message_id, f"p|{token}|ans|{value}")
    await fake_tg.wait_idle()
    assert service.storage is not None
    assert await stored_answers(service.storage) == {}
    for text in ("1", "2", "3"):  # to question 4, the 35 districts in pages
        fake_tg.push_text(CHAT, text)
    await fake_tg.wait_idle()
    paged = fake_tg.last_with_buttons(CHAT)
    assert paged is not None and "Страница 1 из 5" in paged.text
    token = paged.buttons[0]["callback_data"].split("|")[1]
    for value in ("²", "-1", "1e9", "٣"):
        fake_tg.push_callback(CHAT, paged.message_id, f"p|{token}|pg|{value}")
    await fake_tg.wait_idle()
    notices = [a.get("text") for a in fake_tg.callback_answers]
    assert notices == [texts.STALE_BUTTON] * 9
    assert "Страница 1 из 5" in paged.text and tg_texts.APOLOGY not in fake_tg.texts(CHAT)
    assert set(await stored_answers(service.storage)) == {"1", "2", "3"}
    assert tracebacks(caplog) == []


async def test_webhook_refuses_bodies_that_are_not_json_objects(
    database: Database, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    service = await Service(
        database, fake_tg, mode="webhook", webhook_url="https://example.org/tg/hook",
        webhook_listen=f"127.0.0.1:{port}", webhook_secret="s3cret-Value_1",
    ).start()  # fmt: skip
    url = f"http://127.0.0.1:{port}/tg/hook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Value_1", "Content-Type": "application/json"}
    bodies = [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b"[]",
        b"42",
        b'"text"',
        b"null",
        b"\xff\xfe not utf-8",
        b"",
    ]
    try:
        await fake_tg.wait_for(lambda: bool(fake_tg.webhook), timeout=10)
        async with aiohttp.ClientSession() as http:
            for body in bodies:
                async with http.post(url, data=body, headers=headers) as response:
                    assert response.status == 400, body[:20]
            # A JSON object Telegram sent that aiogram cannot parse: kept, and not asked for again.
            broken = {"update_id": 77, **malformed_update(CHAT)}
            async with http.post(url, json=broken, headers=headers) as response:
                assert response.status == 200
            async with http.post(url, json=start_update(78), headers=headers) as response:
                assert response.status == 200
        assert fake_tg.texts(CHAT)[0] == texts.GREETING
        assert service.storage is not None
        async with service.storage.transaction() as conn:
            letters = await list_dead_letters(conn)
        assert [(x.update_id, x.channel) for x in letters] == [("77", "telegram")]
        assert tracebacks(caplog) == [
            r.getMessage() for r in caplog.records if "dead letter" in r.getMessage()
        ]  # the kept update is logged at ERROR once, without a traceback
    finally:
        await service.stop()


def test_split_batch_moves_past_broken_updates_only_when_it_can() -> None:
    from aiogram import Bot

    from bot.telegram.polling import split_batch

    bot = Bot("123456:TEST-token_abcdef")
    good = start_update(10)
    broken = {"update_id": 11, **malformed_update(CHAT)}
    batch = split_batch({"ok": True, "result": [good, broken, ["not", "an", "update"]]}, bot)
    assert batch is not None and batch.next_offset == 12
    assert [u.update_id for u in batch.updates] == [10]
    assert [b.update_id for b in batch.broken] == ["11", None]
    assert batch.broken[1].raw == '["not", "an", "update"]'
    # Nothing to move past: an error page, a failed answer, no update id at all, nothing broken.
    assert split_batch("<html>502</html>", bot) is None
    assert split_batch({"ok": False, "result": [broken]}, bot) is None
    assert split_batch({"ok": True, "result": [malformed_update(CHAT)]}, bot) is None
    assert split_batch({"ok": True, "result": [good]}, bot) is None
