"""Leader election: only one process runs the scheduler and the mailing sender.

The lock itself is storage's (storage/locks.py): on PostgreSQL whoever holds it leads, on SQLite
the single service process always does. Here: run the work while the lock is held, stop it when
the lock is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.core.retry import sleep_until
from storage.locks import LeaderLock

log = logging.getLogger(__name__)


async def run_as_leader(
    lock: LeaderLock,
    work: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    *,
    retry_seconds: float = 10.0,
    check_seconds: float = 5.0,
    on_standby: Callable[[], None] | None = None,
    on_leading: Callable[[bool], None] | None = None,
) -> None:
    """Run `work(lost)` whenever this process holds the lock; `lost` is set when it is lost or on stop.

    If `work` fails, the lock is released and its exception is raised here: the caller supervises
    (logs it and restarts after a backoff, bot/mailing/hub.py).
    """
    while not stop.is_set():
        try:
            acquired = await lock.try_acquire()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("leader election: database unavailable (%s)", type(exc).__name__)
            acquired = False
        else:
            if not acquired and on_standby is not None:
                on_standby()  # another process leads: nothing is expected of this one
        if not acquired:
            await sleep_until(stop, retry_seconds)
            continue
        log.info("leader: this process runs the scheduler and the mailing sender")
        if on_leading is not None:
            on_leading(True)
        lost = asyncio.Event()
        task = asyncio.create_task(work(lost))
        try:
            while not task.done():
                await sleep_until(stop, check_seconds, task)
                if stop.is_set() or not await lock.still_held():
                    if not stop.is_set():
                        log.warning("leader: lock lost, stopping scheduler and sender")
                    break
        finally:
            lost.set()
            # The work's own failure is raised below, once the lock is released; here only a
            # slow stop is waited for (a failure raised from this wait would skip the release).
            await asyncio.wait({task}, timeout=10)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            await lock.release()
            if on_leading is not None:
                on_leading(False)
        if not task.cancelled() and (failure := task.exception()) is not None:
            raise failure
