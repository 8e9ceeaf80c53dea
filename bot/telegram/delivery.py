"""Showing a conversation `Result` in a Telegram chat: send, edit, answer button presses."""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup

from bot.core.messages import Message, Result
from bot.telegram.render import keyboard, split_text
from bot.telegram.retry import RetryPolicy, call_with_retry
from storage import repository as repo
from storage.store import Storage

log = logging.getLogger(__name__)

_TRACKED_CHATS = 50_000


class Delivery:
    """Sends with retries; a 403 (bot blocked) marks the respondent unreachable."""

    def __init__(self, bot: Bot, storage: Storage, policy: RetryPolicy | None = None) -> None:
        self.bot = bot
        self.storage = storage
        self.policy = policy or RetryPolicy()
        # The message whose buttons are live, per chat, so a typed answer can close them.
        # In memory only: after a restart an old keyboard stays and its press is answered as stale.
        self._live: OrderedDict[int, int] = OrderedDict()

    async def show(
        self,
        chat_id: int,
        result: Result,
        *,
        pressed_message_id: int | None = None,
        callback_id: str | None = None,
    ) -> None:
        if callback_id is not None:
            await self.answer_callback(callback_id, result.notice)
        if result.duplicate:
            return
        messages = list(result.messages)
        try:
            if result.edit_in_place and pressed_message_id is not None and messages:
                first = messages.pop(0)
                await self.edit(chat_id, pressed_message_id, first.text, keyboard(first))
                self._remember(chat_id, pressed_message_id)
            elif result.answered is not None:
                target = pressed_message_id or self._live.get(chat_id)
                if target is not None:
                    await self.edit(chat_id, target, result.answered, None)
                    self._forget(chat_id, target)
            for message in messages:
                await self.send(chat_id, message)
        except TelegramForbiddenError:
            await self.mark_unreachable(result.respondent_id)
        except TelegramAPIError as exc:
            # The answer is already stored; the person can resume with /start.
            log.warning("chat reply failed after retries: %s", exc)

    async def send(self, chat_id: int, message: Message) -> int:
        markup = keyboard(message)
        if markup is not None:
            await self._close_live(chat_id)
        parts = split_text(message.text)
        sent_id = 0
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            sent = await call_with_retry(
                lambda part=part, last=last: self.bot.send_message(  # type: ignore[misc]
                    chat_id, part, reply_markup=markup if last else None
                ),
                self.policy,
                what="sendMessage",
            )
            sent_id = sent.message_id
        if markup is not None:
            self._remember(chat_id, sent_id)
        return sent_id

    async def edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        try:
            await call_with_retry(
                lambda: self.bot.edit_message_text(
                    text=split_text(text)[0], chat_id=chat_id, message_id=message_id, reply_markup=markup
                ),
                self.policy,
                what="editMessageText",
            )
        except TelegramBadRequest as exc:
            # "message is not modified" or a message too old to edit: the new one is sent anyway.
            log.info("edit skipped: %s", exc.message)

    async def answer_callback(self, callback_id: str, text: str | None) -> None:
        try:
            await call_with_retry(
                lambda: self.bot.answer_callback_query(callback_id, text=text or None),
                self.policy,
                what="answerCallbackQuery",
            )
        except TelegramAPIError as exc:  # an expired query id is harmless
            log.info("answerCallbackQuery skipped: %s", exc)

    async def mark_unreachable(self, respondent_id: int | None) -> None:
        if respondent_id is None:
            return
        async with self.storage.transaction() as conn:
            await repo.mark_unreachable(conn, respondent_id, datetime.now(UTC))
        log.info("respondent %s blocked the bot: marked unreachable", respondent_id)

    async def _close_live(self, chat_id: int) -> None:
        previous = self._live.pop(chat_id, None)
        if previous is None:
            return
        try:
            await call_with_retry(
                lambda: self.bot.edit_message_reply_markup(
                    chat_id=chat_id, message_id=previous, reply_markup=None
                ),
                self.policy,
                what="editMessageReplyMarkup",
            )
        except TelegramBadRequest as exc:
            log.info("closing old buttons skipped: %s", exc.message)

    def _remember(self, chat_id: int, message_id: int) -> None:
        self._live[chat_id] = message_id
        self._live.move_to_end(chat_id)
        while len(self._live) > _TRACKED_CHATS:
            self._live.popitem(last=False)

    def _forget(self, chat_id: int, message_id: int) -> None:
        if self._live.get(chat_id) == message_id:
            del self._live[chat_id]
