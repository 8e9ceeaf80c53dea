"""One contract suite for SQLite and PostgreSQL (the `database` fixture runs each test on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from storage import repository as repo
from storage.db import current_revision, head_revision
from storage.schema import answers, metadata
from storage.store import Storage
from survey_flow.engine import Answer
from survey_flow.model import Questionnaire
from tests.conftest import Database

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


async def test_migrations_are_idempotent_and_match_the_schema(database: Database) -> None:
    store = await database.open()
    await store.close()
    store = await database.open()  # second start: nothing to apply
    try:
        assert await current_revision(store.engine) == head_revision()
        async with store.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": False}), metadata
                )
            )
        assert diff == []
    finally:
        await store.close()


async def test_respondent_is_created_once_per_channel_id(storage: Storage) -> None:
    async with storage.transaction() as conn:
        first = await repo.get_or_create_respondent(conn, "telegram", "42", NOW, "Анна")
        again = await repo.get_or_create_respondent(conn, "telegram", "42", NOW)
        other = await repo.get_or_create_respondent(conn, "vk", "42", NOW)
    assert first == again and first.id != other.id
    assert first.pseudonym != other.pseudonym and len(first.pseudonym) == 16
    assert first.name == "Анна"


async def test_answers_round_trip_with_both_codes(storage: Storage, questionnaire: Questionnaire) -> None:
    prefill = {"5": Answer(option="2", prefilled=True)}
    async with storage.transaction() as conn:
        person = await repo.get_or_create_respondent(conn, "console", "u", NOW)
        session = await repo.create_session(
            conn, questionnaire, respondent_id=person.id, channel="console", source="qr",
            source_ref="abc", prefill=prefill, now=NOW,
        )  # fmt: skip
    given = {
        **prefill,
        "1": Answer(option="other", text="Выставка «Сибирь»; DROP TABLE answers;--"),
        "11": Answer(option="2", followup="долго\nждал"),
    }
    async with storage.transaction() as conn:
        await repo.sync_answers(conn, questionnaire, session.id, prefill, given, NOW)
    async with storage.transaction() as conn:
        loaded = await repo.load_answers(conn, session.id)
        rows = {r.question_code: r for r in await conn.execute(select(answers))}
    assert loaded == given
    assert (rows["5"].platform_code, rows["5"].option_code, rows["5"].option_platform_code) == (
        "15",
        "2",
        "4",
    )
    assert rows["5"].value_text == "Онлайн на сайте органа власти" and rows["5"].prefilled
    assert rows["11"].platform_code == "23" and rows["11"].followup_text == "долго\nждал"
    # A change and a removal are written as such.
    changed = {**given, "11": Answer(option="5")}
    del changed["1"]
    async with storage.transaction() as conn:
        await repo.sync_answers(conn, questionnaire, session.id, given, changed, NOW + timedelta(minutes=1))
        assert await repo.load_answers(conn, session.id) == changed


async def test_sessions_status_and_active_lookup(storage: Storage, questionnaire: Questionnaire) -> None:
    async with storage.transaction() as conn:
        person = await repo.get_or_create_respondent(conn, "console", "u", NOW)
        session = await repo.create_session(
            conn, questionnaire, respondent_id=person.id, channel="console", source="direct",
            source_ref=None, prefill={}, now=NOW,
        )  # fmt: skip
        assert await repo.active_session(conn, person.id) == session
        await repo.finish_session(conn, session.id, repo.COMPLETED, NOW + timedelta(minutes=3))
        assert await repo.active_session(conn, person.id) is None
        done = await repo.get_session(conn, session.id)
    assert done is not None and done.status == "completed"
    assert done.completed_at == NOW + timedelta(minutes=3)
    assert done.started_at == NOW


async def test_a_failed_transaction_leaves_nothing(storage: Storage) -> None:
    try:
        async with storage.transaction() as conn:
            await repo.get_or_create_respondent(conn, "console", "ghost", NOW)
            raise RuntimeError("crash mid-event")
    except RuntimeError:
        pass
    async with storage.transaction() as conn:
        assert await repo.get_respondent(conn, "console", "ghost") is None


async def test_processed_updates_consents_prefill_and_state(storage: Storage) -> None:
    async with storage.transaction() as conn:
        person = await repo.get_or_create_respondent(conn, "telegram", "7", NOW)
        assert await repo.mark_processed(conn, "telegram", "1001", NOW)
        assert not await repo.mark_processed(conn, "telegram", "1001", NOW)
        assert await repo.mark_processed(conn, "vk", "1001", NOW)
        assert await repo.latest_consent(conn, person.id) is None
        await repo.record_consent(
            conn, person.id, granted=True, channel="telegram", text_version="1", method="bot", now=NOW
        )
        await repo.record_consent(
            conn,
            person.id,
            granted=False,
            channel="telegram",
            text_version="1",
            method="bot",
            now=NOW + timedelta(1),
        )
        latest = await repo.latest_consent(conn, person.id)
        key = await repo.create_prefill(conn, {"2": "1", "3": "2"}, "qr", "Приёмная", NOW)
        found = await repo.get_prefill(conn, key)
        await repo.set_state(conn, "vk:ts", "10", NOW)
        await repo.set_state(conn, "vk:ts", "11", NOW)
        state = await repo.get_state(conn, "vk:ts")
        count = (
            await conn.execute(select(func.count()).select_from(metadata.tables["consents"]))
        ).scalar_one()
    assert latest is not None and latest.granted is False and count == 2
    assert found is not None and found.values == {"2": "1", "3": "2"} and found.source == "qr"
    assert len(key) <= 64 and key.replace("-", "").replace("_", "").isalnum()
    assert state == "11"
