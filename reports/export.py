"""`otklik export`: one row per completed questionnaire, columns in platform-code order.

Row 1 holds the codes (platform codes of the questions, `23_text` for the difficulty text beside
its score, then the service columns), row 2 the question texts; data rows follow. Rows are
written as they are read, so memory does not grow with the number of questionnaires.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import ColumnElement

from reports.files import write_atomically
from reports.options import of_unit
from reports.period import Period
from reports.progress import CHUNK, Progress
from reports.safe_cells import csv_row, write_only_row
from storage import reports_repo
from storage.reports_repo import PackedSession, followup_key
from storage.store import Storage
from survey_flow.model import OTHER_CODE, OTHER_LABEL, Question, Questionnaire

Format = Literal["csv", "xlsx"]
Cell = str | int | datetime | None
# session: the questionnaire's number; answer: an option code turned into a number where it is
# one; label: an answer's text as stored; time: the recorded date and time (7(18)); followup: a
# difficulty text; service: a field of the session or the respondent.
ColumnKind = Literal["session", "answer", "label", "time", "followup", "service"]


@dataclass(frozen=True)
class ExportColumn:
    code: str
    title: str
    kind: ColumnKind
    key: str = ""  # `PackedSession.cells` key, or the `PackedSession` field of a service column


class _PlatformCells(dict[str, Cell]):
    """platform code -> its cell: a number for a numeric code, else the text itself.

    Filled as codes are met, so each code is converted once rather than once per cell; a typed
    «Другое» text is converted but not kept, so memory stays bounded.
    """

    def __missing__(self, code: str) -> Cell:
        cell: Cell = int(code) if code.isdigit() else code
        if len(self) < 10_000:
            self[code] = cell
        return cell


def row_builder(columns: list[ExportColumn], zone: ZoneInfo) -> Callable[[PackedSession], list[Cell]]:
    """One function computing a whole row of `columns` from a packed session."""
    kinds = [c.kind for c in columns]
    first_service = kinds.index("service") if "service" in kinds else len(columns)
    # The layout export_columns makes: the number, the answer columns, then the service ones.
    assert kinds[0] == "session" and all(k == "service" for k in kinds[first_service:])
    middle = columns[1:first_service]
    assert all(k not in ("session", "service") for k in kinds[1:first_service])
    keys = [c.key for c in middle]
    code_keys = [c.key for c in middle if c.kind == "answer"]
    time_keys = [c.key for c in middle if c.kind == "time"]
    service = [c.key for c in columns[first_service:]]
    assert set(service) <= set(PackedSession._fields)
    platform_cells = _PlatformCells()

    def row(session: PackedSession) -> list[Cell]:
        packed = session.cells
        cells: dict[str, Cell] = dict(packed)  # a copy: the session stays as it was read
        for key in code_keys:
            code = packed.get(key)
            if code is not None:
                cells[key] = platform_cells[code]
        for key in time_keys:
            moment = packed.get(key)
            if moment is not None:
                cells[key] = _local_time(moment, zone)
        return [session.id, *map(cells.get, keys), *[getattr(session, name) for name in service]]

    return row


def _platform_order(question: Question) -> tuple[int, str]:
    code = question.platform_code
    return (int(code), "") if code.isdigit() else (10**6, code)


def _local_time(recorded: str, zone: ZoneInfo) -> Cell:
    """The recorded date and time (7(18)) in the ministry's zone, without the offset."""
    try:
        moment = datetime.fromisoformat(recorded)
    except ValueError:
        return recorded
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).replace(tzinfo=None)


def export_columns(
    q: Questionnaire, *, labels: bool = False, with_contacts: bool = False, zone: ZoneInfo | None = None
) -> list[ExportColumn]:
    local = zone or ZoneInfo("UTC")
    columns = [ExportColumn("session", "Номер анкеты", "session")]
    for question in sorted(q.questions, key=_platform_order):
        code = question.code
        if question.kind == "auto_datetime":
            title = f"{question.text} (часовой пояс {local.key})"
            columns.append(ExportColumn(question.platform_code, title, "time", code))
        else:
            kind: ColumnKind = "label" if labels else "answer"
            columns.append(ExportColumn(question.platform_code, question.text, kind, code))
        if q.has_followup(question):
            columns.append(
                ExportColumn(
                    f"{question.platform_code}_text",
                    f"Сложности (к вопросу {question.printed_code}): {q.followup.text}",
                    "followup",
                    followup_key(code),
                )
            )
    columns += [
        ExportColumn("channel", "Канал", "service", "channel"),
        ExportColumn("source", "Источник", "service", "source"),
        ExportColumn(
            "source_ref", "Метка источника (ключ QR-кода, письма, рассылки)", "service", "source_ref"
        ),
        ExportColumn("respondent", "Респондент (псевдоним)", "service", "pseudonym"),
    ]
    if with_contacts:
        columns += [
            ExportColumn("external_id", "Идентификатор в мессенджере", "service", "external_id"),
            ExportColumn("name", "Имя в мессенджере", "service", "name"),
        ]
    return columns


def cell_expression(q: Questionnaire, *, labels: bool) -> ColumnElement[str]:
    """What the database puts into `PackedSession.cells` for the columns of `export_columns`."""
    verbatim = [question.code for question in q.questions if question.kind == "auto_datetime"]
    return reports_repo.answer_cell(
        labels=labels, verbatim=verbatim, other_code=OTHER_CODE, other_prefix=f"{OTHER_LABEL}: "
    )


async def write_export(
    sessions: AsyncIterator[PackedSession],
    columns: list[ExportColumn],
    out: Path,
    fmt: Format,
    zone: ZoneInfo | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the header rows and one row per session; returns the number of questionnaires."""
    header: list[Cell] = [c.code for c in columns]
    titles: list[Cell] = [c.title for c in columns]
    row = row_builder(columns, zone or ZoneInfo("UTC"))
    count = 0
    if fmt == "csv":
        # UTF-8 with BOM and «;»: Excel in a Russian locale opens it as is.
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, delimiter=";")
            writer.writerow(csv_row(header))
            writer.writerow(csv_row(titles))
            rows: list[list[Cell]] = []
            async for session in sessions:
                rows.append(csv_row(row(session)))  # the csv module writes None as an empty field
                if len(rows) == CHUNK:
                    writer.writerows(rows)
                    count += len(rows)
                    if progress is not None:
                        progress.update(len(rows))
                    rows.clear()
            writer.writerows(rows)
            count += len(rows)
            if progress is not None:
                progress.update(len(rows))
        return count
    workbook = Workbook(write_only=True)
    sheet: Any = workbook.create_sheet("Анкеты")
    sheet.append(write_only_row(sheet, header))
    sheet.append(write_only_row(sheet, titles))
    async for session in sessions:
        sheet.append(write_only_row(sheet, row(session)))
        count += 1
        if progress is not None and count % CHUNK == 0:
            progress.update(CHUNK)
    if progress is not None:
        progress.update(count % CHUNK)
    workbook.save(out)
    return count


async def export_file(
    storage: Storage,
    q: Questionnaire,
    *,
    period: Period,
    unit: str | None,
    out: Path,
    fmt: Format,
    labels: bool = False,
    with_contacts: bool = False,
    progress: Progress | None = None,
) -> int:
    """Export completed questionnaires of the period (and unit) to `out`; returns their number."""
    columns = export_columns(q, labels=labels, with_contacts=with_contacts, zone=period.zone)
    async with storage.transaction() as conn:
        if progress is not None:  # one count query, only when somebody watches
            progress.set_total(
                await reports_repo.count_completed(conn, period.start, period.end, of_unit(q, unit))
            )

        async def write(path: Path) -> int:
            sessions = reports_repo.iter_completed(
                conn, period.start, period.end, of_unit(q, unit), cell=cell_expression(q, labels=labels)
            )
            return await write_export(sessions, columns, path, fmt, period.zone, progress)

        return await write_atomically(out, write)
