"""The database was read-only for a while: once it is writable again, updates are handled again,
without restarting the process (webhook, real SQLite file)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.core import texts
from storage.schema import answers, processed_updates
from tests.bot.telegram.conftest import CHAT, Service
from tests.bot.telegram.test_webhook_staff_process import start_update
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port
from tests.system.read_only import make_read_only, make_writable

SECRET = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Value_1"}


def text_update(update_id: int, text: str) -> dict[str, object]:
    update = start_update(update_id, text=text)
    del update["message"]["entities"]  # type: ignore[attr-defined]
    return update


async def test_webhook_read_only_database_then_writable_redelivery_succeeds(
    fake_tg: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.telegram.webhook.HANDLING_DEADLINE", 2.0)  # 503 sooner than Telegram's 25 s
    path = tmp_path / "otklik.db"
    database = Database("sqlite", f"sqlite+aiosqlite:///{path}", None)
    await (await database.open()).close()  # an existing, migrated database
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    make_read_only(path)
    service = None
    try:
        # The service starts while the file is read-only (a restore with the wrong owner, a
        # read-only mount): it can read, so it starts; every write fails.
        service = await Service(
            database, fake_tg, mode="webhook", webhook_url="https://example.org/tg/hook",
            webhook_listen=f"127.0.0.1:{port}", webhook_secret="s3cret-Value_1",
        ).start()  # fmt: skip
        await fake_tg.wait_for(lambda: bool(fake_tg.webhook), timeout=15)
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=start_update(1), headers=SECRET) as response:
                assert response.status == 503
            async with http.post(url, json=start_update(1), headers=SECRET) as response:
                assert response.status == 503  # redelivered while still read-only
            make_writable(path)
            async with http.post(url, json=start_update(1), headers=SECRET) as response:
                assert response.status == 200
            assert fake_tg.texts(CHAT)[0] == texts.GREETING
            async with http.post(url, json=text_update(2, "Субсидия"), headers=SECRET) as response:
                assert response.status == 200
        storage = await database.open()
        try:
            async with storage.transaction() as conn:
                stored = list(await conn.execute(select(answers.c.question_code, answers.c.value_text)))
                updates = list(await conn.execute(select(processed_updates)))
        finally:
            await storage.close()
        assert len(updates) == 2
        assert [row.question_code for row in stored] == ["1"]
    finally:
        make_writable(path)
        if service is not None:
            await service.stop()


async def test_postgresql_connection_whose_first_transaction_failed_keeps_its_schema(
    database: Database,
) -> None:
    """The schema of a deployment (`pg_schema`) is set when a connection opens; a failed first
    transaction must not undo it (the connection would then see `public` for good)."""
    if database.kind != "postgresql":
        pytest.skip("PostgreSQL schemas only")
    storage = await database.open()
    try:
        await storage.engine.dispose()  # the next transaction opens the pool's only connection
        with pytest.raises(DBAPIError):
            async with storage.transaction() as conn:
                await conn.execute(text("SELECT no_such_column FROM processed_updates"))
        async with storage.transaction() as conn:
            assert (await conn.execute(select(func.count()).select_from(processed_updates))).scalar() == 0
    finally:
        await storage.close()
