"""Shared fixtures: every storage test runs on a real SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.conversation import ConsentTerms, Conversation, Layout
from storage.store import Storage
from survey_flow.loader import load_questionnaire
from survey_flow.model import Questionnaire
from tests.fakes.telegram_api import FakeTelegram

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("OTKLIK_TEST_PG_URL", DEFAULT_PG_URL)


def _probe_postgres(url: str) -> str | None:
    """None when PostgreSQL answers, else the reason to skip (shown by pytest -ra)."""
    if not url:
        return "OTKLIK_TEST_PG_URL is empty: PostgreSQL tests disabled"
    from storage.db import create_engine

    async def probe() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    try:
        # In a thread: the first caller may be an async fixture with a running loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, asyncio.wait_for(probe(), timeout=5)).result()
    except Exception as exc:  # any failure means "not reachable here"
        return f"PostgreSQL not reachable at {url} ({type(exc).__name__}: {exc}); set OTKLIK_TEST_PG_URL"
    return None


_PG_SKIP: dict[str, str | None] = {}


def pg_skip_reason() -> str | None:
    if "reason" not in _PG_SKIP:
        _PG_SKIP["reason"] = _probe_postgres(PG_URL)
    return _PG_SKIP["reason"]


class Database:
    """A fresh database for one test: a SQLite file or a private PostgreSQL schema."""

    def __init__(self, kind: str, url: str, schema: str | None) -> None:
        self.kind, self.url, self.schema = kind, url, schema

    async def open(self, pool_size: int = 5) -> Storage:
        return await Storage.open(self.url, schema=self.schema, pool_size=pool_size)


async def _drop_schema(schema: str) -> None:
    from sqlalchemy import text

    from storage.db import create_engine

    engine = create_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'otklik.db'}", None)
        return
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    schema = f"t_{secrets.token_hex(6)}"
    yield Database("postgresql", PG_URL, schema)
    asyncio.run(_drop_schema(schema))


@pytest.fixture
async def pg_database() -> AsyncIterator[Database]:
    """PostgreSQL only, for what SQLite does not have (a pool, several workers): a private
    schema, or a visible skip where the server is unreachable."""
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    database = Database("postgresql", PG_URL, f"t_{secrets.token_hex(6)}")
    yield database
    await _drop_schema(str(database.schema))


@pytest.fixture
async def storage(database: Database) -> AsyncIterator[Storage]:
    store = await database.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
def questionnaire() -> Questionnaire:
    return load_questionnaire(None, Settings().survey.lists.choice_lists())


CONSENT = ConsentTerms(
    text="Согласны получать приглашения?", version="v1", policy_url="https://example.org/pd"
)


@pytest.fixture
def conversation(storage: Storage, questionnaire: Questionnaire) -> Conversation:
    return Conversation(storage, questionnaire, CONSENT, layout=Layout(page_size=8))


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API server on 127.0.0.1 (see tests/fakes/telegram_api.py)."""
    fake = await FakeTelegram().start()
    try:
        yield fake
    finally:
        await fake.stop()
