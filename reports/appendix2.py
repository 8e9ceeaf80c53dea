"""`otklik appendix2`: the Appendix 2 report of one structural unit (or of all) for one quarter.

Rows: process group (points of interaction grouped as configured) x channel of interaction. The
channel is the client's, by question 5(15) (point 2.3 of the order): «оффлайн» for «Лично в органе
власти», «онлайн» for «Онлайн на сайте органа власти», whatever way the questionnaire came in (a
QR code at the reception, a paper form). Questionnaires without an answer to 5(15) get their own
line «канал не указан», so nobody is silently moved into a channel.
Totals of clients who interacted are entered by staff (`otklik clients set`); a missing total is
shown as missing and the share is not computed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side

from reports.errors import ReportError
from reports.files import write_atomically
from reports.options import POINT, UNIT
from reports.period import Period
from reports.print_layout import fit_row_heights, print_setup
from reports.safe_cells import set_text
from storage import reports_repo
from storage.reports_repo import OFFLINE, ONLINE, UNSPECIFIED, Answered, Appendix2Questions
from storage.store import Storage
from survey_flow.model import Questionnaire, QuestionRole
from survey_flow.text import normalize

OTHER_GROUP = "Прочие точки взаимодействия"
CHANNELS = ((ONLINE, "онлайн"), (OFFLINE, "оффлайн"))  # the channels totals are entered for
UNSPECIFIED_LABEL = "канал не указан"
CHANNEL_LABELS = {**dict(CHANNELS), UNSPECIFIED: UNSPECIFIED_LABEL}
NOT_APPLICABLE = "—"
OVER_NOTE = (
    "Внимание: оставивших обратную связь больше, чем внесено клиентов, — проверьте число клиентов "
    "(otklik clients set)"
)
MISSING = "нет данных"
NOT_COMPUTED = "—"
HEADER = [
    "Группа процессов ²",
    "Вид канала связи (онлайн/оффлайн)",
    "Общее количество клиентов, взаимодействовавших с министерством за отчетный период, человек",
    "Количество клиентов, оставивших обратную связь, человек",
    "Доля граждан, оставивших обратную связь, %",
    "Количество отзывов от общего числа, оставивших обратную связь",
    "Общий уровень удовлетворенности, %",
]
HEADING = "ПРИЛОЖЕНИЕ № 2"
HEADING_TO = (
    "к Порядку взаимодействия с внешним клиентом при предоставлении мер государственной поддержки "
    "министерством экономического развития Новосибирской области"
)
TITLE = "ИНФОРМАЦИЯ"
SUBTITLE = (
    "об уровне удовлетворенности внешних клиентов действующими в министерстве экономического "
    "развития Новосибирской области механизмами предоставления мер государственной поддержки"
)
UNIT_CAPTION = "(структурное подразделение министерства)"
SIGNATURE = ("Руководитель структурного подразделения _____", "(подпись) _____", "(расшифровка подписи)")
ALL_UNITS_LABEL = "все структурные подразделения (сводно)"
SUMMARY_SHEET = "Сводная"
UNIT_ROW = 6  # the unit line; the heading and the title are above it
HEADER_ROW = 10
FIRST_ROW = HEADER_ROW + 1
NOTE_COLUMN = len(HEADER) + 1  # beside the table, outside the form
FOOTNOTE = (
    "² В соответствии с Перечнем точек взаимодействия с внешними и внутренними клиентами в министерстве "
    "экономического развития Новосибирской области, утвержденного приказом министерства экономического "
    "развития Новосибирской области от 15.02.2024 № 27 «Об утверждении перечня точек взаимодействия с "
    "внешними и внутренними клиентами в министерстве экономического развития Новосибирской области»."
)


@dataclass(frozen=True)
class Group:
    name: str
    points: tuple[str, ...]


def process_groups(q: Questionnaire, configured: Sequence[tuple[str, Sequence[str]]]) -> list[Group]:
    """The configured (name, point codes) groups, or one group per point of interaction (question 2)."""
    question = q.by_role(POINT)
    known = {o.code for o in question.options}
    if not configured:
        return [Group(o.text, (o.code,)) for o in question.options]
    groups: list[Group] = []
    owner: dict[str, str] = {}
    for name, points in configured:
        for code in points:
            if code in owner:
                raise ReportError(
                    f"[reports.process_groups] точка взаимодействия {code} входит в группы «{owner[code]}» "
                    f"и «{name}»: каждая точка — только в одной группе"
                )
            owner[code] = name
        unknown = [code for code in points if code not in known]
        if unknown:
            raise ReportError(
                f"[reports.process_groups] группа «{name}»: нет точек взаимодействия с кодами "
                f"{', '.join(unknown)} в вопросе {question.printed_code}"
            )
        groups.append(Group(name, tuple(points)))
    return groups


def resolve_group(groups: list[Group], value: str) -> str:
    key = normalize(value)
    for group in groups:
        if key == normalize(group.name) or (len(group.points) == 1 and value.strip() == group.points[0]):
            return group.name
    if key == normalize(OTHER_GROUP):
        return OTHER_GROUP
    names = "; ".join(f"«{g.name}»" for g in groups)
    raise ReportError(f"--group: нет группы процессов «{value}». Группы: {names}; «{OTHER_GROUP}»")


def resolve_channel(value: str) -> str:
    key = normalize(value)
    for code, label in CHANNELS:
        if key in (code, normalize(label)):
            return code
    raise ReportError(f"--channel: ожидается online (онлайн) или offline (оффлайн), получено «{value}»")


@dataclass(frozen=True)
class Row:
    group: str
    channel: str  # online, offline, unspecified
    total: int | None
    respondents: int
    share: float | None
    questionnaires: int
    satisfaction: float | None
    satisfied: int = 0
    satisfaction_answers: int = 0
    missing_units: tuple[str, ...] = ()  # summary: units with respondents here but no total

    @property
    def over(self) -> bool:
        """More respondents than clients entered: the share is shown but must be checked."""
        return self.total is not None and self.respondents > self.total

    @property
    def label(self) -> str:
        return CHANNEL_LABELS[self.channel]

    def cells(self) -> list[Any]:
        if self.channel == UNSPECIFIED:
            total: Any = NOT_APPLICABLE  # totals are entered per channel, not for «не указан»
        else:
            total = MISSING if self.total is None else self.total
        return [
            self.group,
            self.label,
            total,
            self.respondents,
            NOT_COMPUTED if self.share is None else self.share,
            self.questionnaires,
            NOT_COMPUTED if self.satisfaction is None else self.satisfaction,
        ]

    def note(self) -> str | None:
        notes = []
        if self.over:
            notes.append(OVER_NOTE)
        if self.missing_units:
            notes.append("Число клиентов не внесено: " + "; ".join(self.missing_units))
        return ". ".join(notes) or None


def _percent(part: int, whole: int | None) -> float | None:
    return None if not whole else round(100 * part / whole, 1)


def _ordered(names: list[str], keys: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Group x channel lines: online and offline always, «канал не указан» only where there are
    such questionnaires, «Прочие» only where there are answers or totals for it."""
    if any(key[0] == OTHER_GROUP for key in keys):
        names = [*names, OTHER_GROUP]
    lines = []
    for name in names:
        lines += [(name, ONLINE), (name, OFFLINE)]
        if (name, UNSPECIFIED) in keys:
            lines.append((name, UNSPECIFIED))
    return lines


async def appendix2_rows(
    storage: Storage, q: Questionnaire, groups: list[Group], quarter: str, period: Period, unit: str
) -> list[Row]:
    mapping = {code: group.name for group in groups for code in group.points}
    async with storage.transaction() as conn:
        figures = await reports_repo.appendix2_figures(
            conn, period.start, period.end, Answered(q.by_role(UNIT).code, unit), mapping, OTHER_GROUP,
            Appendix2Questions(
                point=q.by_role(POINT).code,
                satisfaction=q.by_role(QuestionRole.SATISFACTION).code,
                method=q.by_role(QuestionRole.METHOD).code,
            ),
        )  # fmt: skip
        totals = await reports_repo.client_totals_for(conn, quarter, unit)
    rows: list[Row] = []
    for name, channel in _ordered([g.name for g in groups], {*figures, *totals}):
        found = figures.get((name, channel))
        total = None if channel == UNSPECIFIED else totals.get((name, channel))
        people = found.respondents if found else 0
        rows.append(
            Row(
                group=name,
                channel=channel,
                total=total,
                respondents=people,
                share=_percent(people, total),
                questionnaires=found.questionnaires if found else 0,
                satisfaction=_percent(found.satisfied, found.satisfaction_answers) if found else None,
                satisfied=found.satisfied if found else 0,
                satisfaction_answers=found.satisfaction_answers if found else 0,
            )
        )
    return rows


def summary_rows(by_unit: dict[str, list[Row]], groups: list[Group]) -> list[Row]:
    """All units together: every figure is the sum of the units' lines (a total only over the units
    that entered it; units with respondents but no total are named in the note)."""
    keys = {(row.group, row.channel) for rows in by_unit.values() for row in rows}
    rows: list[Row] = []
    for name, channel in _ordered([g.name for g in groups], keys):
        lines = [
            (unit, row)
            for unit, rows in by_unit.items()
            for row in rows
            if (row.group, row.channel) == (name, channel)
        ]
        entered = [row.total for _unit, row in lines if row.total is not None]
        total = sum(entered) if entered else None
        people = sum(row.respondents for _unit, row in lines)
        satisfied = sum(row.satisfied for _unit, row in lines)
        answers = sum(row.satisfaction_answers for _unit, row in lines)
        missing = tuple(
            unit for unit, row in lines if channel != UNSPECIFIED and row.total is None and row.respondents
        )
        rows.append(
            Row(
                group=name,
                channel=channel,
                total=total,
                respondents=people,
                share=_percent(people, total),
                questionnaires=sum(row.questionnaires for _unit, row in lines),
                satisfaction=_percent(satisfied, answers),
                satisfied=satisfied,
                satisfaction_answers=answers,
                missing_units=missing if total is not None else (),
            )
        )
    return rows


async def all_units_rows(
    storage: Storage, q: Questionnaire, groups: list[Group], quarter: str, period: Period
) -> dict[str, list[Row]]:
    """Unit label -> its rows, for every structural unit of question 3(13), in the list's order."""
    return {
        option.text: await appendix2_rows(storage, q, groups, quarter, period, option.code)
        for option in q.by_role(UNIT).options
    }


THIN = Side(style="thin")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WIDTHS = (40, 18, 22, 18, 16, 18, 16, 40)


def fill_sheet(sheet: Any, rows: list[Row], unit_label: str, period: Period) -> None:
    """The form of Appendix 2 on `sheet`, laid out and set up for printing as the order shows it."""
    last = len(HEADER)
    sheet.cell(1, 5, HEADING).font = Font(bold=True)
    sheet.cell(2, 5, HEADING_TO)
    for line in (1, 2):
        sheet.merge_cells(start_row=line, start_column=5, end_row=line, end_column=last)
        sheet.cell(line, 5).alignment = Alignment(horizontal="left", vertical="top", wrap_text=True)
    sheet.row_dimensions[2].height = 64
    for line, text in ((4, TITLE), (5, SUBTITLE), (7, UNIT_CAPTION)):
        sheet.cell(line, 1, text)
    set_text(sheet.cell(UNIT_ROW, 1), unit_label)  # from the configuration: text, never a formula
    sheet.cell(8, 1, f"за период {period.first:%m.%Y} - {period.last:%m.%Y}")
    for line in range(4, 9):
        sheet.merge_cells(start_row=line, start_column=1, end_row=line, end_column=last)
        sheet.cell(line, 1).alignment = Alignment(horizontal="center", wrap_text=True)
    sheet.cell(4, 1).font = Font(bold=True)
    sheet.cell(5, 1).font = Font(bold=True)
    sheet.cell(UNIT_ROW, 1).font = Font(underline="single")
    sheet.cell(7, 1).font = Font(size=8)
    sheet.row_dimensions[5].height = 32
    for column, title in enumerate(HEADER, start=1):
        cell = sheet.cell(HEADER_ROW, column, title)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="center")
        cell.border = BORDER
    for index, item in enumerate(rows):
        line = FIRST_ROW + index
        for column, value in enumerate(item.cells(), start=1):
            cell = sheet.cell(line, column)
            set_text(cell, value)  # group names come from the configuration: text, never a formula
            cell.border = BORDER
            cell.alignment = Alignment(wrap_text=column == 1, vertical="top")
            if isinstance(value, float):
                cell.number_format = "0.0"
        note = item.note()
        if note:
            cell = sheet.cell(line, NOTE_COLUMN, note)
            cell.font = Font(italic=True, color="C00000")
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for column, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[chr(ord("A") + column - 1)].width = width
    sheet.row_dimensions[HEADER_ROW].height = 90
    fit_row_heights(sheet, FIRST_ROW, FIRST_ROW + len(rows) - 1)
    after = FIRST_ROW + len(rows) + 1
    for offset, text in enumerate(SIGNATURE):
        sheet.cell(after + offset, 1, text)
    sheet.cell(after + 4, 1, FOOTNOTE).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.merge_cells(start_row=after + 4, start_column=1, end_row=after + 4, end_column=last)
    sheet.row_dimensions[after + 4].height = 45
    print_setup(sheet, landscape=True, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")


def build_workbook(rows: list[Row], unit_label: str, period: Period) -> Workbook:
    workbook = Workbook()
    sheet: Any = workbook.active
    sheet.title = "Приложение 2"
    fill_sheet(sheet, rows, unit_label, period)
    return workbook


FORBIDDEN_IN_SHEET_NAME = re.compile(r"[\\/*?:\[\]]")


def sheet_name(text: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, no []:*?/\\), unique in the workbook."""
    base = " ".join(FORBIDDEN_IN_SHEET_NAME.sub(" ", text).split()) or "Лист"
    if len(base) > 31:
        cut = base[:30]
        base = (cut[: cut.rfind(" ")] if cut.rfind(" ") > 10 else cut) + "…"  # whole words
    name, number = base, 2
    while name.lower() in taken:
        suffix = f" ({number})"
        name, number = base[: 31 - len(suffix)].rstrip() + suffix, number + 1
    taken.add(name.lower())
    return name


def build_all_units_workbook(by_unit: dict[str, list[Row]], summary: list[Row], period: Period) -> Workbook:
    workbook = Workbook()
    first: Any = workbook.active
    first.title = SUMMARY_SHEET
    fill_sheet(first, summary, ALL_UNITS_LABEL, period)
    taken = {SUMMARY_SHEET.lower()}
    for label, rows in by_unit.items():
        fill_sheet(workbook.create_sheet(sheet_name(label, taken)), rows, label, period)
    return workbook


async def write_appendix2(
    storage: Storage,
    q: Questionnaire,
    *,
    groups: list[Group],
    quarter: str,
    period: Period,
    unit: str,
    unit_label: str,
    out: Path,
) -> list[Row]:
    rows = await appendix2_rows(storage, q, groups, quarter, period, unit)
    workbook = build_workbook(rows, unit_label, period)

    async def save(path: Path) -> None:
        workbook.save(path)

    await write_atomically(out, save)
    return rows


@dataclass(frozen=True)
class AllUnits:
    by_unit: dict[str, list[Row]]
    summary: list[Row]
    without_unit: int  # questionnaires with 3(13) blank: in no unit's sheet


async def write_appendix2_all(
    storage: Storage, q: Questionnaire, *, groups: list[Group], quarter: str, period: Period, out: Path
) -> AllUnits:
    """One workbook: the summary sheet first, then the form of every structural unit."""
    by_unit = await all_units_rows(storage, q, groups, quarter, period)
    summary = summary_rows(by_unit, groups)
    workbook = build_all_units_workbook(by_unit, summary, period)

    async def save(path: Path) -> None:
        workbook.save(path)

    await write_atomically(out, save)
    async with storage.transaction() as conn:
        without_unit = await reports_repo.count_without_answer(
            conn, period.start, period.end, q.by_role(UNIT).code
        )
    return AllUnits(by_unit, summary, without_unit)


def share_warnings(rows: list[Row], where: str = "") -> list[str]:
    """The lines the command prints about shares above 100 %."""
    prefix = f"{where}: " if where else ""
    return [
        f"Внимание: {prefix}«{row.group}», {row.label}: оставили обратную связь {row.respondents} чел., "
        f"а внесено клиентов {row.total} (доля {row.share} %) — проверьте число клиентов (otklik clients set)"
        for row in rows
        if row.over
    ]


REPORT_SHEET = "Приложение 2"
REPORT_HEADER = [
    "Группа процессов",
    "Вид канала связи",
    "Клиентов, человек",
    "Оставили обратную связь, человек",
    "Доля оставивших обратную связь, %",
    "Общий уровень удовлетворенности, %",
]


async def report_rows(
    storage: Storage, q: Questionnaire, groups: list[Group], quarter: str, period: Period, unit: str | None
) -> list[Row]:
    """The Appendix 2 lines of one unit, or the summary over all units."""
    if unit is not None:
        return await appendix2_rows(storage, q, groups, quarter, period, unit)
    return summary_rows(await all_units_rows(storage, q, groups, quarter, period), groups)


def report_section(sheet: Any, rows: list[Row], first_row: int) -> None:
    """The quarterly report's section of point 10 information: numbers stay numbers (an empty
    cell is a missing total or a share that cannot be computed), a flag beside a share > 100 %."""
    thin_border = BORDER
    for column, title in enumerate(REPORT_HEADER, start=1):
        cell = sheet.cell(first_row, column, title)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="center")
        cell.border = thin_border
    for index, item in enumerate(rows, start=1):
        line = first_row + index
        values = [item.group, item.label, item.total, item.respondents, item.share, item.satisfaction]
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(line, column)
            set_text(cell, value)
            cell.border = thin_border
            cell.alignment = Alignment(wrap_text=column == 1, vertical="top")
            if column in (5, 6):
                cell.number_format = "0.0"
        note = item.note()
        if note:
            cell = sheet.cell(line, len(REPORT_HEADER) + 1, note)
            cell.font = Font(italic=True, color="C00000")
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.cell(
        first_row + len(rows) + 2,
        1,
        "Пустая ячейка — число клиентов не внесено (otklik clients set) или доля не вычисляется. "
        "Канал — по ответу на вопрос 5(15).",
    )
    for letter, width in zip("ABCDEFG", (40, 17, 14, 16, 16, 18, 40), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.row_dimensions[first_row].height = 48
    fit_row_heights(sheet, first_row + 1, first_row + len(rows))
    print_setup(sheet, landscape=True, title_rows=f"{first_row}:{first_row}")
