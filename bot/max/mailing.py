"""Invitations through MAX, the mailing's transport for this channel.

MAX's POST /messages takes no idempotency key, so a MAX row caught mid-send by a crash is reported
`unknown` and never sent again (as in Telegram): nobody gets an invitation twice. A user who
stopped or blocked the bot (403 `chat.denied`) is marked unreachable.
"""

from __future__ import annotations

from typing import Any

from bot.mailing.transport import Delivered, OnRequest, SendStats
from bot.max import render
from bot.max.api import NETWORK, MaxBlocked, MaxClient, MaxError
from storage import mailing as store

LINK_BASE = "https://max.ru"


def survey_link(username: str, key: str = "") -> str:
    """`https://max.ru/<bot>?start=<key>`: opens the dialog and hands the key to the bot."""
    base = f"{LINK_BASE}/{username.lstrip('@')}"
    return f"{base}?start={key}" if key else base


class MaxTransport:
    """Invitations through the bot's POST /messages, sharing the MAX channel's client.

    The client spaces calls at `[max].rps` and retries rate limits, server errors and network
    failures itself.
    """

    def __init__(self, client: MaxClient, username: str) -> None:
        self.client = client
        self.username = username
        self.stats = SendStats()

    def survey_link(self, key: str) -> str:
        return survey_link(self.username, key)

    async def send(
        self,
        external_id: str,
        text: str,
        button: tuple[str, str] | None,
        *,
        identity: str = "",
        on_request: OnRequest | None = None,
    ) -> Delivered:
        attachments: list[dict[str, Any]] = []
        if button is not None:
            label, url = button
            link = {"type": "link", "text": render.label(label), "url": url}
            attachments.append({"type": "inline_keyboard", "payload": {"buttons": [[link]]}})
        if on_request is not None:
            await on_request()
        # An invitation may run up to 4096 characters (Telegram's and VK's limit) and MAX takes
        # 4000: a longer one goes in parts, the button under the last.
        parts = render.split_text(text)
        try:
            for number, part in enumerate(parts):
                last = number == len(parts) - 1
                sent = await self.client.send_message(
                    user_id=int(external_id), text=part, attachments=attachments if last else None
                )
        except MaxBlocked as exc:
            return Delivered(store.UNREACHABLE, error=_error(exc))
        except MaxError as exc:
            if exc.status == NETWORK or exc.status >= 500:  # the last attempt may have arrived
                return Delivered(store.UNKNOWN, error=_error(exc))
            if exc.status == 429:
                self.stats.rate_limited += 1
            return Delivered(store.FAILED, error=_error(exc))
        self.stats.sent += 1
        return Delivered(store.SENT, message_id=sent.mid)


def _error(exc: MaxError) -> str:
    return f"MAX {exc.status} [{exc.code}]: {exc.message}"[:300]
