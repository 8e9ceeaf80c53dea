"""`otklik cases list|show|export`: the ministry's answers to respondents (docs/cases.md).

What is printed and exported is pseudonymous: case numbers, units, times, the respondent's
pseudonym (export only) and the texts; never a messenger id, a name or who on the staff answered.
The export may hold personal data the respondents typed, so its file is private (0600).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import open_storage, questionnaire_from
from bot.cases.desk import CLOSED_TEXT, ERASED, STATUS_TEXT, case_line
from bot.cli.arguments import bounded_int
from bot.cli.output_files import atomic_output
from bot.config import Settings
from bot.core.alerts import alert_card
from bot.errors import UsageError
from reports.errors import ReportError
from reports.options import UNIT, option_text, resolve_option
from storage import cases as cases_repo
from storage import repository as repo
from storage.cases import CaseStatus, Direction

COLUMNS = [
    "номер", "респондент (псевдоним)", "подразделение", "канал", "состояние", "почему закрыто",
    "открыто", "срок", "первый ответ", "закрыто", "переписка",
]  # fmt: skip


def register(sub: Any) -> None:
    cases = sub.add_parser("cases", help="обращения: ответы клиентам, рассказавшим о сложностях")
    actions = cases.add_subparsers(dest="cases_action", required=True, metavar="ДЕЙСТВИЕ")
    listing = actions.add_parser("list", help="обращения в работе (с --all — все): номер, срок, состояние")
    listing.add_argument("--unit", help="только это подразделение (код или название)")
    listing.add_argument("--all", action="store_true", help="и закрытые обращения")
    listing.set_defaults(handler=cmd_list)
    show = actions.add_parser("show", help="обращение: ответы анкеты и переписка")
    show.add_argument("number", type=bounded_int(1), metavar="НОМЕР", help="номер обращения")
    show.set_defaults(handler=cmd_show)
    export = actions.add_parser("export", help="выгрузить обращения (CSV, псевдонимы вместо id)")
    export.add_argument("--out", type=Path, required=True, help="файл CSV")
    export.add_argument("--unit", help="только это подразделение (код или название)")
    export.set_defaults(handler=cmd_export)


def _unit(settings: Settings, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return resolve_option(questionnaire_from(settings), UNIT, value, "--unit")
    except ReportError as exc:
        raise UsageError(str(exc)) from None


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    q = questionnaire_from(settings)
    unit = _unit(settings, args.unit)
    statuses = list(CaseStatus) if args.all else [CaseStatus.OPEN, CaseStatus.ANSWERED]
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            found = await cases_repo.list_cases(conn, unit=unit, statuses=statuses, limit=10_000)
    finally:
        await storage.close()
    if not found:
        print("Обращений нет.")
        return 0
    zone = ZoneInfo(settings.reports.timezone)
    for case in found:
        print(case_line(case, q, zone))
    return 0


async def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    q = questionnaire_from(settings)
    zone = ZoneInfo(settings.reports.timezone)
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            case = await cases_repo.get_case(conn, args.number, unit=None)
            if case is None:
                raise UsageError(f"Обращения № {args.number} нет (список: otklik cases list --all).")
            answers = await repo.load_answers(conn, case.session_id)
            thread = await cases_repo.messages(conn, case.number)
    finally:
        await storage.close()
    print(case_line(case, q, zone))
    print(alert_card(q, case.session_id, answers, case.opened_at))
    for line in _thread_lines(thread, zone):
        print(line)
    return 0


def _thread_lines(thread: list[cases_repo.CaseMessage], zone: ZoneInfo) -> list[str]:
    lines = []
    for message in thread:
        who = "Подразделение" if message.direction == Direction.TO_RESPONDENT else "Клиент"
        when = message.created_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")
        text = message.text if message.text is not None else ERASED
        lines.append(f"{when} {who} [{message.delivery}]: {text}")
    return lines


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    q = questionnaire_from(settings)
    unit = _unit(settings, args.unit)
    zone = ZoneInfo(settings.reports.timezone)
    storage = await open_storage(settings, create=False)
    rows: list[list[str]] = []
    try:
        async with storage.transaction() as conn:
            for case in await cases_repo.list_cases(
                conn, unit=unit, statuses=list(CaseStatus), limit=1_000_000
            ):
                thread = await cases_repo.messages(conn, case.number)
                rows.append(
                    [
                        str(case.number),
                        await cases_repo.pseudonym_of(conn, case.number) or "",
                        option_text(q, UNIT, case.unit),
                        case.channel,
                        STATUS_TEXT[case.status],
                        CLOSED_TEXT[case.closed_by] if case.closed_by else "",
                        case.opened_at.astimezone(zone).isoformat(),
                        case.deadline_at.astimezone(zone).isoformat(),
                        case.first_answer_at.astimezone(zone).isoformat() if case.first_answer_at else "",
                        case.closed_at.astimezone(zone).isoformat() if case.closed_at else "",
                        "\n".join(_thread_lines(thread, zone)),
                    ]
                )
    finally:
        await storage.close()
    from reports.safe_cells import csv_row  # imported here: it pulls in openpyxl

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(csv_row(list(row)))  # the texts are typed by people: never a formula
    with atomic_output(args.out, "--out") as partial:
        partial.write_text(buffer.getvalue(), encoding="utf-8")
    print(f"Обращений: {len(rows)}; файл {args.out}", file=sys.stderr)
    return 0
