"""The fake MAX Bot API server, started per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.max_api import FakeMax


@pytest.fixture
async def fake() -> AsyncIterator[FakeMax]:
    server = FakeMax()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
