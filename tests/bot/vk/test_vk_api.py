"""VkClient: the real vk_api routed to our base URL, our rate instead of vk_api's 3/s, retries."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from bot.vk.api import VkClient, VkError
from tests.fakes.vk_api import TOKEN, FakeVk


def client(base_url: str, rps: float = 1000, attempts: int = 3) -> VkClient:
    return VkClient(
        TOKEN, api_version="5.199", api_base_url=base_url, rps=rps, backoff=0.01, attempts=attempts
    )


async def test_calls_reach_the_base_url_without_vk_apis_throttle(fake: FakeVk) -> None:
    vk = client(fake.url)
    try:
        started = time.monotonic()
        for n in range(15):
            assert await vk.call("messages.sendMessageEventAnswer", {"event_id": str(n), "user_id": 1}) == 1
        # vk_api alone would sleep 0.34 s between calls (about 4.8 s here).
        assert time.monotonic() - started < 2.5
        assert [c["v"] for c in fake.calls_of("messages.sendMessageEventAnswer")] == ["5.199"] * 15
    finally:
        vk.close()


async def test_the_configured_rate_is_kept(fake: FakeVk) -> None:
    vk = client(fake.url, rps=10)
    try:
        started = time.monotonic()
        for n in range(6):
            await vk.call("messages.sendMessageEventAnswer", {"event_id": str(n), "user_id": 1})
        assert time.monotonic() - started >= 0.45
    finally:
        vk.close()


async def test_other_errors_are_not_retried(fake: FakeVk) -> None:
    vk = client(fake.url)
    try:
        with pytest.raises(VkError) as caught:
            await vk.call("no.suchMethod")
        assert caught.value.code == 3 and len(fake.calls_of("no.suchMethod")) == 1
        fake.fail("messages.sendMessageEventAnswer", 10, 10, 10)
        with pytest.raises(VkError) as caught:
            await vk.call("messages.sendMessageEventAnswer", {"event_id": "x", "user_id": 1})
        assert caught.value.code == 10 and len(fake.calls_of("messages.sendMessageEventAnswer")) == 3
    finally:
        vk.close()


async def test_network_failures_are_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    vk = client(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(VkError) as caught:
            await vk.call("groups.getLongPollServer", {"group_id": 1})
        assert caught.value.code == -1
    finally:
        vk.close()


async def test_calls_overlap_up_to_the_rate(fake: FakeVk) -> None:
    fake.latency = 0.3
    vk = client(fake.url)
    try:
        await asyncio.gather(
            *(
                vk.call("messages.sendMessageEventAnswer", {"event_id": str(n), "user_id": 1})
                for n in range(4)
            )
        )
        # Measured where the calls are answered, not by the clock, which a busy machine stretches.
        assert fake.most_in_flight >= 2
    finally:
        vk.close()
