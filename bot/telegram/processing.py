"""Handling updates so none is lost: retried while the database is away, ordered per chat.

An update counts as handled only when `Dispatcher.feed_update` returned, i.e. its answer and
its `update_id` were committed. Polling acknowledges a batch only after that; the webhook answers
200 only after that. A re-delivered update is recognised by its stored `update_id`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.core.retry import BackoffConfig, is_transient
from bot.runtime.metrics import Metrics, UpdateOutcome
from bot.telegram import texts
from bot.telegram.retry import RetryPolicy, call_with_retry
from storage.channels import Channel

log = logging.getLogger(__name__)

# While the database is away (restart, network, lock timeout) the same update is tried again.
DATABASE_WAIT = BackoffConfig(first=0.2, limit=5.0)


def chat_key(update: Update) -> int:
    """Updates of one chat are handled in order; different chats in parallel."""
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    if update.edited_message is not None:
        return update.edited_message.chat.id
    return 0


class UpdateProcessor:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        backoff: BackoffConfig | None = None,
        on_handled: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.metrics = metrics or Metrics()
        self.bot = bot
        self.backoff = backoff or DATABASE_WAIT
        self.on_handled = on_handled
        self.handled = 0

    async def process(self, update: Update, *, give_up_after: float | None = None) -> bool:
        """True once the update is handled; False if the database stayed away past the deadline."""
        loop = asyncio.get_running_loop()
        deadline = None if give_up_after is None else loop.time() + give_up_after
        attempt = 0
        while True:
            began = loop.time()
            outcome = UpdateOutcome.HANDLED
            try:
                await self.dispatcher.feed_update(self.bot, update)
            except Exception as exc:
                if not is_transient(exc):
                    # A defect, not an outage: log it, apologise, and do not block the queue forever.
                    log.exception("update %s failed", update.update_id)
                    outcome = UpdateOutcome.FAILED
                    await self._apologise(update)
                else:  # the database went away: the same update is tried again
                    self.metrics.database_error(Channel.TELEGRAM)
                    attempt += 1
                    delay = self.backoff.delay(attempt)
                    if deadline is not None and loop.time() + delay > deadline:
                        log.warning("update %s not handled yet: database unavailable", update.update_id)
                        return False
                    log.warning(
                        "update %s: database unavailable (%s), retry %d in %.1f s",
                        update.update_id, type(exc).__name__, attempt, delay,
                    )  # fmt: skip
                    await asyncio.sleep(delay)
                    continue
            # The last attempt's time: waits for the database are counted as database errors.
            self.metrics.update(Channel.TELEGRAM, outcome, loop.time() - began)
            self.handled += 1
            if self.on_handled is not None:
                self.on_handled()
            return True

    async def process_batch(self, updates: Iterable[Update]) -> None:
        by_chat: dict[int, list[Update]] = {}
        for update in updates:
            by_chat.setdefault(chat_key(update), []).append(update)
        await asyncio.gather(*(self._in_order(group) for group in by_chat.values()))

    async def _in_order(self, group: list[Update]) -> None:
        for update in group:
            await self.process(update)

    async def _apologise(self, update: Update) -> None:
        chat = chat_key(update)
        if not chat:
            return
        try:
            await call_with_retry(
                lambda: self.bot.send_message(chat, texts.APOLOGY), RetryPolicy(attempts=2), what="apology"
            )
        except Exception as exc:  # the apology is best effort
            log.info("apology not sent: %s", type(exc).__name__)
