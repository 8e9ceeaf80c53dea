"""CLI sub-commands of analysts and operators: export, reports, client totals, paper, QR codes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.app import open_storage, questionnaire_from
from bot.cli.arguments import bounded_int, bounded_text, date_arg, quarter_arg
from bot.cli.common import default_user
from bot.cli.output_files import reason, writable_folder, write_errors_reported
from bot.cli.progress import TerminalProgress
from bot.config import Settings
from bot.core.clock import utcnow
from bot.errors import UsageError
from reports.options import MEASURE, POINT, UNIT, option_text, resolve_option
from reports.period import RANGE_TEXT, date_range, quarter_key, quarter_period, quarter_title
from storage import reports_repo
from storage.schema import DB_INT_MAX
from storage.store import Storage
from survey_flow.engine import prefill_answers
from survey_flow.model import Questionnaire

# The reports modules pull in openpyxl, matplotlib, Pillow and qrcode: they are imported by the
# handlers that need them, so `otklik run` and the other commands start without them.
if TYPE_CHECKING:
    from reports.export import Format
    from reports.qr import Link


QUARTER_HELP = "квартал, например 2025Q3 (от 2000Q1 до 2100Q4)"


def register(sub: Any) -> None:
    export = sub.add_parser("export", help="выгрузить заполненные анкеты в CSV или XLSX")
    export.add_argument(
        "--from",
        dest="date_from",
        default=None,
        type=date_arg,
        help=f"с даты (ГГГГ-ММ-ДД), включительно; {RANGE_TEXT}",
    )
    export.add_argument(
        "--to",
        dest="date_to",
        default=None,
        type=date_arg,
        help=f"по дату (ГГГГ-ММ-ДД), включительно; {RANGE_TEXT}",
    )
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
    report.add_argument("--quarter", required=True, type=quarter_arg, help=QUARTER_HELP)
    report.add_argument("--unit", default=None, help="структурное подразделение (код или название)")
    report.add_argument("--out", type=Path, required=True, help="файл отчета .xlsx")
    report.add_argument("--charts-dir", type=Path, default=None, help="сохранить диаграммы PNG еще и в папку")
    report.set_defaults(handler=cmd_report)

    appendix2 = sub.add_parser("appendix2", help="отчет по форме Приложения № 2 (подразделение, квартал)")
    appendix2.add_argument("--quarter", required=True, type=quarter_arg, help=QUARTER_HELP)
    appendix2.add_argument("--unit", default=None, help="структурное подразделение (код или название)")
    appendix2.add_argument(
        "--all", action="store_true", help="все подразделения: лист каждого и сводный лист в одном файле"
    )
    appendix2.add_argument("--out", type=Path, required=True, help="файл отчета .xlsx")
    appendix2.set_defaults(handler=cmd_appendix2)

    clients = sub.add_parser(
        "clients", help="число клиентов, взаимодействовавших с министерством (Приложение № 2)"
    )
    clients_sub = clients.add_subparsers(dest="clients_command", required=True, metavar="ДЕЙСТВИЕ")
    clients_set = clients_sub.add_parser("set", help="записать число клиентов за квартал")
    clients_set.add_argument("--quarter", required=True, type=quarter_arg, help=QUARTER_HELP)
    clients_set.add_argument("--unit", required=True, help="структурное подразделение (код или название)")
    clients_set.add_argument("--group", required=True, help="группа процессов (название или код точки)")
    clients_set.add_argument("--channel", required=True, help="online (онлайн) или offline (оффлайн)")
    clients_set.add_argument(
        "total", type=bounded_int(0), metavar="ЧИСЛО", help=f"число клиентов, человек (0–{DB_INT_MAX})"
    )
    clients_set.add_argument(
        "--by", default=None, type=bounded_text(64), help="кто вносит (по умолчанию — пользователь системы)"
    )
    clients_set.set_defaults(handler=cmd_clients_set)
    clients_show = clients_sub.add_parser("show", help="показать внесенные числа клиентов")
    clients_show.add_argument("--quarter", required=True, type=quarter_arg, help=QUARTER_HELP)
    clients_show.add_argument("--unit", required=True, help="структурное подразделение (код или название)")
    clients_show.set_defaults(handler=cmd_clients_show)

    paper = sub.add_parser("paper", help="ввести бумажные анкеты в терминале (коды платформы)")
    paper.add_argument("--unit", default=None, help="подразделение для всех вводимых анкет (не спрашивать)")
    paper.add_argument("--point", default=None, help="точка взаимодействия для всех анкет (не спрашивать)")
    paper.add_argument("--measure", default=None, help="мера поддержки для всех анкет (не спрашивать)")
    paper.add_argument("--date", default=None, help="дата всех вводимых анкет, 7(18) (ДД.ММ.ГГГГ [ЧЧ:ММ])")
    paper.set_defaults(handler=cmd_paper)

    import_paper = sub.add_parser("import-paper", help="импортировать бумажные анкеты из CSV или XLSX")
    import_paper.add_argument("file", type=Path, help="таблица: первая строка — коды платформы (11, 12, …)")
    import_paper.add_argument(
        "--date", default=None, help="дата анкет, у которых не заполнен столбец 18 (ДД.ММ.ГГГГ [ЧЧ:ММ])"
    )
    import_paper.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="сохранить и анкеты, совпадающие (ответы и дата) с уже сохраненными",
    )
    import_paper.set_defaults(handler=cmd_import_paper)

    form = sub.add_parser("paper-form", help="бумажная анкета для печати (PDF A4) с QR-кодом на чат-бот")
    form.add_argument("--out", type=Path, required=True, help="файл PDF")
    form.add_argument("--unit", default=None, help="структурное подразделение (напечатать отмеченным)")
    form.add_argument("--point", default=None, help="точка взаимодействия (напечатать отмеченной)")
    form.add_argument("--measure", default=None, help="мера поддержки (напечатать отмеченной)")
    form.add_argument(
        "--label",
        default=None,
        type=bounded_text(200),
        help="подпись ключа QR-кода (для отчетов по источникам)",
    )
    form.set_defaults(handler=cmd_paper_form)

    qr = sub.add_parser("qr", help="QR-коды (PNG, SVG) и плакат со ссылками на опрос для места приема")
    qr.add_argument("--point", required=True, help="точка взаимодействия (код или название)")
    qr.add_argument("--unit", required=True, help="структурное подразделение (код или название)")
    qr.add_argument("--measure", default=None, help="мера поддержки (код или название)")
    qr.add_argument(
        "--label", default=None, type=bounded_text(200), help="подпись ключа (для отчетов по источникам)"
    )
    qr.add_argument("--out", type=Path, required=True, help="папка для файлов")
    qr.set_defaults(handler=cmd_qr)

    letter = sub.add_parser("letter-footer", help="текст отметки об оценке для писем (пункт 9) со ссылкой")
    letter.add_argument(
        "--bot", action="store_true", help="после отметки добавить ссылки на чат-боты с ключом предзаполнения"
    )
    letter.add_argument("--unit", default=None, help="с --bot: структурное подразделение (код или название)")
    letter.add_argument("--point", default=None, help="точка взаимодействия (код или название)")
    letter.add_argument("--measure", default=None, help="мера поддержки (код или название)")
    letter.add_argument(
        "--label", default=None, type=bounded_text(200), help="подпись ключа, например номер письма"
    )
    letter.set_defaults(handler=cmd_letter_footer)


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.reports.timezone)


@asynccontextmanager
async def opened(settings: Settings, *, create: bool = False) -> AsyncIterator[Storage]:
    """The database; `create` only for commands that store answers (paper forms), as `run` and
    `console` do. Any other command on a mistyped path is an error, not a new empty database."""
    storage = await open_storage(settings, create=create)
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
    from reports.export import export_file

    q = questionnaire_from(settings)
    period = date_range(args.date_from, args.date_to, zone(settings))
    unit = unit_code(q, args.unit)
    fmt = output_format(args.out, args.format)
    if args.with_contacts:
        print(
            "Внимание: выгрузка содержит идентификаторы респондентов в мессенджерах (персональные данные).",
            file=sys.stderr,
        )
    with write_errors_reported(args.out), TerminalProgress("Выгрузка", " анкет") as bar:
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
                progress=bar if bar.shown else None,
            )
    print(f"Выгружено анкет: {count} → {args.out}")
    return 0


def unit_label(q: Questionnaire, unit: str | None) -> str:
    return "все структурные подразделения" if unit is None else option_text(q, UNIT, unit)


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from reports.analysis import write_report
    from reports.appendix2 import process_groups

    q = questionnaire_from(settings)
    period = quarter_period(args.quarter, zone(settings))
    unit = unit_code(q, args.unit)
    groups = process_groups(q, settings.reports.group_pairs())
    if args.out.suffix.lower() != ".xlsx":
        raise UsageError("--out: отчет сохраняется в формате XLSX, укажите файл с расширением .xlsx")
    if args.charts_dir is not None:
        writable_folder(args.charts_dir, "--charts-dir")
    with write_errors_reported(args.out):
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
                groups=groups,
                quarter=quarter_key(args.quarter),
            )
    print(f"Анализ за {quarter_title(args.quarter)}: анкет {analysis.questionnaires} → {args.out}")
    return 0


def required_unit(q: Questionnaire, value: str) -> str:
    return resolve_option(q, UNIT, value, "--unit")


async def cmd_appendix2(args: argparse.Namespace, settings: Settings) -> int:
    from reports.appendix2 import process_groups, share_warnings, write_appendix2, write_appendix2_all

    q = questionnaire_from(settings)
    quarter = quarter_key(args.quarter)
    period = quarter_period(quarter, zone(settings))
    if args.all == (args.unit is not None):
        raise UsageError("Укажите одно из двух: --unit ПОДРАЗДЕЛЕНИЕ или --all (все подразделения)")
    unit = None if args.all else required_unit(q, args.unit)
    groups = process_groups(q, settings.reports.group_pairs())
    if args.out.suffix.lower() != ".xlsx":
        raise UsageError("--out: отчет сохраняется в формате XLSX, укажите файл с расширением .xlsx")
    with write_errors_reported(args.out):
        async with opened(settings) as storage:
            if unit is None:
                done = await write_appendix2_all(
                    storage, q, groups=groups, quarter=quarter, period=period, out=args.out
                )
                rows = done.summary
                lines = [
                    line
                    for label, unit_rows in done.by_unit.items()
                    for line in share_warnings(unit_rows, label)
                ]
                if done.without_unit:
                    lines.append(
                        f"Внимание: анкет без ответа на вопрос о подразделении: {done.without_unit} — "
                        "они не вошли ни в один лист"
                    )
                print(
                    f"Приложение № 2 за {quarter_title(quarter)}: подразделений {len(done.by_unit)} "
                    f"и сводный лист → {args.out}"
                )
            else:
                rows = await write_appendix2(
                    storage,
                    q,
                    groups=groups,
                    quarter=quarter,
                    period=period,
                    unit=unit,
                    unit_label=unit_label(q, unit),
                    out=args.out,
                )
                lines = share_warnings(rows)
                print(f"Приложение № 2 за {quarter_title(quarter)}: строк {len(rows)} → {args.out}")
    for line in lines:
        print(line, file=sys.stderr)
    missing = sum(1 for row in rows if row.total is None and row.channel != reports_repo.UNSPECIFIED)
    if missing:
        print(
            f"Не внесено число клиентов в {missing} строках (доля не рассчитана): otklik clients set ...",
            file=sys.stderr,
        )
    return 0


async def cmd_clients_set(args: argparse.Namespace, settings: Settings) -> int:
    from reports.appendix2 import CHANNELS, process_groups, resolve_channel, resolve_group

    q = questionnaire_from(settings)
    quarter = quarter_key(args.quarter)
    unit = required_unit(q, args.unit)
    group = resolve_group(process_groups(q, settings.reports.group_pairs()), args.group)
    channel = resolve_channel(args.channel)
    async with opened(settings) as storage, storage.transaction() as conn:
        await reports_repo.set_client_total(
            conn,
            quarter=quarter,
            unit=unit,
            process_group=group,
            channel=channel,
            total=args.total,
            now=utcnow(),
            by=args.by or default_user(),
        )
    print(f"{quarter}, {unit_label(q, unit)}, «{group}», {dict(CHANNELS)[channel]}: {args.total} чел.")
    return 0


async def cmd_clients_show(args: argparse.Namespace, settings: Settings) -> int:
    from reports.appendix2 import CHANNELS

    q = questionnaire_from(settings)
    quarter = quarter_key(args.quarter)
    unit = required_unit(q, args.unit)
    async with opened(settings) as storage, storage.transaction() as conn:
        totals = await reports_repo.client_totals_for(conn, quarter, unit)
    if not totals:
        print(f"За {quarter} по подразделению «{unit_label(q, unit)}» ничего не внесено.")
        return 0
    for (group, channel), total in sorted(totals.items()):
        print(f"{group}\t{dict(CHANNELS)[channel]}\t{total}")
    return 0


def form_date(value: str | None, settings: Settings) -> datetime | None:
    """`--date` of a stack of paper forms, checked like a date written on a form."""
    from reports.paper import parse_form_date

    if value is None:
        return None
    found = parse_form_date(value, zone(settings), utcnow())
    if isinstance(found, str):
        raise UsageError(f"--date: {found}")
    return found


async def cmd_paper(args: argparse.Namespace, settings: Settings) -> int:
    from reports.paper import run_paper

    q = questionnaire_from(settings)
    filled_at = form_date(args.date, settings)
    values: dict[str, str] = {}
    for role, flag, value in (
        (UNIT, "--unit", args.unit),
        (POINT, "--point", args.point),
        (MEASURE, "--measure", args.measure),
    ):
        if value is not None:
            values[q.by_role(role).code] = resolve_option(q, role, value, flag)
    preset, _problems = prefill_answers(q, values)  # options are resolved above: no problems
    if preset:
        print("Для всех анкет: " + describe(q, values))
    async with opened(settings, create=True) as storage:
        await run_paper(
            storage,
            q,
            zone(settings),
            read_line=sys.stdin.readline,
            out=sys.stdout,
            now=utcnow,
            preset=preset,
            filled_at=filled_at,
        )
    return 0


async def cmd_import_paper(args: argparse.Namespace, settings: Settings) -> int:
    from reports.paper import import_paper

    q = questionnaire_from(settings)
    if not args.file.is_file():
        raise UsageError(f"Файл {args.file} не найден")
    filled_at = form_date(args.date, settings)
    async with opened(settings, create=True) as storage:
        with TerminalProgress("Импорт", " анкет") as bar:
            count = await import_paper(
                storage,
                q,
                args.file,
                zone(settings),
                utcnow(),
                filled_at=filled_at,
                allow_duplicates=args.allow_duplicates,
                progress=bar if bar.shown else None,
            )
    print(f"Импортировано бумажных анкет: {count}")
    return 0


def prefill_values(q: Questionnaire, args: argparse.Namespace) -> dict[str, str]:
    """Question code -> option code of the answers the links fill in."""
    values = {q.by_role(UNIT).code: required_unit(q, args.unit)}
    if args.point is not None:
        values[q.by_role(POINT).code] = resolve_option(q, POINT, args.point, "--point")
    if args.measure is not None:
        values[q.by_role(MEASURE).code] = resolve_option(q, MEASURE, args.measure, "--measure")
    return values


def describe(q: Questionnaire, values: dict[str, str]) -> str:
    """The prefilled answers (question code -> option code) as the form's texts."""
    codes = ((role, q.by_role(role).code) for role in (POINT, UNIT, MEASURE))
    return " / ".join(option_text(q, role, values[code]) for role, code in codes if code in values)


def max_username(settings: Settings) -> str:
    """The MAX bot's nick for links: only while the MAX channel is enabled."""
    return settings.max.bot_username if settings.max.enabled else ""


def survey_links(settings: Settings, key: str) -> list[Link]:
    from reports.qr import links_for

    return links_for(
        key, bot_username=settings.telegram.bot_username, vk_group_id=settings.vk.group_id,
        max_username=max_username(settings),
    )  # fmt: skip


async def cmd_qr(args: argparse.Namespace, settings: Settings) -> int:
    from reports.qr import create_key, write_qr_files

    q = questionnaire_from(settings)
    values = prefill_values(q, args)
    subtitle = describe(q, values)
    survey_links(settings, "-")  # no bot configured: fail before creating a key
    async with opened(settings) as storage:
        writable_folder(args.out, "--out")  # after the database is found: a typo creates nothing
        key = await create_key(storage, q, values, "qr", args.label or f"QR: {subtitle}", utcnow())
    links = survey_links(settings, key)
    try:
        files = await asyncio.to_thread(write_qr_files, args.out, links, subtitle)
    except OSError as exc:
        raise UsageError(f"--out: не удалось записать файлы в {args.out}: {reason(exc)}") from None
    print(f"Ключ {key}: {subtitle}")
    for link in links:
        print(f"  {link.title}: {link.url}")
    for path in files:
        print(f"  {path}")
    return 0


async def cmd_letter_footer(args: argparse.Namespace, settings: Settings) -> int:
    from reports.letter import letter_footer

    link = settings.letter.link
    if not args.bot:
        given = [flag for flag, value in (("--unit", args.unit), ("--point", args.point),
                 ("--measure", args.measure), ("--label", args.label)) if value is not None]  # fmt: skip
        if given:
            raise UsageError(
                f"{', '.join(given)}: задаются только вместе с --bot (ссылки на чат-боты с ключом); "
                "без --bot печатается отметка пункта 9 со ссылкой из [letter] link"
            )
        print(letter_footer(link))
        return 0
    from reports.qr import create_key

    if args.unit is None:
        raise UsageError("--bot: укажите --unit — подразделение, для которого создается ключ предзаполнения")
    q = questionnaire_from(settings)
    values = prefill_values(q, args)
    survey_links(settings, "-")
    async with opened(settings) as storage:
        key = await create_key(
            storage, q, values, "letter", args.label or f"Письмо: {describe(q, values)}", utcnow()
        )
    print(letter_footer(link, survey_links(settings, key)))
    return 0


def configured_links(settings: Settings, key: str) -> list[Link]:
    """Links to the configured chat bots (none configured: an empty list)."""
    from reports.errors import ReportError
    from reports.qr import links_for

    try:
        return links_for(
        key, bot_username=settings.telegram.bot_username, vk_group_id=settings.vk.group_id,
        max_username=max_username(settings),
    )  # fmt: skip
    except ReportError:
        return []


async def cmd_paper_form(args: argparse.Namespace, settings: Settings) -> int:
    from reports.files import write_atomically
    from reports.paper_form import Preset, build_form, plain_links
    from reports.qr import create_key

    q = questionnaire_from(settings)
    if args.out.suffix.lower() != ".pdf":
        raise UsageError("--out: анкета сохраняется в формате PDF, укажите файл с расширением .pdf")
    values: dict[str, str] = {}
    for role, flag, value in (
        (POINT, "--point", args.point),
        (UNIT, "--unit", args.unit),
        (MEASURE, "--measure", args.measure),
    ):
        if value is not None:
            values[q.by_role(role).code] = resolve_option(q, role, value, flag)
    subtitle = describe(q, values)
    links = plain_links(settings.telegram.bot_username, settings.vk.group_id, max_username(settings))
    if links and values:
        async with opened(settings) as storage:
            key = await create_key(
                storage, q, values, "qr", args.label or f"Бумажная анкета: {subtitle}", utcnow()
            )
        links = configured_links(settings, key)
        print(f"Ключ {key}: {subtitle}")
    if not links:
        print(
            "QR-код не напечатан: не заданы ни [telegram].bot_username, ни [vk].group_id, ни [max].bot_username",
            file=sys.stderr,
        )
    data = build_form(q, links, [Preset(code, option) for code, option in values.items()], subtitle)

    async def save(path: Path) -> None:
        await asyncio.to_thread(path.write_bytes, data)

    try:
        await write_atomically(args.out, save)
    except OSError as exc:
        raise UsageError(f"--out: не удалось записать {args.out}: {exc.strerror or exc}") from None
    for link in links:
        print(f"  {link.title}: {link.url}")
    print(f"Бумажная анкета (A4, PDF) → {args.out}")
    return 0
