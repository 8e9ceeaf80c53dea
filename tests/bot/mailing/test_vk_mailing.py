"""VK campaigns: the real VK channel runner (vk_api) against the fake VK server, real SQLite/PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Services, questionnaire_from
from bot.cli.main import main
from bot.config import MailingConfig, Settings
from bot.telegram.runner import run_telegram
from bot.vk import runner as vk_runner
from bot.vk.api import VkClient
from bot.vk.mailing import VkTransport
from bot.vk.render import random_id
from storage import mailing as store
from storage import repository as repo
from storage.schema import reminders
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.bot.mailing.conftest import FAST, FIRST_CHAT, now, seed
from tests.bot.mailing.test_campaign_e2e import invitations, wait_status
from tests.bot.telegram.conftest import tg_settings
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.vk_api import GROUP_ID, TOKEN, FakeVk
from tests.helpers import AUDIENCE_QUESTIONS

FIRST_PEER = 7_000_000
TEXT = "Здравствуйте, {name}! Оцените нашу работу."


def vk_settings(database: Database, fake: FakeVk, **mailing: Any) -> Settings:
    return Settings(
        database={"url": database.url, "pg_schema": database.schema},
        vk={"enabled": True, "token": TOKEN, "group_id": GROUP_ID, "api_base_url": fake.url, "rps": 100},
        consent={"text": "Согласны ли Вы получать приглашения к опросам?", "version": "v1",
                 "policy_url": "https://example.org/pd"},
        mailing={**FAST, **mailing},
    )  # fmt: skip


class VkService:
    """`otklik run` with only the VK channel (and so the mailing service) inside the test's loop."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.services = Services(settings, storage, questionnaire_from(settings))
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(vk_runner.run(self.services, self.stop_event))

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 20)


@pytest.fixture
async def storage(database: Database) -> AsyncIterator[Storage]:
    opened = await database.open()
    yield opened
    await opened.close()


async def create_vk(storage: Storage, *, start: bool) -> store.Campaign:
    async with storage.transaction() as conn:
        campaign = await store.create_campaign(
            conn, questions=AUDIENCE_QUESTIONS, text=TEXT, audience=store.Audience(channel="vk"),
            scheduled_at=now(), created_by="test", now=now(),
        )  # fmt: skip
        if start:
            assert await store.start_campaign(conn, campaign.id, AUDIENCE_QUESTIONS, now()) is not None
    return campaign


async def withdraw_vk(storage: Storage, respondent_ids: list[int]) -> None:
    async with storage.transaction() as conn:
        for person in respondent_ids:
            await repo.record_consent(
                conn, person, granted=False, channel="vk", text_version="v1", method="bot", now=now()
            )


async def test_vk_campaign_to_30_with_withdrawals_and_a_901(
    database: Database, fake: FakeVk, storage: Storage
) -> None:
    peers = list(range(FIRST_PEER, FIRST_PEER + 30))
    withdrew_before, withdrew_after, forbids = peers[0:2], peers[2:5], peers[5]
    ids = await seed(storage, 30, first=FIRST_PEER, channel="vk", withdrawn=withdrew_before)
    by_peer = dict(zip(peers, ids, strict=True))
    await seed(storage, 3, first=FIRST_PEER + 100, channel="telegram")  # other channel: not invited
    campaign = await create_vk(storage, start=True)  # audience fixed: 28 rows
    await withdraw_vk(storage, [by_peer[p] for p in withdrew_after])  # before anything is sent
    fake.refuse_peers[forbids] = 901
    fake.fail("messages.send", 6, 10)  # retried by the client with the same random_id

    service = VkService(vk_settings(database, fake), storage)
    try:
        await wait_status(storage, campaign.id, store.DONE)
    finally:
        await service.stop()

    async with storage.transaction() as conn:
        rows = dict(await store.outbox_rows(conn, campaign.id))
        refused = await repo.get_respondent(conn, "vk", str(forbids))
    expected = {by_peer[p]: store.SENT for p in peers[2:]}
    expected.update({by_peer[p]: store.SKIPPED_NO_CONSENT for p in withdrew_after})
    expected[by_peer[forbids]] = store.UNREACHABLE
    assert rows == expected
    assert refused is not None and refused.unreachable_at is not None

    # Exactly one message per recipient, with the deterministic random_id of its outbox row.
    receivers = peers[6:]
    assert sorted(m.peer_id for m in fake.sent) == receivers
    link = f"https://vk.me/club{GROUP_ID}?ref={campaign.prefill_key}"
    for message in fake.sent:
        assert message.random_id == random_id(
            message.peer_id, f"campaign:{campaign.id}:{by_peer[message.peer_id]}"
        )
        assert message.text == f"Здравствуйте, Клиент{message.peer_id}! Оцените нашу работу."
        assert message.buttons() == [{"type": "open_link", "link": link, "label": "Пройти опрос"}]
    assert len({m.random_id for m in fake.sent}) == len(receivers)
    # messages.send calls: one per recipient plus the 901 and the two injected errors, retried.
    calls = fake.calls_of("messages.send")
    assert len(calls) == len(receivers) + 1 + 2
    for peer in receivers:
        assert {c["random_id"] for c in calls if int(c["peer_id"]) == peer} == {
            str(random_id(peer, f"campaign:{campaign.id}:{by_peer[peer]}"))
        }
    assert not any(int(c["peer_id"]) in withdrew_before + withdrew_after for c in calls)


async def test_vk_rows_mid_send_after_a_crash_are_resent_once(
    database: Database, fake: FakeVk, storage: Storage
) -> None:
    """A leader died with rows in `sending`: recent VK rows are sent again, deduplicated by VK."""
    ids = await seed(storage, 6, first=FIRST_PEER, channel="vk")
    tg = await seed(storage, 1, first=FIRST_PEER + 50, channel="telegram")
    campaign = await create_vk(storage, start=True)
    async with storage.transaction() as conn:
        claimed, _ = await store.claim(conn, campaign.id, 3, now(), 30)
        tg_campaign = await store.create_campaign(
            conn,
            questions=AUDIENCE_QUESTIONS,
            text="x",
            audience=store.Audience(),
            scheduled_at=now(),
            created_by="t",
            now=now(),
        )
        await store.start_campaign(conn, tg_campaign.id, AUDIENCE_QUESTIONS, now())
        tg_claimed, _ = await store.claim(conn, tg_campaign.id, 1, now(), 30)
        # The dead leader had started the requests of all of them (`sending`).
        await store.mark_sending(conn, [c.outbox_id for c in (*claimed, *tg_claimed)])
    assert len(claimed) == 3
    # The dead leader had handed two of the three to VK; the third never left.
    client = VkClient(TOKEN, api_version="5.199", api_base_url=fake.url, rps=100)
    try:
        dead = VkTransport(client, GROUP_ID)
        for item in claimed[:2]:
            identity = f"campaign:{campaign.id}:{item.respondent_id}"
            result = await dead.send(
                item.external_id, "Здравствуйте!", ("Пройти опрос", "https://vk.me/x"), identity=identity
            )
            assert result.status == store.SENT
    finally:
        client.close()
    # One more VK row claimed long ago: outside VK's window, it must not be resent.
    async with storage.transaction() as conn:
        old, _ = await store.claim(conn, campaign.id, 1, now() - timedelta(hours=2), 30)
        await store.mark_sending(conn, [old[0].outbox_id])
    assert len(old) == 1

    service = VkService(vk_settings(database, fake), storage)
    try:
        await wait_status(storage, campaign.id, store.DONE)
    finally:
        await service.stop()

    async with storage.transaction() as conn:
        rows = dict(await store.outbox_rows(conn, campaign.id))
        tg_rows = dict(await store.outbox_rows(conn, tg_campaign.id))
    assert rows == {i: (store.UNKNOWN if i == old[0].respondent_id else store.SENT) for i in ids}
    assert tg_rows == {tg[0]: store.UNKNOWN}  # Telegram rows mid-send are never resent
    assert sorted(m.peer_id for m in fake.sent) == sorted(
        int(FIRST_PEER + ids.index(i)) for i in ids if i != old[0].respondent_id
    )
    assert len(fake.calls_of("messages.send")) == 2 + 5  # the two resent ones were deduplicated


async def test_cli_creates_a_vk_campaign(
    database: Database, storage: Storage, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)
    await seed(storage, 4, first=FIRST_PEER, channel="vk", withdrawn=[FIRST_PEER])
    await seed(storage, 2, first=FIRST_PEER + 10, channel="telegram")
    argv = ["--database", database.url, "mailing", "create", "--channel", "vk", "--text", "Привет, {name}"]
    assert await asyncio.to_thread(main, argv) == 0
    assert "получат: 3" in capsys.readouterr().out
    async with storage.transaction() as conn:
        (campaign,) = await store.list_campaigns(conn, [store.SCHEDULED])
    assert campaign.channel == "vk" and campaign.audience.channel == "vk"


async def test_telegram_and_vk_in_one_process_share_one_mailing_service(
    database: Database, fake: FakeVk, fake_tg: FakeTelegram, storage: Storage
) -> None:
    base = tg_settings(database, fake_tg)
    settings = base.model_copy(
        update={"vk": vk_settings(database, fake).vk, "mailing": MailingConfig(**FAST)}
    )
    vk_people = await seed(storage, 3, first=FIRST_PEER, channel="vk")
    await seed(storage, 3, first=FIRST_CHAT, channel="telegram")
    vk_campaign = await create_vk(storage, start=False)
    async with storage.transaction() as conn:
        tg_campaign = await store.create_campaign(
            conn,
            questions=AUDIENCE_QUESTIONS,
            text=TEXT,
            audience=store.Audience(),
            scheduled_at=now(),
            created_by="t",
            now=now(),
        )
    services = Services(settings, storage, questionnaire_from(settings))
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_telegram(services, stop)),
        asyncio.create_task(vk_runner.run(services, stop)),
    ]
    try:
        await wait_status(storage, vk_campaign.id, store.DONE)
        await wait_status(storage, tg_campaign.id, store.DONE)
        assert set(services.mailing.transports) == {"telegram", "vk"}
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert sorted(m.peer_id for m in fake.sent) == list(range(FIRST_PEER, FIRST_PEER + 3))
    assert sorted(invitations(fake_tg)) == list(range(FIRST_CHAT, FIRST_CHAT + 3))
    async with storage.transaction() as conn:
        rows = dict(await store.outbox_rows(conn, vk_campaign.id))
    assert rows == dict.fromkeys(vk_people, store.SENT)
    assert not services.mailing.running


async def test_reminder_in_vk_once_to_consenting_with_a_retry_deduplicated(
    database: Database, fake: FakeVk, storage: Storage, questionnaire: Questionnaire
) -> None:
    """Unfinished VK surveys get one reminder through the VK client; a failed attempt retried by
    the client carries the same random_id (derived from the reminder row), so one message."""
    peers = list(range(FIRST_PEER, FIRST_PEER + 3))
    ids = await seed(storage, 3, first=FIRST_PEER, channel="vk", withdrawn=[peers[2]])
    tg = await seed(storage, 1, first=FIRST_CHAT, channel="telegram")  # no Telegram runner here
    async with storage.transaction() as conn:
        for person, channel in [*((i, "vk") for i in ids), (tg[0], "telegram")]:
            await repo.create_session(conn, questionnaire, respondent_id=person, channel=channel,
                                      source="direct", source_ref=None, prefill={},
                                      now=now() - timedelta(hours=30))  # fmt: skip
        done = await repo.active_session(conn, ids[1])
        assert done is not None
        await repo.finish_session(conn, done.id, repo.COMPLETED, now())
    fake.fail("messages.send", 10)  # the first attempt fails: the client retries it
    reminder = {"enabled": True, "after_hours": 24, "check_minutes": 0.005, "text": "Продолжим опрос?"}
    service = VkService(vk_settings(database, fake, reminder=reminder), storage)
    try:
        await fake.wait_for(lambda: bool(fake.sent))
        await asyncio.sleep(0.45)  # the check runs at least once more (every 0.3 s): still one
    finally:
        await service.stop()

    async with storage.transaction() as conn:
        rows = [(r.id, r.respondent_id, r.status) for r in await conn.execute(select(reminders))]
    assert [(person, status) for _, person, status in rows] == [(ids[0], store.SENT)]
    (message,) = fake.sent
    assert (message.peer_id, message.text) == (peers[0], "Продолжим опрос?")
    assert message.random_id == random_id(peers[0], f"reminder:{rows[0][0]}")
    assert message.buttons() == [
        {"type": "open_link", "link": f"https://vk.me/club{GROUP_ID}", "label": "Пройти опрос"}
    ]
    calls = fake.calls_of("messages.send")
    assert [(int(c["peer_id"]), int(c["random_id"])) for c in calls] == [(peers[0], message.random_id)] * 2
