"""Channel-neutral `Message`s rendered as Telegram texts and inline keyboards."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.messages import Message
from bot.telegram.callbacks import pack

TEXT_LIMIT = 4096  # Telegram's limit for one message


def keyboard(message: Message) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    # Plain constructors: pydantic-core validates a button in ~8 µs, while model_construct (pure
    # Python default filling) takes ~44 µs; callback data is formatted without a model (pack).
    rows = [
        [InlineKeyboardButton(text=button.label, callback_data=pack(button, message.token)) for button in row]
        for row in message.buttons
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split at paragraph or line breaks where possible; never returns an empty list."""
    text = text or "…"
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts
