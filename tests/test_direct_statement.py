"""storage/direct.py: statements run straight on SQLite's driver store and read exactly what
SQLAlchemy Core would, commit and roll back with the caller's transaction, and fail with
SQLAlchemy's exception classes. On PostgreSQL they go through SQLAlchemy unchanged."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.direct import DirectStatement
from storage.schema import respondents
from storage.store import Storage

R = respondents.c
COLUMNS = (R.id, R.pseudonym, R.channel, R.external_id, R.name, R.dialog, R.unreachable_at, R.created_at)
KEYS = ("pseudonym", "channel", "external_id", "name", "dialog", "unreachable_at", "created_at")
INSERT = DirectStatement(insert(respondents), column_keys=KEYS)
BY_EXTERNAL = DirectStatement(select(*COLUMNS).where(R.external_id == bindparam("b_external")))
WHEN = datetime(2025, 7, 1, 9, 30, 15, 123456, tzinfo=UTC)


def values(external: str) -> dict[str, object]:
    return {
        "pseudonym": f"p{external}", "channel": "telegram", "external_id": external, "name": "Анна «Ё»",
        "dialog": {"phase": "survey", "session": 7, "list": [1, None, "я"]},
        "unreachable_at": WHEN, "created_at": WHEN,
    }  # fmt: skip


async def test_reads_and_writes_the_same_values_as_sqlalchemy(storage: Storage) -> None:
    async with storage.transaction() as conn:
        assert await INSERT.run(conn, values("direct")) == 1
        await conn.execute(insert(respondents), values("core"))
    async with storage.transaction() as conn:
        for external in ("direct", "core"):
            direct = await BY_EXTERNAL.first(conn, {"b_external": external})
            core = (await conn.execute(select(*COLUMNS).where(R.external_id == external))).one()
            assert direct == tuple(core)
            assert direct is not None and direct[1:6] == (
                f"p{external}",
                "telegram",
                external,
                "Анна «Ё»",
                values(external)["dialog"],
            )
            stored = direct[6]
            assert stored.replace(tzinfo=stored.tzinfo or UTC) == WHEN  # SQLite returns it naive
        assert await BY_EXTERNAL.first(conn, {"b_external": "nobody"}) is None


async def test_rolls_back_with_the_callers_transaction(storage: Storage) -> None:
    with pytest.raises(RuntimeError):
        async with storage.transaction() as conn:
            await INSERT.run(conn, values("gone"))
            raise RuntimeError("handler failed after the write")
    async with storage.transaction() as conn:
        assert await BY_EXTERNAL.rows(conn, {"b_external": "gone"}) == []


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(storage: Storage) -> None:
    async with storage.transaction() as conn:
        await INSERT.run(conn, values("twice"))
    with pytest.raises(IntegrityError):
        async with storage.transaction() as conn:
            await INSERT.run(conn, values("twice"))


async def test_a_locked_sqlite_file_is_sqlalchemys_operational_error(tmp_path: Path) -> None:
    """The channels retry an update on OperationalError (bot/telegram/processing.py)."""
    path = tmp_path / "locked.db"
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(OperationalError, match="locked"):
            async with storage.transaction() as conn:
                await INSERT.run(conn, values("waits"))
        other.execute("ROLLBACK")
        async with storage.transaction() as conn:  # and the same handle works afterwards
            await INSERT.run(conn, values("waits"))
            assert await BY_EXTERNAL.first(conn, {"b_external": "waits"}) is not None
    finally:
        other.close()
        await storage.close()


async def test_refuses_a_statement_that_needs_column_defaults(tmp_path: Path) -> None:
    storage = await Storage.open(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    partial = DirectStatement(insert(respondents), column_keys=[k for k in KEYS if k != "dialog"])
    try:
        with pytest.raises(ValueError, match="dialog"):
            async with storage.transaction() as conn:
                await partial.run(conn, values("x"))
    finally:
        await storage.close()
