"""Calling the Bot API with the retries aiogram leaves to us.

aiogram raises `TelegramRetryAfter` on 429 and never waits itself; network and server errors
are raised as well. We wait `retry_after` (which Telegram sets per chat or per bot) and back off
exponentially on transient failures. Permanent errors (403, 400) are raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.core.retry import BackoffConfig

log = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

TRANSIENT = (TelegramNetworkError, TelegramServerError, ClientDecodeError)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # transient network/server failures before giving up
    max_flood_waits: int = 30  # 429 answers honoured before giving up
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, attempt: int) -> float:
        # Jitter: workers don't retry in lockstep.
        return BackoffConfig(first=self.base_delay, limit=self.max_delay, jitter=0.25).delay(attempt)


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy = RetryPolicy(),
    *,
    what: str = "request",
    sleep: Sleep = asyncio.sleep,
) -> T:
    failures = floods = 0
    while True:
        try:
            return await call()
        except TelegramRetryAfter as exc:
            floods += 1
            if floods > policy.max_flood_waits:
                raise
            log.warning("%s: Telegram asks to wait %s s (429), waiting", what, exc.retry_after)
            await sleep(float(exc.retry_after))
        except TRANSIENT as exc:
            failures += 1
            if failures >= policy.attempts:
                raise
            delay = policy.backoff(failures)
            log.warning("%s: %s, retry %d in %.1f s", what, type(exc).__name__, failures, delay)
            await sleep(delay)
