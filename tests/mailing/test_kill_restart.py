"""`otklik run` killed with SIGKILL mid-campaign and restarted: no duplicates, nothing silently missing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from storage import mailing as store
from tests.conftest import REPO, Database
from tests.fakes.telegram_api import FakeTelegram
from tests.mailing.conftest import FIRST_CHAT, seed
from tests.mailing.test_campaign_e2e import create, invitations, wait_status


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
        sys.executable, "-m", "bot.cli", "--config", str(config), "-v", "run",
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
