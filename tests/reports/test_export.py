"""Export: known questionnaires in, exact cells out (CSV and XLSX), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import os
from datetime import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from reports.export import export_file
from reports.period import date_range
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.reports.data import fill_quarter, pseudonyms

NSK = ZoneInfo("Asia/Novosibirsk")
CODES = ["session", "11", "12", "13", "14", "15", "17", "18", "19", "21", "22", "23", "23_text", "24",
         "24_text", "25", "25_text", "26", "26_text", "27", "27_text", "28", "28_text", "29", "29_text",
         "channel", "source", "source_ref", "respondent"]  # fmt: skip


def expected_rows(ids: dict[str, int], names: dict[str, str]) -> list[list[Any]]:
    n = None
    return [
        [ids["A"], 1, 1, 1, 1, 1, 1, dt(2025, 7, 1, 0, 30), 1, 1, n, 5, n, 5, n, 5, n, 5, n,
         n, n, n, n, 5, n, "telegram", "direct", n, names["a"]],
        [ids["B"], 2, 2, 1, 31, 4, 2, dt(2025, 8, 15, 12, 0), 2, 2, 2, 2, "Долго искал информацию",
         4, n, n, n, n, n, 3, "Неудобная форма", 4, n, 1, "Очень долго", "telegram", "direct", n, names["b"]],
        [ids["C"], 1, 1, 1, 1, 1, 2, dt(2025, 9, 10, 10, 0), 1, 1, n, 4, n, 3, "Много документов",
         5, n, 4, n, n, n, n, n, 4, n, "vk", "direct", n, names["c"]],
        [ids["D"], 3, 1, 1, 1, 1, 1, dt(2025, 9, 30, 23, 0), 1, 2, n, 1, "Ничего не понятно", 2,
         "Справки", 3, "Грубили", 4, n, n, n, n, n, 5, n, "telegram", "direct", n, names["a"]],
        [ids["E"], 1, 1, 1, 1, 1, 1, dt(2025, 8, 1, 10, 0), 2, 1, 1, 4, n, 4, n, 5, n, 5, n,
         n, n, n, n, 3, "Долго", "offline", "paper", n, n],
    ]  # fmt: skip


async def test_columns_and_titles_follow_platform_codes(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    out = tmp_path / "empty.xlsx"
    count = await export_file(
        storage, questionnaire, period=date_range(None, None, NSK), unit=None, out=out, fmt="xlsx"
    )
    assert count == 0
    rows = list(load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    assert list(rows[0]) == CODES
    titles = dict(zip(rows[0], rows[1], strict=True))
    assert titles["21"] == questionnaire.question("9").text
    assert titles["23_text"].startswith("Сложности (к вопросу 11(23))")
    assert titles["respondent"] == "Респондент (псевдоним)"
    assert titles["18"].endswith("(часовой пояс Asia/Novosibirsk)")
    assert len(rows) == 2


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export_of_a_unit_and_period_exact_cells(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path, fmt: str
) -> None:
    ids = await fill_quarter(storage, questionnaire)
    names = await pseudonyms(storage)
    out = tmp_path / f"q3.{fmt}"
    period = date_range("2025-07-01", "30.09.2025", NSK)
    count = await export_file(storage, questionnaire, period=period, unit="1", out=out, fmt=fmt)  # type: ignore[arg-type]
    assert count == 5
    expected = expected_rows(ids, names)
    if fmt == "xlsx":
        sheet = load_workbook(out, read_only=True).active
        rows = [list(r) + [None] * (len(CODES) - len(r)) for r in sheet.iter_rows(values_only=True)]
    else:
        with out.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh, delimiter=";"))
        expected = [["" if v is None else str(v) for v in row] for row in expected]
    assert rows[0] == CODES
    assert rows[2:] == expected
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


async def test_labels_and_contacts(storage: Storage, questionnaire: Questionnaire, tmp_path: Path) -> None:
    ids = await fill_quarter(storage, questionnaire)
    out = tmp_path / "labels.xlsx"
    period = date_range("2025-08-15", "2025-08-15", NSK)
    count = await export_file(
        storage, questionnaire, period=period, unit=None, out=out, fmt="xlsx", labels=True, with_contacts=True
    )
    assert count == 1
    rows = list(load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    row = dict(zip(rows[0], rows[2], strict=False))
    assert row["session"] == ids["B"]
    assert row["15"] == "Онлайн на сайте органа власти"
    assert row["21"] == "Скорее не удовлетворен"
    assert row["22"] == "Нет"
    assert row["23"] == "2"  # a score's label is the score itself
    assert row["14"] == "город Новосибирск"
    assert row["external_id"] == "b"
    assert rows[0][-2:] == ("external_id", "name")


async def test_unknown_folder_is_a_usage_error(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    from reports.errors import ReportError

    with pytest.raises(ReportError, match="не существует"):
        await export_file(
            storage,
            questionnaire,
            period=date_range(None, None, NSK),
            unit=None,
            out=tmp_path / "missing" / "x.csv",
            fmt="csv",
        )


async def test_sessions_are_read_in_batches_in_id_order(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    from reports.options import of_unit
    from storage.reports_repo import iter_completed

    ids = await fill_quarter(storage, questionnaire)
    period = date_range(None, None, NSK)
    async with storage.transaction() as conn:
        seen = [s.id async for s in iter_completed(conn, period.start, period.end, None, batch=2)]
        only_unit2 = [
            s.id
            async for s in iter_completed(
                conn, period.start, period.end, of_unit(questionnaire, "2"), batch=1
            )
        ]
    assert seen == sorted(ids.values())  # 8 completed; the unfinished one is not exported
    assert only_unit2 == [ids["F"]]


async def test_own_variant_is_exported_with_its_text(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    from tests.reports.data import A, Planned, chat_through, utc

    inputs = ["Другое: Участие в выставке", *A[1:]]
    session_id = await chat_through(
        storage, questionnaire, Planned("O", "vk", "o", inputs, utc("2025-08-01T00:00:00"))
    )
    for labels in (False, True):
        out = tmp_path / f"other-{labels}.csv"
        await export_file(
            storage,
            questionnaire,
            period=date_range(None, None, NSK),
            unit=None,
            out=out,
            fmt="csv",
            labels=labels,
        )
        with out.open(encoding="utf-8-sig", newline="") as fh:
            header, _titles, row = list(csv.reader(fh, delimiter=";"))
        cells = dict(zip(header, row, strict=True))
        assert cells["session"] == str(session_id)
        assert cells["11"] == "Другое: Участие в выставке"
        assert cells["12"] == ("Личный приём в здании министерства" if labels else "1")


def test_row_of_a_packed_session(questionnaire: Questionnaire) -> None:
    """Cells as the database packs them in, the row's exact values out (both modes)."""
    from datetime import datetime

    from reports.export import export_columns, row_builder
    from storage.reports_repo import PackedSession, followup_key

    def packed(cells: dict[str, str]) -> PackedSession:
        return PackedSession(7, "telegram", "qr", "k1", "p", "42", "Анна", dict(cells))

    cells = {"1": "Другое: 12", "5": "4", "9": "2", "11": "2", followup_key("11"): "5",
             "7": "2025-07-01T10:00:00+00:00", "4": "007", "3": "x1"}  # fmt: skip
    for labels in (False, True):
        columns = export_columns(questionnaire, labels=labels, with_contacts=True, zone=NSK)
        row = row_builder(columns, NSK)
        for session in (packed(cells), packed(cells)):  # the second one meets remembered codes
            got = dict(zip([c.code for c in columns], row(session), strict=True))
            assert got["session"] == 7
            assert got["11"] == "Другое: 12"  # an own variant is text even when it looks numeric
            assert got["23_text"] == "5"  # a difficulty text is never turned into a number
            assert got["18"] == datetime(2025, 7, 1, 17, 0)  # the ministry's zone, no offset
            assert got["22"] is None and got["24"] is None and got["24_text"] is None  # unanswered
            assert (got["channel"], got["source"], got["source_ref"]) == ("telegram", "qr", "k1")
            assert (got["respondent"], got["external_id"], got["name"]) == ("p", "42", "Анна")
            if labels:  # the database put the labels in: they are written as they are
                assert (got["15"], got["21"], got["23"], got["14"], got["13"]) == ("4", "2", "2", "007", "x1")
            else:  # platform codes: numeric ones become numbers
                assert (got["15"], got["21"], got["23"], got["14"], got["13"]) == (4, 2, 2, 7, "x1")
    assert row_builder(export_columns(questionnaire, zone=NSK), NSK)(packed({"7": "вчера"}))[7] == "вчера"
