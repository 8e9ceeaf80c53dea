"""`otklik run` entry of the VK channel (bot/run.py lists it in `channel_runners()`)."""

from __future__ import annotations

import asyncio

from bot.app import build_conversation
from bot.config import Settings
from bot.run import Services
from bot.vk.api import VkClient
from bot.vk.channel import CHANNEL, VK_COMMANDS, VkChannel
from bot.vk.mailing import VkTransport
from bot.vk.render import VK_LAYOUT
from bot.vk.staff import VkStaff
from storage.channels import adopt_processed_updates

NAME = "vk"


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
        staff=VkStaff(services.settings.staff),
        metrics=services.metrics,
    )
    services.health.polling(CHANNEL)
    try:
        async with services.mailing.channel(
            services.settings, services.storage, CHANNEL, VkTransport(client, config.group_id),
            metrics=services.metrics,
        ):  # fmt: skip
            await channel.run(stop)
    finally:
        client.close()


def _handled(services: Services) -> None:
    """A long-poll answer was handled: a successful poll, and the channel's latest activity."""
    services.health.handled(CHANNEL)
    services.health.polled(CHANNEL)
