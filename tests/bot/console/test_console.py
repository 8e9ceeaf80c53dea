"""The console channel as a user runs it: a subprocess with answers piped on stdin."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

# In person, provided, a score of 2 with its follow-up, consent yes.
ANSWERS = ["1", "2", "3", "4", "1", "2", "1", "1", "5", "2", "Долго ждал ответа", "5", "5", "5", "1"]


def otklik(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli.main", "--database", f"sqlite+aiosqlite:///{db}", *args]


def table(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def test_console_completes_a_survey_from_stdin(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    proc = subprocess.run(
        otklik(db, "console", "--user", "anna"), input="\n".join(ANSWERS) + "\n", capture_output=True,
        text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Вопрос 1 из 16" in proc.stdout and "Анкета заполнена" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert table(db, "select status, channel from survey_sessions") == [("completed", "console")]
    rows = dict(table(db, "select question_code, followup_text from answers"))
    assert rows["12"] == "Долго ждал ответа" and "7" in rows
    assert table(db, "select granted from consents") == [(1,)]


def test_console_rejects_bad_input_politely(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    lines = ["99", "1", "\x1b[A", "назад", "1", "2", "3", "4", "abc"]
    proc = subprocess.run(
        otklik(db, "console", "--user", "bob"), input="\n".join(lines) + "\n", capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Опрос остановлен. Ответы сохранены" in proc.stdout
    assert "Не удалось распознать ответ «abc»" in proc.stdout
    assert sorted(r[0] for r in table(db, "select question_code from answers")) == ["1", "2", "3", "4"]


def test_kill_mid_survey_loses_nothing_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    proc = subprocess.Popen(
        otklik(db, "console", "--user", "kate"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stdin is not None
    for line in ANSWERS[:6]:
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len(table(db, "select 1 from answers")) == 6:
                break
        except sqlite3.OperationalError:  # the file exists before the migrations ran
            pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert len(table(db, "select question_code from answers")) == 6
    resumed = subprocess.run(
        otklik(db, "console", "--user", "kate"), input="\n".join(["1", *ANSWERS[6:]]) + "\n",
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "незавершенная анкета" in resumed.stdout and "Вопрос 7 из 14" in resumed.stdout
    assert table(db, "select status from survey_sessions") == [("completed",)]


@pytest.mark.skipif(
    not (REPO / ".venv" / "bin" / "otklik").exists(), reason="make demo needs the project's .venv"
)
def test_make_demo_completes_with_piped_answers(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    proc = subprocess.run(
        ["make", "-s", "demo", f"DEMO_DB={db}"], input="\n".join(ANSWERS) + "\n", capture_output=True,
        text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Анкета заполнена" in proc.stdout
    assert table(db, "select status from survey_sessions") == [("completed",)]


def test_console_shows_titles_and_skips_the_followup_by_number_or_word(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    # In person, provided; 11(23) = 2 and 12(24) = 1, each follow-up skipped (by number, by word).
    lines = ["1", "2", "3", "4", "1", "2", "1", "1", "2", "1", "1", "пропустить", "5", "5", "5", "2"]
    proc = subprocess.run(
        otklik(db, "console", "--user", "sveta"), input="\n".join(lines) + "\n", capture_output=True,
        text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    title = "ФОРМА опроса для проведения оценки удовлетворенности внешних клиентов в рамках предоставления"
    assert out.index(title) < out.index("БЛОК 1. СТАТИСТИЧЕСКИЙ") < out.index("Вопрос 1 из 16")
    assert out.index("Результат обращения") < out.index("БЛОК 2. ОЦЕНКА КАЧЕСТВА МЕР ПОДДЕРЖКИ")
    assert out.count("Впишите _____.") == 2 and "  1. Пропустить" in out
    assert "Анкета заполнена" in out
    rows = table(
        db, "select question_code, followup_text, followup_skipped from answers order by question_code"
    )
    assert [r for r in rows if r[0] in ("11", "12")] == [("11", None, 1), ("12", None, 1)]
    assert table(db, "select kind from consents") == [("refused",)]
