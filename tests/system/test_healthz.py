"""/healthz tells the truth: 503 with a reason when the database cannot be written, when the
mailing service is down, when the channel stopped polling; 200 once all is well again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from bot.app import Services, questionnaire_from
from bot.config import ConfigError, load_settings
from bot.runtime.health import Health, health_app
from bot.runtime.http import start_server
from bot.runtime.metrics import Metrics
from bot.telegram.runner import run_telegram
from storage.store import Storage
from tests.bot.mailing.conftest import mailing_service
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port
from tests.system.read_only import make_writable, read_only
from tests.system.test_mailing_kill_restart import start, write_config


async def get(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, json.loads(await response.text())


async def until(port: int, status: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got, body = await get(port)
        except aiohttp.ClientConnectionError:
            got, body = 0, {}
        if got == status:
            return body
        assert time.monotonic() < deadline, f"/healthz stayed {got} {body}, expected {status}"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def serving(storage: Storage, health: Health, **kw: Any) -> AsyncIterator[int]:
    port = free_port()
    server = await start_server(health_app(storage, health, **kw), f"127.0.0.1:{port}")
    try:
        yield port
    finally:
        await server.cleanup()


async def test_read_only_database_is_unhealthy_until_writable(tmp_path: Path) -> None:
    path = tmp_path / "otklik.db"
    database = Database("sqlite", f"sqlite+aiosqlite:///{path}", None)
    await (await database.open()).close()
    with read_only(path):
        storage = await database.open()  # reading works: the service starts
        metrics = Metrics()
        try:
            async with serving(storage, Health(), metrics=metrics) as port:
                status, body = await get(port)
                assert status == 503 and body["status"] == "fail"
                assert "database not writable" in body["reason"] and "readonly" in body["reason"]
                # ... and the failed write is a database error on /metrics, next to /healthz.
                url = f"http://127.0.0.1:{port}/metrics"
                async with aiohttp.ClientSession() as http, http.get(url) as response:
                    exposed = await response.text()
                assert 'otklik_database_errors_total{component="health"} 1.0' in exposed
                make_writable(path)
                status, body = await get(port)
                assert status == 200 and body == body | {"status": "ok", "database": "ok"}
                assert "reason" not in body
                assert (
                    metrics.registry.get_sample_value("otklik_database_errors_total", {"component": "health"})
                    == 1
                )
        finally:
            await storage.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB file system of its own (tmpfs; needs root), to be filled up."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_full_disk_is_unhealthy(small_disk: Path) -> None:
    storage = await Database("sqlite", f"sqlite+aiosqlite:///{small_disk / 'otklik.db'}", None).open()
    try:
        async with serving(storage, Health()) as port:
            assert (await get(port))[0] == 200
            filler = small_disk / "filler"
            # Unbuffered, and the OSError of a full disk is suppressed around the close as well.
            with contextlib.suppress(OSError), filler.open("wb", buffering=0) as out:
                while True:
                    out.write(b"\0" * 65536)
            status, body = await get(port)
            assert status == 503 and "database" in body["reason"]
            assert "full" in body["reason"], body
            filler.unlink()
            assert (await get(port))[0] == 200
    finally:
        await storage.close()


async def test_channel_not_polling_is_unhealthy(database: Database, fake_tg: FakeTelegram) -> None:
    service = mailing_service(database, fake_tg)
    storage = await database.open()
    services = Services(service.settings, storage, questionnaire_from(service.settings))
    stop = asyncio.Event()
    task = asyncio.create_task(run_telegram(services, stop))
    try:
        async with serving(storage, services.health, poll_stale_seconds=3.0) as port:
            await fake_tg.wait_for(lambda: any(m == "getUpdates" for m, _ in fake_tg.calls), timeout=15)
            await asyncio.sleep(1.5)  # a long poll of the fake lasts at most 1 s
            body = await until(port, 200)
            assert body["last_poll_age_s"]["telegram"] < 3
            fake_tg.fail("getUpdates", 502, "Bad Gateway", times=10_000)
            fake_tg.push_text(4242, "/start")  # ends the current long poll; every next one fails
            body = await until(port, 503)
            assert body["reason"].startswith("telegram: no successful poll for")
            assert body["database"] == "ok" and body["mailing"] == "ok"
            fake_tg.failures["getUpdates"].clear()
            fake_tg.push_text(4242, "/start")
            await until(port, 200, timeout=40)  # after the poller's current back-off
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await storage.close()


async def test_dead_mailing_service_is_unhealthy(
    database: Database, fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    """A real `otklik run`: the mailing service cannot start (its table is missing), /healthz
    says so; once the table is back the supervised service starts again and /healthz is 200."""
    storage = await database.open()
    port = free_port()
    config, log = tmp_path / "config.toml", tmp_path / "otklik.log"
    write_config(config, database, fake_tg)
    with config.open("a") as out:
        out.write(f'[service]\nhealth_listen = "127.0.0.1:{port}"\n')
    process = None
    try:
        async with storage.transaction() as conn:
            await conn.execute(text("ALTER TABLE outbox RENAME TO outbox_away"))
        process = await start(config, log)
        body = await until(port, 503, timeout=60)
        assert body["reason"].startswith("mailing service not running"), body
        assert body["database"] == "ok" and "telegram" in body["last_poll_age_s"]
        async with storage.transaction() as conn:
            await conn.execute(text("ALTER TABLE outbox_away RENAME TO outbox"))
        body = await until(port, 200, timeout=60)
        assert body["mailing"] == "ok"
    finally:
        if process is not None and process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 20)
        await storage.close()
    output = log.read_text()
    assert "ERROR bot.mailing.hub: mailing service failed, restarting in" in output
    assert "Traceback" in output and "outbox" in output


def test_poll_staleness_setting_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[service]\nhealth_poll_stale_seconds = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, explicit=True)
    assert [p.split(":")[0] for p in info.value.problems] == ["service.health_poll_stale_seconds"]
    path.write_text("[service]\nhealth_poll_stale_seconds = 300\n", encoding="utf-8")
    assert load_settings(path, explicit=True).service.health_poll_stale_seconds == 300
