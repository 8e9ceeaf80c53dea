"""CLI sub-commands of analysts and operators: export, reports, client totals, paper, QR codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import questionnaire_from
from bot.config import Settings
from bot.errors import UsageError
from reports.analysis import write_report
from reports.export import Format, export_file
from reports.options import UNIT, option_text, resolve_option
from reports.period import date_range, quarter_period, quarter_title
from storage.store import Storage
from survey_flow.model import Questionnaire


def register(sub: Any) -> None:
    export = sub.add_parser("export", help="выгрузить заполненные анкеты в CSV или XLSX")
    export.add_argument("--from", dest="date_from", default=None, help="с даты (ГГГГ-ММ-ДД), включительно")
    export.add_argument("--to", dest="date_to", default=None, help="по дату (ГГГГ-ММ-ДД), включительно")
    export.add_argument("--unit", default=None, help="структурное подразделение (код или название)")
    export.add_argument(
        "--format", choices=["csv", "xlsx"], default=None, help="по умолчанию — по расширению --out"
    )
    export.add_argument("--out", type=Path, required=True, help="файл выгрузки")
    export.add_argument("--labels", action="store_true", help="тексты вариантов вместо кодов платформы")
    export.add_argument(
        "--with-contacts",
        action="store_true",
        help="добавить идентификаторы и имена в мессенджерах (только для администратора)",
    )
    export.set_defaults(handler=cmd_export)

    report = sub.add_parser("report", help="квартальный анализ по параметрам пункта 11 (XLSX с диаграммами)")
    report.add_argument("--quarter", required=True, help="квартал, например 2025Q3")
    report.add_argument("--unit", default=None, help="структурное подразделение (код или название)")
    report.add_argument("--out", type=Path, required=True, help="файл отчета .xlsx")
    report.add_argument("--charts-dir", type=Path, default=None, help="сохранить диаграммы PNG еще и в папку")
    report.set_defaults(handler=cmd_report)


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.reports.timezone)


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Storage]:
    storage = await Storage.open(settings.database.url)
    try:
        yield storage
    finally:
        await storage.close()


def unit_code(q: Questionnaire, value: str | None) -> str | None:
    return None if value is None else resolve_option(q, UNIT, value, "--unit")


def output_format(out: Path, given: str | None) -> Format:
    fmt = given or out.suffix.lower().lstrip(".")
    if fmt == "csv":
        return "csv"
    if fmt == "xlsx":
        return "xlsx"
    raise UsageError(f"--format: укажите csv или xlsx (расширение файла {out.name} не подсказывает формат)")


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    q = questionnaire_from(settings)
    period = date_range(args.date_from, args.date_to, zone(settings))
    unit = unit_code(q, args.unit)
    fmt = output_format(args.out, args.format)
    if args.with_contacts:
        print(
            "Внимание: выгрузка содержит идентификаторы респондентов в мессенджерах (персональные данные).",
            file=sys.stderr,
        )
    async with opened(settings) as storage:
        count = await export_file(
            storage,
            q,
            period=period,
            unit=unit,
            out=args.out,
            fmt=fmt,
            labels=args.labels,
            with_contacts=args.with_contacts,
        )
    print(f"Выгружено анкет: {count} → {args.out}")
    return 0


def unit_label(q: Questionnaire, unit: str | None) -> str:
    return "все структурные подразделения" if unit is None else option_text(q, UNIT, unit)


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    q = questionnaire_from(settings)
    period = quarter_period(args.quarter, zone(settings))
    unit = unit_code(q, args.unit)
    if args.out.suffix.lower() != ".xlsx":
        raise UsageError("--out: отчет сохраняется в формате XLSX, укажите файл с расширением .xlsx")
    async with opened(settings) as storage:
        analysis = await write_report(
            storage,
            q,
            period=period,
            unit=unit,
            unit_label=unit_label(q, unit),
            title=quarter_title(args.quarter),
            out=args.out,
            charts_dir=args.charts_dir,
        )
    print(f"Анализ за {quarter_title(args.quarter)}: анкет {analysis.questionnaires} → {args.out}")
    return 0
