"""`otklik run` with [max] enabled, as an operator starts it: a subprocess against the fake MAX Bot API."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core import texts
from tests.bot.max.conftest import User
from tests.conftest import REPO
from tests.fakes.max_api import BOT_ID, TOKEN, FakeMax
from tests.ports import free_port


def write_config(path: Path, db: Path, fake: FakeMax, token: str = TOKEN, health: str = "") -> Path:
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n\n'
        f'[max]\nenabled = true\ntoken = "{token}"\napi_base_url = "{fake.url}"\n\n'
        f'[service]\nhealth_listen = "{health}"\n',
        encoding="utf-8",
    )
    return path


def healthz(address: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
        return data


def start(config: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", "--config", str(config), "run"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


async def polled(fake: FakeMax, count: int, timeout: float = 60.0) -> None:
    for _ in range(int(timeout * 20)):
        if len(fake.calls_of("GET /updates")) >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the service never polled")


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


async def test_run_serves_max_and_a_killed_service_loses_nothing(
    tmp_path: Path, fake: FakeMax, running: list[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "run.db"
    health = f"127.0.0.1:{free_port()}"
    config = write_config(tmp_path / "config.toml", db, fake, health=health)
    user = User(fake, 4242)
    running.append(start(config, tmp_path))
    await polled(fake, 1)
    assert fake.calls_of("GET /me"), "the token is checked at start"
    sent = await user.start()
    assert [m.text for m in sent][:1] == [texts.GREETING]
    await user.choose("1")
    status = await asyncio.to_thread(healthz, health)
    assert "max" in status["last_update_age_s"], status
    # Killed outright, then a press and a typed answer arrive while the service is down.
    running[-1].kill()
    await asyncio.to_thread(running[-1].communicate, timeout=20)
    await fake.user_presses(user.id, user.answer_button("2"), message=user.last_with_buttons())
    await fake.user_writes(user.id, "Управление развития туризма")
    running.append(start(config, tmp_path))
    await fake.settled(60)
    assert user.last_with_buttons().text.startswith("Вопрос 4 из")
    running[-1].terminate()
    _out, err = await asyncio.to_thread(running[-1].communicate, timeout=20)
    assert running[-1].returncode == 0 and "Traceback" not in err, err
    assert TOKEN not in err  # the bot token never reaches the log
    with sqlite3.connect(db) as conn:
        got = dict(conn.execute("select question_code, option_code from answers"))
        channels = [r[0] for r in conn.execute("select channel from respondents")]
        marker = conn.execute("select value from channel_state where key = ?", (f"max:{BOT_ID}:marker",))
        stored = marker.fetchone()
        bots = {r[0] for r in conn.execute("select bot from processed_updates where channel = 'max'")}
    assert got == {"1": "1", "2": "2", "3": "4"} and channels == ["max"]
    assert stored == (str(fake.updates[-1][0] + 1),)
    assert bots == {str(BOT_ID)}  # processed update ids are kept per bot


async def test_run_with_a_rejected_token_explains_and_exits_2(tmp_path: Path, fake: FakeMax) -> None:
    config = write_config(tmp_path / "config.toml", tmp_path / "bad.db", fake, token="wrong-token")
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli.main", "--config", str(config), "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "MAX: сервер отказал в доступе боту (HTTP 401" in proc.stderr and "@MasterBot" in proc.stderr
    assert "Traceback" not in proc.stderr and "wrong-token" not in proc.stderr
