"""An aiogram session that answers Bot API calls in memory: dispatch measured without network."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import AsyncGenerator
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, InlineKeyboardMarkup, Message, User

BOT_USER = User(id=1, is_bot=True, first_name="Otklik", username="otklik_bench_bot")


class NoNetworkSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self._ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self.keyboards: dict[int, tuple[int, InlineKeyboardMarkup]] = {}
        self.calls = 0

    async def close(self) -> None:
        return None

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.calls += 1
        name = method.__api_method__
        params: dict[str, Any] = method.model_dump()
        if name in {"answerCallbackQuery", "deleteWebhook", "setWebhook"}:
            return cast(TelegramType, True)
        if name == "getMe":
            return cast(TelegramType, BOT_USER)
        chat_id = int(params.get("chat_id") or 0)
        message_id = params.get("message_id") or next(self._ids[chat_id])
        markup = getattr(method, "reply_markup", None)
        if name == "sendMessage" and isinstance(markup, InlineKeyboardMarkup):
            self.keyboards[chat_id] = (message_id, markup)
        return cast(
            TelegramType,
            Message(
                message_id=message_id,
                date=int(time.time()),
                chat=Chat(id=chat_id, type="private"),
                from_user=BOT_USER,
                text=str(params.get("text") or ""),
            ),
        )

    async def stream_content(
        self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,
        chunk_size: int = 65536, raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:  # fmt: skip
        raise NotImplementedError
        yield b""
