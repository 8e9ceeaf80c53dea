"""repo.claim_update, where every update starts, keeps the guarantees of several workers on one
PostgreSQL: a redelivery racing the first delivery is seen as handled once the first commits,
and a second worker on the same respondent waits for the first and then sees what it committed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from storage import repository as repo
from storage.store import Storage
from survey_flow.engine import Answer
from survey_flow.model import Questionnaire
from tests.conftest import Database

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
async def two_workers(pg_database: Database) -> AsyncIterator[tuple[Storage, Storage]]:
    # PostgreSQL only: one SQLite file has one service process, which queues its transactions.
    first, second = await pg_database.open(), await pg_database.open()
    async with first.transaction() as conn:
        await repo.get_or_create_respondent(conn, "telegram", "42", NOW)
    yield first, second
    await first.close()
    await second.close()


async def test_a_redelivery_racing_the_first_delivery_is_handled_once(
    two_workers: tuple[Storage, Storage],
) -> None:
    first, second = two_workers
    first_claimed = asyncio.Event()
    release_first = asyncio.Event()

    async def worker_one() -> repo.Claim | None:
        async with first.transaction() as conn:
            claimed = await repo.claim_update(conn, "telegram", "7", "42", NOW, bot="b")
            first_claimed.set()
            await release_first.wait()  # still uncommitted while the redelivery arrives
            return claimed

    async def worker_two() -> repo.Claim | None:
        await first_claimed.wait()
        async with second.transaction() as conn:
            return await repo.claim_update(conn, "telegram", "7", "42", NOW, bot="b")

    one = asyncio.create_task(worker_one())
    two = asyncio.create_task(worker_two())
    await first_claimed.wait()
    await asyncio.sleep(0.3)
    assert not two.done()  # waits on the first worker's uncommitted marker (and row lock)
    release_first.set()
    assert await one is not None
    assert await two is None


async def test_a_second_worker_on_one_respondent_waits_and_sees_the_first_ones_write(
    two_workers: tuple[Storage, Storage],
) -> None:
    first, second = two_workers
    first_claimed = asyncio.Event()
    release_first = asyncio.Event()

    async def worker_one() -> None:
        async with first.transaction() as conn:
            claimed = await repo.claim_update(conn, "telegram", "8", "42", NOW, bot="b")
            assert claimed is not None
            await repo.set_dialog(conn, claimed.respondent.id, {"phase": "survey", "session": 1})
            first_claimed.set()
            await release_first.wait()

    async def worker_two() -> repo.Claim | None:
        await first_claimed.wait()
        async with second.transaction() as conn:
            return await repo.claim_update(conn, "telegram", "9", "42", NOW, bot="b")

    one = asyncio.create_task(worker_one())
    two = asyncio.create_task(worker_two())
    await first_claimed.wait()
    await asyncio.sleep(0.3)
    assert not two.done()  # the respondent's row is locked by the first worker
    release_first.set()
    await one
    seen = await two
    assert seen is not None and seen.respondent.dialog == {"phase": "survey", "session": 1}


async def test_the_claim_reads_the_session_in_progress_only_when_no_other_worker_changed_it(
    two_workers: tuple[Storage, Storage], questionnaire: Questionnaire
) -> None:
    """The claim reads the newest session in progress with its answers in the same statement.
    If it waited for another worker's lock, those answers come from before the other worker's
    commit: the claim must then say it does not know them, and a fresh read must see the write."""
    first, second = two_workers
    async with first.transaction() as conn:
        claimed = await repo.claim_update(conn, "telegram", "20", "42", NOW, bot="b")
        assert claimed is not None and claimed.in_progress is None  # nothing in progress yet
        session = await repo.create_session(
            conn, questionnaire, respondent_id=claimed.respondent.id, channel="telegram",
            source="direct", source_ref=None, prefill={}, now=NOW,
        )  # fmt: skip
        one = {"1": Answer(option="2")}
        await repo.sync_answers(conn, questionnaire, session.id, {}, one, NOW)
    async with second.transaction() as conn:
        claimed = await repo.claim_update(conn, "telegram", "21", "42", NOW, bot="b")
        assert claimed is not None and claimed.in_progress == (session, one)

    first_claimed = asyncio.Event()
    release_first = asyncio.Event()
    two = {**one, "2": Answer(option="1")}

    async def worker_one() -> None:
        async with first.transaction() as conn:
            assert await repo.claim_update(conn, "telegram", "22", "42", NOW, bot="b") is not None
            await repo.sync_answers(conn, questionnaire, session.id, one, two, NOW)
            first_claimed.set()
            await release_first.wait()

    async def worker_two() -> tuple[repo.Claim | None, object]:
        await first_claimed.wait()
        async with second.transaction() as conn:
            raced = await repo.claim_update(conn, "telegram", "23", "42", NOW, bot="b")
            return raced, await repo.session_with_answers(conn, session.id)

    task_one = asyncio.create_task(worker_one())
    task_two = asyncio.create_task(worker_two())
    await first_claimed.wait()
    await asyncio.sleep(0.3)
    assert not task_two.done()  # waits for the first worker's lock
    release_first.set()
    await task_one
    raced, fresh = await task_two
    assert raced is not None and raced.in_progress is None  # its own read predates the commit
    assert fresh == (session, two)
    async with second.transaction() as conn:
        again = await repo.claim_update(conn, "telegram", "24", "42", NOW, bot="b")
        assert again is not None and again.in_progress == (session, two)
