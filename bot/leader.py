"""Leader election: only one process runs the scheduler and the mailing sender.

On PostgreSQL a session-level advisory lock, held on a dedicated connection for as long as the
process leads; if that connection breaks the lock is gone and the work stops (another process
may take over). On SQLite a single service process is assumed and it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.retry import sleep_until
from storage.store import Storage

log = logging.getLogger(__name__)


def lock_key(name: str, schema: str | None) -> int:
    """A stable 32-bit key per deployment: two schemas in one database don't block each other."""
    return zlib.crc32(f"otklik:{name}:{schema or 'public'}".encode())


class LeaderLock:
    def __init__(self, storage: Storage, name: str, schema: str | None = None) -> None:
        self.storage = storage
        self.key = lock_key(name, schema)
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self.storage.dialect != "postgresql"

    async def try_acquire(self) -> bool:
        if self.storage.dialect != "postgresql":
            return True
        if self._conn is not None:
            return True
        conn = await self.storage.engine.connect()
        try:
            got = bool(
                (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})).scalar()
            )
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def still_held(self) -> bool:
        if self.storage.dialect != "postgresql":
            return True
        if self._conn is None:
            return False
        try:
            await self._conn.execute(text("SELECT 1"))
            await self._conn.commit()
        except (SQLAlchemyError, OSError):
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(SQLAlchemyError, OSError):
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await self._conn.commit()
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.close()


async def run_as_leader(
    lock: LeaderLock,
    work: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    *,
    retry_seconds: float = 10.0,
    check_seconds: float = 5.0,
    on_standby: Callable[[], None] | None = None,
    on_leading: Callable[[bool], None] | None = None,
) -> None:
    """Run `work(lost)` whenever this process holds the lock; `lost` is set when it is lost or on stop.

    If `work` fails, the lock is released and its exception is raised here: the caller supervises
    (logs it and restarts after a backoff, bot/mailing/hub.py).
    """
    while not stop.is_set():
        try:
            acquired = await lock.try_acquire()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("leader election: database unavailable (%s)", type(exc).__name__)
            acquired = False
        else:
            if not acquired and on_standby is not None:
                on_standby()  # another process leads: nothing is expected of this one
        if not acquired:
            await sleep_until(stop, retry_seconds)
            continue
        log.info("leader: this process runs the scheduler and the mailing sender")
        if on_leading is not None:
            on_leading(True)
        lost = asyncio.Event()
        task = asyncio.create_task(work(lost))
        try:
            while not task.done():
                await sleep_until(stop, check_seconds, task)
                if stop.is_set() or not await lock.still_held():
                    if not stop.is_set():
                        log.warning("leader: lock lost, stopping scheduler and sender")
                    break
        finally:
            lost.set()
            # The work's own failure is raised below, once the lock is released; here only a
            # slow stop is waited for (a failure raised from this wait would skip the release).
            await asyncio.wait({task}, timeout=10)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            await lock.release()
            if on_leading is not None:
                on_leading(False)
        if not task.cancelled() and (failure := task.exception()) is not None:
            raise failure
