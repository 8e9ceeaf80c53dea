"""Long polling that acknowledges a batch only after every update in it was handled.

aiogram's own `start_polling` moves the offset as soon as updates are fetched and handles them
in background tasks, so a crash loses them. Here `offset` advances after `process_batch` returns;
a crash before that makes Telegram deliver the batch again, and stored `update_id`s skip what was
already handled.

aiogram parses a whole `getUpdates` answer at once: one update it cannot parse fails the batch,
and fetching again at the same offset fails the same way forever. Such a batch is parsed here
update by update instead; the ones that fail go to the dead letters and the offset moves past them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramConflictError, TelegramUnauthorizedError
from aiogram.types import Update

from bot.core.dead_letters import DeadLetters, describe, raw_json
from bot.core.retry import sleep_until
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
    dead_letters: DeadLetters | None = None,
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
            await sleep_until(stop, policy.backoff(failures))
            continue
        except ClientDecodeError as exc:
            batch = split_batch(exc.data, bot) if dead_letters is not None else None
            if batch is None:  # not an update it failed on (an error page, broken JSON): transient
                failures += 1
                delay = policy.backoff(failures)
                log.warning("getUpdates failed (%s), retry in %.1f s", type(exc).__name__, delay)
                await sleep_until(stop, delay)
                continue
            assert dead_letters is not None
            try:
                for broken in batch.broken:
                    await dead_letters.keep(broken.raw, broken.error, broken.update_id)
            except Exception as store_exc:  # the database: fetch the same batch again later
                failures += 1
                delay = policy.backoff(failures)
                log.warning(
                    "an unparsable update could not be stored (%s), retry in %.1f s",
                    type(store_exc).__name__, delay,
                )  # fmt: skip
                await sleep_until(stop, delay)
                continue
            failures = 0
            if on_polled is not None:
                on_polled()  # the poll itself succeeded; only some of its updates were broken
            if batch.updates:
                await processor.process_batch(batch.updates)
            offset = batch.next_offset
            continue
        except TRANSIENT as exc:
            failures += 1
            delay = policy.backoff(failures)
            log.warning("getUpdates failed (%s), retry in %.1f s", type(exc).__name__, delay)
            await sleep_until(stop, delay)
            continue
        if updates is None:
            break
        failures = 0
        if on_polled is not None:
            on_polled()
        if updates:
            await processor.process_batch(updates)
            offset = updates[-1].update_id + 1


@dataclass(frozen=True)
class Broken:
    raw: str
    error: str
    update_id: str | None


@dataclass
class SplitBatch:
    updates: list[Update] = field(default_factory=list)
    broken: list[Broken] = field(default_factory=list)
    next_offset: int = 0


def split_batch(data: Any, bot: Bot) -> SplitBatch | None:
    """A `getUpdates` answer parsed update by update, or None when it is not one (then nothing
    in it can be skipped safely)."""
    if not isinstance(data, dict) or data.get("ok") is not True or not isinstance(data.get("result"), list):
        return None
    batch = SplitBatch()
    last: int | None = None
    for item in data["result"]:
        raw_id = item.get("update_id") if isinstance(item, dict) else None
        update_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        if update_id is not None:
            last = update_id if last is None else max(last, update_id)
        try:
            batch.updates.append(Update.model_validate(item, context={"bot": bot}))
        except Exception as exc:  # pydantic's ValidationError, or worse: never the whole batch
            batch.broken.append(
                Broken(raw_json(item), describe(exc), None if update_id is None else str(update_id))
            )
    if last is None or not batch.broken:  # no offset to move past it, or nothing was broken
        return None
    batch.next_offset = last + 1
    return batch


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
