"""A compiled statement run straight on the `sqlite3` connection of the caller's transaction.

Used by `storage.statement.Statement` only: the connection is the one SQLAlchemy's transaction
holds (storage/sqlite/driver.py), so the statement commits and rolls back with everything else.
Values pass through SQLAlchemy's own bind and result processors of each column type, so what is
stored and read is the same as through `AsyncConnection.execute`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.compiled import Compiled
from storage.sqlite.driver import InlineConnection


def driver_of(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The `sqlite3` connection under `conn`, None if it is not the embedded SQLite driver."""
    driver = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    return driver.sqlite3 if isinstance(driver, InlineConnection) else None


def execute(
    sqlite: sqlite3.Connection, compiled: Compiled, params: Mapping[str, Any]
) -> tuple[list[tuple[Any, ...]], int]:
    """The result rows (values processed as SQLAlchemy would) and the number of rows changed."""
    values = compiled.construct(params)
    bound = [values[name] if process is None else process(values[name]) for name, process in compiled.binds]
    try:
        cursor = sqlite.execute(compiled.sql, bound)
    except sqlite3.Error as exc:
        # The same exception classes as through SQLAlchemy (OperationalError when the file is
        # locked, IntegrityError, ...), so callers' retry and error handling stay the same.
        raise DBAPIError.instance(compiled.sql, bound, exc, sqlite3.Error) from exc
    results = compiled.results
    if not results:
        return [], cursor.rowcount
    rows = [
        tuple(
            value if process is None else process(value) for value, process in zip(row, results, strict=True)
        )
        for row in cursor.fetchall()
    ]
    return rows, cursor.rowcount
