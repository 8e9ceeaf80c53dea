"""The console at a real terminal (a pty): Ctrl+C and Ctrl+D end it at once, texts speak of it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.console import texts as console_texts
from tests.bot.console.test_console import ANSWERS, otklik, table
from tests.fakes.terminal import Terminal

STOPPED = "Опрос остановлен. Ответы сохранены; чтобы продолжить, запустите эту же команду снова."


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def two_answers_then(key: str, db: Path, tmp_path: Path, terminals: list[Terminal]) -> Terminal:
    """Answer questions 1 and 2 at a terminal, then press `key` at question 3's prompt."""
    terminal = Terminal(otklik(db, "console", "--user", "tanya"), cwd=str(tmp_path))
    terminals.append(terminal)
    at = terminal.expect("Вопрос 1 из 16")
    at = terminal.expect("> ", start=at)
    terminal.send("1\r")
    at = terminal.expect("Вопрос 2 из 16", start=at)
    at = terminal.expect("> ", start=at)
    terminal.send("2\r")
    at = terminal.expect("Вопрос 3 из 16", start=at)
    terminal.expect("> ", start=at)
    terminal.send(key)
    return terminal


def assert_resumes(db: Path, tmp_path: Path) -> None:
    """The next run offers to continue; «1» (continue) goes on at question 3."""
    resumed = subprocess.run(
        otklik(db, "console", "--user", "tanya"), input="1\n", capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "незавершенная анкета" in resumed.stdout and "Вопрос 3 из 16" in resumed.stdout


def test_ctrl_c_ends_the_console_at_once_and_keeps_the_answers(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    db = tmp_path / "c.db"
    terminal = two_answers_then("\x03", db, tmp_path, terminals)
    pressed = time.monotonic()
    code = terminal.wait(timeout=2)
    assert code is not None, f"still waiting for Enter after Ctrl+C:\n{terminal.text[-500:]}"
    assert time.monotonic() - pressed < 2
    assert code == 130  # 128 + SIGINT, as documented in the README
    assert STOPPED in terminal.text and "Traceback" not in terminal.text
    assert sorted(r[0] for r in table(db, "select question_code from answers")) == ["1", "2"]
    assert_resumes(db, tmp_path)


def test_ctrl_d_ends_the_console_cleanly_with_the_same_line(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    db = tmp_path / "d.db"
    terminal = two_answers_then("\x04", db, tmp_path, terminals)
    assert terminal.wait(timeout=2) == 0
    assert STOPPED in terminal.text and "Traceback" not in terminal.text
    assert sorted(r[0] for r in table(db, "select question_code from answers")) == ["1", "2"]
    assert_resumes(db, tmp_path)


def test_the_stopped_line_is_the_consoles() -> None:
    assert console_texts.STOPPED == STOPPED


# Chat wording that makes no sense in a terminal, or once the program has exited.
# (The consent question's own «Согласие можно отозвать в любой момент» is what is agreed to.)
FORBIDDEN = ("кнопк", "отправьте", "сообщени", "«стоп»", "Отозвать", "«начать»")


def run_console(db: Path, tmp_path: Path, user: str, lines: list[str]) -> str:
    proc = subprocess.run(
        otklik(db, "console", "--user", user), input="\n".join(lines) + "\n", capture_output=True,
        text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_console_texts_speak_of_the_terminal(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    # A whole survey: an unrecognised answer («abc» at question 5), a score of 2 and its follow-up,
    # an unclear reply to the consent question, then consent.
    survey = [*ANSWERS[:4], "abc", *ANSWERS[4:-1], "может быть", "1"]
    completed = run_console(db, tmp_path, "lena", survey)
    assert "Анкета заполнена" in completed
    assert "Не удалось распознать ответ «abc». Введите номер варианта из списка" in completed
    assert console_texts.FOLLOWUP_HINT in completed and console_texts.CONSENT_REPEAT in completed
    assert completed.rstrip().endswith(console_texts.CONSENT_GRANTED)
    assert table(db, "select granted from consents") == [(1,)]
    # A second survey, paused with «прервать»: the program exits, the answers stay.
    paused = run_console(db, tmp_path, "lena", ["1", "прервать"])
    assert paused.rstrip().endswith(console_texts.PAUSED)
    assert "запустите эту же команду снова" in paused
    # Input ends mid-survey.
    ended = run_console(db, tmp_path, "lena", ["1"])
    assert ended.rstrip().endswith(STOPPED)
    for output in (completed, paused, ended):
        found = [phrase for phrase in FORBIDDEN if phrase in output]
        assert not found, f"chat wording in the terminal: {found}\n{output[-1500:]}"


def test_chat_texts_are_unchanged() -> None:
    """The console's wording is its own: Telegram and VK still speak of buttons and commands."""
    from bot.core import texts

    assert (
        "кнопкой" in texts.CONSENT_REPEAT and "{start}" in texts.PAUSED and "{stop}" in texts.CONSENT_GRANTED
    )
    assert "сообщением" in texts.FOLLOWUP_HINT
