"""Sending one invitation through a channel and classifying the answer.

Telegram has no idempotency key, so a request whose fate is unknown (a timeout, a dropped
connection after the request left) is reported as `unknown` and never repeated; only answers
that prove the message was not accepted (429, 5xx, a connection that was never made) are retried.

VK: TODO — the VK channel is being built on its own branch. Its `messages.send` takes a
`random_id`, which makes retries within VK's window safe; a `VkTransport` with the same
`send` signature plugs in here (error 901 = the person forbade messages -> unreachable).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.mailing.limiter import RateLimiter
from storage import mailing as store

log = logging.getLogger(__name__)

# aiohttp errors raised before anything was sent: retrying cannot duplicate a message.
NOT_SENT_ERRORS = ("ClientConnectorError", "ClientConnectorDNSError", "ClientConnectorCertificateError")


@dataclass(frozen=True)
class Delivered:
    status: str  # one of the outbox statuses
    message_id: str | None = None
    error: str | None = None


@dataclass
class SendStats:
    sent: int = 0
    rate_limited: int = 0  # 429 answers
    retried: int = 0


class Transport(Protocol):
    stats: SendStats

    async def send(self, external_id: str, text: str, button: tuple[str, str] | None) -> Delivered: ...


class TelegramTransport:
    def __init__(
        self,
        bot: Bot,
        limiter: RateLimiter,
        *,
        attempts: int = 5,
        max_flood_waits: int = 20,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        paid_broadcast: bool = False,
    ) -> None:
        self.bot = bot
        # Above 30 messages/s Telegram wants `allow_paid_broadcast` (charged in Stars per message).
        self.paid_broadcast = paid_broadcast
        self.limiter = limiter
        self.attempts = attempts
        self.max_flood_waits = max_flood_waits
        self.stats = SendStats()
        self._sleep = sleep

    async def send(self, external_id: str, text: str, button: tuple[str, str] | None) -> Delivered:
        markup = None
        if button is not None:
            label, url = button
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, url=url)]])
        failures = floods = 0
        while True:
            await self.limiter.acquire(external_id)
            try:
                sent = await self.bot.send_message(
                    int(external_id),
                    text,
                    reply_markup=markup,
                    allow_paid_broadcast=True if self.paid_broadcast else None,
                )
            except TelegramRetryAfter as exc:
                floods += 1
                self.stats.rate_limited += 1
                self.limiter.back_off(float(exc.retry_after))
                if floods > self.max_flood_waits:
                    return Delivered(store.FAILED, error=f"429 {floods} раз подряд")
                continue
            except TelegramForbiddenError as exc:
                return Delivered(store.UNREACHABLE, error=_short(exc))
            except TelegramBadRequest as exc:
                if "chat not found" in exc.message.lower() or "user is deactivated" in exc.message.lower():
                    return Delivered(store.UNREACHABLE, error=_short(exc))
                return Delivered(store.FAILED, error=_short(exc))
            except (TelegramServerError, TelegramNetworkError) as exc:
                if isinstance(exc, TelegramNetworkError) and not exc.message.startswith(NOT_SENT_ERRORS):
                    # The request may have reached Telegram: repeating it could duplicate the message.
                    return Delivered(store.UNKNOWN, error=_short(exc))
                failures += 1
                if failures >= self.attempts:
                    return Delivered(store.FAILED, error=_short(exc))
                self.stats.retried += 1
                await self._sleep(min(10.0, 0.5 * 2 ** (failures - 1)) * (0.75 + random.random() / 2))
                continue
            except TelegramAPIError as exc:
                return Delivered(store.FAILED, error=_short(exc))
            self.stats.sent += 1
            return Delivered(store.SENT, message_id=str(sent.message_id))


def _short(exc: TelegramAPIError) -> str:
    return f"{type(exc).__name__}: {exc.message}"[:300]
