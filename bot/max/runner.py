"""`otklik run` entry of the MAX channel (bot/cli/run.py lists it in `channel_runners()`), and the
channel wired from its rooms: the long poll feeds updates, events hand results to delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.app import ChannelRunner, Services, build_conversation
from bot.config import Settings
from bot.core.clock import utcnow
from bot.core.conversation import Conversation
from bot.core.messages import Message
from bot.core.retry import Backoff, BackoffConfig, sleep_until
from bot.errors import UsageError
from bot.max.api import MaxClient, MaxError
from bot.max.delivery import MaxDelivery
from bot.max.events import CHANNEL, MAX_COMMANDS, MaxEvents
from bot.max.longpoll import LongPoll
from bot.max.mailing import MaxTransport
from bot.max.render import MAX_LAYOUT
from bot.runtime.metrics import Metrics
from storage.channels import Channel, adopt_processed_updates
from storage.store import Storage

log = logging.getLogger(__name__)

NAME = Channel.MAX
START_BACKOFF = BackoffConfig(first=1.0, limit=60.0)


class MaxChannel(MaxEvents):
    """One bot's channel: `run` polls until stopped, each batch handled as `MaxEvents` does."""

    def __init__(
        self,
        client: MaxClient,
        conversation: Conversation,
        storage: Storage,
        bot_id: int,
        *,
        hold: int = 30,
        backoff: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        on_handled: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        delivery = MaxDelivery(client, storage, clock=clock)
        super().__init__(conversation, storage, bot_id, delivery, clock=clock, metrics=metrics)
        self.client = client
        self.longpoll = LongPoll(client, storage, bot_id, hold=hold, backoff=backoff, clock=clock)
        self.on_handled = on_handled  # health reporting: a batch was handled

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; updates that arrived while the service was down come first."""
        await self.longpoll.run(stop, self.handle_batch, self.on_handled)

    async def send(self, user_id: int, message: Message) -> None:
        """One message to a MAX user (for other services that write to MAX users)."""
        await self.delivery.send(user_id, message)


async def identify(client: MaxClient, stop: asyncio.Event) -> tuple[int, str] | None:
    """The bot's id and username from GET /me (None if stopped first); an unreachable MAX is
    waited for, a refused token is a clear error, not a traceback."""
    waits = Backoff(START_BACKOFF)
    while True:
        try:
            me = await client.me()
            break
        except MaxError as exc:
            if not exc.transient:
                raise _refused(exc) from None
            log.warning("MAX: %s; retrying", exc)
            if await sleep_until(stop, waits.next_delay()):
                return None
    bot_id = me.get("user_id")
    if not isinstance(bot_id, int) or isinstance(bot_id, bool) or bot_id <= 0:
        raise UsageError("MAX: ответ GET /me без user_id бота; проверьте [max].api_base_url.")
    username = me.get("username")
    return bot_id, username if isinstance(username, str) else ""


def _refused(exc: MaxError) -> UsageError:
    return UsageError(
        f"MAX: сервер отказал в доступе боту (HTTP {exc.status}, {exc.code}: {exc.message}). "
        "Проверьте токен бота в OTKLIK_MAX__TOKEN (его выдает @MasterBot) и адрес [max].api_base_url."
    )


def enabled(settings: Settings) -> bool:
    return settings.max.enabled


async def run(services: Services, stop: asyncio.Event) -> None:
    config = services.settings.max
    assert config.token is not None  # `otklik run` loads settings with require_secrets
    client = MaxClient(config.token.get_secret_value(), api_base_url=config.api_base_url, rps=config.rps)
    try:
        found = await identify(client, stop)
        if found is None:
            return
        bot_id, found_name = found
        username = config.bot_username or found_name
        bot = str(bot_id)  # processed update ids are kept per bot
        conversation = build_conversation(
            services.settings, services.storage, services.questionnaire, layout=MAX_LAYOUT,
            commands=MAX_COMMANDS, bot_key=bot, events=services.metrics,
        )  # fmt: skip
        async with services.storage.transaction() as conn:
            await adopt_processed_updates(conn, CHANNEL, bot)
        channel = MaxChannel(
            client, conversation, services.storage, bot_id,
            on_handled=lambda: _handled(services), metrics=services.metrics,
        )  # fmt: skip
        services.health.polling(CHANNEL)
        transport = MaxTransport(client, username)
        with services.cases.channel(CHANNEL, transport):  # answers to MAX respondents' cases
            async with services.mailing.channel(
                services.settings, services.storage, CHANNEL, transport,
                questionnaire=services.questionnaire, metrics=services.metrics,
            ):  # fmt: skip
                await channel.run(stop)
    finally:
        await client.close()


def _handled(services: Services) -> None:
    """A long-poll answer was handled: a successful poll, and the channel's latest activity."""
    services.health.handled(CHANNEL)
    services.health.polled(CHANNEL)


MAX = ChannelRunner(NAME, enabled, run)
