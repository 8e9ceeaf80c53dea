"""Leader election (PostgreSQL advisory lock) and the optional reminder after an unfinished survey."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage import repository as repo
from storage.locks import LeaderLock
from storage.schema import reminders
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.bot.mailing.conftest import FIRST_CHAT, mailing_service, now, seed
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram


async def test_only_one_leader_per_deployment(database: Database) -> None:
    first, second = await database.open(), await database.open()
    try:
        a = LeaderLock(first, "mailing", database.schema)
        b = LeaderLock(second, "mailing", database.schema)
        other_deployment = LeaderLock(second, "mailing", "another_schema")
        assert await a.try_acquire()
        if database.kind == "postgresql":
            assert not await b.try_acquire()  # the second process waits
            assert await other_deployment.try_acquire()  # a different schema is not blocked
            await other_deployment.release()
            assert await a.still_held()
            await a.release()
            assert await b.try_acquire()  # it takes over once the first lets go
            await b.release()
        else:
            assert await b.try_acquire()  # SQLite: one service process is assumed
    finally:
        await first.close()
        await second.close()


async def test_reminder_once_to_consenting_after_an_unfinished_survey(
    database: Database, fake_tg: FakeTelegram, questionnaire: Questionnaire
) -> None:
    storage: Storage = await database.open()
    try:
        ids = await seed(storage, 3, withdrawn=[FIRST_CHAT + 2])
        async with storage.transaction() as conn:
            for person in ids:
                await repo.create_session(conn, questionnaire, respondent_id=person, channel="telegram",
                                          source="direct", source_ref=None, prefill={},
                                          now=now() - timedelta(hours=30))  # fmt: skip
            done = await repo.active_session(conn, ids[1])
            assert done is not None
            await repo.finish_session(conn, done.id, repo.COMPLETED, now())
    finally:
        await storage.close()
    # A check every 0.18 s: the reminder goes out at once, and the 0.6 s wait below sees three more checks.
    reminder = {"enabled": True, "after_hours": 24, "check_minutes": 0.003, "text": "Продолжим опрос?"}
    service = await mailing_service(database, fake_tg, reminder=reminder).start()
    try:
        await fake_tg.wait_for(lambda: bool(fake_tg.chat(FIRST_CHAT)), timeout=15)
        await asyncio.sleep(0.6)  # more checks run: still one reminder
        assert fake_tg.texts(FIRST_CHAT) == ["Продолжим опрос?"]
        assert fake_tg.chat(FIRST_CHAT)[0].buttons[0]["url"] == "https://t.me/otklik_test_bot"
        assert fake_tg.chat(FIRST_CHAT + 1) == []  # completed
        assert fake_tg.chat(FIRST_CHAT + 2) == []  # withdrew consent
        assert service.storage is not None
        async with service.storage.transaction() as conn:
            statuses = [r.status for r in await conn.execute(select(reminders))]
        assert statuses == ["sent"]
    finally:
        await service.stop()


async def test_reminders_are_off_by_default(
    database: Database, fake_tg: FakeTelegram, questionnaire: Questionnaire
) -> None:
    storage = await database.open()
    try:
        ids = await seed(storage, 1)
        async with storage.transaction() as conn:
            await repo.create_session(conn, questionnaire, respondent_id=ids[0], channel="telegram",
                                      source="direct", source_ref=None, prefill={},
                                      now=now() - timedelta(hours=30))  # fmt: skip
    finally:
        await storage.close()
    service = await mailing_service(database, fake_tg).start()
    try:
        await asyncio.sleep(2)
        assert fake_tg.chat(FIRST_CHAT) == []
    finally:
        await service.stop()


async def test_two_service_processes_one_sender(database: Database, fake_tg: FakeTelegram) -> None:
    """PostgreSQL: two services on one database; the advisory lock lets only one send."""
    if database.kind != "postgresql":
        pytest.skip("SQLite runs one service process per file (docs/mailing.md); PostgreSQL only")
    from tests.bot.mailing.test_campaign_e2e import create, invitations, wait_status

    first = await mailing_service(database, fake_tg).start()
    second = await mailing_service(database, fake_tg).start()
    try:
        assert first.storage is not None
        await seed(first.storage, 40)
        campaign_id = await create(first.storage)
        await wait_status(first.storage, campaign_id, "done")
        await first.stop()  # the leader goes away: the other takes over the next campaign
        await seed(second.storage, 10, first=FIRST_CHAT + 500)  # type: ignore[arg-type]
        next_id = await create(second.storage, text="Вторая")  # type: ignore[arg-type]
        await wait_status(second.storage, next_id, "done", timeout=30)  # type: ignore[arg-type]
    finally:
        await second.stop()
        if first.storage is not None:
            await first.stop()
    got = invitations(fake_tg)
    assert all(len(texts) == 1 for chat, texts in got.items() if chat < FIRST_CHAT + 500)
    assert len([c for c in got if c < FIRST_CHAT + 500]) == 40
    assert all(texts == ["Вторая"] for chat, texts in got.items() if chat >= FIRST_CHAT + 500)


async def test_leader_gauge_follows_the_lock(database: Database) -> None:
    """`otklik_mailing_leader`: 1 while this process leads, 0 once it stopped; a standby never says 1."""
    from bot.runtime.leader import run_as_leader
    from bot.runtime.metrics import Metrics

    first, second = await database.open(), await database.open()
    leading, standby = Metrics(), Metrics()
    stop = asyncio.Event()
    working = asyncio.Event()

    async def work(lost: asyncio.Event) -> None:
        working.set()
        await lost.wait()

    def gauge(metrics: Metrics) -> float | None:
        return metrics.registry.get_sample_value("otklik_mailing_leader")

    runs = [asyncio.create_task(run_as_leader(
        LeaderLock(first, "mailing", database.schema), work, stop, on_leading=leading.set_leader,
    ))]  # fmt: skip
    try:
        await asyncio.wait_for(working.wait(), 10)
        assert gauge(leading) == 1
        if database.kind == "postgresql":
            runs.append(asyncio.create_task(run_as_leader(
                LeaderLock(second, "mailing", database.schema), work, stop, retry_seconds=0.05,
                on_leading=standby.set_leader,
            )))  # fmt: skip
            await asyncio.sleep(0.5)  # several attempts at the lock
            assert gauge(standby) == 0
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*runs), 15)
        await first.close()
        await second.close()
    assert gauge(leading) == 0
