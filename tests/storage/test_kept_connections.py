"""On PostgreSQL the pool's connections stay checked out between transactions
(storage/postgresql/connections.py): reused, never more than the pool size, and a connection that
broke, failed or was cancelled halfway never serves the next transaction in a bad state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.locks import LeaderLock
from storage.store import Storage
from tests.conftest import Database


@pytest.fixture
async def pg(pg_database: Database) -> AsyncIterator[Storage]:
    storage = await pg_database.open(pool_size=3)  # and two held ones (storage/db.py)
    yield storage
    await storage.close()


async def backend(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_one_at_a_time_transactions_reuse_one_connection(pg: Storage) -> None:
    pids = set()
    for _ in range(5):
        async with pg.transaction() as conn:
            pids.add(await backend(conn))
    assert len(pids) == 1
    assert pg.engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # kept, not checked in


async def test_concurrent_transactions_use_at_most_the_pool_size_and_all_finish(pg: Storage) -> None:
    pids: list[int] = []
    running = 0
    most = 0

    async def work() -> None:
        nonlocal running, most
        async with pg.transaction() as conn:
            running += 1
            most = max(most, running)
            pids.append(await backend(conn))
            await asyncio.sleep(0.02)
            running -= 1

    await asyncio.wait_for(asyncio.gather(*(work() for _ in range(12))), timeout=20)
    assert len(pids) == 12
    assert most == 3 and len(set(pids)) == 3


async def test_held_connections_take_no_transaction_s_place_and_nothing_waits_forever(
    pg: Storage,
) -> None:
    """The leader locks' connections (one each for the mailing and the cases) come from the
    pool's overflow: transactions keep all `pool_size` of theirs, and none times out in
    SQLAlchemy's pool, whose connections the kept ones are."""
    leaders = [LeaderLock(pg, name) for name in ("mailing", "cases")]
    for leader in leaders:
        assert await leader.try_acquire()
    running = 0
    most = 0

    async def work() -> None:
        nonlocal running, most
        async with pg.transaction() as conn:
            running += 1
            most = max(most, running)
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)
            running -= 1

    await asyncio.wait_for(asyncio.gather(*(work() for _ in range(9))), timeout=20)
    assert most == 3  # the pool size, though two connections are held
    assert all([await leader.still_held() for leader in leaders])
    for leader in leaders:
        await leader.release()
    assert await leaders[0].try_acquire()  # released for real: taken again
    await leaders[0].release()


async def test_a_failed_transaction_is_rolled_back_and_its_connection_serves_the_next(pg: Storage) -> None:
    async with pg.transaction() as conn:
        await conn.execute(text("CREATE TABLE kept_probe (id int PRIMARY KEY)"))
        await conn.execute(text("INSERT INTO kept_probe VALUES (1)"))
        before = await backend(conn)
    with pytest.raises(IntegrityError):
        async with pg.transaction() as conn:
            await conn.execute(text("INSERT INTO kept_probe VALUES (2)"))
            await conn.execute(text("INSERT INTO kept_probe VALUES (1)"))
    async with pg.transaction() as conn:
        assert await backend(conn) == before
        assert (await conn.execute(text("SELECT array_agg(id) FROM kept_probe"))).scalar_one() == [1]


async def kept_idle(pg: Storage, count: int) -> set[int]:
    """`count` transactions at once, so `count` connections are kept idle after: their pids."""
    go = asyncio.Event()
    events = [asyncio.Event() for _ in range(count)]

    async def hold(ready: asyncio.Event) -> int:
        async with pg.transaction() as conn:
            ready.set()
            await go.wait()
            return await backend(conn)

    tasks = [asyncio.create_task(hold(ready)) for ready in events]
    for ready in events:
        await ready.wait()
    go.set()
    return set(await asyncio.gather(*tasks))


async def stuck_transaction(pg: Storage) -> asyncio.Task[None]:
    """A transaction inside a five-second statement, for its caller to cancel."""
    inside = asyncio.Event()

    async def slow() -> None:
        async with pg.transaction() as conn:
            await conn.execute(text("SELECT 1"))
            inside.set()
            await conn.execute(text("SELECT pg_sleep(5)"))

    task = asyncio.create_task(slow())
    await inside.wait()
    await asyncio.sleep(0.2)
    return task


async def next_transactions(pg: Storage) -> set[int]:
    """Four transactions one after another, each served at once (not after the 5 s sleep)."""
    seen: set[int] = set()

    async def next_ones() -> None:
        for _ in range(4):
            async with pg.transaction() as conn:
                seen.add(await backend(conn))

    await asyncio.wait_for(next_ones(), timeout=3)
    return seen


async def test_a_cancelled_transaction_loses_its_connection_only(pg: Storage) -> None:
    idle = await kept_idle(pg, 2)
    task = await stuck_transaction(pg)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    seen = await next_transactions(pg)
    assert seen <= idle  # the other kept connections were not closed: a cancel is no outage


async def test_after_the_server_dropped_the_connections_one_failure_clears_them_all(
    pg: Storage, pg_database: Database
) -> None:
    old = await kept_idle(pg, 3)
    assert len(old) == 3  # three connections kept idle now
    killer = await pg_database.open(pool_size=1)
    try:
        async with killer.transaction() as conn:
            for pid in old:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.close()
    with pytest.raises(DBAPIError) as failed:
        async with pg.transaction() as conn:
            await conn.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated
    async with pg.transaction() as conn:  # a new connection, not another dead one
        assert await backend(conn) not in old


async def test_cancelled_again_during_its_rollback_the_connection_is_not_kept_inside_it(pg: Storage) -> None:
    task = await stuck_transaction(pg)
    while not task.done():  # a stubborn caller: the rollback itself is cancelled as well
        task.cancel()
        await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await next_transactions(pg)
