"""storage/statement.py: a `Statement` run straight on the database driver stores and reads exactly
what SQLAlchemy Core would, commits and rolls back with the caller's transaction, and fails with
SQLAlchemy's exception classes. Every statement of the repository is run both ways and compared."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import repository as repo
from storage.postgresql import direct as postgresql_direct
from storage.schema import metadata, respondents
from storage.sqlite import direct as sqlite_direct
from storage.statement import Statement
from storage.store import Storage
from survey_flow.engine import Answer
from survey_flow.model import Questionnaire
from tests.conftest import Database

R = respondents.c
COLUMNS = (R.id, R.pseudonym, R.channel, R.external_id, R.name, R.dialog, R.unreachable_at, R.created_at)
INSERT = Statement(insert(respondents).values({c.key: bindparam(c.key) for c in COLUMNS[1:]}))
BY_EXTERNAL = Statement(select(*COLUMNS).where(R.external_id == bindparam("external")))
WHEN = datetime(2025, 7, 1, 9, 30, 15, 123456, tzinfo=UTC)


def values(external: str) -> dict[str, Any]:
    return {
        "pseudonym": f"p{external}", "channel": "telegram", "external_id": external, "name": "Анна «Ё»",
        "dialog": {"phase": "survey", "session": 7, "list": [1, None, "я"]},
        "unreachable_at": WHEN, "created_at": WHEN,
    }  # fmt: skip


async def test_reads_and_writes_the_same_values_as_sqlalchemy(storage: Storage) -> None:
    async with storage.transaction() as conn:
        assert await INSERT.run(conn, **values("direct")) == 1
        await conn.execute(insert(respondents), values("core"))
    async with storage.transaction() as conn:
        for external in ("direct", "core"):
            direct = await BY_EXTERNAL.first(conn, external=external)
            core = (await conn.execute(select(*COLUMNS).where(R.external_id == external))).one()
            assert direct == tuple(core)
            assert direct is not None
            assert (direct.pseudonym, direct.channel, direct.external_id, direct.name, direct.dialog) == (
                f"p{external}",
                "telegram",
                external,
                "Анна «Ё»",
                values(external)["dialog"],
            )
            stored = direct.unreachable_at
            assert stored.replace(tzinfo=stored.tzinfo or UTC) == WHEN  # SQLite returns it naive
        assert await BY_EXTERNAL.first(conn, external="nobody") is None


async def test_rolls_back_with_the_callers_transaction(storage: Storage) -> None:
    with pytest.raises(RuntimeError):
        async with storage.transaction() as conn:
            await INSERT.run(conn, **values("gone"))
            raise RuntimeError("handler failed after the write")
    async with storage.transaction() as conn:
        assert await BY_EXTERNAL.rows(conn, external="gone") == []


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(storage: Storage) -> None:
    async with storage.transaction() as conn:
        await INSERT.run(conn, **values("twice"))
    with pytest.raises(IntegrityError):
        async with storage.transaction() as conn:
            await INSERT.run(conn, **values("twice"))


async def test_a_locked_sqlite_file_is_sqlalchemys_operational_error(tmp_path: Path) -> None:
    """The channels retry an update on OperationalError (bot/telegram/processing.py)."""
    path = tmp_path / "locked.db"
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(OperationalError, match="locked"):
            async with storage.transaction() as conn:
                await INSERT.run(conn, **values("waits"))
        other.execute("ROLLBACK")
        async with storage.transaction() as conn:  # and the same handle works afterwards
            await INSERT.run(conn, **values("waits"))
            assert await BY_EXTERNAL.first(conn, external="waits") is not None
    finally:
        other.close()
        await storage.close()


async def test_the_fast_path_is_the_driver_on_both_databases(storage: Storage) -> None:
    async with storage.transaction() as conn:
        drivers = (sqlite_direct.driver_of(conn), postgresql_direct.driver_of(conn))
        assert [driver is not None for driver in drivers] == [
            storage.dialect == "sqlite",
            storage.dialect == "postgresql",
        ]


def test_a_statement_that_needs_column_defaults_is_refused_when_built() -> None:
    without_dialog = {c.key: bindparam(c.key) for c in COLUMNS[1:] if c.key != "dialog"}
    with pytest.raises(ValueError, match="dialog"):
        Statement(insert(respondents).values(without_dialog))


def test_a_statement_with_an_in_list_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="IN lists"):
        Statement(select(R.id).where(R.external_id.in_(bindparam("many", expanding=True))))


# --- every statement of the repository, both ways ---------------------------------------------

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
STATEMENTS = {name: value for name, value in vars(repo).items() if isinstance(value, Statement)}


async def scenario(storage: Storage, questionnaire: Questionnaire) -> None:
    """Every function of the repository, on data that makes each statement find or change rows."""
    later = NOW + timedelta(minutes=5)
    async with storage.transaction() as conn:
        assert await repo.mark_processed(conn, "telegram", "1", NOW, bot="b")
        assert not await repo.mark_processed(conn, "telegram", "1", NOW, bot="b")
        person = await repo.get_or_create_respondent(conn, "telegram", "42", NOW, "Анна")
        claimed = await repo.claim_update(conn, "telegram", "2", "42", NOW, bot="b")
        assert claimed == repo.Claim(person)
        assert await repo.claim_update(conn, "telegram", "2", "42", NOW, bot="b") is None
        assert await repo.claim_update(conn, "telegram", "1", "42", NOW, bot="b") is None
        first_time = await repo.claim_update(conn, "max", "3", "9", NOW, name="Ия", bot="b")
        assert first_time is not None and first_time.respondent.name == "Ия"
        assert await repo.get_or_create_respondent(conn, "telegram", "42", NOW) == person
        assert await repo.lock_respondent(conn, "telegram", "42", NOW) == person
        newcomer = await repo.lock_respondent(conn, "vk", "7", NOW, "Пётр")
        assert newcomer.name == "Пётр"
        await repo.mark_unreachable(conn, person.id, NOW)
        await repo.mark_unreachable(conn, person.id, None)
        await repo.set_dialog(conn, person.id, {"phase": "survey", "page": [1, "я"]})
        prefill = {"5": Answer(option="2", prefilled=True)}
        session = await repo.create_session(
            conn, questionnaire, respondent_id=person.id, channel="telegram", source="qr",
            source_ref="abc", prefill=prefill, now=NOW,
        )  # fmt: skip
        assert await repo.active_session(conn, person.id) == session
        given = {
            **prefill,
            "1": Answer(option="other", text="Выставка «Сибирь»"),
            "11": Answer(option="2", followup="долго\nждал"),
        }
        await repo.sync_answers(conn, questionnaire, session.id, prefill, given, NOW)
        changed = {"5": prefill["5"], "11": Answer(option="2", followup="долго", followup_skipped=False)}
        await repo.sync_answers(conn, questionnaire, session.id, given, changed, later)
        assert await repo.load_answers(conn, session.id) == changed
        assert await repo.session_with_answers(conn, session.id) == (session, changed)
        claimed = await repo.claim_update(conn, "telegram", "4", "42", NOW, bot="b")
        # PostgreSQL reads the session in progress in the claim; SQLite leaves it to the caller.
        expected = (session, changed) if storage.dialect == "postgresql" else None
        assert claimed is not None and claimed.respondent.id == person.id
        assert claimed.in_progress == expected
        both = {"5": Answer(option="1"), "11": Answer(option="3")}  # two answers changed at once
        await repo.sync_answers(conn, questionnaire, session.id, changed, both, later)
        assert await repo.load_answers(conn, session.id) == both
        await repo.finish_session(conn, session.id, repo.COMPLETED, later)
        second = await repo.create_session(
            conn, questionnaire, respondent_id=person.id, channel="telegram", source="direct",
            source_ref=None, prefill={}, now=later,
        )  # fmt: skip
        await repo.finish_session(conn, second.id, repo.ABANDONED, later)
        assert await repo.get_session(conn, session.id) is not None
        await repo.record_consent(
            conn, person.id, kind=repo.ConsentKind.GRANTED, channel="telegram", text_version="v1",
            method="button", now=NOW,
        )  # fmt: skip
        assert await repo.latest_consent(conn, person.id) is not None
        key = await repo.create_prefill(conn, {"5": "2"}, "qr", "Плакат", NOW, key="k1")
        assert await repo.get_prefill(conn, key) is not None
        await repo.set_state(conn, "offset", "10", NOW)
        await repo.set_state(conn, "offset", "11", later)
        assert await repo.get_state(conn, "offset") == "11"


class Recorder:
    """Every statement's parameters, results and changed-row counts, in order of execution."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], list[tuple[Any, ...]], int]] = []

    def record(self, statement: Statement, params: Any, outcome: tuple[list[Any], int]) -> None:
        name = next(name for name, known in STATEMENTS.items() if known is statement)
        rows, count = outcome
        self.calls.append((name, dict(params), [tuple(row) for row in rows], count))


async def run_recorded(
    storage: Storage, questionnaire: Questionnaire, monkeypatch: pytest.MonkeyPatch, *, reference: bool
) -> tuple[list[tuple[str, dict[str, Any], list[tuple[Any, ...]], int]], dict[str, list[tuple[Any, ...]]]]:
    recorder = Recorder()
    fast_path = Statement._execute

    async def execute(self: Statement, conn: Any, params: Any) -> tuple[list[Any], int]:
        outcome = await (
            self.through_sqlalchemy(conn, params) if reference else fast_path(self, conn, params)
        )
        recorder.record(self, params, outcome)
        return outcome

    with monkeypatch.context() as patch:
        patch.setattr(Statement, "_execute", execute)
        # The same pseudonyms in both runs: only the execution path differs.
        tokens: Iterator[int] = iter(range(1000))
        patch.setattr(secrets, "token_hex", lambda n: f"{next(tokens):0{2 * n}d}")
        await scenario(storage, questionnaire)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    async with storage.transaction() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(select(table))).all()
            tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return recorder.calls, tables


async def test_every_repository_statement_gives_the_same_both_ways(
    database: Database, tmp_path: Path, questionnaire: Questionnaire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path runs on the driver (sqlite3, asyncpg), the reference one through SQLAlchemy."""
    if database.kind == "sqlite":
        other = Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}", None)
    else:
        other = Database("postgresql", database.url, f"{database.schema}_ref")
    fast, reference = await database.open(), await other.open()
    try:
        fast_calls, fast_tables = await run_recorded(fast, questionnaire, monkeypatch, reference=False)
        ref_calls, ref_tables = await run_recorded(reference, questionnaire, monkeypatch, reference=True)
    finally:
        await fast.close()
        if other.schema is not None:
            async with reference.transaction() as conn:
                await conn.execute(text(f'DROP SCHEMA "{other.schema}" CASCADE'))
        await reference.close()
    expected = {name for name, st in STATEMENTS.items() if st.only_on in (None, (database.kind,))}
    assert {name for name, *_ in fast_calls} == expected, "the scenario runs every one"
    assert len(fast_calls) == len(ref_calls)
    for fast_call, ref_call in zip(fast_calls, ref_calls, strict=True):
        assert fast_call == ref_call, fast_call[0]
    assert fast_tables == ref_tables
