"""The webhook behind nginx: the client's address is logged only when a trusted proxy names it."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from bot.config import ConfigError, load_settings
from tests.bot.telegram.conftest import CHAT, Service
from tests.bot.telegram.test_webhook_staff_process import start_update
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port

SECRET = "s3cret-Value_1"
# What nginx sends with `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`: the client
# wrote the first address itself, nginx appended the address it saw.
BEHIND_NGINX = {"X-Forwarded-For": "198.51.100.66, 203.0.113.7", "X-Real-IP": "203.0.113.7"}


async def post_through_service(
    tmp_path: Path, fake_tg: FakeTelegram, trusted: list[str], headers: dict[str, str], db: str = "otklik"
) -> list[int]:
    port = free_port()
    fake_tg.webhook.clear()  # setWebhook of this start tells that the server listens
    database = Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / db}.db", None)
    service = await Service(
        database, fake_tg, mode="webhook", webhook_url="https://otklik.example.ru/telegram/hook",
        webhook_listen=f"127.0.0.1:{port}", webhook_secret=SECRET, trusted_proxies=trusted,
    ).start()  # fmt: skip
    url = f"http://127.0.0.1:{port}/telegram/hook"
    statuses = []
    try:
        await fake_tg.wait_for(lambda: bool(fake_tg.webhook), timeout=10)
        async with aiohttp.ClientSession() as http:
            for secret in ("wrong", SECRET):
                async with http.post(
                    url, json=start_update(1), headers={**headers, "X-Telegram-Bot-Api-Secret-Token": secret}
                ) as response:
                    statuses.append(response.status)
    finally:
        await service.stop()
    return statuses


async def test_trusted_proxy_names_the_client(
    tmp_path: Path, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.telegram.webhook")
    assert await post_through_service(tmp_path, fake_tg, ["127.0.0.0/8"], BEHIND_NGINX) == [401, 200]
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.telegram.webhook"]
    assert lines == [
        "webhook request with a wrong or missing secret from 203.0.113.7 (via 127.0.0.1)",
        "webhook update 1 from 203.0.113.7 (via 127.0.0.1)",
    ]
    assert fake_tg.chat(CHAT)  # the good request was handled


async def test_untrusted_peer_headers_are_ignored(
    tmp_path: Path, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.telegram.webhook")
    assert await post_through_service(tmp_path, fake_tg, ["10.0.0.0/8"], BEHIND_NGINX) == [401, 200]
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.telegram.webhook"]
    assert lines == [
        "webhook request with a wrong or missing secret from 127.0.0.1",
        "webhook update 1 from 127.0.0.1",
    ]


async def test_proxy_chain_skips_every_trusted_hop(
    tmp_path: Path, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.telegram.webhook")
    # A load balancer (10.1.2.3, trusted) in front of nginx; a client without X-Forwarded-For
    # of its own; then a garbled list, where nothing beyond the proxy is believed.
    chain = {"X-Forwarded-For": "203.0.113.8, 10.1.2.3"}
    garbled = {"X-Forwarded-For": "203.0.113.9, not-an-ip"}
    real_ip_only = {"X-Real-IP": "198.51.100.10"}  # nginx with only `proxy_set_header X-Real-IP`
    await post_through_service(tmp_path, fake_tg, ["127.0.0.1", "10.0.0.0/8"], chain)
    await post_through_service(tmp_path, fake_tg, ["127.0.0.1"], garbled, db="second")
    await post_through_service(tmp_path, fake_tg, ["127.0.0.1"], real_ip_only, db="third")
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.telegram.webhook"]
    assert lines == [
        "webhook request with a wrong or missing secret from 203.0.113.8 (via 127.0.0.1)",
        "webhook request with a wrong or missing secret from 127.0.0.1",
        "webhook request with a wrong or missing secret from 198.51.100.10 (via 127.0.0.1)",
    ]


def test_trusted_proxies_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[telegram]\ntrusted_proxies = ["127.0.0.1", "nginx"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, explicit=True)
    assert info.value.problems == [
        "telegram.trusted_proxies.1: 'nginx': ожидается IP-адрес или сеть, например 127.0.0.1 или 10.0.0.0/8"
    ]
    path.write_text('[telegram]\ntrusted_proxies = ["127.0.0.1", "::1", "10.0.0.0/8"]\n', encoding="utf-8")
    assert [str(n) for n in load_settings(path, explicit=True).telegram.trusted_proxies] == [
        "127.0.0.1/32",
        "::1/128",
        "10.0.0.0/8",
    ]
