"""The rate limiter with a virtual clock: spacing overall and per chat, 429 back-off."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from typing import Any

import pytest

from bot.mailing.limiter import RateLimiter


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_slots_are_evenly_spaced_below_the_limit() -> None:
    t = VirtualTime()
    limiter = RateLimiter(30, 1, safety_margin=0.02, clock=t.clock, sleep=t.sleep)
    times = []
    for chat in range(300):
        await limiter.acquire(str(chat))
        times.append(t.now)
    # No one-second window holds more than 30 sends, and the rate is within 2 % of the limit.
    for i in range(len(times) - 30):
        assert times[i + 30] - times[i] >= 1.0
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert 29.3 < achieved <= 30


async def test_one_chat_waits_a_second_between_messages() -> None:
    t = VirtualTime()
    limiter = RateLimiter(30, 1, safety_margin=0.0, clock=t.clock, sleep=t.sleep)
    await limiter.acquire("a")
    await limiter.acquire("b")
    await limiter.acquire("a")
    assert t.now == pytest.approx(1.0)


async def test_429_pushes_every_slot_back() -> None:
    t = VirtualTime()
    limiter = RateLimiter(30, 1, clock=t.clock, sleep=t.sleep)
    await limiter.acquire("a")
    limiter.back_off(5)
    await limiter.acquire("b")
    assert t.now == pytest.approx(5.0)
    assert limiter.waits_for_429 == 1


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)


class StallingTime:
    """Virtual time for several concurrent senders: sleepers wake in time order, each a little
    late (`jitter`), and during a stall (start, length) nobody runs: everyone due wakes at its end,
    as after a GC pause or when the process got no CPU."""

    def __init__(self, stalls: list[tuple[float, float]], jitter: float, seed: int = 5) -> None:
        self.now = 0.0
        self.stalls = stalls
        self.jitter = jitter
        self.random = random.Random(seed)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        wake = self.now + seconds + self.random.uniform(0, self.jitter)
        heapq.heappush(self._sleepers, (wake, next(self._order), future))
        await future

    async def drive(self, work: asyncio.Future[Any]) -> None:
        while not work.done():
            for _ in range(10):  # let every woken task run on to its next sleep
                await asyncio.sleep(0)
            if not self._sleepers:
                continue
            wake, _, future = heapq.heappop(self._sleepers)
            for start, length in self.stalls:
                if start <= wake < start + length:
                    wake = start + length
            self.now = max(self.now, wake)
            future.set_result(None)


async def test_no_window_ever_holds_more_than_the_limit_even_after_stalls() -> None:
    # Four senders share the limiter, wake-ups are up to 0.8 slot late, and the process stalls
    # four times (a 50 ms GC pause, half a second, three seconds, a slot and a half).
    t = StallingTime(stalls=[(2.0, 0.05), (5.0, 0.5), (9.0, 3.0), (14.0, 0.05)], jitter=0.027)
    limiter = RateLimiter(30, 1, safety_margin=0.02, clock=t.clock, sleep=t.sleep)
    sent: list[float] = []
    chats = itertools.count()

    async def sender() -> None:
        while len(sent) < 600:
            await limiter.acquire(str(next(chats)))
            sent.append(t.now)

    work = asyncio.gather(*(sender() for _ in range(4)))
    await t.drive(work)
    assert sent == sorted(sent)
    # The guarantee: any 31 consecutive sends span at least the 1.02 s window.
    assert min(sent[i + 30] - sent[i] for i in range(len(sent) - 30)) >= 1.02 - 1e-9
    # No catch-up burst after a stall: consecutive sends stay at least half a slot apart.
    assert min(b - a for a, b in itertools.pairwise(sent)) >= limiter.interval / 2 - 1e-9
    # And the rate outside the stalls stays within 5 % of the limit.
    busy = sent[-1] - sent[0] - (0.05 + 0.5 + 3.0 + 0.05)
    assert (len(sent) - 1) / busy >= 0.95 * 30
