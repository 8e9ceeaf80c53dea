"""`otklik report`: the quarterly analysis by the nine parameters of point 11 of the order.

Each parameter is tied to its question; for a 1–5 scale the share of 4–5 is the positive share,
for a yes/no question the share of its first option («Скорее удовлетворен», «Да»).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Font

from reports import appendix2
from reports.charts import distribution_chart, shares_chart
from reports.figures import PARAMETERS, POSITIVE_SCORES, Analysis, Parameter, ParameterFigures, share
from reports.files import write_atomically
from reports.marking import MARKING
from reports.options import of_unit
from reports.period import Period
from reports.print_layout import fit_row_heights, print_setup
from reports.responsiveness import SHEET as RESPONSIVENESS_SHEET
from reports.responsiveness import responsiveness, write_section
from reports.safe_cells import set_text
from storage import reports_repo
from storage.store import Storage
from survey_flow.model import SCALE_CODES, Questionnaire

__all__ = [
    "MARKING",
    "PARAMETERS",
    "POSITIVE_SCORES",
    "Analysis",
    "Parameter",
    "ParameterFigures",
    "analyse",
    "share",
    "write_report",
]


async def analyse(
    storage: Storage, q: Questionnaire, period: Period, unit: str | None, title: str
) -> Analysis:
    codes = [p.question for p in PARAMETERS]
    async with storage.transaction() as conn:
        total = await reports_repo.count_completed(conn, period.start, period.end, of_unit(q, unit))
        tally = await reports_repo.tally_answers(conn, period.start, period.end, of_unit(q, unit), codes)
    counts, texts = tally.options, tally.texts
    figures: list[ParameterFigures] = []
    for parameter in PARAMETERS:
        question = q.question(parameter.question)
        by_option = counts[parameter.question]
        count = sum(by_option.values())
        if question.kind == "scale":
            distribution = [(code, by_option.get(code, 0)) for code in SCALE_CODES]
            weighted = sum(int(code) * n for code, n in distribution)
            mean = None if count == 0 else round(weighted / count, 2)
            positive = sum(by_option.get(code, 0) for code in POSITIVE_SCORES)
            label = "оценки 4–5"
        else:
            distribution = [(o.code, by_option.get(o.code, 0)) for o in question.options]
            mean = None
            first = question.options[0]
            positive = by_option.get(first.code, 0)
            label = f"«{first.text}»"
        figures.append(
            ParameterFigures(
                parameter=parameter,
                question=question.printed_code,
                scale=question.kind == "scale",
                count=count,
                mean=mean,
                positive_share=share(positive, count),
                positive_label=label,
                distribution=distribution,
                difficulties=texts[parameter.question],
                option_labels=[o.text for o in question.options],
            )
        )
    return Analysis(title=title, unit=unit or "", period=period, questionnaires=total, parameters=figures)


# --- workbook ------------------------------------------------------------------------------

HEADER = ["№", "Параметр анализа (пункт 11 Порядка)", "Вопрос анкеты", "Число ответов", "Средний балл",
          "Доля положительных ответов, %", "Положительный ответ", "1", "2", "3", "4", "5"]  # fmt: skip
FIRST_ROW = 7  # the row of parameter 1


def _marking(sheet: Any) -> None:
    sheet["A1"] = MARKING
    sheet["A1"].font = Font(bold=True, color="C00000")


def _rows(analysis: Analysis) -> Iterable[list[Any]]:
    for item in analysis.parameters:
        counts = [n for _, n in item.distribution]
        yield [
            item.parameter.number,
            item.parameter.title,
            item.question,
            item.count,
            item.mean,
            item.positive_share,
            item.positive_label,
            *counts,
        ]


def build_workbook(
    analysis: Analysis,
    unit_label: str,
    charts: list[bytes],
    appendix2_rows: list[appendix2.Row] | None = None,
) -> Workbook:
    workbook = Workbook()
    sheet: Any = workbook.active
    sheet.title = "Анализ"
    _marking(sheet)
    sheet["A2"] = f"Анализ данных обратной связи: {analysis.title} ({analysis.period.label})"
    sheet["A2"].font = Font(bold=True, size=12)
    sheet["A3"] = f"Структурное подразделение: {unit_label}"
    sheet["A4"] = "Заполненных анкет"
    sheet["D4"] = analysis.questionnaires
    sheet["H5"] = "Распределение ответов (оценка или код варианта)"
    sheet.append(HEADER)
    for cell in sheet[6]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in _rows(analysis):
        sheet.append(row)
    for row in sheet.iter_rows(min_row=FIRST_ROW, max_row=FIRST_ROW + len(PARAMETERS) - 1):
        row[1].alignment = Alignment(wrap_text=True, vertical="top")
        row[5].number_format = "0.0"
        row[4].number_format = "0.00"
    for letter, width in zip("ABCDEFG", (4, 60, 10, 10, 10, 14, 22), strict=True):
        sheet.column_dimensions[letter].width = width
    notes = FIRST_ROW + len(PARAMETERS) + 1
    sheet.cell(notes, 1, "Пустая ячейка — по параметру нет ответов за период; доля и среднее не вычисляются.")
    for cell in sheet[FIRST_ROW - 1]:
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="center")
    for row in sheet.iter_rows(min_row=FIRST_ROW, max_row=FIRST_ROW + len(PARAMETERS) - 1):
        for index, cell in enumerate(row):  # numbers level with the first line of the parameter
            cell.alignment = Alignment(wrap_text=index in (1, 6), vertical="top")
    sheet.row_dimensions[FIRST_ROW - 1].height = 48
    fit_row_heights(sheet, FIRST_ROW, FIRST_ROW + len(PARAMETERS) - 1)
    print_setup(sheet, landscape=True, title_rows=f"{FIRST_ROW - 1}:{FIRST_ROW - 1}")

    difficulties: Any = workbook.create_sheet("Сложности")
    _marking(difficulties)
    difficulties["A2"] = "Сложности, названные после оценок 1–3 (одинаковые тексты — одной строкой)"
    difficulties.append(["№", "Параметр", "Вопрос", "Оценка", "Текст", "Сколько раз"])
    for item in analysis.parameters:
        for score, text, times in item.difficulties:
            number, short = item.parameter.number, item.parameter.short
            difficulties.append([number, short, item.question, int(score), None, times])
            set_text(difficulties.cell(difficulties.max_row, 5), text)  # respondent text: never a formula
    for row in difficulties.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for cell in difficulties[3]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDEF", (4, 28, 10, 8, 80, 10), strict=True):
        difficulties.column_dimensions[letter].width = width
    fit_row_heights(difficulties, 4, difficulties.max_row)
    print_setup(difficulties, landscape=True, title_rows="3:3")

    if appendix2_rows is not None:
        section: Any = workbook.create_sheet(appendix2.REPORT_SHEET)
        _marking(section)
        section["A2"] = (
            f"Информация по форме Приложения № 2 (пункт 10 Порядка): {analysis.title}, {unit_label}"
        )
        section["A2"].font = Font(bold=True)
        appendix2.report_section(section, appendix2_rows, first_row=4)

    if analysis.responsiveness is not None:
        reacting: Any = workbook.create_sheet(RESPONSIVENESS_SHEET)
        _marking(reacting)
        heading = (
            f"Реагирование на обращения клиентов: {analysis.title} ({analysis.period.label}), {unit_label}"
        )
        write_section(reacting, analysis.responsiveness, heading)

    pictures: Any = workbook.create_sheet("Диаграммы")
    _marking(pictures)
    anchor = 3
    for png in charts:
        image = Image(io.BytesIO(png))
        pictures.add_image(image, f"A{anchor}")
        anchor += int(image.height / 20) + 2
    print_setup(pictures, landscape=False)
    return workbook


def save_charts(charts_dir: Path, charts: list[bytes]) -> None:
    charts_dir.mkdir(parents=True, exist_ok=True)
    for name, png in zip(("shares.png", "distribution.png"), charts, strict=True):
        (charts_dir / name).write_bytes(png)


async def write_report(
    storage: Storage,
    q: Questionnaire,
    *,
    period: Period,
    unit: str | None,
    unit_label: str,
    title: str,
    out: Path,
    charts_dir: Path | None = None,
    groups: list[appendix2.Group] | None = None,
    quarter: str | None = None,
    now: datetime | None = None,
) -> Analysis:
    """`groups` and `quarter` given: the report gains the Appendix 2 section (point 11 is based on
    the point 10 information too) — the unit's lines, or the summary over all units. `now`
    decides which cases are still within their deadline (default: the current time)."""
    analysis = await analyse(storage, q, period, unit, title)
    names = {p.question: p.short for p in PARAMETERS}
    analysis.responsiveness = await responsiveness(storage, q, period, unit, now or datetime.now(UTC), names)
    charts = [shares_chart(analysis, unit_label), distribution_chart(analysis, unit_label)]
    if charts_dir is not None:
        save_charts(charts_dir, charts)
    section = None
    if groups is not None and quarter is not None:
        section = await appendix2.report_rows(storage, q, groups, quarter, period, unit)
    workbook = build_workbook(analysis, unit_label, charts, section)

    async def save(path: Path) -> None:
        workbook.save(path)

    await write_atomically(out, save)
    return analysis
