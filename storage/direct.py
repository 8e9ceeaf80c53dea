"""Hot statements compiled once and, on the embedded SQLite, run straight on its driver.

Every chat answer runs a handful of small statements. Through SQLAlchemy Core each costs about
55 µs of Python against about 4 µs inside SQLite (docs/performance.md). A `DirectStatement` is an
ordinary Core statement compiled once per dialect; when the connection is the inline SQLite
driver (storage/inline_sqlite.py) it is executed on that driver's `sqlite3` connection, which is
the connection of the caller's SQLAlchemy transaction, so it commits and rolls back with
everything else. Values pass through SQLAlchemy's own bind and result processors of each
column type, so what is stored and read is the same as through `AsyncConnection.execute`,
which every other database (PostgreSQL) keeps using unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import ClauseElement, Executable

from storage.inline_sqlite import InlineConnection

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    construct: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    binds: tuple[tuple[str, Processor], ...]
    results: tuple[Processor, ...]


class DirectStatement:
    """A Core statement whose execution skips SQLAlchemy's per-call work on inline SQLite.

    `column_keys` names the parameters of an INSERT or UPDATE given at execution (as for
    `conn.execute(insert(table), {...})`); every column with a Python-side default must be
    among them, because defaults are SQLAlchemy's per-execution work that is skipped here.
    """

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The result rows as tuples, in the order of the statement's columns."""
        sqlite = _inline_sqlite(conn)
        if sqlite is None:
            return [tuple(row) for row in await conn.execute(self.statement, dict(params))]
        compiled = self._compile(conn.dialect)
        cursor = self._run(sqlite, compiled, params)
        results = compiled.results
        return [
            tuple(
                value if process is None else process(value)
                for value, process in zip(row, results, strict=True)
            )
            for row in cursor.fetchall()
        ]

    async def first(self, conn: AsyncConnection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        found = await self.rows(conn, params)
        return found[0] if found else None

    async def run(self, conn: AsyncConnection, params: Mapping[str, Any]) -> int:
        """Execute a statement without a result; the number of rows it changed."""
        sqlite = _inline_sqlite(conn)
        if sqlite is None:
            return int((await conn.execute(self.statement, dict(params))).rowcount)
        return int(self._run(sqlite, self._compile(conn.dialect), params).rowcount)

    def _run(
        self, sqlite: sqlite3.Connection, compiled: _Compiled, params: Mapping[str, Any]
    ) -> sqlite3.Cursor:
        values = compiled.construct(params)
        bound = [
            values[name] if process is None else process(values[name]) for name, process in compiled.binds
        ]
        try:
            return sqlite.execute(compiled.sql, bound)
        except sqlite3.Error as exc:
            # The same exception classes as through SQLAlchemy (OperationalError when the file is
            # locked, IntegrityError, ...), so callers' retry and error handling stay the same.
            raise DBAPIError.instance(compiled.sql, bound, exc, sqlite3.Error) from exc

    def _compile(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        compiled: Any = cast(ClauseElement, self.statement).compile(
            dialect=dialect, column_keys=self.column_keys
        )
        if compiled.insert_prefetch or compiled.update_prefetch:
            names = [column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
            raise ValueError(f"direct statement needs values for columns with defaults: {names}")
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("direct statements take no IN lists (expanding parameters)")
        original = {escaped: name for name, escaped in (compiled.escaped_bind_names or {}).items()}
        binds = tuple(
            (
                name,
                compiled.binds[original.get(name, name)].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in compiled.positiontup or ()
        )
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(self.statement, "exported_columns", ())
        )
        found = _Compiled(compiled.string, compiled.construct_params, binds, results)
        self._compiled[dialect.name] = found
        return found


def _inline_sqlite(conn: AsyncConnection) -> sqlite3.Connection | None:
    driver = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    return driver.sqlite3 if isinstance(driver, InlineConnection) else None
