"""Progress bars of export, import-paper and `mailing show --follow`: on a terminal's stderr only.

Each command runs as a real process twice: in a pty (stderr is the terminal, stdout a file) where
the bar must appear, and with pipes (as in cron or a script) where stderr must stay empty; stdout
must be the same both times.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import mailing as store
from storage.store import Storage
from tests.bot.mailing.conftest import now, seed
from tests.fakes.terminal import Terminal
from tests.helpers import AUDIENCE_QUESTIONS
from tests.reports.test_paper import GOOD, HEADER

FORMS = 1200  # more than one export chunk (reports.progress.CHUNK)


def otklik(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli.main", "--database", f"sqlite+aiosqlite:///{db}", *args]


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def at_terminal(argv: list[str], tmp_path: Path, terminals: list[Terminal], name: str) -> tuple[str, str]:
    """(what the terminal showed: stderr, stdout) of a run with stderr on a pty."""
    out = tmp_path / f"{name}.stdout"
    terminal = Terminal(argv, cwd=str(tmp_path), stdout=str(out))
    terminals.append(terminal)
    assert terminal.wait(timeout=120) == 0, terminal.text
    return terminal.text, out.read_text(encoding="utf-8")


def piped(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_import_and_export_show_a_bar_on_a_terminal_only(tmp_path: Path, terminals: list[Terminal]) -> None:
    forms = tmp_path / "forms.csv"
    forms.write_text("\n".join([HEADER, *[GOOD] * FORMS]) + "\n", encoding="utf-8")
    db, quiet_db = tmp_path / "t.db", tmp_path / "q.db"
    importing = ["import-paper", str(forms), "--allow-duplicates"]

    shown, stdout = at_terminal(otklik(db, *importing), tmp_path, terminals, "import")
    assert "Импорт" in shown and f"{FORMS}/{FORMS}" in shown and "100%" in shown
    assert stdout == f"Импортировано бумажных анкет: {FORMS}\n"
    quiet = piped(otklik(quiet_db, *importing), tmp_path)
    assert quiet.stderr == "" and quiet.stdout == stdout

    exporting = ["export", "--format", "csv", "--out"]
    shown, stdout = at_terminal(otklik(db, *exporting, "t.csv"), tmp_path, terminals, "export")
    assert "Выгрузка" in shown and f"{FORMS}/{FORMS}" in shown and "100%" in shown
    assert stdout == f"Выгружено анкет: {FORMS} → t.csv\n"
    quiet = piped(otklik(db, *exporting, "q.csv"), tmp_path)
    assert quiet.stderr == "" and quiet.stdout == stdout.replace("t.csv", "q.csv")
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "q.csv").read_bytes()


def campaign(db: Path, *, sent: int, finish: bool) -> None:
    """Campaign №1 to 4 consenting respondents, `sent` of them sent; `finish`: the rest too."""

    async def go() -> None:
        storage = await Storage.open(f"sqlite+aiosqlite:///{db}")
        try:
            async with storage.transaction() as conn:
                found = await store.get_campaign(conn, 1)
                if found is None:
                    created = await store.create_campaign(
                        conn,
                        questions=AUDIENCE_QUESTIONS,
                        text="x",
                        audience=store.Audience(),
                        scheduled_at=now(),
                        created_by="t",
                        now=now(),
                    )
                    await store.start_campaign(conn, created.id, AUDIENCE_QUESTIONS, now())
                claimed, _ = await store.claim(conn, 1, 4 if finish else sent, now(), 30)
                await store.record(conn, [store.Outcome(c.outbox_id, store.SENT) for c in claimed], now())
                if finish:
                    assert await store.finish_if_done(conn, 1, now())
        finally:
            await storage.close()

    asyncio.run(go())


def seeded(db: Path) -> None:
    async def go() -> None:
        storage = await Storage.open(f"sqlite+aiosqlite:///{db}")
        try:
            await seed(storage, 4)
        finally:
            await storage.close()

    asyncio.run(go())


def test_mailing_follow_waits_for_the_end_with_a_bar_on_a_terminal_only(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    db = tmp_path / "m.db"
    seeded(db)
    campaign(db, sent=2, finish=False)
    # Piped (a script): waits silently while the service sends, then prints what `show` prints.
    follower = subprocess.Popen(
        otklik(db, "mailing", "show", "1", "--follow"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=tmp_path,
    )  # fmt: skip
    time.sleep(3)
    assert follower.poll() is None, follower.communicate()
    campaign(db, sent=2, finish=True)
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0 and err == ""
    assert "Рассылка №1: завершена" in out and "отправлено: 4" in out
    assert out == piped(otklik(db, "mailing", "show", "1"), tmp_path).stdout
    # On a terminal: the bar on stderr, the same stdout.
    shown, stdout = at_terminal(otklik(db, "mailing", "show", "1", "--follow"), tmp_path, terminals, "m")
    assert "Рассылка №1" in shown and "4/4" in shown and "завершена" in shown
    assert stdout == out


def test_a_terminal_without_a_size_still_gets_a_bar_and_a_pipe_nothing() -> None:
    import io
    import os

    from bot.cli.progress import TerminalProgress

    master, slave = os.openpty()  # a fresh pty reports 0×0, as some consoles do
    with (
        open(slave, "w", encoding="utf-8") as stream,
        TerminalProgress("Выгрузка", " анкет", stream=stream) as bar,
    ):
        bar.set_total(3)
        bar.update(3)
    shown = os.read(master, 65536).decode()
    os.close(master)
    assert "Выгрузка" in shown and "3/3" in shown
    pipe = io.StringIO()
    with TerminalProgress("Выгрузка", " анкет", stream=pipe) as bar:
        assert not bar.shown
        bar.set_total(3)
        bar.update(3)
    assert pipe.getvalue() == ""
