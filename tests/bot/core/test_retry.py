"""The one backoff, the one stop-aware sleep and the one transient test."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import OperationalError

from bot.core.retry import Backoff, BackoffConfig, is_transient, sleep_until
from storage.db import DatabaseUnavailable


def test_delays_double_up_to_the_limit() -> None:
    config = BackoffConfig(first=0.5, limit=3.0)
    assert [config.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_the_power_stays_finite_after_many_failures() -> None:
    assert BackoffConfig(first=1.0, limit=60.0).delay(10_000) == 60.0
    # Ten doublings at most: a tiny first delay stays tiny (tests rely on fast retries).
    assert BackoffConfig(first=0.01, limit=60.0).delay(10_000) == pytest.approx(10.24)


def test_jitter_spreads_the_delay_both_ways() -> None:
    config = BackoffConfig(first=2.0, limit=2.0, jitter=0.25)
    assert config.delay(1, rand=lambda: 0.0) == pytest.approx(1.5)
    assert config.delay(1, rand=lambda: 0.5) == pytest.approx(2.0)
    assert config.delay(1, rand=lambda: 0.999999) == pytest.approx(2.5, abs=1e-5)
    spread = {config.delay(1) for _ in range(50)}
    assert len(spread) > 1 and all(1.5 <= d <= 2.5 for d in spread)


@pytest.mark.parametrize(
    "kwargs", [{"first": 0, "limit": 1}, {"first": 2, "limit": 1}, {"first": 1, "limit": 2, "jitter": 1.0}]
)
def test_nonsense_configs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffConfig(**kwargs)


def test_backoff_counts_failures_and_resets() -> None:
    backoff = Backoff(BackoffConfig(first=1.0, limit=8.0))
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.failures == 5
    backoff.reset()
    assert backoff.next_delay() == 1.0


async def test_sleep_until_times_out_without_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await sleep_until(stop, 0.05) is False
    assert loop.time() - began >= 0.04


async def test_sleep_until_wakes_at_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, stop.set)
    began = loop.time()
    assert await sleep_until(stop, 30) is True
    assert loop.time() - began < 5


async def test_sleep_until_wakes_at_another_event_or_task_without_cancelling_the_task() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, wake.set)
    assert await sleep_until(stop, 30, wake) is False
    assert wake.is_set()

    task = asyncio.create_task(asyncio.sleep(0.02))
    assert await sleep_until(stop, 30, task) is False
    assert task.done() and not task.cancelled()

    slow = asyncio.create_task(asyncio.sleep(30))
    assert await sleep_until(stop, 0.01, slow) is False
    assert not slow.done()  # the caller's task keeps running
    slow.cancel()


class _ChannelError(Exception):
    def __init__(self, transient: bool) -> None:
        super().__init__("channel")
        self.transient = transient


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OperationalError("select 1", {}, Exception("gone")), True),
        (DatabaseUnavailable("down"), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (_ChannelError(transient=True), True),
        (_ChannelError(transient=False), False),
        (ValueError("bad"), False),
        (KeyError("x"), False),
    ],
)
def test_is_transient(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected
