"""The Alembic chain builds exactly the tables storage/schema.py declares, and every earlier
revision with data in it upgrades to the head keeping the data (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.db import alembic_config, create_engine, head_revision, migrate
from storage.schema import metadata
from tests.conftest import Database

WHEN = datetime(2025, 8, 14, 9, 30, tzinfo=UTC)
# Values a later revision reads or fills: a completed paper form (0006 fingerprints it) and a
# «Нет» to the consent question by someone who never consented (0008 calls it `refused`).
MEANINGFUL: dict[str, dict[str, object]] = {
    "survey_sessions": {"source": "paper", "status": "completed", "channel": "paper"},
    "consents": {"granted": False, "method": "bot"},
}
# Columns a later revision adds to existing rows, with the value the old rows must get.
FILLED_BY_UPGRADE: dict[tuple[str, str], object] = {
    ("processed_updates", "bot"): "",
    ("answers", "followup_skipped"): False,
    ("consents", "kind"): "refused",
    ("consents", "purpose"): "invitations",
}


def revisions() -> list[str]:
    """Every revision from the first to the head, in upgrade order."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def upgrade(connection: Connection, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, target)


def downgrade(connection: Connection, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, target)


def _same_server_default(
    context: MigrationContext,
    inspected_column: sa.Column[Any],
    metadata_column: sa.Column[Any],
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    # Alembic's SQLite comparison unquotes a non-empty literal only, so the empty string default
    # (reflected as ('') and rendered as nothing) looks changed; everything else is Alembic's call.
    if context.dialect.name != "sqlite" or inspected_default is None or rendered_metadata_default is None:
        return None
    if _sqlite_literal(inspected_default) == _sqlite_literal(rendered_metadata_default):
        return False
    return None


def _sqlite_literal(text: str) -> str:
    text = re.sub(r"^\((.*)\)$", r"\1", text)
    return re.sub(r"^'(.*)'$", r"\1", text)


def drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": _same_server_default},
    )
    return list(compare_metadata(context, metadata))


def structure(connection: Connection) -> dict[str, dict[str, Any]]:
    """What reflection sees of each table, names of constraints and FK actions included (which
    autogenerate does not compare)."""
    inspector = sa.inspect(connection)
    found: dict[str, dict[str, Any]] = {}
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        pk = inspector.get_pk_constraint(name)
        found[name] = {
            "columns": {
                c["name"]: (repr(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(name)
            },
            "pk": (pk["name"], pk["constrained_columns"]),
            "fks": sorted(
                (
                    fk["name"],
                    fk["constrained_columns"],
                    fk["referred_table"],
                    fk["referred_columns"],
                    json.dumps(fk.get("options"), sort_keys=True),
                )
                for fk in inspector.get_foreign_keys(name)
            ),
            "unique": sorted((u["name"], u["column_names"]) for u in inspector.get_unique_constraints(name)),
            "indexes": sorted(
                (i["name"], i["column_names"], i["unique"]) for i in inspector.get_indexes(name)
            ),
            "checks": sorted((c["name"], c["sqltext"]) for c in inspector.get_check_constraints(name)),
        }
    return found


async def run(database: Database, step: Callable[[Connection], Any], *, migrate_to: str | None = None) -> Any:
    """`step` in one transaction, after `otklik migrate`'s own upgrade to `migrate_to` if given."""
    engine = create_engine(database.url, schema=database.schema)
    try:
        if migrate_to is not None:
            await migrate(engine, migrate_to)
        async with engine.begin() as conn:
            return await conn.run_sync(step)
    finally:
        await engine.dispose()


async def test_the_head_has_no_drift_from_schema_py(database: Database) -> None:
    def check(connection: Connection) -> dict[str, dict[str, Any]]:
        assert drift(connection) == []
        return structure(connection)

    migrated = await run(database, check, migrate_to="head")
    assert set(migrated) == set(metadata.tables)
    # The same tables built straight from schema.py (in a second database or schema).
    declared_db = Database(database.kind, database.url.replace("otklik.db", "declared.db"), None)
    if database.schema is not None:
        declared_db.schema = f"{database.schema}_d"
    try:
        declared = await run(declared_db, lambda c: (metadata.create_all(c), structure(c))[1])
    finally:
        if declared_db.schema is not None:
            await run(
                declared_db, lambda c: c.execute(sa.text(f'DROP SCHEMA "{declared_db.schema}" CASCADE'))
            )
    assert migrated == declared


async def test_downgrade_to_base_and_up_again_leaves_no_drift(database: Database) -> None:
    def check(connection: Connection) -> None:
        upgrade(connection, "head")
        downgrade(connection, "base")
        assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
        upgrade(connection, "head")
        assert drift(connection) == []

    await run(database, check)


def _value(table: str, column: sa.Column[Any]) -> object:
    if column.name in MEANINGFUL.get(table, {}):
        return MEANINGFUL[table][column.name]
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 1  # every id is 1, so every foreign key finds its row
    if isinstance(kind, sa.DateTime):
        return WHEN
    if isinstance(kind, sa.JSON):
        return {"1": "2", "текст": "значение"}
    if isinstance(kind, sa.String):  # Text included
        text = f"{table}.{column.name} ё"
        length = getattr(kind, "length", None)
        return text[:length] if length else text
    raise AssertionError(f"no sample value for {table}.{column.name} of type {kind!r}")


def _comparable(value: object) -> object:
    # SQLite keeps no time zone: an aware time comes back naive (in UTC).
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def fill(connection: Connection) -> dict[str, dict[str, object]]:
    """One row in every table the revision has, built from the reflected columns."""
    reflected = sa.MetaData()
    reflected.reflect(connection)
    rows: dict[str, dict[str, object]] = {}
    for table in reflected.sorted_tables:
        if table.name == "alembic_version":
            continue
        row = {column.name: _value(table.name, column) for column in table.columns}
        connection.execute(table.insert().values(row))
        rows[table.name] = row
    return rows


def read_back(connection: Connection) -> dict[str, dict[str, object]]:
    reflected = sa.MetaData()
    reflected.reflect(connection)
    found: dict[str, dict[str, object]] = {}
    for table in reflected.sorted_tables:
        if table.name == "alembic_version":
            continue
        rows = connection.execute(sa.select(table)).mappings().all()
        if rows:
            assert len(rows) == 1, (table.name, rows)
            found[table.name] = dict(rows[0])
    return found


@pytest.mark.parametrize("revision", revisions()[:-1])
async def test_every_earlier_revision_with_data_upgrades_to_the_head(
    database: Database, revision: str
) -> None:
    def after(connection: Connection) -> dict[str, dict[str, object]]:
        assert drift(connection) == []
        return read_back(connection)

    stored = await run(database, fill, migrate_to=revision)
    upgraded = await run(database, after, migrate_to="head")
    assert stored, "the revision has no tables to fill"
    for table, row in stored.items():
        assert table in upgraded, f"the row of {table} is lost"
        for column, value in row.items():
            assert _comparable(upgraded[table][column]) == _comparable(value), (table, column)
        for column in set(upgraded[table]) - set(row):
            expected = FILLED_BY_UPGRADE.get((table, column))
            assert (table, column) in FILLED_BY_UPGRADE, f"{table}.{column} added without a known value"
            assert upgraded[table][column] == expected, (table, column)
    if "survey_sessions" in stored and "paper_forms" not in stored:
        # The revision that adds paper fingerprints gives the completed paper form entered before it one.
        assert upgraded["paper_forms"]["session_id"] == 1
        assert len(str(upgraded["paper_forms"]["fingerprint"])) == 64


PROBE = '''"""A later revision that alters survey_sessions (SQLite rebuilds the table to do it)."""

import sqlalchemy as sa
from alembic import op

revision = "9999_probe"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey_sessions") as batch:
        batch.alter_column("source_ref", existing_type=sa.String(64), type_=sa.String(80))


def downgrade() -> None:
    with op.batch_alter_table("survey_sessions") as batch:
        batch.alter_column("source_ref", existing_type=sa.String(80), type_=sa.String(64))
'''


async def test_a_later_revision_that_rebuilds_a_referenced_table_keeps_its_rows(
    database: Database, tmp_path: Path
) -> None:
    # SQLite rebuilds an altered table (copy, drop, rename). With foreign keys enforced the drop
    # would delete every answer and paper form of the sessions (ON DELETE CASCADE) or fail.
    versions = tmp_path / "probe_versions"
    versions.mkdir()
    (versions / "9999_probe.py").write_text(PROBE.format(head=head_revision()), encoding="utf-8")
    config = alembic_config()
    chain = config.get_main_option("script_location")
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join([f"{chain}/versions", str(versions)]))
    engine = create_engine(database.url, schema=database.schema)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            stored = await conn.run_sync(fill)
            # Without a reminder, only ON DELETE CASCADE references are left: nothing would fail.
            await conn.execute(sa.text("DELETE FROM reminders"))
            del stored["reminders"]
        await migrate(engine, "9999_probe", config=config)
        async with engine.begin() as conn:
            kept = await conn.run_sync(read_back)
            columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("survey_sessions"))
    finally:
        await engine.dispose()
    assert set(kept) == set(stored)
    assert kept["answers"]["session_id"] == 1 and kept["paper_forms"]["session_id"] == 1
    assert [getattr(c["type"], "length", None) for c in columns if c["name"] == "source_ref"] == [80]


async def test_foreign_keys_are_enforced_again_after_the_migrations(tmp_path: Path) -> None:
    from storage.store import Storage

    storage = await Storage.open(f"sqlite+aiosqlite:///{tmp_path / 'otklik.db'}")
    try:
        async with storage.transaction() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            with pytest.raises(sa.exc.IntegrityError):
                await conn.execute(
                    metadata.tables["answers"].insert().values(
                        session_id=404, question_code="1", platform_code="11", option_code="1",
                        option_platform_code="1", value_text="x", prefilled=False, answered_at=WHEN,
                    )
                )  # fmt: skip
    finally:
        await storage.close()


FAILING = '''"""A revision that fails half-way: its first table is created, then an error."""

import sqlalchemy as sa
from alembic import op

revision = "9998_failing"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("UPDATE answers SET value_text = 'changed'")
    raise RuntimeError("the revision fails here")


def downgrade() -> None:
    op.drop_table("half_done")
'''


async def test_a_revision_failing_half_way_leaves_nothing_behind(database: Database, tmp_path: Path) -> None:
    # SQLite: without an explicit transaction each CREATE would commit on its own.
    versions = tmp_path / "failing_versions"
    versions.mkdir()
    (versions / "9998_failing.py").write_text(FAILING.format(head=head_revision()), encoding="utf-8")
    config = alembic_config()
    chain = config.get_main_option("script_location")
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join([f"{chain}/versions", str(versions)]))
    engine = create_engine(database.url, schema=database.schema)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            stored = await conn.run_sync(fill)
        with pytest.raises(RuntimeError, match="fails here"):
            await migrate(engine, "9998_failing", config=config)
        async with engine.begin() as conn:
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            kept = await conn.run_sync(read_back)
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert "half_done" not in tables
    assert version == head_revision()
    assert kept["answers"]["value_text"] == stored["answers"]["value_text"]
