"""PostgreSQL connections kept checked out of SQLAlchemy's pool between transactions.

Checking a connection out of SQLAlchemy's pool and back in costs about 0.2 ms of CPU per
transaction (greenlet hand-offs, the pool's bookkeeping and events), a sixth of a chat answer's
own CPU on PostgreSQL (docs/performance.md). The embedded SQLite path keeps its one connection for
the same reason (storage/store.py). Here up to `size` connections are kept: a transaction takes
an idle one (the most recently used, whose statements asyncpg has prepared) or opens one through
the pool, and gives it back when it ends. A semaphore of `size` makes transactions wait here,
in the event loop, rather than in the pool, whose connections this class holds. Connections held
outside transactions (leader locks) come from the pool's overflow (storage/db.py), not from here.

A connection that broke is not kept. When one broke because the server went away, every idle
one is closed too (they were opened before the break), as SQLAlchemy's pool does on a disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class KeptConnections:
    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self._engine = engine
        self._idle: list[AsyncConnection] = []
        self._free = asyncio.Semaphore(size)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One committed unit of work on a kept connection; an exception rolls it back."""
        async with self._free:
            conn = await self._take()
            try:
                async with conn.begin():
                    yield conn
            except BaseException as error:
                await self._after_failure(conn, error)
                raise
            self._idle.append(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.close()

    async def _take(self) -> AsyncConnection:
        while self._idle:
            conn = self._idle.pop()
            if not (conn.closed or conn.invalidated):
                return conn
        return await self._engine.connect()

    async def _after_failure(self, conn: AsyncConnection, error: BaseException) -> None:
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            # The server went away (a restart, the network): the idle ones are as dead.
            await self.close()
        # A statement cancelled halfway invalidates its connection (SQLAlchemy's asyncpg
        # adapter); one still inside a transaction would refuse the next `begin`.
        if conn.closed or conn.invalidated or conn.in_transaction():
            with contextlib.suppress(SQLAlchemyError, OSError):
                await asyncio.shield(conn.close())
            return
        self._idle.append(conn)
