"""Waiting after a failure, shared by every channel and service: one backoff, one stop-aware
sleep, one answer to "will this go away by itself?".

Shaped like aiogram's `utils/backoff.py` (a frozen config plus a stateful `Backoff` with
`next_delay` and `reset`), with the jitter as a fraction of the delay instead of a normal
distribution, so a delay never falls below `(1 - jitter)` of its step nor grows past its bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from storage.db import DatabaseUnavailable

# Past ten doublings any sensible first delay has reached its limit; the cap keeps the power finite.
MAX_DOUBLINGS = 10

# The database or the network is briefly unreachable: the same work succeeds when tried again.
# OSError covers refused and reset connections (asyncpg, aiohttp) and requests' errors.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DatabaseUnavailable,
    OSError,
    TimeoutError,
)


@dataclass(frozen=True)
class BackoffConfig:
    """Delay before retry `attempt` (1, 2, …): `first`, multiplied by `factor` each time, at most
    `limit`; then spread by ±`jitter` (0.25: 75–125 %) so workers do not retry in lockstep."""

    first: float
    limit: float
    factor: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.first <= 0 or self.limit < self.first:
            raise ValueError("a backoff needs 0 < first <= limit")
        if self.factor < 1:
            raise ValueError("a backoff's factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("a backoff's jitter is a fraction in [0, 1)")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        steps = min(max(attempt, 1) - 1, MAX_DOUBLINGS)
        delay = min(self.limit, self.first * self.factor**steps)
        if self.jitter:
            delay *= 1 - self.jitter + 2 * self.jitter * rand()
        return float(delay)


class Backoff:
    """Consecutive failures of one loop: `next_delay()` after each, `reset()` after a success."""

    def __init__(self, config: BackoffConfig) -> None:
        self.config = config
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return self.config.delay(self.failures)

    def reset(self) -> None:
        self.failures = 0


async def sleep_until(
    stop: asyncio.Event, seconds: float, *also: asyncio.Event | asyncio.Future[Any]
) -> bool:
    """Sleep `seconds`, or less if `stop` (or any of `also`) fires first. True when `stop` is set.

    A future given in `also` (a task the caller owns) is only watched, never cancelled.
    """
    if not also:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        return stop.is_set()
    ours: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
    theirs: set[asyncio.Future[Any]] = set()
    for item in also:
        if isinstance(item, asyncio.Event):
            ours.add(asyncio.ensure_future(item.wait()))
        else:
            theirs.add(item)
    try:
        await asyncio.wait(ours | theirs, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in ours:
            waiter.cancel()
    return stop.is_set()


def is_transient(exc: BaseException) -> bool:
    """A failure that goes away by itself. An error type outside this module (a channel's API
    error) says so with a true `transient` attribute."""
    if getattr(exc, "transient", False) is True:
        return True
    return isinstance(exc, TRANSIENT_ERRORS)
