"""Webhook mode, staff roles, and `otklik run` as a real process killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.core import texts
from bot.telegram.staff import NOT_AVAILABLE
from storage.schema import answers
from storage.store import Storage
from tests.bot.telegram.conftest import CHAT, Service
from tests.conftest import REPO, Database
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port


def start_update(update_id: int, chat: int = CHAT, text: str = "/start") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Анна"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_webhook_checks_secret_and_answers_after_storing(
    database: Database, fake_tg: FakeTelegram
) -> None:
    port = free_port()
    service = await Service(
        database, fake_tg, mode="webhook", webhook_url="https://example.org/tg/hook",
        webhook_listen=f"127.0.0.1:{port}", webhook_secret="s3cret-Value_1",
    ).start()  # fmt: skip
    url = f"http://127.0.0.1:{port}/tg/hook"
    try:
        await fake_tg.wait_for(lambda: bool(fake_tg.webhook), timeout=10)
        assert fake_tg.webhook["url"] == "https://example.org/tg/hook"
        assert fake_tg.webhook["secret_token"] == "s3cret-Value_1"
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                            {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Value_"}):  # fmt: skip
                async with http.post(url, json=start_update(1), headers=headers) as response:
                    assert response.status == 401
            assert fake_tg.chat(CHAT) == []  # nothing processed
            good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Value_1"}
            async with http.post(url, data=b"not json", headers=good) as response:
                assert response.status == 400
            async with http.post(url, json=start_update(2), headers=good) as response:
                assert response.status == 200
            # 200 came after handling: the reply is already there.
            assert fake_tg.texts(CHAT)[0] == texts.GREETING
            async with http.post(url, json=start_update(2), headers=good) as response:
                assert response.status == 200  # a re-delivery is acknowledged and skipped
            assert len(fake_tg.chat(CHAT)) == 3  # greeting, the form's title, the first question
    finally:
        await service.stop()


async def test_staff_commands_refused_to_others(service: Service, fake_tg: FakeTelegram) -> None:
    for command in ("/stats", "/staffhelp"):
        fake_tg.push_text(CHAT, command)
    await fake_tg.wait_idle()
    assert fake_tg.texts(CHAT) == [NOT_AVAILABLE, NOT_AVAILABLE]
    fake_tg.push_text(900, "/staffhelp")
    fake_tg.push_text(900, "/stats")
    await fake_tg.wait_idle()
    assert "/stats" in fake_tg.texts(900)[0] and "роль admin" in fake_tg.texts(900)[0]
    assert fake_tg.texts(900)[1].startswith("Анкеты (все подразделения)")
    fake_tg.push_text(901, "/stats")  # an operator limited to structural unit 1
    await fake_tg.wait_idle()
    assert fake_tg.texts(901)[0].startswith("Анкеты (подразделение 1)")


async def _wait_answers(storage: Storage, count: int, timeout: float = 20) -> set[str]:
    async def poll() -> set[str]:
        while True:
            async with storage.transaction() as conn:
                codes = {r.question_code for r in await conn.execute(select(answers))}
            if len(codes) >= count:
                return codes
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(poll(), timeout)


async def test_otklik_run_killed_and_restarted_loses_nothing(
    database: Database, fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    schema = f'pg_schema = "{database.schema}"\n' if database.schema else ""
    config.write_text(
        f'[database]\nurl = "{database.url}"\n{schema}'
        f'[telegram]\nenabled = true\ntoken = "{fake_tg.token}"\napi_server = "{fake_tg.base_url}"\n'
    )
    log = tmp_path / "otklik.log"

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli.main", "--config", str(config), "-v", "run",
            cwd=REPO, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    process = await start()
    try:
        fake_tg.push_text(CHAT, "/start")
        await fake_tg.wait_idle(timeout=30)
        fake_tg.press(CHAT, "Субсидия")
        await fake_tg.wait_idle()
        process.kill()  # SIGKILL: no cleanup at all
        await process.wait()
        # While the service is down the person keeps answering.
        fake_tg.press(CHAT, "Телефон")
        fake_tg.push_text(CHAT, "1")  # a typed answer to the question after that
        process = await start()
        await fake_tg.wait_idle(timeout=30)
        storage = await database.open()
        try:
            assert await _wait_answers(storage, 3) == {"1", "2", "3"}
        finally:
            await storage.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = log.read_text()
    assert fake_tg.token not in output and fake_tg.token.split(":")[1] not in output
    assert "Traceback" not in output
