"""CLI sub-commands of analysts and operators: export, reports, client totals, paper, QR codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.app import questionnaire_from
from bot.config import Settings
from bot.errors import UsageError
from reports.export import Format, export_file
from reports.options import UNIT, resolve_option
from reports.period import date_range
from storage.store import Storage
from survey_flow.model import Questionnaire

T = TypeVar("T")


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
