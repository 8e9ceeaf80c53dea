"""`otklik run` killed with SIGKILL mid-campaign and restarted: no duplicates, nothing silently missing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from storage import mailing as store
from tests.bot.mailing.conftest import FIRST_CHAT, seed
from tests.bot.mailing.test_campaign_e2e import create, invitations, wait_status
from tests.conftest import REPO, Database
from tests.fakes.telegram_api import FakeTelegram


def write_config(path: Path, database: Database, fake: FakeTelegram) -> None:
    schema = f'pg_schema = "{database.schema}"\n' if database.schema else ""
    path.write_text(
        f'[database]\nurl = "{database.url}"\n{schema}'
        f'[telegram]\nenabled = true\ntoken = "{fake.token}"\napi_server = "{fake.base_url}"\n'
        "[mailing]\npoll_seconds = 0.3\nprogress_seconds = 1.0\nleader_retry_seconds = 0.5\n"
        '[[staff.members]]\ntelegram_id = 900\nrole = "admin"\n'
    )


async def start(config: Path, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "--config", str(config), "-v", "run",
        cwd=REPO, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


async def test_kill_9_mid_campaign_then_restart(
    database: Database, fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    fake_tg.enforce_limits(per_second=30, per_chat_per_second=1)
    config, log = tmp_path / "config.toml", tmp_path / "otklik.log"
    write_config(config, database, fake_tg)
    storage = await database.open()
    try:
        ids = await seed(storage, 300)
        campaign_id = await create(storage)
        process = await start(config, log)
        try:
            await fake_tg.wait_for(lambda: len(invitations(fake_tg)) >= 150, timeout=60)
            process.kill()  # SIGKILL at half-way: no cleanup at all
            await process.wait()
            async with storage.transaction() as conn:
                at_kill = await store.progress(conn, campaign_id)
            delivered_at_kill = len(invitations(fake_tg))
            assert 150 <= delivered_at_kill < 300
            process = await start(config, log)
            await wait_status(storage, campaign_id, store.DONE, timeout=60)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 20) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        async with storage.transaction() as conn:
            rows = dict(await store.outbox_rows(conn, campaign_id))
            progress = await store.progress(conn, campaign_id)
    finally:
        await storage.close()
    got = invitations(fake_tg)
    chat_of = {person: FIRST_CHAT + i for i, person in enumerate(ids)}
    duplicates = [chat for chat, texts in got.items() if len(texts) > 1]
    missing = [p for p in ids if chat_of[p] not in got]
    assert duplicates == []
    assert set(rows) == set(ids) and progress.left == 0
    # Everyone either got exactly one invitation, or is reported `unknown` (caught mid-send).
    assert all(rows[p] == store.UNKNOWN for p in missing)
    assert all(rows[p] in (store.SENT, store.UNKNOWN) for p in ids)
    assert progress[store.UNKNOWN] == at_kill[store.SENDING]
    assert progress[store.SENT] + progress[store.UNKNOWN] == 300
    output = log.read_text()
    assert "Traceback" not in output, output[max(0, output.find("Traceback") - 2000) :][:6000]
    if progress[store.UNKNOWN]:
        assert "marked unknown" in output


class GatedTelegram(FakeTelegram):
    """The fake Bot API that can stop answering invitations: a request that arrives while the gate
    is closed is logged (`calls`) and held, as a slow Telegram would, until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()
        self.open.set()
        self.held = 0

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if int(params["chat_id"]) >= FIRST_CHAT and not self.open.is_set():
            self.held += 1
            await self.open.wait()
        return await super().api_sendMessage(params)


def requested_chats(fake: FakeTelegram) -> set[int]:
    """Chats for which an invitation request reached the fake (answered, refused or held)."""
    return {
        int(p["chat_id"]) for m, p in fake.calls if m == "sendMessage" and int(p["chat_id"]) >= FIRST_CHAT
    }


async def test_kill_9_with_invitations_queued_they_go_out_after_restart(
    database: Database, tmp_path: Path
) -> None:
    """Only a request that may have reached the API becomes `unknown`; rows that were only queued
    in the killed process are sent after the restart, each once."""
    fake = await GatedTelegram().start()
    fake.enforce_limits(per_second=30, per_chat_per_second=1)
    config, log = tmp_path / "config.toml", tmp_path / "otklik.log"
    write_config(config, database, fake)
    storage = await database.open()
    process = None
    try:
        ids = await seed(storage, 120)
        campaign_id = await create(storage)
        process = await start(config, log)
        await fake.wait_for(lambda: len(invitations(fake)) >= 40, timeout=60)
        # Telegram stops answering: the requests in flight stay at the fake, the sender's queue
        # fills up behind them. Killed then, the process has both kinds of rows.
        fake.open.clear()
        last, stable_since = -1, time.monotonic()
        while fake.held == 0 or time.monotonic() - stable_since < 1.0:
            if fake.held != last:
                last, stable_since = fake.held, time.monotonic()
            await asyncio.sleep(0.05)
        process.kill()
        await process.wait()
        async with storage.transaction() as conn:
            at_kill = await store.progress(conn, campaign_id)
        requested_at_kill = requested_chats(fake)
        held = fake.held
        fake.open.set()
        process = await start(config, log)
        await wait_status(storage, campaign_id, store.DONE, timeout=60)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
        async with storage.transaction() as conn:
            rows = dict(await store.outbox_rows(conn, campaign_id))
            progress = await store.progress(conn, campaign_id)
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await storage.close()
        await fake.stop()
    chat_of = {person: FIRST_CHAT + i for i, person in enumerate(ids)}
    got = invitations(fake)
    requested = requested_chats(fake)
    assert [chat for chat, texts in got.items() if len(texts) > 1] == []  # no duplicates
    for person in ids:
        chat = chat_of[person]
        if rows[person] == store.UNKNOWN:
            # Only what reached the API before the kill may be unknown.
            assert chat in requested_at_kill, f"{chat} is unknown but no request for it reached the API"
        else:
            assert rows[person] == store.SENT and len(got.get(chat, [])) == 1, (chat, rows[person])
    assert at_kill[store.SENDING] == held  # in flight: exactly the held requests
    assert at_kill[store.CLAIMED] > 0  # queued, never requested: sent after the restart
    assert progress[store.UNKNOWN] == held
    assert progress[store.SENT] + progress[store.UNKNOWN] == 120 and progress.left == 0
    assert {chat_of[p] for p in ids} <= requested
    output = log.read_text()
    assert "Traceback" not in output, output[max(0, output.find("Traceback") - 2000) :][:6000]
    assert "queued at the last stop (not sent): queued again" in output
