"""Invitations through VK, the mailing's transport for this channel.

`messages.send` takes a `random_id`; ours is derived from the outbox row's identity
(`campaign:<id>:<respondent id>`), so the same invitation sent again — a retry after error 6/9/10
or a network failure, or a row resent after a crash — is deduplicated by VK. Errors 901/902 (the
person does not allow messages from the community) mark the respondent unreachable.
"""

from __future__ import annotations

import json

from bot.mailing.transport import Delivered, OnRequest, SendStats
from bot.vk import render as vk_render
from bot.vk.api import UNREACHABLE_CODES, VkClient, VkError
from storage import mailing as store


class VkTransport:
    """Invitations through the community's `messages.send`, sharing the VK channel's client.

    The client spaces calls at `[vk].rps` and retries errors 6/9/10 and network failures itself;
    every attempt carries the same `random_id`, so a retry never delivers a second copy.
    """

    def __init__(self, client: VkClient, group_id: int) -> None:
        self.client = client
        self.group_id = group_id
        self.stats = SendStats()

    def survey_link(self, key: str) -> str:
        base = f"https://vk.me/club{self.group_id}"
        return f"{base}?ref={key}" if key else base

    async def send(
        self,
        external_id: str,
        text: str,
        button: tuple[str, str] | None,
        *,
        identity: str = "",
        on_request: OnRequest | None = None,
    ) -> Delivered:
        if not identity:
            raise ValueError("VK invitations need an identity for their random_id")
        peer = int(external_id)
        keyboard = None
        if button is not None:
            label, url = button
            action = {"type": "open_link", "link": url, "label": vk_render.label(label)}
            keyboard = json.dumps({"inline": True, "buttons": [[{"action": action}]]}, ensure_ascii=False)
        if on_request is not None:
            await on_request()
        try:
            message_id = await self.client.call(
                "messages.send",
                {
                    "peer_id": peer,
                    "message": text,
                    "random_id": vk_render.random_id(peer, identity),
                    "keyboard": keyboard,
                    "dont_parse_links": 1,
                },
            )
        except VkError as exc:
            error = f"VK {exc.code}: {exc.message}"[:300]
            if exc.code in UNREACHABLE_CODES:
                return Delivered(store.UNREACHABLE, error=error)
            if exc.code == -1:  # network failures after all retries: the last one may have arrived
                return Delivered(store.UNKNOWN, error=error)
            return Delivered(store.FAILED, error=error)
        self.stats.sent += 1
        return Delivered(store.SENT, message_id=str(message_id))
