"""`otklik report`: the quarterly analysis by the nine parameters of point 11 of the order.

Each parameter is tied to its question; for a 1–5 scale the share of 4–5 is the positive share,
for a yes/no question the share of its first option («Скорее удовлетворен», «Да»).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Font

from reports.files import write_atomically
from reports.period import Period
from reports.safe_cells import set_text
from storage import reports_repo
from storage.store import Storage
from survey_flow.model import SCALE_CODES, Questionnaire

MARKING = "Для внутреннего пользования, не подлежит опубликованию"
POSITIVE_SCORES = ("4", "5")


@dataclass(frozen=True)
class Parameter:
    number: int
    title: str
    short: str
    question: str  # the form's question code


# Point 11 of the order, in its order, each with its question of Appendix 1.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter(1, "Общая удовлетворенность внешних клиентов при взаимодействии с министерством в рамках "
              "предоставления мер государственной поддержки", "Общая удовлетворенность", "9"),
    Parameter(2, "Доступность информации о мерах государственной поддержки для внешних клиентов",
              "Доступность информации", "11"),
    Parameter(3, "Простота сбора документов и оформления заявки для получения мер государственной поддержки",
              "Документы и заявка", "12"),
    Parameter(4, "Информирование внешних клиентов о статусе получения мер государственной поддержки",
              "Информирование о статусе", "16"),
    Parameter(5, "Вежливость и компетентность сотрудников при взаимодействии с внешними клиентами в рамках "
              "предоставления мер государственной поддержки", "Вежливость и компетентность", "13"),
    Parameter(6, "Удобство расположения места получения мер государственной поддержки (при личном обращении "
              "внешних клиентов)", "Расположение места", "14"),
    Parameter(7, "Удобство интерфейса (при онлайн обращении внешних клиентов)", "Удобство интерфейса", "15"),
    Parameter(8, "Сроки предоставления внешним клиентам мер государственной поддержки", "Сроки", "17"),
    Parameter(9, "Предоставление информации о необходимых действиях для устранения причин непредоставления мер "
              "государственной поддержки (при отказе)", "Информация после отказа", "10"),
)  # fmt: skip


@dataclass
class ParameterFigures:
    parameter: Parameter
    question: str  # printed code, e.g. 9(21)
    scale: bool
    count: int
    mean: float | None
    positive_share: float | None  # percent, one decimal
    positive_label: str
    distribution: list[tuple[str, int]]  # (option code, answers), in option order
    difficulties: list[tuple[str, str, int]] = field(default_factory=list)  # (score, text, times)
    option_labels: list[str] = field(default_factory=list)  # chart labels of a yes/no question


@dataclass
class Analysis:
    title: str
    unit: str
    period: Period
    questionnaires: int
    parameters: list[ParameterFigures]


def share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


async def analyse(
    storage: Storage, q: Questionnaire, period: Period, unit: str | None, title: str
) -> Analysis:
    codes = [p.question for p in PARAMETERS]
    async with storage.transaction() as conn:
        total = await reports_repo.count_completed(conn, period.start, period.end, unit)
        tally = await reports_repo.tally_answers(conn, period.start, period.end, unit, codes)
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


# --- charts --------------------------------------------------------------------------------


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def shares_chart(analysis: Analysis) -> bytes:
    figure = Figure(figsize=(9, 4.5), layout="constrained")
    ax: Any = figure.add_subplot()
    items = list(reversed(analysis.parameters))
    values = [p.positive_share or 0.0 for p in items]
    bars = ax.barh([f"{p.parameter.number}. {p.parameter.short}" for p in items], values, color="#3a7ebf")
    for bar, figure_ in zip(bars, items, strict=True):
        text = "нет ответов" if figure_.positive_share is None else f"{figure_.positive_share:.1f}%"
        ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("Доля положительных ответов, %")
    ax.set_title(f"{analysis.title}: доля положительных ответов по параметрам")
    return _png(figure)


def distribution_chart(analysis: Analysis) -> bytes:
    figure = Figure(figsize=(12, 9), layout="constrained")
    axes: Any = figure.subplots(3, 3)
    for ax, item in zip(axes.flat, analysis.parameters, strict=True):
        # Option texts on two lines: «Скорее удовлетворен» and «Скорее не удовлетворен» side by
        # side overlapped on one.
        labels = (
            [code for code, _ in item.distribution]
            if item.scale
            else [textwrap.fill(text, 14) for text in item.option_labels]
        )
        ax.bar(labels, [n for _, n in item.distribution], color="#6aa84f")
        ax.set_title(f"{item.parameter.number}. {item.parameter.short} — {item.question}", fontsize=9)
        ax.set_xlabel("оценка" if item.scale else "вариант ответа", fontsize=8)
    figure.suptitle(f"{analysis.title}: распределение ответов")
    return _png(figure)


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


def build_workbook(analysis: Analysis, unit_label: str, charts: list[bytes]) -> Workbook:
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

    difficulties: Any = workbook.create_sheet("Сложности")
    _marking(difficulties)
    difficulties["A2"] = "Сложности, названные после оценок 1–3 (одинаковые тексты — одной строкой)"
    difficulties.append(["№", "Параметр", "Вопрос", "Оценка", "Текст", "Сколько раз"])
    for item in analysis.parameters:
        for score, text, times in item.difficulties:
            number, short = item.parameter.number, item.parameter.short
            difficulties.append([number, short, item.question, int(score), None, times])
            set_text(difficulties.cell(difficulties.max_row, 5), text)  # respondent text: never a formula
    difficulties.column_dimensions["B"].width = 28
    difficulties.column_dimensions["E"].width = 80

    pictures: Any = workbook.create_sheet("Диаграммы")
    _marking(pictures)
    anchor = 3
    for png in charts:
        image = Image(io.BytesIO(png))
        pictures.add_image(image, f"A{anchor}")
        anchor += int(image.height / 20) + 2
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
) -> Analysis:
    analysis = await analyse(storage, q, period, unit, title)
    charts = [shares_chart(analysis), distribution_chart(analysis)]
    if charts_dir is not None:
        save_charts(charts_dir, charts)
    workbook = build_workbook(analysis, unit_label, charts)

    async def save(path: Path) -> None:
        workbook.save(path)

    await write_atomically(out, save)
    return analysis
