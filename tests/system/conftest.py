"""PostgreSQL-only scenarios get a private schema, or a visible skip where PostgreSQL is absent."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tests.conftest import PG_URL, Database, _drop_schema, pg_skip_reason


@pytest.fixture
async def pg_database() -> AsyncIterator[Database]:
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    database = Database("postgresql", PG_URL, f"t_{secrets.token_hex(6)}")
    yield database
    await _drop_schema(str(database.schema))
