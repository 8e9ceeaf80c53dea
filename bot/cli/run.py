"""`otklik run`: every enabled channel in one asyncio process, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from bot.app import ChannelRunner, Services, open_storage, questionnaire_from
from bot.config import Settings
from bot.errors import UsageError
from bot.runtime import logs, redact
from bot.runtime.health import health_app
from bot.runtime.http import start_server
from bot.runtime.single_process import sqlite_lock
from survey_flow.model import Questionnaire

log = logging.getLogger(__name__)


def channel_runners() -> list[ChannelRunner]:
    """The channels `otklik run` knows; each module adds its own entry."""
    # Imported here: every `otklik` command imports this module to build its argument parser, and
    # the channels import their messenger libraries.
    from bot.max.runner import MAX
    from bot.telegram.runner import TELEGRAM
    from bot.vk.runner import VK

    return [TELEGRAM, VK, MAX]


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="запустить включенные каналы (Telegram, ВКонтакте, MAX)")
    run.set_defaults(handler=cmd_run, needs_secrets=True)  # the only command that talks to messengers


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger().setLevel(logging.INFO)
    # aiogram logs every update at INFO ("Update id=… is handled"); ours log what matters.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logs.quiet_chatty_loggers()
    redact.install(settings)
    runners = [r for r in channel_runners() if r.enabled(settings)]
    if not runners:
        raise UsageError(
            "Ни один канал не включен. Включите [telegram], [vk] или [max] в config.toml (enabled = true) "
            "или запустите опрос в терминале: otklik console"
        )
    questionnaire = questionnaire_from(settings)
    lock = sqlite_lock(settings.database.url)
    if lock is not None:
        lock.acquire()
    try:
        return await _run(settings, runners, questionnaire)
    finally:
        if lock is not None:
            lock.release()


async def _run(settings: Settings, runners: list[ChannelRunner], questionnaire: Questionnaire) -> int:
    storage = await open_storage(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    services = Services(settings, storage, questionnaire)
    log.info("starting channels: %s; database %s", ", ".join(r.name for r in runners), storage.display_url)
    health_server = None
    try:
        if settings.service.health_listen:
            health_server = await start_server(
                health_app(
                    storage,
                    services.health,
                    poll_stale_seconds=settings.service.health_poll_stale_seconds,
                    mailing=services.mailing.problem,
                    metrics=services.metrics,
                ),
                settings.service.health_listen,
            )
        await asyncio.gather(*(runner.run(services, stop) for runner in runners))
    finally:
        if health_server is not None:
            await health_server.cleanup()
        await storage.close()
    return 0
