"""The Telegram channel under test: real aiogram, real storage, a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import Services, questionnaire_from
from bot.config import Settings
from bot.telegram.runner import run_telegram
from storage.store import Storage
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram

CHAT = 5550001


def tg_settings(
    database: Database, fake: FakeTelegram, extra: dict[str, Any] | None = None, **telegram: Any
) -> Settings:
    extra = extra or {}
    return Settings(
        database={"url": database.url, "pg_schema": database.schema},
        telegram={"enabled": True, "token": fake.token, "api_server": fake.base_url, **telegram},
        consent={"text": "Согласны ли Вы получать приглашения к опросам?", "version": "v1",
                 "policy_url": "https://example.org/pd"},
        staff={"members": [{"telegram_id": 900, "role": "admin", "name": "Ирина"},
                           {"telegram_id": 901, "role": "operator", "unit": "1"},
                           {"telegram_id": 902, "role": "analyst"},
                           {"telegram_id": 903, "role": "analyst", "unit": "2"}]},
        **extra,
    )  # fmt: skip


class Service:
    """One `otklik run` Telegram channel inside the test's event loop; restartable."""

    def __init__(
        self, database: Database, fake: FakeTelegram, extra: dict[str, Any] | None = None, **telegram: Any
    ) -> None:
        self.settings = tg_settings(database, fake, extra, **telegram)
        self.database = database
        self.storage: Storage | None = None
        self.task: asyncio.Task[None] | None = None
        self.stop_event = asyncio.Event()

    async def start(self) -> Service:
        self.storage = await self.database.open()
        services = Services(self.settings, self.storage, questionnaire_from(self.settings))
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(run_telegram(services, self.stop_event))
        await asyncio.sleep(0)
        return self

    async def stop(self) -> None:
        self.stop_event.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
        await self._close()

    async def crash(self) -> None:
        """Cancel mid-flight, as close to a kill as one process allows."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await self._close()

    async def _close(self) -> None:
        if self.storage is not None:
            await self.storage.close()
            self.storage = None


@pytest.fixture
async def service(database: Database, fake_tg: FakeTelegram) -> AsyncIterator[Service]:
    svc = await Service(database, fake_tg).start()
    try:
        yield svc
    finally:
        await svc.crash()
