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

from reports.files import write_atomically
from reports.period import Period
from storage import reports_repo
from storage.reports_repo import CompletedSession, StoredAnswer
from storage.store import Storage
from survey_flow.model import OTHER_CODE, OTHER_LABEL, Question, Questionnaire

Format = Literal["csv", "xlsx"]
Cell = str | int | datetime | None


@dataclass(frozen=True)
class ExportColumn:
    code: str
    title: str
    value: Callable[[CompletedSession], Cell]
    # Set for the answer and difficulty-text columns: `row_values` computes those inline, which
    # is several times faster than a call per cell on 100,000 rows (docs/performance.md).
    answer_of: str | None = None
    followup_of: str | None = None
    labels: bool = False


_CELL, _FOLLOWUP, _OTHER = 0, 1, 2


def row_builder(columns: list[ExportColumn]) -> Callable[[CompletedSession], list[Cell]]:
    """One function computing a whole row; same values as calling each column's `value`."""
    plan = [
        (_CELL, c.answer_of, c.labels, c.value)
        if c.answer_of is not None
        else (_FOLLOWUP, c.followup_of, False, c.value)
        if c.followup_of is not None
        else (_OTHER, "", False, c.value)
        for c in columns
    ]

    def row(
        session: CompletedSession,
        # Bound as locals: this loop runs for every cell of every exported row.
        plan: list[tuple[int, str, bool, Callable[[CompletedSession], Cell]]] = plan,
        other_kind: int = _OTHER,
        followup_kind: int = _FOLLOWUP,
        other_code: str = OTHER_CODE,
        other_label: str = OTHER_LABEL,
    ) -> list[Cell]:
        get = session.answers.get
        values: list[Cell] = []
        append = values.append
        for kind, code, labels, value in plan:
            if kind == other_kind:
                append(value(session))
                continue
            answer = get(code)
            if answer is None:
                append(None)
            elif kind == followup_kind:
                append(answer.followup_text)
            elif answer.option_code == other_code:
                append(f"{other_label}: {answer.value_text}")
            elif labels:
                append(answer.value_text)
            else:
                platform = answer.option_platform_code
                append(int(platform) if platform.isdigit() else platform)
        return values

    return row


def _platform_order(question: Question) -> tuple[int, str]:
    code = question.platform_code
    return (int(code), "") if code.isdigit() else (10**6, code)


def _answer_cell(answer: StoredAnswer | None, labels: bool) -> Cell:
    if answer is None:
        return None
    if answer.option_code == OTHER_CODE:
        return f"{OTHER_LABEL}: {answer.value_text}"
    if labels:
        return answer.value_text
    code = answer.option_platform_code
    return int(code) if code.isdigit() else code


def _local_time(answer: StoredAnswer | None, zone: ZoneInfo) -> Cell:
    """The recorded date and time (7(18)) in the ministry's zone, without the offset."""
    if answer is None:
        return None
    try:
        moment = datetime.fromisoformat(answer.option_code)
    except ValueError:
        return answer.option_code
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).replace(tzinfo=None)


def export_columns(
    q: Questionnaire, *, labels: bool = False, with_contacts: bool = False, zone: ZoneInfo | None = None
) -> list[ExportColumn]:
    local = zone or ZoneInfo("UTC")
    columns = [ExportColumn("session", "Номер анкеты", lambda s: s.id)]
    for question in sorted(q.questions, key=_platform_order):
        code = question.code
        title = question.text

        if question.kind == "auto_datetime":
            title = f"{question.text} (часовой пояс {local.key})"

            def value(s: CompletedSession, code: str = code) -> Cell:
                return _local_time(s.answers.get(code), local)

        else:

            def value(s: CompletedSession, code: str = code) -> Cell:
                return _answer_cell(s.answers.get(code), labels)

        answer_of = None if question.kind == "auto_datetime" else code
        columns.append(ExportColumn(question.platform_code, title, value, answer_of=answer_of, labels=labels))
        if q.has_followup(question):

            def followup(s: CompletedSession, code: str = code) -> Cell:
                answer = s.answers.get(code)
                return answer.followup_text if answer is not None else None

            columns.append(
                ExportColumn(
                    f"{question.platform_code}_text",
                    f"Сложности (к вопросу {question.printed_code}): {q.followup.text}",
                    followup,
                    followup_of=code,
                )
            )
    columns += [
        ExportColumn("channel", "Канал", lambda s: s.channel),
        ExportColumn("source", "Источник", lambda s: s.source),
        ExportColumn(
            "source_ref", "Метка источника (ключ QR-кода, письма, рассылки)", lambda s: s.source_ref
        ),
        ExportColumn("respondent", "Респондент (псевдоним)", lambda s: s.pseudonym),
    ]
    if with_contacts:
        columns += [
            ExportColumn("external_id", "Идентификатор в мессенджере", lambda s: s.external_id),
            ExportColumn("name", "Имя в мессенджере", lambda s: s.name),
        ]
    return columns


async def write_export(
    sessions: AsyncIterator[CompletedSession], columns: list[ExportColumn], out: Path, fmt: Format
) -> int:
    """Write the header rows and one row per session; returns the number of questionnaires."""
    header: list[Cell] = [c.code for c in columns]
    titles: list[Cell] = [c.title for c in columns]
    count = 0
    if fmt == "csv":
        # UTF-8 with BOM and «;»: Excel in a Russian locale opens it as is.
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, delimiter=";")
            writer.writerow(header)
            writer.writerow(titles)
            row = row_builder(columns)
            async for session in sessions:
                writer.writerow(row(session))  # the csv module writes None as an empty field
                count += 1
        return count
    workbook = Workbook(write_only=True)
    sheet: Any = workbook.create_sheet("Анкеты")
    sheet.append(header)
    sheet.append(titles)
    row = row_builder(columns)
    async for session in sessions:
        sheet.append(row(session))
        count += 1
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
) -> int:
    """Export completed questionnaires of the period (and unit) to `out`; returns their number."""
    columns = export_columns(q, labels=labels, with_contacts=with_contacts, zone=period.zone)
    async with storage.transaction() as conn:

        async def write(path: Path) -> int:
            sessions = reports_repo.iter_completed(conn, period.start, period.end, unit)
            return await write_export(sessions, columns, path, fmt)

        return await write_atomically(out, write)
