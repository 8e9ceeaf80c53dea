"""The Storage handle passed to channels: an engine with migrations applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import create_engine, migrate, safe_url


class Storage:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None) -> Storage:
        engine = create_engine(url, schema=schema)
        try:
            await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return safe_url(str(self.engine.url))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One committed unit of work; an exception rolls everything in it back."""
        async with self.engine.begin() as conn:
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()
