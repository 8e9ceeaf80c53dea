"""Operating Otklik: one process per SQLite file, /healthz, erasure on request, backups,
and a database that is not there at start."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.runtime.health import Health, health_app
from bot.runtime.http import start_server
from storage.privacy import forget
from storage.schema import answers, consents, respondents
from storage.store import Storage
from tests.conftest import PG_URL, REPO, Database, _drop_schema, pg_skip_reason
from tests.fakes.chat import Chat
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port


def otklik(*args: str, config: Path | None = None) -> list[str]:
    head = [sys.executable, "-m", "bot.cli.main"]
    return [*head, *(["--config", str(config)] if config else []), *args]


async def test_second_run_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    fake = await FakeTelegram().start()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "o.db"}"\n'
        f'[telegram]\nenabled = true\ntoken = "{fake.token}"\napi_server = "{fake.base_url}"\n'
    )
    first = await asyncio.create_subprocess_exec(*otklik("run", config=config), cwd=REPO)
    try:
        await fake.wait_for(lambda: any(m == "getUpdates" for m, _ in fake.calls), timeout=30)
        second = await asyncio.create_subprocess_exec(
            *otklik("run", config=config), cwd=REPO, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 2
        message = err.decode()
        assert "уже используется другим процессом otklik run" in message and f"PID {first.pid}" in message
        assert "Traceback" not in message
    finally:
        first.terminate()
        await first.wait()
        await fake.stop()


async def test_second_run_through_a_hard_link_symlink_or_relative_path_is_refused(tmp_path: Path) -> None:
    fake = await FakeTelegram().start()
    database = tmp_path / "o.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{database}"\n'
        f'[telegram]\nenabled = true\ntoken = "{fake.token}"\napi_server = "{fake.base_url}"\n'
    )
    first = await asyncio.create_subprocess_exec(*otklik("run", config=config), cwd=REPO)
    try:
        await fake.wait_for(lambda: any(m == "getUpdates" for m, _ in fake.calls), timeout=30)
        (tmp_path / "other").mkdir()
        os.link(database, tmp_path / "other" / "hard.db")
        (tmp_path / "sym.db").symlink_to(database)
        urls = (
            f"sqlite+aiosqlite:///{tmp_path / 'other' / 'hard.db'}",
            f"sqlite+aiosqlite:///{tmp_path / 'sym.db'}",
            "sqlite+aiosqlite:///./other/../o.db",
        )
        # The three start together: a refused process never holds the lock, so they cannot disturb
        # each other, and the slow part (starting Python) overlaps.
        seconds = [
            await asyncio.create_subprocess_exec(
                *otklik("--database", url, "run", config=config), cwd=tmp_path, stderr=asyncio.subprocess.PIPE
            )
            for url in urls
        ]
        outputs = await asyncio.wait_for(asyncio.gather(*(s.communicate() for s in seconds)), 60)
        for url, second, (_, err) in zip(urls, seconds, outputs, strict=True):
            message = err.decode()
            assert second.returncode == 2, (url, message)
            assert "уже используется другим процессом otklik run" in message and f"PID {first.pid}" in message
            assert "Traceback" not in message and len(message.strip().splitlines()) == 1
        assert first.returncode is None  # the holder keeps running
    finally:
        first.terminate()
        await first.wait()
        await fake.stop()


async def test_healthz_reports_database_and_last_update(storage: Storage) -> None:
    health = Health()
    port = free_port()
    server = await start_server(health_app(storage, health), f"127.0.0.1:{port}")
    try:
        health.handled("telegram")
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
            body = json.loads(await response.text())
            assert response.status == 200
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["last_update_age_s"]["telegram"] < 5
        # The database went away: every open connection closed (kept ones too), new ones refused.
        await storage.close()
        storage.engine.pool._creator = _refuse  # type: ignore[attr-defined]
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
            body = json.loads(await response.text())
            assert response.status == 503 and body["status"] == "fail"
    finally:
        await server.cleanup()


def _refuse() -> None:
    raise ConnectionRefusedError("database down")


async def test_forget_unlinks_person_keeps_answers_and_consent_history(
    conversation,
    storage: Storage,  # type: ignore[no-untyped-def]
) -> None:
    chat = Chat(conversation, user="777", channel="telegram")
    await chat.start()
    await chat.answer_all(["Субсидия", "Телефон"])
    async with storage.transaction() as conn:
        assert await forget(conn, "telegram", "777", datetime.now(UTC), "dpo") is not None
        assert await forget(conn, "telegram", "no-such-id", datetime.now(UTC), "dpo") is None
    async with storage.transaction() as conn:
        person = (await conn.execute(select(respondents))).one()
        kept = list(await conn.execute(select(answers)))
        register = list(await conn.execute(select(consents)))
    assert person.external_id.startswith("forgotten:") and person.name is None and person.dialog == {}
    assert len(kept) == 2
    assert [(r.granted, r.method, r.recorded_by) for r in register] == [(False, "erasure", "dpo")]
    # The same messenger id is now a stranger: a new respondent, no access to the old answers.
    await chat.start()
    async with storage.transaction() as conn:
        assert len(list(await conn.execute(select(respondents)))) == 2


def test_forget_and_backup_cli(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    url = f"sqlite+aiosqlite:///{db}"
    done = subprocess.run(
        [*otklik("--database", url, "console", "--user", "anna")], input="1\n2\n", text=True,
        capture_output=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    missing = subprocess.run(
        otklik("--database", url, "forget", "--channel", "console", "--id", "nobody"),
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "нет пользователя с id nobody" in missing.stderr
    ok = subprocess.run(
        otklik("--database", url, "forget", "--channel", "console", "--id", "anna"),
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0 and "отвязан" in ok.stdout
    out = tmp_path / "copies" / "o-backup.db"
    backup = subprocess.run(
        otklik("--database", url, "backup", "--out", str(out)), capture_output=True, text=True,
        cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    with sqlite3.connect(out) as copy:
        assert copy.execute("select count(*) from answers").fetchone() == (2,)
    again = subprocess.run(
        otklik("--database", url, "backup", "--out", str(out)), capture_output=True, text=True,
        cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert again.returncode == 2 and "уже существует" in again.stderr


def test_backup_postgresql_with_pg_dump(tmp_path: Path) -> None:
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    database = Database("postgresql", PG_URL, f"t_{secrets.token_hex(6)}")

    async def prepare() -> None:
        store = await database.open()
        await store.close()

    asyncio.run(prepare())
    try:
        _backup_and_list(database, tmp_path)
    finally:
        asyncio.run(_drop_schema(str(database.schema)))


def _backup_and_list(database: Database, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{database.url}"\npg_schema = "{database.schema}"\n')
    out = tmp_path / "pg.dump"
    done = subprocess.run(
        otklik("backup", "--out", str(out), config=config),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listing = subprocess.run(["pg_restore", "--list", str(out)], capture_output=True, text=True, check=True)
    assert "TABLE " in listing.stdout and "answers" in listing.stdout


def test_database_unreachable_at_start_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "postgresql+asyncpg://postgres@127.0.0.1:1/none"\n')
    started = time.monotonic()
    done = subprocess.run(
        otklik("migrate", config=config), capture_output=True, text=True, cwd=REPO, timeout=120,
        env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "127.0.0.1:1" in done.stderr
    assert time.monotonic() - started < 60


def test_bad_health_listen_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[service]\nhealth_listen = "nowhere"\n')
    done = subprocess.run(
        otklik("migrate", config=config), capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 2 and "service.health_listen" in done.stderr
