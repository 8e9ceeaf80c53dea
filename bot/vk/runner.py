"""`otklik run` entry of the VK channel (bot/run.py lists it in `channel_runners()`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.app import build_conversation
from bot.config import Settings
from bot.conversation import Layout
from bot.vk.api import VkClient
from bot.vk.channel import VK_COMMANDS, VkChannel
from bot.vk.render import VK_PAGE_SIZE

if TYPE_CHECKING:
    from bot.run import Services

NAME = "ВКонтакте"


def enabled(settings: Settings) -> bool:
    return settings.vk.enabled


async def run(services: Services, stop: asyncio.Event) -> None:
    config = services.settings.vk
    token = config.token.get_secret_value() if config.token else ""
    client = VkClient(token, api_version=config.api_version, api_base_url=config.api_base_url, rps=config.rps)
    conversation = build_conversation(
        services.settings,
        services.storage,
        services.questionnaire,
        layout=Layout(page_size=VK_PAGE_SIZE),
        commands=VK_COMMANDS,
    )
    channel = VkChannel(client, conversation, services.storage, config.group_id)
    try:
        await channel.run(stop)
    finally:
        client.close()
