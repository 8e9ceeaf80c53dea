"""Filters written as coroutines.

aiogram runs every synchronous callable it is given, a MagicFilter such as `F.text` included,
in a worker thread (`CallableObject.call` → `asyncio.to_thread`): a thread hop per filter per
update, and a suspension that lets other chats' updates run in between (bench/answers.py showed
text messages 30× slower than button presses under load). A test keeps every registered filter
and handler awaitable.
"""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message


async def private_chat(message: Message) -> bool:
    return message.chat.type == "private"


async def has_text(message: Message) -> bool:
    return message.text is not None


async def private_text(message: Message) -> bool:
    return message.chat.type == "private" and message.text is not None


async def has_message(query: CallbackQuery) -> bool:
    return query.message is not None
