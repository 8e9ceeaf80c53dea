"""Paper questionnaires: typed in a real `otklik paper` process, imported all-or-nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.app import questionnaire_from
from bot.config import Settings
from reports.errors import ReportError
from reports.export import export_file
from reports.paper import import_paper
from reports.period import date_range
from storage.schema import answers, survey_sessions
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import REPO
from tests.reports.data import fill_quarter

NSK = ZoneInfo("Asia/Novosibirsk")
NOW = datetime(2025, 10, 2, 3, 0, tzinfo=UTC)

TYPED = [
    "15.08.2025 14:30",
    "1", "1", "1", "31",
    "2",  # 15: not a platform code (1 = in person, 4 = online): rejected
    "1", "1", "2", "1", "1",  # 15 17 19 22 21
    "3", "Сложно найти",  # 23 and its difficulty text
    "5", "назад", "4",  # 24 corrected
    "5", "7", "5", "5",  # 25, 26 (7 rejected), 29
    "да", "да",  # save; next questionnaire
    "", "01.01.0001", "16.08.2025", "отмена",  # no silent "now", no date before the order; cancelled
    "нет",
]  # fmt: skip


async def stored(url: str) -> list[tuple[object, ...]]:
    storage = await Storage.open(url)
    try:
        async with storage.transaction() as conn:
            session = (await conn.execute(select(survey_sessions))).one()
            rows = await conn.execute(
                select(answers.c.platform_code, answers.c.option_platform_code, answers.c.followup_text)
                .where(answers.c.session_id == session.id)
                .order_by(answers.c.id)
            )
            return [tuple(session._mapping.values()), *[tuple(r) for r in rows]]
    finally:
        await storage.close()


def test_typing_a_paper_questionnaire_in_a_real_process(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'paper.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "--database", url, "paper"],
        input="\n".join(TYPED) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Ошибка: Нет варианта с кодом 2 в вопросе 15; коды: 1, 4" in out
    assert "Ошибка: Пожалуйста, поставьте оценку от 1 до 5" in out
    assert "Анкета сохранена под номером 1." in out
    assert "Анкета не сохранена." in out
    assert "Дата анкеты нужна" in out
    assert "Ошибка: дата 01.01.0001 раньше приказа № 152-НПА от 23.09.2024" in out
    assert out.rstrip().endswith("Сохранено анкет: 1.")
    session, *rows = asyncio.run(stored(url))
    _id, respondent, channel, status, source, *_rest = session
    assert (respondent, channel, status, source) == (None, "offline", "completed", "paper")
    assert sorted(rows, key=lambda r: int(str(r[0]))) == [
        ("11", "1", None), ("12", "1", None), ("13", "1", None), ("14", "31", None), ("15", "1", None),
        ("17", "1", None), ("18", "2025-08-15T07:30:00+00:00", None), ("19", "2", None), ("21", "1", None),
        ("22", "1", None), ("23", "3", "Сложно найти"),
        ("24", "4", None),  # re-answered after «назад»
        ("25", "5", None), ("26", "5", None), ("29", "5", None),
    ]  # fmt: skip


HEADER = "11;12;13;14;15;17;19;22;21;23;23_text;24;24_text;25;25_text;26;26_text;27;27_text;28;28_text;29;29_text;18"
GOOD = "1;1;1;1;1;1;1;;1;5;;5;;5;;5;;;;;;5;;15.08.2025"
GOOD_ONLINE = "2;2;1;31;4;2;2;2;2;2;Долго;4;;;;;;3;Форма;4;;5;;2025-09-01 10:00"
BAD = [
    ("1;1;1;1;2;1;1;;1;5;;5;;5;;5;;;;;;5;;", "15", "Нет варианта с кодом 2 в вопросе 15; коды: 1, 4"),
    ("1;1;1;1;1;1;1;;1;2;;5;;5;;5;;;;;;5;;01.01.0001", "18", "дата 01.01.0001 раньше приказа № 152-НПА от 23.09.2024: проверьте год"),
    ("1;1;1;1;1;1;1;;1;5;;5;;5;;5;;4;;;;5;;", "27", "вопрос не задается при ответах этой анкеты (лишний ответ)"),
    ("1;1;1;1;1;1;1;;1;;Долго;5;;5;;5;;;;;;5;;", "23_text", "сложности указываются только после оценки 1–3"),
    ("1;1;1;1;1;1;1;;1;5;;5;;5;;5;;;;;;5;;вчера", "18", "не удалось разобрать дату «вчера» (ДД.ММ.ГГГГ или ДД.ММ.ГГГГ ЧЧ:ММ, например 15.08.2025 или 15.08.2025 14:30)"),
    ("1;1;1;1;1;1;1;;1;6;;5;;5;;5;;;;;;5;;", "23", "Пожалуйста, поставьте оценку от 1 до 5, где 1 – самая низкая оценка, 5 – самая высокая."),
    ("1;1;1;1;1;1;1;1;1;5;;5;;5;;5;;;;;;5;;", "22", "вопрос не задается при ответах этой анкеты (лишний ответ)"),
]  # fmt: skip


async def count_sessions(storage: Storage) -> int:
    async with storage.transaction() as conn:
        return int((await conn.execute(select(func.count()).select_from(survey_sessions))).scalar_one())


async def test_import_with_bad_rows_changes_nothing(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    lines = [HEADER, GOOD, *[row for row, _c, _r in BAD], "", GOOD_ONLINE]
    path = tmp_path / "paper.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReportError) as caught:
        await import_paper(storage, questionnaire, path, NSK, NOW)
    message = str(caught.value)
    assert message.startswith(f"Файл paper.csv не импортирован, ничего не сохранено. Ошибок: {len(BAD)}")
    expected = [
        f"  строка {i}, столбец {column}: {reason}" for i, (_row, column, reason) in enumerate(BAD, start=3)
    ]
    assert message.splitlines()[1:] == expected
    assert await count_sessions(storage) == 0

    path.write_text("\n".join([HEADER, GOOD, "", GOOD_ONLINE]) + "\n", encoding="utf-8")
    assert await import_paper(storage, questionnaire, path, NSK, NOW) == 2
    out = tmp_path / "back.xlsx"
    await export_file(
        storage, questionnaire, period=date_range(None, None, NSK), unit=None, out=out, fmt="xlsx"
    )
    rows = list(load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    first, second = (dict(zip(rows[0], row, strict=False)) for row in rows[2:])
    assert (first["15"], first["18"], first["channel"], first["source"]) == (
        1,
        datetime(2025, 8, 15, 12),
        "offline",
        "paper",
    )
    assert (second["15"], second["23_text"], second["27_text"], second["18"]) == (
        4,
        "Долго",
        "Форма",
        datetime(2025, 9, 1, 10),
    )


async def test_unknown_column_and_wrong_file(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ";99\n" + GOOD + ";x\n", encoding="utf-8")
    with pytest.raises(ReportError, match="строка 1, столбец 99: неизвестный столбец"):
        await import_paper(storage, questionnaire, path, NSK, NOW)
    other = tmp_path / "p.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(ReportError, match=r"поддерживаются файлы \.csv и \.xlsx"):
        await import_paper(storage, questionnaire, other, NSK, NOW)
    assert await count_sessions(storage) == 0


async def test_an_export_imports_back_as_paper(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill_quarter(storage, questionnaire)
    period = date_range("2025-07-01", "2025-09-30", NSK)
    first = tmp_path / "first.xlsx"
    assert await export_file(storage, questionnaire, period=period, unit="1", out=first, fmt="xlsx") == 5
    assert await import_paper(storage, questionnaire, first, NSK, NOW) == 5
    again = tmp_path / "again.csv"
    assert await export_file(storage, questionnaire, period=period, unit="1", out=again, fmt="csv") == 10
    import csv

    with again.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    codes = rows[0]
    answers_only = [i for i, code in enumerate(codes) if code[:2].isdigit()]
    original, imported = rows[2:7], rows[7:12]
    assert [[r[i] for i in answers_only] for r in imported] == [
        [r[i] for i in answers_only] for r in original
    ]
    assert {r[codes.index("channel")] for r in imported} == {"offline"}
    assert {r[codes.index("respondent")] for r in imported} == {""}


def test_cli_import_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "\n" + BAD[0][0] + "\n", encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert main(["--database", url, "import-paper", str(path)]) == 2
    assert "строка 2, столбец 15: Нет варианта с кодом 2" in capsys.readouterr().err
    path.write_text(HEADER + "\n" + GOOD + "\n", encoding="utf-8")
    assert main(["--database", url, "import-paper", str(path)]) == 0
    assert "Импортировано бумажных анкет: 1" in capsys.readouterr().out
    assert questionnaire_from(Settings()).version


def test_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["--database", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "import-paper", "nope.csv"]) == 2
    assert "не найден" in capsys.readouterr().err


async def test_xlsx_import_reports_sheet_rows(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER.split(";"))
    good = [int(v) if v.isdigit() else (v or None) for v in GOOD.split(";")]
    sheet.append(good)
    sheet.append([])
    bad = list(good)
    bad[4] = 2  # 15: not a platform code
    sheet.append(bad)
    path = tmp_path / "paper.xlsx"
    workbook.save(path)
    with pytest.raises(ReportError) as caught:
        await import_paper(storage, questionnaire, path, NSK, NOW)
    assert str(caught.value).splitlines()[1:] == [
        "  строка 4, столбец 15: Нет варианта с кодом 2 в вопросе 15; коды: 1, 4"
    ]
    assert await count_sessions(storage) == 0


def test_a_stack_of_forms_of_one_unit_and_point(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stack.db'}"
    typed = ["01.09.2025", "2", "1", "4", "2", "1", "1", "5", "5", "5", "5", "5", "да", "нет"]
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "--database", url, "paper", "--unit", "2", "--point", "1"],
        input="\n".join(typed) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "Для всех анкет: Личный приём в здании министерства / Управление инвестиционной"
    )
    assert "\n12. " not in done.stdout and "\n13. " not in done.stdout  # not asked
    _session, *rows = asyncio.run(stored(url))
    codes = {str(r[0]): r[1] for r in rows}
    assert (codes["11"], codes["12"], codes["13"], codes["14"], codes["15"]) == ("2", "1", "2", "1", "4")
    assert (codes["27"], codes["28"]) == ("5", "5")


async def test_csv_line_numbers_count_multiline_cells(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    online = GOOD_ONLINE.replace(";Долго;", ';"Долго,\nочень долго";')
    bad = BAD[0][0]
    path = tmp_path / "multi.csv"
    path.write_text("\n".join([HEADER, online, bad]) + "\n", encoding="utf-8")
    with pytest.raises(ReportError) as caught:
        await import_paper(storage, questionnaire, path, NSK, NOW)
    assert str(caught.value).splitlines()[1].startswith("  строка 4, столбец 15:")
