"""CLI command implementations (one coroutine per sub-command)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.app import build_conversation, open_storage, questionnaire_from
from bot.cli.arguments import bounded_text
from bot.cli.common import default_user, dump_json
from bot.config import Settings
from bot.console.channel import CONSOLE_COMMANDS, run_console
from bot.core.conversation import Layout
from storage.db import current_revision
from survey_flow.export import questionnaire_summary


def register(sub: Any) -> None:
    console = sub.add_parser("console", help="пройти опрос в терминале")
    console.add_argument(
        "--user", default=None, type=bounded_text(64), help="имя респондента (для продолжения анкеты)"
    )
    console.set_defaults(handler=cmd_console)

    questionnaire = sub.add_parser("questionnaire", help="показать загруженную анкету")
    questionnaire.add_argument("--json", action="store_true", help="вывести в формате JSON")
    questionnaire.set_defaults(handler=cmd_questionnaire)

    migrate = sub.add_parser("migrate", help="применить миграции базы данных")
    migrate.set_defaults(handler=cmd_migrate)


async def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    questionnaire = questionnaire_from(settings)
    storage = await open_storage(settings)
    try:
        conversation = build_conversation(
            settings, storage, questionnaire, layout=Layout(page_size=1000), commands=CONSOLE_COMMANDS
        )
        return await run_console(conversation, args.user or default_user())
    finally:
        await storage.close()


async def cmd_questionnaire(args: argparse.Namespace, settings: Settings) -> int:
    questionnaire = questionnaire_from(settings)
    summary = questionnaire_summary(questionnaire)
    if args.json:
        print(dump_json(summary))
        return 0
    print(questionnaire.title)
    for question in summary["questions"]:
        note = f"  [условие: {question['condition_text']}]" if question["condition_text"] else ""
        print(f"\n{question['printed_code']}. {question['text']}{note}")
        for option in question["options"]:
            print(f"    {option['printed_code']}. {option['text']}")
    return 0


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings)
    try:
        revision = await current_revision(storage.engine)
        print(f"База данных {storage.display_url}: схема {revision}")
        return 0
    finally:
        await storage.close()
