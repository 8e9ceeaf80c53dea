"""Sending one invitation through a channel and classifying the answer.

Telegram has no idempotency key, so a request whose fate is unknown (a timeout, a dropped
connection after the request left) is reported as `unknown` and never repeated; only answers
that prove the message was not accepted (429, 5xx, a connection that was never made) are retried.

VK: `messages.send` takes a `random_id`; ours is derived from the outbox row's identity
(`campaign:<id>:<respondent id>`), so the same invitation sent again — a retry after error 6/9/10
or a network failure, or a row resent after a crash — is deduplicated by VK. Errors 901/902 (the
person does not allow messages from the community) mark the respondent unreachable.
"""

from __future__ import annotations

import asyncio
import json
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
from bot.runtime.metrics import Metrics
from bot.vk import render as vk_render
from bot.vk.api import UNREACHABLE_CODES, VkClient, VkError
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
        username: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        self.bot = bot
        self.metrics = metrics or Metrics()
        self.username = username
        # Above 30 messages/s Telegram wants `allow_paid_broadcast` (charged in Stars per message).
        self.paid_broadcast = paid_broadcast
        self.limiter = limiter
        self.attempts = attempts
        self.max_flood_waits = max_flood_waits
        self.stats = SendStats()
        self._sleep = sleep

    def survey_link(self, key: str) -> str:
        return f"https://t.me/{self.username}?start={key}" if key else f"https://t.me/{self.username}"

    async def send(
        self,
        external_id: str,
        text: str,
        button: tuple[str, str] | None,
        *,
        identity: str = "",
        on_request: OnRequest | None = None,
    ) -> Delivered:
        del identity  # Telegram has no idempotency key
        markup = None
        if button is not None:
            label, url = button
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, url=url)]])
        failures = floods = 0
        while True:
            await self.limiter.acquire(external_id)
            if on_request is not None:
                await on_request()
                on_request = None  # retries repeat the same request
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
                self.metrics.mailing_rate_limited("telegram")
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
