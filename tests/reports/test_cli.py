"""The sub-commands through `otklik` itself (argument parsing, messages, exit codes) on SQLite."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.app import questionnaire_from
from bot.cli.main import main
from bot.config import Settings
from reports.appendix2 import OVER_NOTE
from tests.conftest import Database
from tests.reports.data import fill_quarter


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no ./config.toml: built-in settings
    return f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def seeded(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fixture quarter on SQLite or in a private PostgreSQL schema; returns the URL."""
    monkeypatch.chdir(tmp_path)
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)

    async def seed() -> None:
        storage = await database.open()
        try:
            await fill_quarter(storage, questionnaire_from(Settings()))
        finally:
            await storage.close()

    asyncio.run(seed())
    return database.url


def test_export_report_and_appendix2(seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--database", seeded]
    assert main([*base, "export", "--from", "2025-07-01", "--to", "2025-09-30", "--out", "q3.csv"]) == 0
    assert "Выгружено анкет: 6" in capsys.readouterr().out
    with (tmp_path / "q3.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert len(list(csv.reader(fh, delimiter=";"))) == 2 + 6

    assert (
        main(
            [*base, "export", "--unit", "Управление инвестиционной политики", "--out", "u2.xlsx", "--labels"]
        )
        == 0
    )
    assert "Выгружено анкет: 1" in capsys.readouterr().out

    assert main([*base, "report", "--quarter", "2025q3", "--unit", "1", "--out", "r.xlsx"]) == 0
    assert "анкет 5" in capsys.readouterr().out
    assert load_workbook(tmp_path / "r.xlsx")["Анализ"]["D4"].value == 5

    group = "Личный приём в здании министерства"
    assert main([*base, "clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", group,
                 "--channel", "онлайн", "40"]) == 0  # fmt: skip
    assert "40 чел." in capsys.readouterr().out
    assert main([*base, "clients", "show", "--quarter", "2025Q3", "--unit", "1"]) == 0
    assert f"{group}\tонлайн\t40" in capsys.readouterr().out
    assert main([*base, "appendix2", "--quarter", "2025Q3", "--unit", "1", "--out", "a2.xlsx"]) == 0
    captured = capsys.readouterr()
    assert "Не внесено число клиентов в 17 строках" in captured.err
    sheet = load_workbook(tmp_path / "a2.xlsx").active
    assert [c.value for c in sheet[11]][:7] == [group, "онлайн", 40, 0, 0.0, 0, "—"]  # A C D E: in person


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--from", "2025-13-01", "--out", "x.csv"], "--from: ожидается дата"),
        (["export", "--from", "2025-09-01", "--to", "2025-08-01", "--out", "x.csv"], "Период пуст"),
        (["export", "--out", "x.txt"], "--format: укажите csv или xlsx"),
        (["export", "--unit", "Нет такого", "--out", "x.csv"], "--unit: нет варианта «Нет такого»"),
        (["export", "--out", "missing/x.csv"], "не существует"),
        (["report", "--quarter", "2025Q5", "--out", "r.xlsx"], "--quarter: ожидается квартал"),
        (["report", "--quarter", "2025Q3", "--out", "r.csv"], "расширением .xlsx"),
        (["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "Нет", "--channel", "online", "1"],
         "--group: нет группы процессов"),
        (["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "online", "--", "-1"],
         "не может быть отрицательным"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_without_traceback(
    url: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database", url, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_the_cli_starts_without_the_heavy_report_libraries() -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys, bot.cli.main; bot.cli.main.build_parser(); "
        "print(sorted(m for m in ('matplotlib', 'openpyxl', 'qrcode', 'PIL') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_appendix2_all_units_and_a_share_above_100(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--database", seeded]
    group = "Личный приём в здании министерства"
    # A C D (chat) and E (paper) answered 5(15) = 1: three people offline, two entered.
    assert main([*base, "clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", group,
                 "--channel", "оффлайн", "2"]) == 0  # fmt: skip
    capsys.readouterr()
    warning = (
        f"«{group}», оффлайн: оставили обратную связь 3 чел., а внесено клиентов 2 (доля 150.0 %) — "
        "проверьте число клиентов (otklik clients set)"
    )
    assert main([*base, "appendix2", "--quarter", "2025Q3", "--unit", "1", "--out", "a2.xlsx"]) == 0
    assert f"Внимание: {warning}" in capsys.readouterr().err.splitlines()
    sheet = load_workbook(tmp_path / "a2.xlsx").active
    assert [c.value for c in sheet[12]] == [group, "оффлайн", 2, 3, 150.0, 4, 75.0, OVER_NOTE]

    assert main([*base, "appendix2", "--quarter", "2025Q3", "--all", "--out", "all.xlsx"]) == 0
    captured = capsys.readouterr()
    assert "подразделений 5 и сводный лист → all.xlsx" in captured.out
    unit1 = "Управление развития малого и среднего предпринимательства"
    assert f"Внимание: {unit1}: {warning}" in captured.err.splitlines()
    book = load_workbook(tmp_path / "all.xlsx")
    assert len(book.sheetnames) == 6 and book.sheetnames[0] == "Сводная"
    # F (unit 2, chat) answered 5(15) = 2(4): online.
    assert [c.value for c in book["Сводная"][11]][:7] == [group, "онлайн", "нет данных", 1, "—", 1, 100.0]
    assert [c.value for c in book["Сводная"][12]][:7] == [group, "оффлайн", 2, 3, 150.0, 4, 75.0]

    assert main([*base, "report", "--quarter", "2025Q3", "--out", "r.xlsx"]) == 0
    section = load_workbook(tmp_path / "r.xlsx")["Приложение 2"]
    assert [c.value for c in section[6]][:6] == [group, "оффлайн", 2, 3, 150.0, 75.0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["appendix2", "--quarter", "2025Q3", "--out", "a.xlsx"], "Укажите одно из двух: --unit"),
        (["appendix2", "--quarter", "2025Q3", "--unit", "1", "--all", "--out", "a.xlsx"], "Укажите одно из двух: --unit"),
        (["appendix2", "--quarter", "2025Q3", "--all", "--out", "a.csv"], "расширением .xlsx"),
    ],
)  # fmt: skip
def test_appendix2_unit_or_all(
    url: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database", url, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
