"""The responsiveness section of the quarterly report (point 3 of the order: «реагирование»):
per unit, the cases opened in the quarter, how many were answered within the deadline, the
median time to the first answer, and which questions' difficulties they were about.

A case is counted in the quarter it was opened. Each case falls in exactly one column:
- answered in time: the first answer reached the respondent by the deadline;
- answered late: after it;
- without an answer: the deadline passed (or staff closed the case) and no answer was given;
- in progress: no answer yet and the deadline is still ahead at the time of the report;
- withdrawn: the respondent withdrew (or asked for erasure) before an answer and before the
  deadline, so nobody could answer any more.
The share in time is of the cases whose outcome is known: answered, or without an answer.
Only numbers and units: no respondent, pseudonym or text appears here.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openpyxl.styles import Alignment, Border, Font, Side

from reports.options import UNIT
from reports.period import Period
from reports.print_layout import fit_row_heights, print_setup
from storage import cases as cases_repo
from storage.cases import Case, ClosedBy
from storage.store import Storage
from survey_flow.model import Questionnaire

SHEET = "Реагирование"
TOTAL = "Итого"
WITHDRAWN_BY = frozenset({ClosedBy.WITHDRAWAL, ClosedBy.ERASURE})
HEADER = [
    "Структурное подразделение",
    "Открыто обращений",
    "Ответ дан в срок",
    "Ответ дан с опозданием",
    "Без ответа (срок истек или закрыто без ответа)",
    "В работе, срок не истек",
    "Отозвано клиентом до ответа",
    "Доля ответов в срок, %",
    "Медиана времени до первого ответа, ч",
]
THIN = Side(style="thin", color="808080")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
DIFFICULTY_HEADER = [
    "Структурное подразделение",
    "Вопрос",
    "Число обращений",
    "Параметр анализа (пункт 11 Порядка)",
]


@dataclass(frozen=True)
class UnitFigures:
    unit: str  # option code of question 3, or TOTAL
    label: str
    opened: int = 0
    in_time: int = 0
    late: int = 0
    unanswered: int = 0
    in_progress: int = 0
    withdrawn: int = 0
    answer_hours: tuple[float, ...] = ()  # hours from opening to the first answer, per answered case

    @property
    def decided(self) -> int:
        return self.in_time + self.late + self.unanswered

    @property
    def in_time_share(self) -> float | None:
        return None if self.decided == 0 else round(100 * self.in_time / self.decided, 1)

    @property
    def median_hours(self) -> float | None:
        return round(statistics.median(self.answer_hours), 1) if self.answer_hours else None


@dataclass(frozen=True)
class DifficultyCount:
    unit_label: str
    question: str  # printed code, e.g. 11(23)
    parameter: str  # short name of the point 11 parameter, or the question's text
    cases: int


@dataclass
class Responsiveness:
    units: list[UnitFigures]  # one per unit with cases, in question 3 order; TOTAL last when several
    difficulties: list[DifficultyCount] = field(default_factory=list)
    as_of: datetime | None = None


def outcome(case: Case, now: datetime) -> str:
    """Which column of the section a case falls in (see the module docstring)."""
    first = case.first_answer_at
    if first is not None:
        return "in_time" if first <= case.deadline_at else "late"
    closed_before_deadline = case.closed_at is not None and case.closed_at < case.deadline_at
    if case.closed_by in WITHDRAWN_BY and closed_before_deadline:
        return "withdrawn"
    if case.closed_at is not None or now >= case.deadline_at:
        return "unanswered"
    return "in_progress"


def unit_figures(unit: str, label: str, found: Iterable[Case], now: datetime) -> UnitFigures:
    counts = {"in_time": 0, "late": 0, "unanswered": 0, "in_progress": 0, "withdrawn": 0}
    hours: list[float] = []
    opened = 0
    for case in found:
        opened += 1
        counts[outcome(case, now)] += 1
        if case.first_answer_at is not None:
            hours.append((case.first_answer_at - case.opened_at).total_seconds() / 3600)
    return UnitFigures(unit, label, opened, answer_hours=tuple(hours), **counts)


def figures(
    q: Questionnaire,
    found: Sequence[Case],
    difficulty_counts: Mapping[tuple[str, str], int],
    now: datetime,
    parameter_names: Mapping[str, str],
) -> Responsiveness:
    """The section from the cases opened in the period and the difficulty counts per question."""
    order = {option.code: index for index, option in enumerate(q.by_role(UNIT).options)}

    def label(code: str) -> str:
        option = q.by_role(UNIT).option(code)
        return option.text if option is not None else code

    units = sorted({case.unit for case in found}, key=lambda code: (order.get(code, len(order)), code))
    rows = [unit_figures(u, label(u), (c for c in found if c.unit == u), now) for u in units]
    if len(rows) > 1:
        rows.append(unit_figures(TOTAL, TOTAL, found, now))
    question_order = {question.code: index for index, question in enumerate(q.questions)}
    difficulties = [
        DifficultyCount(
            label(unit),
            q.question(code).printed_code,
            parameter_names.get(code, q.question(code).text),
            count,
        )
        for (unit, code), count in sorted(
            difficulty_counts.items(),
            key=lambda item: (order.get(item[0][0], len(order)), question_order.get(item[0][1], 0)),
        )
    ]
    return Responsiveness(rows, difficulties, now)


async def responsiveness(
    storage: Storage,
    q: Questionnaire,
    period: Period,
    unit: str | None,
    now: datetime,
    parameter_names: Mapping[str, str],
) -> Responsiveness:
    async with storage.transaction() as conn:
        found = await cases_repo.opened_in(conn, period.start, period.end, unit)
        counts = await cases_repo.difficulty_questions(conn, period.start, period.end, unit)
    return figures(q, found, counts, now, parameter_names)


# --- the sheet ----------------------------------------------------------------------------


def row_values(item: UnitFigures) -> list[Any]:
    return [
        item.label, item.opened, item.in_time, item.late, item.unanswered, item.in_progress,
        item.withdrawn, item.in_time_share, item.median_hours,
    ]  # fmt: skip


def write_section(sheet: Any, section: Responsiveness, heading: str, first_row: int = 4) -> None:
    """The section on its own sheet: the table per unit, then the difficulties' questions."""
    sheet.cell(2, 1, heading).font = Font(bold=True, size=12)
    for column, title in enumerate(HEADER, start=1):
        cell = sheet.cell(first_row, column, title)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="center")
        cell.border = BORDER
    line = first_row
    for item in section.units:
        line += 1
        for column, value in enumerate(row_values(item), start=1):
            cell = sheet.cell(line, column, value)
            cell.alignment = Alignment(wrap_text=column == 1, vertical="top")
            cell.border = BORDER
            if column in (8, 9):
                cell.number_format = "0.0"
            if item.unit == TOTAL:
                cell.font = Font(bold=True)
    if not section.units:
        line += 1
        sheet.cell(line, 1, "Обращений за период нет")
    as_of = f" на {section.as_of:%d.%m.%Y %H:%M} UTC" if section.as_of else ""
    notes = [
        f"Обращение учитывается в квартале, когда оно открыто; «в работе» — срок еще не истек{as_of}.",
        "Доля в срок — от обращений с известным исходом (ответ дан или срока больше нет); пустая "
        "ячейка — таких обращений нет.",
        "Время до первого ответа — от согласия клиента до доставки первого ответа подразделения.",
    ]
    for note in notes:
        line += 1
        sheet.cell(line, 1, note)
    line += 2
    sheet.cell(line, 1, "О чем были сложности (по вопросам, после которых клиент их назвал)").font = Font(
        bold=True
    )
    line += 1
    header_line = line
    for column, title in enumerate(DIFFICULTY_HEADER, start=1):
        cell = sheet.cell(line, column, title)
        cell.font = Font(bold=True)
        last = column == len(DIFFICULTY_HEADER)
        # The parameter's column is not wrapped: its text runs on over the empty cells beside it.
        cell.alignment = Alignment(
            wrap_text=not last, vertical="top", horizontal="left" if last else "center", indent=int(last)
        )
        if not last:
            cell.border = BORDER
    for difficulty in section.difficulties:
        line += 1
        values = [difficulty.unit_label, difficulty.question, difficulty.cases, difficulty.parameter]
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(line, column, value)
            last = column == len(values)
            cell.alignment = Alignment(wrap_text=column == 1, vertical="top", indent=int(last))
            if not last:
                cell.border = BORDER
    for letter, width in zip("ABCDEFGHI", (40, 11, 13, 13, 16, 13, 13, 12, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.row_dimensions[first_row].height = 62
    sheet.row_dimensions[header_line].height = 30
    fit_row_heights(sheet, first_row + 1, first_row + len(section.units))
    fit_row_heights(sheet, header_line + 1, line)
    print_setup(sheet, landscape=True, title_rows=f"{first_row}:{first_row}")
