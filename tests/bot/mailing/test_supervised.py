"""The mailing service is supervised: a failure is logged with its traceback and it starts again."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest

from storage import mailing as store
from tests.bot.mailing.conftest import mailing_service, seed
from tests.bot.mailing.test_campaign_e2e import create, invitations, wait_status
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram


async def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, f"no log record with {text!r}"
        await asyncio.sleep(0.05)


async def test_database_write_locked_at_start_mailing_restarts_and_sends(
    fake_tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "otklik.db"
    database = Database("sqlite", f"sqlite+aiosqlite:///{path}", None)
    storage = await database.open()
    try:
        await seed(storage, 3)
        campaign_id = await create(storage)
    finally:
        await storage.close()
    # Another process holds the write lock while the service starts (a backup, a migration, a
    # long report query): the sender's first write times out.
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    service = await mailing_service(database, fake_tg).start()
    try:
        await wait_for_log(caplog, "leader: this process runs")
        # Held until the first run has failed (its write waited out the busy timeout), however
        # long a busy machine takes to get there.
        await wait_for_log(caplog, "mailing service failed, restarting")
        locker.execute("COMMIT")
        locker.close()
        assert service.storage is not None
        await wait_status(service.storage, campaign_id, store.DONE, timeout=30)
        assert len(invitations(fake_tg)) == 3
    finally:
        await service.stop()
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "bot.mailing.hub"]
    assert failures, "the failure was not logged at ERROR"
    assert "restarting" in failures[0].getMessage()
    # With the token-redaction filter installed (by any earlier `otklik` call in this process) the
    # redacted traceback is part of the message and exc_info is cleared; without it, exc_info holds it.
    record = failures[0]
    logged = record.getMessage() if record.exc_info is None else str(record.exc_info[1])
    assert (record.exc_info is not None or "Traceback" in logged) and "database is locked" in logged
