"""The rate limiter with a virtual clock: spacing overall and per chat, 429 back-off."""

from __future__ import annotations

import asyncio

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
