"""The `otklik` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.cli import admin, cases, dead_letters, mailing, reports, restore, run, survey
from bot.cli.arguments import CliParser
from bot.config import ConfigError, Settings, database_url, load_settings
from bot.errors import UsageError
from bot.runtime import logs, redact
from reports.errors import ReportError
from storage.db import DatabaseUnavailable
from survey_flow.loader import QuestionnaireError

log = logging.getLogger("otklik")


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="otklik", description="Отклик: опросы удовлетворенности в чат-ботах")
    parser.add_argument(
        "--config", type=Path, default=None, help="файл настроек TOML (по умолчанию ./config.toml)"
    )
    parser.add_argument("--database", default=None, help="адрес базы данных вместо [database].url")
    parser.add_argument("-v", "--verbose", action="store_true", help="подробный журнал")
    parser.add_argument(
        "--version", action="version", version=f"otklik {installed_version()}", help="показать версию и выйти"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="КОМАНДА")
    for module in command_modules():
        module.register(sub)
    return parser


def installed_version() -> str:
    """The version of the installed distribution (what pip installed), not a copy in the code."""
    try:
        return metadata.version("otklik")
    except metadata.PackageNotFoundError:
        return "неизвестна (пакет otklik не установлен)"


def command_modules() -> list[Any]:
    """Each module adds its sub-commands with `register(subparsers)` (handler in `set_defaults`)."""
    return [survey, run, admin, restore, reports, mailing, cases, dead_letters]


def load(args: argparse.Namespace) -> Settings:
    overrides = {}
    if args.database:
        try:
            database_url(args.database)
        except ValueError as exc:
            # Named as given: the configuration file is not where this address came from.
            raise UsageError(f"--database: {exc}") from None
        overrides["database"] = {"url": args.database}
    # Only commands that talk to the messengers (`run`) declare `needs_secrets`; the rest work
    # without the bots' tokens, e.g. a cron backup on a host where only the service has them.
    return load_settings(
        args.config,
        explicit=args.config is not None,
        require_secrets=getattr(args, "needs_secrets", False),
        **overrides,
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if not exc.code:
            raise  # -h, --version: printed, a clean exit
        return exc.code if isinstance(exc.code, int) else 2  # reported in one line (CliParser.error)
    # Long-running commands (run) log at INFO themselves; interactive ones stay quiet.
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format=logs.TEXT_FORMAT)
    # Before anything can fail: an error text may quote a token (a proxy echoing /bot<token>/).
    redactor = redact.install()
    try:
        settings = load(args)
        logs.apply(settings.service.log_format)
        redact.install(settings)
        return asyncio.run(dispatch(args, settings))
    except (ConfigError, QuestionnaireError, DatabaseUnavailable, UsageError, ReportError) as exc:
        print(redactor.redact(str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nОстановлено. Все данные сохранены.", file=sys.stderr)
        return 130
    except Exception as exc:
        # A defect or an outage nobody foresaw: one line for the operator, the traceback (redacted
        # by the logging filter) only with -v, and never a secret.
        if args.verbose:
            log.error("unexpected error", exc_info=True)
        reason = redactor.redact(f"{type(exc).__name__}: {exc}").strip().splitlines()
        more = "Подробности — в журнале выше." if args.verbose else "Подробности — с ключом -v."
        print(
            f"Непредвиденная ошибка: {reason[0] if reason else type(exc).__name__}. {more}", file=sys.stderr
        )
        return 1


async def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    code: int = await args.handler(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main())
