"""A real `otklik run` against the fake Bot API as an operator watches it: `/metrics` after a survey
answered, one started and left, a broken update and an invitation that first gets a 429 (the
scraped numbers are exact); and a log without a line per idle scheduler tick."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from storage import mailing as store
from storage.store import Storage
from tests.conftest import REPO
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import AUDIENCE_QUESTIONS
from tests.ports import free_port

CHAT, LEFT = 5550001, 5550002
# The typed path through the whole questionnaire (online, refused), then the consent.
TYPED_SURVEY = ("/start", "1", "2", "3", "4", "2", "1", "2", "2", "1", "4", "4", "4", "4", "4", "да")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


class Running:
    def __init__(self, process: asyncio.subprocess.Process, health: str, database: Path) -> None:
        self.process, self.health, self.database = process, health, database
        self.log = ""

    async def get(self, path: str) -> tuple[int, str, str]:
        async with aiohttp.ClientSession() as session, session.get(f"http://{self.health}{path}") as response:
            return response.status, response.headers.get("Content-Type", ""), await response.text()


@contextlib.asynccontextmanager
async def otklik_run(
    fake: FakeTelegram, tmp_path: Path, extra: str = "", poll_seconds: float = 0.3
) -> AsyncIterator[Running]:
    """A real `otklik run` (Telegram polling, /healthz and /metrics); stopped with SIGTERM, its
    log kept in `Running.log`."""
    health = f"127.0.0.1:{free_port()}"
    database = tmp_path / "otklik.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{database}"\n'
        f'[telegram]\nenabled = true\ntoken = "{fake.token}"\napi_server = "{fake.base_url}"\n'
        f'[service]\nhealth_listen = "{health}"\n'
        f"[mailing]\npoll_seconds = {poll_seconds}\n{extra}",
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "--config", str(config), "run",
        cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    service = Running(process, health, database)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.returncode is None, "otklik run exited"
            try:
                if (await service.get("/healthz"))[0] == 200:
                    break
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "no /healthz within 60 s"
            await asyncio.sleep(0.2)
        yield service
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
        service.log = err.decode()


@pytest.fixture
async def running(fake_tg: FakeTelegram, tmp_path: Path) -> AsyncIterator[Running]:
    async with otklik_run(fake_tg, tmp_path) as service:
        yield service


async def say(fake: FakeTelegram, chat: int, text: str) -> None:
    fake.push_text(chat, text)
    await fake.wait_idle(timeout=30)


async def test_metrics_count_updates_questionnaires_and_mailing(
    running: Running, fake_tg: FakeTelegram
) -> None:
    for text in TYPED_SURVEY:
        await say(fake_tg, CHAT, text)
    assert "Спасибо" in " ".join(fake_tg.texts(CHAT))
    for text in ("/start", "1"):  # started, then left unfinished
        await say(fake_tg, LEFT, text)
    fake_tg.push_raw({"message": {"message_id": "not a number", "chat": 1}})  # cannot be parsed
    await fake_tg.wait_idle(timeout=30)
    handled = len(TYPED_SURVEY) + 2

    # One invitation to the person who consented; Telegram first answers 429 (retry after 1 s).
    fake_tg.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    storage = await Storage.open(f"sqlite+aiosqlite:///{running.database}")
    try:
        async with storage.transaction() as conn:
            now = datetime.now(UTC)
            await store.create_campaign(
                conn,
                questions=AUDIENCE_QUESTIONS,
                text="Пройдите опрос",
                audience=store.Audience(),
                scheduled_at=now,
                created_by="test",
                now=now,
            )
    finally:
        await storage.close()
    await fake_tg.wait_for(lambda: any("Пройдите опрос" in t for t in fake_tg.texts(CHAT)), timeout=30)

    deadline = time.monotonic() + 15
    while True:  # the outcome is counted once the sender has it; the queue empties when recorded
        status, content_type, text = await running.get("/metrics")
        samples = parse(text)
        sent = value(
            samples, "otklik_mailing_messages_total", channel="telegram", kind="invitation", status="sent"
        )
        if (sent and value(samples, "otklik_mailing_queue_depth") == 0) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert status == 200 and content_type.startswith("text/plain")

    assert value(samples, "otklik_updates_total", channel="telegram", outcome="handled") == handled
    assert value(samples, "otklik_updates_total", channel="telegram", outcome="dead_letter") == 1
    assert value(samples, "otklik_updates_total", channel="telegram", outcome="failed") is None
    assert value(samples, "otklik_update_handling_seconds_count", channel="telegram") == handled
    assert value(samples, "otklik_questionnaires_started_total", channel="telegram") == 2
    assert value(samples, "otklik_questionnaires_completed_total", channel="telegram") == 1
    assert sent == 1
    assert value(samples, "otklik_mailing_rate_limited_total", channel="telegram") == 1
    assert value(samples, "otklik_mailing_queue_depth") == 0
    assert value(samples, "otklik_mailing_leader") == 1
    assert not any(name == "otklik_database_errors_total" for name, _ in samples)
    assert all(name.startswith("otklik_") for name, _ in samples), sorted({n for n, _ in samples})


async def test_idle_scheduler_and_paused_campaign_stay_out_of_the_info_log(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with otklik_run(fake_tg, tmp_path, "progress_seconds = 0.1\n", poll_seconds=0.1) as service:
        storage = await Storage.open(f"sqlite+aiosqlite:///{service.database}")
        try:
            async with storage.transaction() as conn:
                now = datetime.now(UTC)
                campaign = await store.create_campaign(
                    conn, questions=AUDIENCE_QUESTIONS, text="Опрос", audience=store.Audience(),
                    created_by="test", now=now,
                    scheduled_at=now + timedelta(days=1),
                )  # fmt: skip
                await store.set_status(
                    conn, campaign.id, store.PAUSED, allowed_from=[store.SCHEDULED], now=now
                )
        finally:
            await storage.close()
        await asyncio.sleep(1)  # ten scheduler polls and progress checks
    assert "starting channels: telegram" in service.log  # INFO lines are there
    assert "Running job" not in service.log and "executed successfully" not in service.log, service.log
    # The paused campaign's unchanged progress is logged once, not at every check.
    assert service.log.count(f"mailing {campaign.id}: paused") == 1, service.log
