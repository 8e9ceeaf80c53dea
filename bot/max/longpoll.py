"""Long polling of one MAX bot (GET /updates), with the marker persisted so nothing is missed.

Passing a `marker` to GET /updates confirms every update before it, so the marker is stored
(`channel_state`, key `max:<bot id>:marker`) only after its batch is handled: a restart asks
again from the last stored marker, and a batch handled just before a crash comes once more, its
updates recognised by their ids. A batch that keeps failing for a reason other than an outage is
skipped after `BATCH_ATTEMPTS`; an outage (database, network, MAX) is waited for however long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.core.clock import utcnow
from bot.core.retry import Backoff, BackoffConfig, is_transient, sleep_until
from bot.max.api import POLL_TIMEOUT, MaxClient, MaxError, UpdateBatch
from storage import repository as repo
from storage.store import Storage

log = logging.getLogger(__name__)

BATCH_ATTEMPTS = 3  # a batch whose handling keeps failing (not an outage) is tried this often
MAX_PAUSE = 60.0  # seconds between retries, at most

HandleBatch = Callable[[list[Any]], Awaitable[None]]


class LongPoll:
    def __init__(
        self,
        client: MaxClient,
        storage: Storage,
        bot_id: int,
        *,
        hold: int = POLL_TIMEOUT,
        backoff: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.storage = storage
        self.bot_id = bot_id
        self.hold = hold
        self.backoff = BackoffConfig(first=backoff, limit=max(backoff, MAX_PAUSE))
        self.clock = clock
        self.state_key = f"max:{bot_id}:marker"

    async def run(
        self, stop: asyncio.Event, handle: HandleBatch, on_handled: Callable[[], None] | None = None
    ) -> None:
        """Poll until `stop` is set, handing each batch of updates to `handle`."""
        marker = await self.load_marker()
        log.info("MAX: long polling of bot %s from marker %s", self.bot_id, marker)
        outage = Backoff(self.backoff)
        failures = 0
        while not stop.is_set():
            try:
                batch = await self._poll(marker, stop)
            except MaxError as exc:
                # The client already retried rate limits and network failures; a refusal (a
                # revoked token) is logged and waited on as well: the service keeps running.
                log.warning("MAX long poll: %s; retrying", exc)
                await sleep_until(stop, outage.next_delay())
                continue
            outage.reset()
            if batch is None:  # stopped
                return
            try:
                if batch.updates:
                    await handle(batch.updates)
                failures = 0
                if batch.marker is not None and batch.marker != marker:
                    marker = batch.marker
                    await self.save_marker(marker)
                if on_handled is not None:
                    on_handled()
            except Exception as exc:
                failures += 1
                if not is_transient(exc) and failures >= BATCH_ATTEMPTS:
                    log.exception("MAX: a batch failed %d times; skipping it", failures)
                    failures = 0
                    if batch.marker is not None:
                        marker = batch.marker
                        with contextlib.suppress(Exception):
                            await self.save_marker(marker)
                else:
                    log.exception("MAX: handling failed (attempt %d); retrying", failures)
                    await sleep_until(stop, self.backoff.delay(failures))

    async def _poll(self, marker: int | None, stop: asyncio.Event) -> UpdateBatch | None:
        """One GET /updates; None when `stop` is set first (the request is cancelled)."""
        poll = asyncio.ensure_future(self.client.get_updates(marker, hold=self.hold))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({poll, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await poll
            return None
        return poll.result()

    async def load_marker(self) -> int | None:
        async with self.storage.transaction() as conn:
            raw = await repo.get_state(conn, self.state_key)
        try:
            return int(raw) if raw else None
        except ValueError:  # not ours: the server goes on after the last confirmed update
            log.warning("MAX: stored marker %r is not a number; polling without it", raw)
            return None

    async def save_marker(self, marker: int) -> None:
        async with self.storage.transaction() as conn:
            await repo.set_state(conn, self.state_key, str(marker), self.clock())
