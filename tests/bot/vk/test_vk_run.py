"""`otklik run` with [vk] enabled, as an operator starts it: a subprocess against the fake VK server."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core import texts
from tests.bot.vk.conftest import User
from tests.conftest import REPO
from tests.fakes.vk_api import GROUP_ID, TOKEN, FakeVk
from tests.ports import free_port

START = json.dumps({"command": "start"})


def write_config(path: Path, db: Path, fake: FakeVk, token: str = TOKEN, health: str = "") -> Path:
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n\n'
        f'[vk]\nenabled = true\ntoken = "{token}"\ngroup_id = {GROUP_ID}\napi_base_url = "{fake.url}"\n\n'
        f'[service]\nhealth_listen = "{health}"\n',
        encoding="utf-8",
    )
    return path


def healthz(address: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
        return data


def metrics_text(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        return str(response.read().decode())


def start(config: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", "--config", str(config), "run"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def terminate(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    return proc.returncode, err


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


async def test_run_serves_vk_and_a_killed_service_loses_nothing(
    tmp_path: Path, fake: FakeVk, running: list[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "run.db"
    health = f"127.0.0.1:{free_port()}"
    config = write_config(tmp_path / "config.toml", db, fake, health=health)
    user = User(fake, 4242)
    running.append(start(config, tmp_path))
    await fake.wait_for(lambda: bool(fake.polls), 60)
    sent = await user.say("Начать", payload=START)
    assert [m.text for m in sent][:1] == [texts.GREETING]
    await user.choose("1")
    assert "vk" in healthz(health)["last_update_age_s"]
    exposed = metrics_text(health)
    assert 'otklik_updates_total{channel="vk",outcome="handled"} 2.0' in exposed, exposed
    assert 'otklik_update_handling_seconds_count{channel="vk"} 2.0' in exposed
    assert 'otklik_questionnaires_started_total{channel="vk"} 1.0' in exposed
    # Killed outright, then a press and a typed answer arrive while the service is down.
    running[-1].kill()
    running[-1].communicate(timeout=20)
    fake.push(user.message_event(user.answer_button("2")))
    fake.push(user.message_new("Управление развития туризма"))
    running.append(start(config, tmp_path))
    await fake.settled(60)
    assert user.last_with_buttons().text.startswith("Вопрос 4 из")
    code, err = terminate(running[-1])
    assert code == 0 and "Traceback" not in err, err
    assert TOKEN not in err  # the community token never reaches the log
    with sqlite3.connect(db) as conn:
        got = dict(conn.execute("select question_code, option_code from answers"))
        channels = [r[0] for r in conn.execute("select channel from respondents")]
    assert got == {"1": "1", "2": "2", "3": "4"} and channels == ["vk"]


def test_run_with_a_rejected_token_explains_and_exits_2(tmp_path: Path, fake: FakeVk) -> None:
    config = write_config(tmp_path / "config.toml", tmp_path / "bad.db", fake, token="wrong")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "--config", str(config), "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "ВКонтакте: не удалось подключиться" in proc.stderr and "ошибка 5" in proc.stderr
    assert "Traceback" not in proc.stderr
