"""Processed update ids keyed by bot, their adoption after the upgrade, and the dead-letter table
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import DateTime, String, column, insert, select, table
from sqlalchemy.engine import Connection

from storage import repository as repo
from storage.channels import add_dead_letter, adopt_processed_updates, get_dead_letter, list_dead_letters
from storage.db import alembic_config, create_engine
from storage.schema import processed_updates
from storage.store import Storage
from tests.conftest import Database

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
# processed_updates as revision 0005 left it (no `bot`)
BEFORE_0006 = table(
    "processed_updates",
    column("channel", String),
    column("update_id", String),
    column("processed_at", DateTime(timezone=True)),
)


async def test_update_ids_are_kept_per_bot(storage: Storage) -> None:
    async with storage.transaction() as conn:
        assert await repo.mark_processed(conn, "telegram", "1000", NOW, bot="123456")
        assert not await repo.mark_processed(conn, "telegram", "1000", NOW, bot="123456")
        assert await repo.mark_processed(conn, "telegram", "1000", NOW, bot="654321")
        assert await repo.mark_processed(conn, "vk", "m1", NOW, bot="777")
        assert await repo.mark_processed(conn, "vk", "m1", NOW, bot="778")


async def test_ids_stored_before_the_upgrade_are_adopted_by_the_next_bot(database: Database) -> None:
    engine = create_engine(database.url, schema=database.schema)

    def to_0005(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0005_mailing")

    try:
        async with engine.begin() as conn:
            await conn.run_sync(to_0005)
            await conn.execute(
                insert(BEFORE_0006),
                [{"channel": "telegram", "update_id": "1000", "processed_at": NOW},
                 {"channel": "telegram", "update_id": "1001", "processed_at": NOW}],
            )  # fmt: skip
    finally:
        await engine.dispose()
    storage = await database.open()  # upgrades to the head
    try:
        async with storage.transaction() as conn:
            assert await repo.mark_processed(conn, "telegram", "1001", NOW, bot="123456")  # not yet adopted
        async with storage.transaction() as conn:
            await conn.execute(processed_updates.delete().where(processed_updates.c.bot == "123456"))
            await repo.mark_processed(conn, "telegram", "1001", NOW, bot="123456")
            assert await adopt_processed_updates(conn, "telegram", "123456") == 1
            assert await adopt_processed_updates(conn, "telegram", "123456") == 0
            # A re-delivered update of the batch handled before the upgrade is recognised.
            assert not await repo.mark_processed(conn, "telegram", "1000", NOW, bot="123456")
            rows = sorted((r.bot, r.update_id) for r in await conn.execute(select(processed_updates)))
        assert rows == [("123456", "1000"), ("123456", "1001")]
    finally:
        await storage.close()


async def test_dead_letters_are_kept_once_and_listed(storage: Storage) -> None:
    raw = '{"update_id": 5, "message": {"text": "Привет; DROP TABLE answers; --"}}'
    async with storage.transaction() as conn:
        first = await add_dead_letter(
            conn, channel="telegram", bot="1", update_id="5", raw=raw, error="ValidationError", now=NOW
        )
        again = await add_dead_letter(
            conn, channel="telegram", bot="1", update_id="5", raw=raw, error="ValidationError", now=NOW
        )
        other_bot = await add_dead_letter(
            conn, channel="telegram", bot="2", update_id="5", raw=raw, error="x", now=NOW
        )
        no_id = await add_dead_letter(
            conn, channel="vk", bot="777", update_id=None, raw="[]", error="x", now=NOW
        )
        big = await add_dead_letter(
            conn, channel="vk", bot="777", update_id="big", raw="я" * 2_000_000, error="e" * 5000, now=NOW
        )
    assert first is not None and again is None and other_bot is not None and no_id is not None
    assert big is not None
    async with storage.transaction() as conn:
        everything = await list_dead_letters(conn)
        vk = await list_dead_letters(conn, channel="vk")
        letter = await get_dead_letter(conn, first)
        cut = await get_dead_letter(conn, big)
        missing = await get_dead_letter(conn, 10_000)
    assert [x.id for x in everything] == [big, no_id, other_bot, first]  # newest first
    assert [x.id for x in vk] == [big, no_id]
    assert letter is not None and letter.raw == raw and letter.received_at == NOW and letter.update_id == "5"
    assert cut is not None and len(cut.raw) < 1_100_000 and "обрезано" in cut.raw and len(cut.error) == 2000
    assert missing is None
