"""Database locks that coordinate several service processes on one database.

`LeaderLock`: on PostgreSQL a session-level advisory lock, held on a dedicated connection for as
long as the process leads; if that connection breaks the lock is gone (another process may take
over). On SQLite a single service process is assumed and it always holds the lock.
"""

from __future__ import annotations

import contextlib
import zlib

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.store import Storage


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
        conn = await self.storage.hold_connection()
        try:
            got = bool(
                (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})).scalar()
            )
            await conn.commit()
        except BaseException:
            await self.storage.release_connection(conn)
            raise
        if not got:
            await self.storage.release_connection(conn)
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
            await self.storage.release_connection(conn)
