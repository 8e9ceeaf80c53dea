"""`otklik appendix2`: the Appendix 2 report of one structural unit for one quarter.

Rows: process group (points of interaction grouped as configured) x channel. Online means the
questionnaire was answered online (a messenger), offline means in person (a paper form).
Totals of clients who interacted are entered by staff (`otklik clients set`); a missing total is
shown as missing and the share is not computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side

from bot.config import ProcessGroup
from bot.errors import UsageError
from reports.files import write_atomically
from reports.options import POINT
from reports.period import Period
from reports.safe_cells import set_text
from storage import reports_repo
from storage.reports_repo import OFFLINE, ONLINE
from storage.store import Storage
from survey_flow.model import Questionnaire
from survey_flow.text import normalize

OTHER_GROUP = "Прочие точки взаимодействия"
CHANNELS = ((ONLINE, "онлайн"), (OFFLINE, "оффлайн"))
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
FIRST_ROW = 8
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


def process_groups(q: Questionnaire, configured: list[ProcessGroup]) -> list[Group]:
    """The configured groups, or one group per point of interaction (question 2)."""
    question = q.question(POINT)
    known = {o.code for o in question.options}
    if not configured:
        return [Group(o.text, (o.code,)) for o in question.options]
    groups: list[Group] = []
    owner: dict[str, str] = {}
    for group in configured:
        for code in group.points:
            if code in owner:
                raise UsageError(
                    f"[reports.process_groups] точка взаимодействия {code} входит в группы «{owner[code]}» "
                    f"и «{group.name}»: каждая точка — только в одной группе"
                )
            owner[code] = group.name
        unknown = [code for code in group.points if code not in known]
        if unknown:
            raise UsageError(
                f"[reports.process_groups] группа «{group.name}»: нет точек взаимодействия с кодами "
                f"{', '.join(unknown)} в вопросе {question.printed_code}"
            )
        groups.append(Group(group.name, tuple(group.points)))
    return groups


def resolve_group(groups: list[Group], value: str) -> str:
    key = normalize(value)
    for group in groups:
        if key == normalize(group.name) or (len(group.points) == 1 and value.strip() == group.points[0]):
            return group.name
    if key == normalize(OTHER_GROUP):
        return OTHER_GROUP
    names = "; ".join(f"«{g.name}»" for g in groups)
    raise UsageError(f"--group: нет группы процессов «{value}». Группы: {names}; «{OTHER_GROUP}»")


def resolve_channel(value: str) -> str:
    key = normalize(value)
    for code, label in CHANNELS:
        if key in (code, normalize(label)):
            return code
    raise UsageError(f"--channel: ожидается online (онлайн) или offline (оффлайн), получено «{value}»")


@dataclass(frozen=True)
class Row:
    group: str
    channel: str  # online, offline
    total: int | None
    respondents: int
    share: float | None
    questionnaires: int
    satisfaction: float | None

    def cells(self) -> list[Any]:
        label = dict(CHANNELS)[self.channel]
        return [
            self.group,
            label,
            MISSING if self.total is None else self.total,
            self.respondents,
            NOT_COMPUTED if self.share is None else self.share,
            self.questionnaires,
            NOT_COMPUTED if self.satisfaction is None else self.satisfaction,
        ]


def _percent(part: int, whole: int | None) -> float | None:
    return None if not whole else round(100 * part / whole, 1)


async def appendix2_rows(
    storage: Storage, q: Questionnaire, groups: list[Group], quarter: str, period: Period, unit: str
) -> list[Row]:
    mapping = {code: group.name for group in groups for code in group.points}
    async with storage.transaction() as conn:
        figures = await reports_repo.appendix2_figures(
            conn, period.start, period.end, unit, mapping, OTHER_GROUP
        )
        totals = await reports_repo.client_totals_for(conn, quarter, unit)
    names = [g.name for g in groups]
    if any(key[0] == OTHER_GROUP for key in (*figures, *totals)):
        names.append(OTHER_GROUP)
    rows: list[Row] = []
    for name in names:
        for channel, _label in CHANNELS:
            found = figures.get((name, channel))
            total = totals.get((name, channel))
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
                )
            )
    return rows


def build_workbook(rows: list[Row], unit_label: str, period: Period) -> Workbook:
    workbook = Workbook()
    sheet: Any = workbook.active
    sheet.title = "Приложение 2"
    sheet["A1"] = "ИНФОРМАЦИЯ"
    sheet["A2"] = (
        "об уровне удовлетворенности внешних клиентов действующими в министерстве экономического "
        "развития Новосибирской области механизмами предоставления мер государственной поддержки"
    )
    set_text(sheet["A3"], unit_label)
    sheet["A4"] = "(структурное подразделение министерства)"
    sheet["A5"] = f"за период {period.first:%m.%Y} - {period.last:%m.%Y}"
    for line in range(1, 6):
        sheet.merge_cells(start_row=line, start_column=1, end_row=line, end_column=len(HEADER))
        sheet.cell(line, 1).alignment = Alignment(horizontal="center", wrap_text=True)
    sheet["A1"].font = Font(bold=True)
    sheet["A3"].font = Font(underline="single")
    sheet.row_dimensions[2].height = 32
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for column, title in enumerate(HEADER, start=1):
        cell = sheet.cell(FIRST_ROW - 1, column, title)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="center")
        cell.border = border
    for index, item in enumerate(rows):
        for column, value in enumerate(item.cells(), start=1):
            cell = sheet.cell(FIRST_ROW + index, column)
            set_text(cell, value)  # group names come from the configuration: text, never a formula
            cell.border = border
            cell.alignment = Alignment(wrap_text=column == 1, vertical="top")
            if isinstance(value, float):
                cell.number_format = "0.0"
    for letter, width in zip("ABCDEFG", (40, 14, 22, 18, 16, 18, 16), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.row_dimensions[FIRST_ROW - 1].height = 90
    after = FIRST_ROW + len(rows) + 1
    sheet.cell(after, 1, "Руководитель структурного подразделения _____")
    sheet.cell(after + 1, 1, "(подпись) _____")
    sheet.cell(after + 2, 1, "(расшифровка подписи)")
    sheet.cell(after + 4, 1, FOOTNOTE).alignment = Alignment(wrap_text=True)
    sheet.merge_cells(start_row=after + 4, start_column=1, end_row=after + 4, end_column=len(HEADER))
    sheet.row_dimensions[after + 4].height = 45
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
