"""The quarterly analysis: the fixture quarter in, hand-computed figures out (every cell)."""

from __future__ import annotations

import io
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from PIL import Image as PILImage

from reports.analysis import MARKING, write_report
from reports.period import quarter_period
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.reports.data import fill_quarter

NSK = ZoneInfo("Asia/Novosibirsk")
n = None

# Unit 1, 2025Q3: questionnaires A B C D E (see data.py); computed by hand.
# №, question, answers, mean, share %, positive, distribution 1..5 (or options 1, 2)
UNIT1 = [
    (1, "9(21)", 5, n, 60.0, "«Скорее удовлетворен»", 3, 2, n, n, n),
    (2, "11(23)", 5, 3.2, 60.0, "оценки 4–5", 1, 1, 0, 2, 1),  # 5 2 4 1 4
    (3, "12(24)", 5, 3.6, 60.0, "оценки 4–5", 0, 1, 1, 2, 1),  # 5 4 3 2 4
    (4, "16(28)", 1, 4.0, 100.0, "оценки 4–5", 0, 0, 0, 1, 0),  # B: 4
    (5, "13(25)", 4, 4.5, 75.0, "оценки 4–5", 0, 0, 1, 0, 3),  # 5 5 3 5
    (6, "14(26)", 4, 4.5, 100.0, "оценки 4–5", 0, 0, 0, 2, 2),  # 5 4 4 5
    (7, "15(27)", 1, 3.0, 0.0, "оценки 4–5", 0, 0, 1, 0, 0),  # B: 3
    (8, "17(29)", 5, 3.6, 60.0, "оценки 4–5", 1, 0, 1, 1, 2),  # 5 1 4 5 3
    (9, "10(22)", 2, n, 50.0, "«Да»", 1, 1, n, n, n),  # B: Нет, E: Да
]
# Under each parameter: most frequent first, then by score and text.
DIFFICULTIES = [
    (2, "Доступность информации", "11(23)", 1, "Ничего не понятно", 1),
    (2, "Доступность информации", "11(23)", 2, "Долго искал информацию", 1),
    (3, "Документы и заявка", "12(24)", 2, "Справки", 1),
    (3, "Документы и заявка", "12(24)", 3, "Много документов", 1),
    (5, "Вежливость и компетентность", "13(25)", 3, "Грубили", 1),
    (7, "Удобство интерфейса", "15(27)", 3, "Неудобная форма", 1),
    (8, "Сроки", "17(29)", 1, "Очень долго", 1),
    (8, "Сроки", "17(29)", 3, "Долго", 1),
]


async def test_quarter_of_one_unit_exact_figures(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill_quarter(storage, questionnaire)
    out = tmp_path / "report.xlsx"
    charts = tmp_path / "charts"
    await write_report(
        storage,
        questionnaire,
        period=quarter_period("2025Q3", NSK),
        unit="1",
        unit_label="Управление развития малого и среднего предпринимательства",
        title="3 квартал 2025 г.",
        out=out,
        charts_dir=charts,
    )
    workbook = load_workbook(out)
    sheet = workbook["Анализ"]
    assert sheet["A1"].value == MARKING == "Для внутреннего пользования, не подлежит опубликованию"
    assert sheet["A2"].value == "Анализ данных обратной связи: 3 квартал 2025 г. (01.07.2025 - 30.09.2025)"
    assert sheet["A3"].value.endswith("Управление развития малого и среднего предпринимательства")
    assert sheet["D4"].value == 5
    rows = [tuple(c.value for c in row) for row in sheet.iter_rows(min_row=7, max_row=15)]
    got = [(r[0], r[2], r[3], r[4], r[5], r[6], *r[7:12]) for r in rows]
    assert got == UNIT1
    assert rows[0][1].startswith("Общая удовлетворенность внешних клиентов")
    difficulties = workbook["Сложности"]
    assert difficulties["A1"].value == MARKING
    assert [tuple(c.value for c in row) for row in difficulties.iter_rows(min_row=4)] == DIFFICULTIES
    pictures = workbook["Диаграммы"]
    assert pictures["A1"].value == MARKING
    assert len(pictures._images) == 2
    for name in ("shares.png", "distribution.png"):
        with PILImage.open(io.BytesIO((charts / name).read_bytes())) as image:
            assert image.format == "PNG" and image.width > 400


async def test_all_units_and_an_empty_quarter(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill_quarter(storage, questionnaire)
    out = tmp_path / "all.xlsx"
    analysis = await write_report(
        storage,
        questionnaire,
        period=quarter_period("2025Q3", NSK),
        unit=None,
        unit_label="все структурные подразделения",
        title="3 квартал 2025 г.",
        out=out,
    )
    # F (unit 2) adds 9=1, 11=5, 12=5, 15=5, 16=5, 17=5.
    assert analysis.questionnaires == 6
    by_question = {p.parameter.question: p for p in analysis.parameters}
    assert (by_question["9"].count, by_question["9"].positive_share) == (6, 66.7)
    assert (by_question["11"].count, by_question["11"].mean, by_question["11"].positive_share) == (
        6,
        3.5,
        66.7,
    )
    assert (by_question["15"].count, by_question["15"].mean, by_question["15"].positive_share) == (
        2,
        4.0,
        50.0,
    )

    empty = await write_report(
        storage,
        questionnaire,
        period=quarter_period("2024Q1", NSK),
        unit=None,
        unit_label="все",
        title="1 квартал 2024 г.",
        out=tmp_path / "empty.xlsx",
    )
    assert empty.questionnaires == 0
    assert all(p.count == 0 and p.mean is None and p.positive_share is None for p in empty.parameters)
    sheet = load_workbook(tmp_path / "empty.xlsx")["Анализ"]
    assert [sheet.cell(7, col).value for col in (4, 5, 6)] == [0, None, None]
