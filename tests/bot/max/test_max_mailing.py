"""MAX campaigns and reminders: the real MAX channel runner against the fake MAX Bot API, real
SQLite/PostgreSQL; and `otklik run` killed half-way through a MAX campaign."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Services, questionnaire_from
from bot.cli.main import main
from bot.config import Settings
from bot.max import runner as max_runner
from bot.max.api import MaxClient
from bot.max.mailing import MaxTransport
from storage import mailing as store
from storage import repository as repo
from storage.schema import reminders
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.bot.mailing.conftest import FAST, now, seed
from tests.bot.mailing.test_campaign_e2e import wait_status
from tests.conftest import REPO, Database
from tests.fakes.max_api import BOT_USERNAME, TOKEN, FakeMax, Sent
from tests.helpers import AUDIENCE_QUESTIONS

FIRST_USER = 8_000_000
TEXT = "Здравствуйте, {name}! Оцените нашу работу."


def max_settings(database: Database, fake: FakeMax, rps: float = 30, **mailing: Any) -> Settings:
    return Settings(
        database={"url": database.url, "pg_schema": database.schema},
        max={"enabled": True, "token": TOKEN, "api_base_url": fake.url, "rps": rps},
        consent={"text": "Согласны ли Вы получать приглашения к опросам?", "version": "v1",
                 "policy_url": "https://example.org/pd"},
        mailing={**FAST, **mailing},
    )  # fmt: skip


class MaxService:
    """`otklik run` with only the MAX channel (and so the mailing service) inside the test's loop."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.services = Services(settings, storage, questionnaire_from(settings))
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(max_runner.run(self.services, self.stop_event))

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 20)


@pytest.fixture
async def storage(database: Database) -> AsyncIterator[Storage]:
    opened = await database.open()
    yield opened
    await opened.close()


async def create_max(storage: Storage, *, start: bool) -> store.Campaign:
    async with storage.transaction() as conn:
        campaign = await store.create_campaign(
            conn, text=TEXT, audience=store.Audience(channel="max"), questions=AUDIENCE_QUESTIONS,
            scheduled_at=now(), created_by="test", now=now(),
        )  # fmt: skip
        if start:
            assert await store.start_campaign(conn, campaign.id, AUDIENCE_QUESTIONS, now()) is not None
    return campaign


def link_buttons(message: Sent) -> list[dict[str, Any]]:
    return [b for b in message.buttons if b.get("type") == "link"]


def invitations(fake: FakeMax) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for message in fake.sent.values():
        if message.user_id is not None and link_buttons(message):
            found.setdefault(message.user_id, []).append(message.text)
    return found


async def test_max_campaign_with_withdrawals_a_block_and_a_rate_limit(
    database: Database, fake: FakeMax, storage: Storage
) -> None:
    users = list(range(FIRST_USER, FIRST_USER + 20))
    withdrew, blocked = users[0:2], users[2]
    ids = await seed(storage, 20, first=FIRST_USER, channel="max", withdrawn=withdrew)
    by_user = dict(zip(users, ids, strict=True))
    await seed(storage, 3, first=FIRST_USER + 100, channel="vk")  # other channel: not invited
    campaign = await create_max(storage, start=True)
    fake.blocked.add(blocked)
    fake.fail("POST /messages", 429, "too.many.requests", retry_after="0")  # retried by the client

    service = MaxService(max_settings(database, fake), storage)
    try:
        await wait_status(storage, campaign.id, store.DONE)
    finally:
        await service.stop()

    async with storage.transaction() as conn:
        rows = dict(await store.outbox_rows(conn, campaign.id))
        refused = await repo.get_respondent(conn, "max", str(blocked))
    expected = {by_user[u]: store.SENT for u in users[2:]}
    expected[by_user[blocked]] = store.UNREACHABLE
    assert rows == expected
    assert refused is not None and refused.unreachable_at is not None
    got = invitations(fake)
    assert sorted(got) == users[3:] and all(len(texts) == 1 for texts in got.values())
    link = f"https://max.ru/{BOT_USERNAME}?start={campaign.prefill_key}"
    for user, (text,) in got.items():
        assert text == f"Здравствуйте, Клиент{user}! Оцените нашу работу."
    for message in fake.sent.values():
        assert link_buttons(message) == [{"type": "link", "text": "Пройти опрос", "url": link}]


async def test_cli_creates_a_max_campaign_and_the_rate_comes_from_max_rps(
    database: Database, storage: Storage, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)
    await seed(storage, 4, first=FIRST_USER, channel="max", withdrawn=[FIRST_USER])
    await seed(storage, 2, first=FIRST_USER + 10, channel="telegram")
    argv = ["--database", database.url, "mailing", "create", "--channel", "max", "--text", "Привет, {name}"]
    assert await asyncio.to_thread(main, argv) == 0
    assert "получат: 3" in capsys.readouterr().out
    async with storage.transaction() as conn:
        (campaign,) = await store.list_campaigns(conn, [store.SCHEDULED])
    assert campaign.channel == "max" and campaign.audience.channel == "max"
    assert Settings(max={"rps": 7}).send_rate("max") == 7
    assert Settings(max={"rps": 7}).send_rate("telegram") == Settings().mailing.rate()


async def test_reminder_reaches_a_max_user_once(
    database: Database, fake: FakeMax, storage: Storage, questionnaire: Questionnaire
) -> None:
    users = list(range(FIRST_USER, FIRST_USER + 3))
    ids = await seed(storage, 3, first=FIRST_USER, channel="max", withdrawn=[users[2]])
    async with storage.transaction() as conn:
        for person in ids:
            await repo.create_session(conn, questionnaire, respondent_id=person, channel="max",
                                      source="direct", source_ref=None, prefill={},
                                      now=now() - timedelta(hours=30))  # fmt: skip
        done = await repo.active_session(conn, ids[1])
        assert done is not None
        await repo.finish_session(conn, done.id, repo.COMPLETED, now())
    reminder = {"enabled": True, "after_hours": 24, "check_minutes": 0.005, "text": "Продолжим опрос?"}
    service = MaxService(max_settings(database, fake, reminder=reminder), storage)
    try:
        for _ in range(200):
            if fake.sent:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.45)  # the check runs at least once more (every 0.3 s): still one
    finally:
        await service.stop()
    async with storage.transaction() as conn:
        rows = [(r.respondent_id, r.status) for r in await conn.execute(select(reminders))]
    assert rows == [(ids[0], store.SENT)]
    (message,) = fake.sent.values()
    assert (message.user_id, message.text) == (users[0], "Продолжим опрос?")
    assert link_buttons(message) == [
        {"type": "link", "text": "Пройти опрос", "url": f"https://max.ru/{BOT_USERNAME}"}
    ]


def write_config(path: Path, database: Database, fake: FakeMax, rps: float) -> None:
    schema = f'pg_schema = "{database.schema}"\n' if database.schema else ""
    path.write_text(
        f'[database]\nurl = "{database.url}"\n{schema}'
        f'[max]\nenabled = true\ntoken = "{TOKEN}"\napi_base_url = "{fake.url}"\nrps = {rps}\n'
        "[mailing]\npoll_seconds = 0.3\nprogress_seconds = 1.0\nleader_retry_seconds = 0.5\n"
    )


async def start(config: Path, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "--config", str(config), "-v", "run",
        cwd=REPO, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


async def test_kill_9_mid_max_campaign_then_restart_sends_no_duplicates(
    database: Database, fake: FakeMax, tmp_path: Path
) -> None:
    total = 60
    config, log = tmp_path / "config.toml", tmp_path / "otklik.log"
    write_config(config, database, fake, rps=10)  # a few seconds for the whole campaign
    storage = await database.open()
    try:
        ids = await seed(storage, total, first=FIRST_USER, channel="max")
        campaign = await create_max(storage, start=False)
        process = await start(config, log)
        try:
            for _ in range(1200):
                if len(invitations(fake)) >= total // 3:
                    break
                await asyncio.sleep(0.05)
            process.kill()  # SIGKILL a third of the way: no cleanup at all
            await process.wait()
            delivered_at_kill = len(invitations(fake))
            assert total // 3 <= delivered_at_kill < total
            async with storage.transaction() as conn:
                at_kill = await store.progress(conn, campaign.id)
            process = await start(config, log)
            await wait_status(storage, campaign.id, store.DONE, timeout=60)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 20) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        async with storage.transaction() as conn:
            rows = dict(await store.outbox_rows(conn, campaign.id))
            progress = await store.progress(conn, campaign.id)
    finally:
        await storage.close()
    got = invitations(fake)
    user_of = {person: FIRST_USER + i for i, person in enumerate(ids)}
    assert [user for user, texts in got.items() if len(texts) > 1] == []  # no duplicates
    assert set(rows) == set(ids) and progress.left == 0
    # Everyone either got exactly one invitation, or is reported `unknown` (caught mid-send).
    assert all(rows[p] == store.UNKNOWN for p in ids if user_of[p] not in got)
    assert all(rows[p] in (store.SENT, store.UNKNOWN) for p in ids)
    assert progress[store.UNKNOWN] == at_kill[store.SENDING]
    output = log.read_text()
    assert "Traceback" not in output, output[max(0, output.find("Traceback") - 2000) :][:6000]
    assert TOKEN not in output


async def test_an_invitation_over_maxs_limit_goes_in_parts_with_the_button_last(fake: FakeMax) -> None:
    client = MaxClient(TOKEN, api_base_url=fake.url, rps=1000, backoff=0.01)
    try:
        transport = MaxTransport(client, BOT_USERNAME)
        text = "Здравствуйте! " + "слово " * 680  # about 4090 characters: fits Telegram and VK
        assert 4000 < len(text.strip()) <= 4096
        delivered = await transport.send(str(FIRST_USER), text, ("Пройти опрос", transport.survey_link("k")))
    finally:
        await client.close()
    assert delivered.status == store.SENT and transport.stats.sent == 1
    first, second = fake.messages_to(FIRST_USER)
    assert link_buttons(first) == [] and len(link_buttons(second)) == 1
    assert (first.text + " " + second.text).split() == text.split()
    assert link_buttons(second)[0]["url"] == f"https://max.ru/{BOT_USERNAME}?start=k"
