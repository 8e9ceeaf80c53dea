"""An aiosqlite-compatible connection that runs `sqlite3` calls inline in the event loop thread.

aiosqlite hands every call to a worker thread and back, which costs several times the call
itself (docs/performance.md). A statement on a local WAL file takes microseconds and Storage
runs one SQLite transaction at a time, so running it inline stalls the loop less than the
hand-offs did. SQLAlchemy's `sqlite+aiosqlite` dialect is used unchanged through
`async_creator`: it only needs aiosqlite's public coroutine API.

The price: the event loop blocks while a call waits for SQLite's file lock. A lock held by
another process (a CLI command writing) is waited for at most `busy_timeout` (storage/db.py),
then "database is locked" is raised and the caller retries asynchronously, so the loop never
stalls for longer than that.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection

    @property
    def sqlite3(self) -> sqlite3.Connection:
        """The driver connection itself, for statements run without SQLAlchemy (storage/sqlite/direct.py)."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        cursor = await self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any], **kw: Any) -> None:
        self._conn.create_function(name, num_params, func, **kw)


def creator(path: str, busy_timeout: float) -> Callable[[], Any]:
    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(path, timeout=busy_timeout, check_same_thread=False))

    return connect
