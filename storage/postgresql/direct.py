"""A compiled statement run straight on the asyncpg connection of the caller's transaction.

Used by `storage.statement.Statement` only. The connection is the one SQLAlchemy's transaction
holds, so the statement commits and rolls back with everything else; the transaction is begun
the way SQLAlchemy's asyncpg adapter begins it when its first statement runs. asyncpg keeps the
statement prepared per connection (its statement cache), and values pass through SQLAlchemy's
own bind and result processors of each column type, so what is stored and read is the same as
through `AsyncConnection.execute`. Errors are SQLAlchemy's exception classes, and a broken
connection is invalidated with the rest of the pool, as SQLAlchemy itself does on a disconnect.

This reaches into SQLAlchemy's asyncpg adapter (`_started`, `_start_transaction`,
`_handle_exception`, `_execute_mutex`): pinned by the SQLAlchemy range in pyproject.toml and
checked by tests/storage/test_direct_statement.py, which runs every statement both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.compiled import Compiled


def driver_of(conn: AsyncConnection) -> AsyncAdapt_asyncpg_connection | None:
    """SQLAlchemy's adapter around the asyncpg connection under `conn`, None for other drivers."""
    sync = conn.sync_connection
    adapter = sync.connection.dbapi_connection if sync is not None else None
    return adapter if isinstance(adapter, AsyncAdapt_asyncpg_connection) else None


async def execute(
    conn: AsyncConnection, adapter: Any, compiled: Compiled, params: Mapping[str, Any]
) -> tuple[list[tuple[Any, ...]], int]:
    """The result rows (values processed as SQLAlchemy would) and the number of rows changed."""
    values = compiled.construct(params)
    bound = [values[name] if process is None else process(values[name]) for name, process in compiled.binds]
    try:
        async with adapter._execute_mutex:
            if not adapter._started:
                await adapter._start_transaction()
            try:
                if compiled.results:
                    records = await adapter._connection.fetch(compiled.sql, *bound)
                else:
                    status = await adapter._connection.execute(compiled.sql, *bound)
            except Exception as error:
                adapter._handle_exception(error)  # raises the adapter's DB-API class for it
    except adapter.dbapi.Error as error:
        raise await _as_sqlalchemy_error(conn, adapter, compiled.sql, bound, error) from error
    if not compiled.results:
        # "INSERT 0 1", "UPDATE 3", "DELETE 0": the count is the last word.
        return [], int(status.rsplit(" ", 1)[-1])
    results = compiled.results
    rows = [
        tuple(
            value if process is None else process(value) for value, process in zip(row, results, strict=True)
        )
        for row in records
    ]
    return rows, len(rows)


async def _as_sqlalchemy_error(
    conn: AsyncConnection, adapter: Any, sql: str, bound: list[Any], error: Exception
) -> StatementError:
    dialect = conn.dialect
    disconnect = dialect.is_disconnect(error, adapter, None)  # type: ignore[arg-type]
    wrapped = DBAPIError.instance(
        sql, bound, error, dialect.loaded_dbapi.Error, connection_invalidated=disconnect, dialect=dialect
    )
    if disconnect and conn.sync_connection is not None:
        # What SQLAlchemy does on a disconnect: every pooled connection older than now is
        # replaced on its next checkout (the server restarted or the network broke for all).
        sync = conn.sync_connection
        sync.engine.pool._invalidate(sync.connection, error)
        await conn.invalidate(error)
    return wrapped
