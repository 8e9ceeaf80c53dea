"""Long polling that acknowledges a batch only after every update in it was handled.

aiogram's own `start_polling` moves the offset as soon as updates are fetched and handles them
in background tasks, so a crash loses them. Here `offset` advances after `process_batch` returns;
a crash before that makes Telegram deliver the batch again, and stored `update_id`s skip what was
already handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.types import Update

from bot.telegram.processing import UpdateProcessor
from bot.telegram.retry import TRANSIENT, RetryPolicy, call_with_retry

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]


async def run_polling(
    bot: Bot,
    processor: UpdateProcessor,
    stop: asyncio.Event,
    *,
    poll_seconds: int = 25,
    policy: RetryPolicy | None = None,
    on_polled: Callable[[], None] | None = None,
) -> None:
    """`on_polled` is called after every successful getUpdates (for /healthz)."""
    policy = policy or RetryPolicy(attempts=1_000_000, max_delay=15.0)
    await call_with_retry(
        lambda: bot.delete_webhook(drop_pending_updates=False), policy, what="deleteWebhook"
    )
    offset: int | None = None
    failures = 0
    while not stop.is_set():
        try:
            updates = await _fetch(bot, offset, poll_seconds, stop)
        except TelegramUnauthorizedError:
            raise
        except TelegramConflictError as exc:  # another poller or a webhook is set: wait, don't spin
            failures += 1
            log.error("getUpdates conflict: %s", exc.message)
            await _sleep_or_stop(stop, policy.backoff(failures))
            continue
        except TRANSIENT as exc:
            failures += 1
            delay = policy.backoff(failures)
            log.warning("getUpdates failed (%s), retry in %.1f s", type(exc).__name__, delay)
            await _sleep_or_stop(stop, delay)
            continue
        if updates is None:
            break
        failures = 0
        if on_polled is not None:
            on_polled()
        if updates:
            await processor.process_batch(updates)
            offset = updates[-1].update_id + 1


async def _fetch(bot: Bot, offset: int | None, poll_seconds: int, stop: asyncio.Event) -> list[Update] | None:
    """The next batch, or None when asked to stop while waiting (nothing was fetched then)."""
    fetch = asyncio.ensure_future(
        call_with_retry(
            lambda: bot.get_updates(
                offset=offset,
                timeout=poll_seconds,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=poll_seconds + 10,
            ),
            RetryPolicy(attempts=1),
            what="getUpdates",
        )
    )
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if fetch not in done:
        fetch.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await fetch
        return None
    return fetch.result()


async def _sleep_or_stop(stop: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)
