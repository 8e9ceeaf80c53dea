"""`otklik run` entry of the VK channel (bot/cli/run.py lists it in `channel_runners()`), and the
channel wired from its rooms: the long poll feeds events, events hand results to delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from bot.app import ChannelRunner, Services, build_conversation
from bot.config import Settings
from bot.core.clock import utcnow
from bot.core.conversation import Conversation
from bot.core.messages import Message
from bot.runtime.metrics import Metrics
from bot.vk.api import VkClient
from bot.vk.delivery import VkDelivery
from bot.vk.events import CHANNEL, VK_COMMANDS, VkEvents
from bot.vk.longpoll import LongPoll
from bot.vk.mailing import VkTransport
from bot.vk.render import VK_LAYOUT
from bot.vk.staff import VkStaff
from storage.channels import Channel, adopt_processed_updates
from storage.store import Storage

NAME = Channel.VK


class VkChannel(VkEvents):
    """One community's channel: `run` polls until stopped, each batch handled as `VkEvents` does."""

    def __init__(
        self,
        client: VkClient,
        conversation: Conversation,
        storage: Storage,
        group_id: int,
        *,
        wait: int = 25,
        backoff: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        on_handled: Callable[[], None] | None = None,
        staff: VkStaff | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        delivery = VkDelivery(client, storage, group_id, clock=clock)
        super().__init__(conversation, storage, group_id, delivery, clock=clock, staff=staff, metrics=metrics)
        self.client = client
        self.longpoll = LongPoll(client, storage, group_id, wait=wait, backoff=backoff, clock=clock)
        self.on_handled = on_handled  # health reporting: a batch was handled

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; events that arrived while the service was down come first."""
        await self.longpoll.run(stop, self.handle_batch, self.on_handled)

    async def send(self, peer: int, message: Message, identity: str) -> None:
        await self.delivery.send(peer, message, identity)


def enabled(settings: Settings) -> bool:
    return settings.vk.enabled


async def run(services: Services, stop: asyncio.Event) -> None:
    config = services.settings.vk
    assert config.token is not None  # `otklik run` loads settings with require_secrets
    client = VkClient(
        config.token.get_secret_value(),
        api_version=config.api_version,
        api_base_url=config.api_base_url,
        rps=config.rps,
    )
    community = str(config.group_id)  # VK numbers events per community
    conversation = build_conversation(
        services.settings, services.storage, services.questionnaire, layout=VK_LAYOUT, commands=VK_COMMANDS,
        bot_key=community, events=services.metrics,
    )  # fmt: skip
    async with services.storage.transaction() as conn:
        await adopt_processed_updates(conn, CHANNEL, community)
    channel = VkChannel(
        client,
        conversation,
        services.storage,
        config.group_id,
        on_handled=lambda: _handled(services),
        staff=VkStaff(services.settings.staff, services.questionnaire),
        metrics=services.metrics,
    )
    services.health.polling(CHANNEL)
    transport = VkTransport(client, config.group_id)
    try:
        with services.cases.channel(CHANNEL, transport):  # answers to VK respondents' cases
            async with services.mailing.channel(
                services.settings, services.storage, CHANNEL, transport,
                questionnaire=services.questionnaire, metrics=services.metrics,
            ):  # fmt: skip
                await channel.run(stop)
    finally:
        client.close()


def _handled(services: Services) -> None:
    """A long-poll answer was handled: a successful poll, and the channel's latest activity."""
    services.health.handled(CHANNEL)
    services.health.polled(CHANNEL)


VK = ChannelRunner(NAME, enabled, run)
