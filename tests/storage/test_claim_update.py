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
from tests.conftest import Database

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
async def two_workers(database: Database) -> AsyncIterator[tuple[Storage, Storage]]:
    if database.kind != "postgresql":
        pytest.skip("one SQLite file has one service process, which queues its transactions")
    first, second = await database.open(), await database.open()
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

    async def worker_one() -> repo.Respondent | None:
        async with first.transaction() as conn:
            claimed = await repo.claim_update(conn, "telegram", "7", "42", NOW, bot="b")
            first_claimed.set()
            await release_first.wait()  # still uncommitted while the redelivery arrives
            return claimed

    async def worker_two() -> repo.Respondent | None:
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
            await repo.set_dialog(conn, claimed.id, {"phase": "survey", "session": 1})
            first_claimed.set()
            await release_first.wait()

    async def worker_two() -> repo.Respondent | None:
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
    assert seen is not None and seen.dialog == {"phase": "survey", "session": 1}
