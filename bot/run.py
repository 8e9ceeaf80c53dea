"""`otklik run`: every enabled channel in one asyncio process, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot import redact
from bot.app import questionnaire_from
from bot.config import Settings
from bot.errors import UsageError
from storage.store import Storage
from survey_flow.model import Questionnaire

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What every channel gets: passed in, never global."""

    settings: Settings
    storage: Storage
    questionnaire: Questionnaire


@dataclass(frozen=True)
class ChannelRunner:
    name: str
    enabled: Callable[[Settings], bool]
    run: Callable[[Services, asyncio.Event], Awaitable[None]]


def channel_runners() -> list[ChannelRunner]:
    """The channels `otklik run` knows; each module adds its own entry."""
    from bot.telegram.runner import TELEGRAM

    return [TELEGRAM]


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="запустить включенные каналы (Telegram, ВКонтакте)")
    run.set_defaults(handler=cmd_run)


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger().setLevel(logging.INFO)
    redact.install(settings)
    runners = [r for r in channel_runners() if r.enabled(settings)]
    if not runners:
        raise UsageError(
            "Ни один канал не включен. Включите [telegram] или [vk] в config.toml (enabled = true) "
            "или запустите опрос в терминале: otklik console"
        )
    questionnaire = questionnaire_from(settings)
    storage = await Storage.open(settings.database.url, schema=settings.database.pg_schema)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    services = Services(settings, storage, questionnaire)
    log.info("starting channels: %s; database %s", ", ".join(r.name for r in runners), storage.display_url)
    try:
        await asyncio.gather(*(runner.run(services, stop) for runner in runners))
    finally:
        await storage.close()
    return 0
