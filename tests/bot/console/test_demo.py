"""`make demo` writes where the README's next commands read: one default database."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL
from tests.bot.console.test_console import ANSWERS
from tests.conftest import REPO


def demo_command(*make_args: str) -> list[str]:
    """What `make demo` runs (make -n prints it without running it)."""
    proc = subprocess.run(
        ["make", "-n", "-s", "demo", *make_args], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "otklik" in line and "console" in line]
    assert len(lines) == 1, proc.stdout
    return shlex.split(lines[0])


@pytest.mark.skipif(
    not (REPO / ".venv" / "bin" / "otklik").exists(), reason="make demo needs the project's .venv"
)
def test_commands_after_make_demo_see_its_answers(tmp_path: Path) -> None:
    argv = demo_command()
    assert Path(argv[0]).name == "otklik" and argv[-1] == "console"
    # The demo's own command, run as `make demo` runs it but in a fresh folder.
    demo = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", *argv[1:]], input="\n".join(ANSWERS) + "\n",
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "Анкета заполнена" in demo.stdout
    # The README's next command, as typed there: no --database.
    export = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "export", "--out", "answers.csv"], capture_output=True,
        text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    assert "Выгружено анкет: 1" in export.stdout
    default_path = DEFAULT_DATABASE_URL.removeprefix("sqlite+aiosqlite:///")
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [default_path]


def test_demo_db_still_puts_the_demo_elsewhere(tmp_path: Path) -> None:
    argv = demo_command(f"DEMO_DB={tmp_path / 'demo.db'}")
    assert argv[1:] == ["--database", f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", "console"]
