"""The mailing's ports: what a channel provides to deliver invitations and staff notices.

The adapters live with their channels (`bot/telegram/mailing.py`, `bot/vk/mailing.py`); this
module imports no messenger library, so the mailing core runs and is tested without one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from storage.mailing import OutboxStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivered:
    status: OutboxStatus
    message_id: str | None = None
    error: str | None = None


@dataclass
class SendStats:
    sent: int = 0
    rate_limited: int = 0  # 429 answers
    retried: int = 0


OnRequest = Callable[[], Awaitable[None]]


class Transport(Protocol):
    """One channel's way to deliver an invitation.

    `identity` names the outbox row (`campaign:<id>:<respondent id>`, `reminder:<id>`): the same
    identity is the same message, which lets channels with an idempotency key (VK) retry safely.
    """

    stats: SendStats

    def survey_link(self, key: str) -> str:
        """The link that opens the survey in this channel, with a prefill key (or none)."""
        ...

    async def send(
        self,
        external_id: str,
        text: str,
        button: tuple[str, str] | None,
        *,
        identity: str = "",
        on_request: OnRequest | None = None,
    ) -> Delivered:
        """`on_request` is awaited once, right before the first request is made (after any wait
        for the rate limit); if it raises, nothing is sent and the exception propagates."""
        ...


class Notifier(Protocol):
    """Staff notices about campaigns (start, progress, end); failures never stop a campaign."""

    async def tell(self, chat: str, text: str) -> int | None: ...

    async def edit(self, chat: str, message_id: int, text: str) -> None: ...


class LogNotifier:
    """Staff notices when no Telegram bot runs here (a VK-only deployment): the log only."""

    async def tell(self, chat: str, text: str) -> int | None:
        log.info("mailing notice for %s (no Telegram bot to send it): %s", chat, text)
        return None

    async def edit(self, chat: str, message_id: int, text: str) -> None:
        return None
