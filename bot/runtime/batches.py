"""One batch of updates from a messenger: each person's updates in order, different people
concurrently, and one bad update never blocks the ones after it.

An update that fails for a reason other than an outage goes to the dead letters and the others
are handled. An outage (database, network, the messenger) is raised once the batch is through, so
the channel tries the batch again; updates already handled are recognised by their ids.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.core.dead_letters import DeadLetters, describe, raw_json
from bot.core.retry import is_transient
from bot.runtime.metrics import Metrics, UpdateOutcome


async def handle_by_person(
    updates: Sequence[Any],
    *,
    person: Callable[[Any], Hashable],
    update_id: Callable[[Any], str | None],
    handle: Callable[[Any], Awaitable[None]],
    dead_letters: DeadLetters,
    metrics: Metrics,
    channel: str,
) -> None:
    by_person: dict[Hashable, list[Any]] = {}
    for update in updates:
        by_person.setdefault(person(update), []).append(update)

    async def serial(items: list[Any]) -> Exception | None:
        first: Exception | None = None
        for item in items:
            began = time.monotonic()
            try:
                await handle(item)
            except Exception as exc:
                if is_transient(exc):  # the person's later updates still get their turn
                    if isinstance(exc, SQLAlchemyError):
                        metrics.database_error(channel)
                    first = first or exc
                    continue
                try:
                    await dead_letters.keep(raw_json(item), describe(exc), update_id(item))
                except Exception as store_exc:  # the database: the batch is tried again
                    first = first or store_exc
            else:
                metrics.update(channel, UpdateOutcome.HANDLED, time.monotonic() - began)
        return first

    # Storage queues SQLite transactions itself; the messenger calls of different people overlap.
    for error in await asyncio.gather(*(serial(items) for items in by_person.values())):
        if error is not None:
            raise error
