"""Three `otklik run` workers (webhook mode) on one PostgreSQL; the mailing leader is killed with
SIGKILL mid-campaign: another worker takes over within seconds, nobody is invited twice, and
nobody is silently skipped (only rows caught mid-send are reported `unknown`)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from storage import mailing as store
from tests.bot.mailing.conftest import FIRST_CHAT, seed
from tests.bot.mailing.test_campaign_e2e import create, invitations, wait_status
from tests.conftest import REPO, Database
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port

LEADER_LINE = "leader: this process runs the scheduler and the mailing sender"


def config_for(path: Path, database: Database, fake: FakeTelegram, port: int) -> Path:
    path.write_text(
        f'[database]\nurl = "{database.url}"\npg_schema = "{database.schema}"\n'
        f'[telegram]\nenabled = true\ntoken = "{fake.token}"\napi_server = "{fake.base_url}"\n'
        f'mode = "webhook"\nwebhook_url = "https://example.org/hook"\nwebhook_listen = "127.0.0.1:{port}"\n'
        'webhook_secret = "three-workers"\n'
        "[mailing]\npoll_seconds = 0.3\nprogress_seconds = 1.0\nleader_retry_seconds = 0.5\n"
    )
    return path


async def test_three_workers_leader_killed_mid_campaign(
    pg_database: Database, fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    fake_tg.enforce_limits(per_second=30, per_chat_per_second=1)
    storage = await pg_database.open()
    workers: list[tuple[asyncio.subprocess.Process, Path]] = []
    try:
        ids = await seed(storage, 240)
        for n in range(3):
            config = config_for(tmp_path / f"w{n}.toml", pg_database, fake_tg, free_port())
            log = tmp_path / f"w{n}.log"
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli.main", "--config", str(config), "-v", "run",
                cwd=REPO, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
            workers.append((process, log))
        campaign_id = await create(storage)
        await fake_tg.wait_for(lambda: len(invitations(fake_tg)) >= 80, timeout=60)
        leaders = [(p, log) for p, log in workers if LEADER_LINE in log.read_text()]
        assert len(leaders) == 1, "exactly one worker is the mailing leader"
        leader, _ = leaders[0]
        leader.kill()
        await leader.wait()
        killed_at = time.monotonic()
        sent_at_kill = len(invitations(fake_tg))
        assert sent_at_kill < 240
        await fake_tg.wait_for(lambda: len(invitations(fake_tg)) > sent_at_kill, timeout=30)
        takeover = time.monotonic() - killed_at
        await wait_status(storage, campaign_id, store.DONE, timeout=90)
        survivors = [log for p, log in workers if p is not leader and LEADER_LINE in log.read_text()]
        assert len(survivors) == 1  # one of the two others took over
        async with storage.transaction() as conn:
            rows = dict(await store.outbox_rows(conn, campaign_id))
    finally:
        for process, _ in workers:
            if process.returncode is None:
                process.terminate()
        for process, _ in workers:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
        await storage.close()
    got = invitations(fake_tg)
    chat_of = {person: FIRST_CHAT + i for i, person in enumerate(ids)}
    assert [chat for chat, texts in got.items() if len(texts) > 1] == []  # no duplicates
    missing = [p for p in ids if chat_of[p] not in got]
    assert all(rows[p] == store.UNKNOWN for p in missing)  # nobody silently skipped
    assert sum(1 for p in ids if rows[p] == store.UNKNOWN) <= 60  # at most one claimed batch in flight
    assert takeover < 15, f"takeover took {takeover:.1f} s"
    for _, log in workers:
        text = log.read_text()
        assert fake_tg.token not in text
