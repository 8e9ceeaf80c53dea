"""The one way storage/repository.py runs SQL: a Core statement built once, rows read by name.

A `Statement` is an ordinary SQLAlchemy Core statement, compiled once per dialect. Each chat
answer runs a handful of small statements, and SQLAlchemy's per-call work costs several times
what the database spends on them (docs/performance.md), so a statement runs straight on the
driver connection of the caller's transaction: `sqlite3` under the embedded SQLite
(storage/sqlite/direct.py), asyncpg under PostgreSQL (storage/postgresql/direct.py), with
SQLAlchemy's own type processors for binding and reading values, so what is stored and read is
the same as through `AsyncConnection.execute` (the path of any other driver).
tests/storage/test_direct_statement.py runs every statement of the repository both ways and compares.

The rules that make the fast path possible are checked when the statement is built (at import):
every value comes from a named parameter or a literal, never from a Python-side column default,
and no parameter is an IN list. Rows are named tuples keyed by the statement's columns.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from storage.compiled import Compiled, compiled_for_driver
from storage.postgresql import direct as postgresql_direct
from storage.sqlite import direct as sqlite_direct

# A statement whose syntax differs per dialect (ON CONFLICT ...) is built by a function of the
# dialect's name; every other one is built once and shared.
Build = Callable[[str], Executable]


def dialect_insert(dialect: str, table: Any) -> Any:
    """INSERT of the named dialect: ON CONFLICT clauses are dialect syntax."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


class Statement:
    """`only_on`: the dialects whose syntax the statement needs (a data-modifying WITH is
    PostgreSQL's); running it elsewhere is an error, so callers ask `runs_on` first."""

    def __init__(self, statement: Executable | Build, *, only_on: tuple[str, ...] | None = None) -> None:
        self._build: Build = statement if callable(statement) else (lambda _dialect: statement)
        self._statements: dict[str, Executable] = {}
        self._compiled: dict[str, Compiled] = {}
        self.only_on = only_on
        # Built and checked now, so a statement the fast path cannot run fails at import.
        name = only_on[0] if only_on else "sqlite"
        dialect = postgresql.dialect() if name == "postgresql" else sqlite.dialect()  # type: ignore[no-untyped-call]
        probe = cast(ClauseElement, self._statement(name))
        compiled = cast(SQLCompiler, probe.compile(dialect=dialect))
        _check(compiled)
        # SQLAlchemy reads the parameters given at execution as the columns an INSERT or UPDATE
        # sets: a WHERE parameter named after a column would be refused there, so refuse it here.
        probe.compile(dialect=dialect, column_keys=list(compiled.binds))
        columns = getattr(probe, "exported_columns", ())
        self._columns = tuple(columns)
        self.row: Any = namedtuple("Row", [column.key for column in columns]) if columns else None

    def runs_on(self, conn: AsyncConnection) -> bool:
        return self.only_on is None or conn.dialect.name in self.only_on

    async def rows(self, conn: AsyncConnection, **params: Any) -> list[Any]:
        """The result rows, each a named tuple of the statement's columns."""
        rows, _count = await self._execute(conn, params)
        return rows

    async def first(self, conn: AsyncConnection, **params: Any) -> Any | None:
        rows, _count = await self._execute(conn, params)
        return rows[0] if rows else None

    async def run(self, conn: AsyncConnection, **params: Any) -> int:
        """Execute; the number of rows it changed (of a statement with columns: rows returned)."""
        _rows, count = await self._execute(conn, params)
        return count

    async def _execute(self, conn: AsyncConnection, params: Mapping[str, Any]) -> tuple[list[Any], int]:
        if self.only_on is not None and conn.dialect.name not in self.only_on:
            raise ValueError(f"this statement runs on {', '.join(self.only_on)} only")
        sqlite = sqlite_direct.driver_of(conn)
        if sqlite is not None:
            rows, count = sqlite_direct.execute(sqlite, self._compile(conn.dialect), params)
        else:
            asyncpg = postgresql_direct.driver_of(conn)
            if asyncpg is None:
                return await self.through_sqlalchemy(conn, params)
            rows, count = await postgresql_direct.execute(conn, asyncpg, self._compile(conn.dialect), params)
        if self.row is None:
            return [], count
        made = [self.row._make(row) for row in rows]
        return made, len(made)

    async def through_sqlalchemy(
        self, conn: AsyncConnection, params: Mapping[str, Any]
    ) -> tuple[list[Any], int]:
        """The reference path, `AsyncConnection.execute`: rows and the number of rows changed."""
        result = await conn.execute(self._statement(conn.dialect.name), dict(params))
        if self.row is None:
            return [], int(result.rowcount)
        made = [self.row._make(row) for row in result]
        return made, len(made)

    def _statement(self, dialect: str) -> Executable:
        found = self._statements.get(dialect)
        if found is None:
            found = self._statements[dialect] = self._build(dialect)
        return found

    def _compile(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            statement = cast(ClauseElement, self._statement(dialect.name))
            compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
            found = compiled_for_driver(compiled, dialect, self._columns)
            self._compiled[dialect.name] = found
        return found


def _check(compiled: Any) -> None:
    if compiled.insert_prefetch or compiled.update_prefetch:
        names = [column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
        raise ValueError(f"a Statement takes every value as a parameter, not a column default: {names}")
    if any(bind.expanding for bind in compiled.binds.values()):
        raise ValueError("a Statement takes no IN lists (expanding parameters)")
