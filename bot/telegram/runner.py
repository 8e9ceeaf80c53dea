"""`otklik run` for Telegram: the bot, the dispatcher with its dependencies, polling or webhook."""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramServerError, TelegramUnauthorizedError

from bot.app import ChannelRunner, Services, build_conversation
from bot.cases.desk import CaseDesk, card_buttons
from bot.cases.jobs import CaseJobs
from bot.config import Settings
from bot.core.alerts import AlertWatcher, Buttons
from bot.core.conversation import Commands, Layout
from bot.core.dead_letters import DeadLetters
from bot.core.staff import StaffDirectory
from bot.errors import UsageError
from bot.mailing.transport import Notifier, Transport
from bot.runtime.http import start_server
from bot.runtime.metrics import UpdateOutcome
from bot.telegram.cases import CASES, TelegramStaffChat, cases_router
from bot.telegram.clients_command import CLIENTS
from bot.telegram.delivery import Delivery
from bot.telegram.handlers import survey_press_router, survey_router
from bot.telegram.mailing import MAILING_COMMANDS, mailing_dialog_router, telegram_transport
from bot.telegram.polling import ALLOWED_UPDATES, run_polling
from bot.telegram.processing import UpdateProcessor
from bot.telegram.reports_dialog import EXPORT, REPORT, reports_router
from bot.telegram.retry import TRANSIENT, RetryPolicy, call_with_retry
from bot.telegram.staff import STATS, TelegramCommand, staff_router
from bot.telegram.webhook import webhook_app, webhook_path
from storage.channels import Channel, adopt_processed_updates

log = logging.getLogger(__name__)

LAYOUT = Layout(page_size=8)


def bot_key(bot: Bot) -> str:
    """The bot's id (the numeric prefix of its token): Telegram numbers update ids per bot."""
    return str(bot.id)


def make_bot(settings: Settings) -> Bot:
    token = settings.telegram.token
    assert token is not None  # `otklik run` loads settings with require_secrets
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram.api_server),
        timeout=settings.telegram.request_timeout,
    )
    return Bot(token=token.get_secret_value(), session=session)


def build_dispatcher(
    services: Services,
    bot: Bot,
    *,
    staff_commands: tuple[TelegramCommand, ...] = (STATS, EXPORT, REPORT, CLIENTS, CASES, *MAILING_COMMANDS),
) -> Dispatcher:
    conversation = build_conversation(
        services.settings, services.storage, services.questionnaire, layout=LAYOUT, commands=Commands(),
        bot_key=bot_key(bot), events=services.metrics,
    )  # fmt: skip
    dispatcher = Dispatcher(
        # Conversation state lives in our tables; aiogram's in-memory FSM would only cost time.
        disable_fsm=True,
        conversation=conversation,
        delivery=Delivery(bot, services.storage),
        staff=StaffDirectory(services.settings.staff, Channel.TELEGRAM),
        settings=services.settings,
        questionnaire=services.questionnaire,
        cases=CaseDesk(
            services.storage,
            services.questionnaire,
            services.cases,
            ZoneInfo(services.settings.reports.timezone),
        ),
    )
    # Handlers name it `storage`; Dispatcher's own `storage` argument is aiogram's FSM storage.
    dispatcher["storage"] = services.storage
    dispatcher.include_router(survey_press_router())
    dispatcher.include_router(staff_router(staff_commands))
    dispatcher.include_router(cases_router())  # before the other private-text dialogs: a draft answer
    dispatcher.include_router(reports_router())
    dispatcher.include_router(mailing_dialog_router())  # an admin's replies inside /mailing
    dispatcher.include_router(survey_router())
    return dispatcher


async def run_telegram(services: Services, stop: asyncio.Event) -> None:
    settings = services.settings.telegram
    bot = make_bot(services.settings)
    try:
        try:
            me = await call_with_retry(bot.get_me, RetryPolicy(attempts=5), what="getMe")
        except TelegramUnauthorizedError:
            raise UsageError("Telegram не принял токен бота: проверьте [telegram].token") from None
        except TRANSIENT as exc:
            # The error's own text may quote the request path, /bot<token>/getMe: not shown.
            raise UsageError(
                f"Сервер Bot API {settings.api_server} {_unreachable_reason(exc)}: бот не запущен. "
                "Проверьте [telegram].api_server и сеть."
            ) from None
        log.info("telegram: bot @%s, mode %s", me.username, settings.mode)
        check_username(settings.bot_username, me.username)
        async with services.storage.transaction() as conn:
            await adopt_processed_updates(conn, Channel.TELEGRAM, bot_key(bot))
        metrics = services.metrics
        dead_letters = DeadLetters(
            services.storage, Channel.TELEGRAM, bot_key(bot),
            on_kept=lambda: metrics.update(Channel.TELEGRAM, UpdateOutcome.DEAD_LETTER),
        )  # fmt: skip
        dispatcher = build_dispatcher(services, bot)
        processor = UpdateProcessor(
            dispatcher, bot, on_handled=lambda: services.health.handled(Channel.TELEGRAM), metrics=metrics
        )
        username = me.username or settings.bot_username
        background = [asyncio.create_task(alert_watcher(services, bot).run(stop))]
        if services.settings.cases.enabled:
            background.append(
                asyncio.create_task(
                    case_jobs(services, bot).run(stop, schema=services.settings.database.pg_schema)
                )
            )
        try:
            transport, notifier = telegram_transport(services.settings, bot, username, metrics)
            with services.cases.channel(Channel.TELEGRAM, transport):
                await _serve(services, bot, processor, stop, dead_letters, transport, notifier)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
    finally:
        await bot.session.close()


async def _serve(
    services: Services,
    bot: Bot,
    processor: UpdateProcessor,
    stop: asyncio.Event,
    dead_letters: DeadLetters,
    transport: Transport,
    notifier: Notifier,
) -> None:
    settings = services.settings.telegram
    async with services.mailing.channel(
        services.settings, services.storage, Channel.TELEGRAM, transport, notifier,
        questionnaire=services.questionnaire, metrics=services.metrics,
    ):  # fmt: skip
        if settings.mode == "webhook":
            await _serve_webhook(services, bot, processor, stop, dead_letters)
        else:
            services.health.polling(Channel.TELEGRAM)
            await run_polling(
                bot,
                processor,
                stop,
                dead_letters=dead_letters,
                on_polled=lambda: services.health.polled(Channel.TELEGRAM),
            )


async def _serve_webhook(
    services: Services,
    bot: Bot,
    processor: UpdateProcessor,
    stop: asyncio.Event,
    dead_letters: DeadLetters | None = None,
) -> None:
    settings = services.settings.telegram
    assert settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    app = webhook_app(
        bot,
        processor,
        secret=secret,
        path=webhook_path(settings.webhook_url),
        trusted_proxies=settings.trusted_proxies,
        dead_letters=dead_letters,
    )
    server = await start_server(app, settings.webhook_listen)
    try:
        await call_with_retry(
            lambda: bot.set_webhook(
                settings.webhook_url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            ),
            what="setWebhook",
        )
        log.info("telegram: webhook listening on %s", settings.webhook_listen)
        await stop.wait()
    finally:
        await server.cleanup()


def check_username(configured: str, actual: str | None) -> bool:
    """Warn when `[telegram] bot_username` (used in QR codes, letters and paper forms, which are
    made without asking Telegram) is not the bot the token belongs to. True if they agree."""
    wanted = configured.strip().lstrip("@")
    if not wanted or not actual or wanted.casefold() == actual.casefold():  # usernames ignore case
        return True
    log.warning(
        "telegram: [telegram] bot_username is @%s, but the token belongs to @%s: QR codes, letters "
        "and paper forms made with @%s lead people to another bot; set bot_username = \"%s\"",
        wanted, actual, wanted, actual,
    )  # fmt: skip
    return False


def _unreachable_reason(exc: Exception) -> str:
    if isinstance(exc, ClientDecodeError):
        return "ответил не как Bot API (страница ошибки вместо JSON)"
    if isinstance(exc, TelegramServerError):
        return "отвечает ошибкой сервера"
    return "недоступен (нет соединения или истекло время ожидания)"


def case_jobs(services: Services, bot: Bot) -> CaseJobs:
    settings = services.settings
    return CaseJobs(
        services.storage, services.questionnaire, settings.cases, settings.alerts, TelegramStaffChat(bot),
        ZoneInfo(settings.reports.timezone), poll_seconds=settings.alerts.poll_seconds,
    )  # fmt: skip


def alert_watcher(services: Services, bot: Bot) -> AlertWatcher:
    chat = TelegramStaffChat(bot)

    async def send(chat_id: int, text: str, buttons: Buttons) -> int | None:
        return await chat.post(chat_id, text, buttons=buttons)

    case_buttons = card_buttons if services.settings.cases.enabled else None
    return AlertWatcher(
        services.storage, services.questionnaire, services.settings.alerts, send, case_buttons
    )


TELEGRAM = ChannelRunner(Channel.TELEGRAM, lambda settings: settings.telegram.enabled, run_telegram)
