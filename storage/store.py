"""The Storage handle passed to channels: an engine with migrations applied."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import create_engine, migrate, needs_new_connection, safe_url
from storage.postgresql.connections import KeptConnections


class Storage:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite has one writer at a time: concurrent transactions from one process would spin
        # in its busy handler (sleeping up to 100 ms per try) or fail to upgrade a read snapshot.
        # Queueing them in the event loop is both faster and deterministic.
        self._sqlite_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # SQLite has one connection (StaticPool): keeping it checked out saves the pool's
        # checkout and reset-on-return, about two thirds of an empty transaction's cost.
        self._sqlite_conn: AsyncConnection | None = None
        # PostgreSQL: the pool's connections stay checked out between transactions, for the same
        # reason (storage/postgresql/connections.py).
        self._kept = (
            KeptConnections(engine, engine.pool.size())  # type: ignore[attr-defined]
            if engine.dialect.name == "postgresql"
            else None
        )

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, pool_size: int = 5, create: bool = True
    ) -> Storage:
        """`create=False` for commands that only work with existing data: a SQLite file that
        does not exist is then an error naming it, never a new empty database."""
        engine = create_engine(url, schema=schema, pool_size=pool_size, create=create)
        try:
            await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return safe_url(str(self.engine.url))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One committed unit of work; an exception rolls everything in it back."""
        if self._kept is not None:
            async with self._kept.transaction() as conn:
                yield conn
            return
        if self._sqlite_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._sqlite_lock:
            if self._sqlite_conn is None or self._sqlite_conn.closed or self._sqlite_conn.invalidated:
                self._sqlite_conn = await self.engine.connect()
            conn = self._sqlite_conn
            try:
                async with conn.begin():
                    yield conn
            except Exception as exc:
                if needs_new_connection(exc):
                    # Kept, this connection would fail the same way after the cause is gone (a
                    # read-only one stays read-only): the next transaction opens a new one.
                    self._sqlite_conn = None
                    with contextlib.suppress(Exception):
                        await conn.invalidate()
                raise

    async def hold_connection(self) -> AsyncConnection:
        """A connection outside the transactions of this class, for session-level state (an
        advisory lock), until `release_connection`; on PostgreSQL one of HELD_CONNECTIONS."""
        return await self.engine.connect()

    async def release_connection(self, conn: AsyncConnection) -> None:
        with contextlib.suppress(SQLAlchemyError, OSError):
            await conn.close()

    async def close(self) -> None:
        """Closes every connection; a transaction after this opens new ones."""
        if self._kept is not None:
            await self._kept.close()
        if self._sqlite_conn is not None:
            await self._sqlite_conn.close()
            self._sqlite_conn = None
        await self.engine.dispose()
