"""Channel-neutral `Message`s rendered as Telegram texts and inline keyboards."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import Message
from bot.telegram.callbacks import pack

TEXT_LIMIT = 4096  # Telegram's limit for one message


def keyboard(message: Message) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    # model_construct: our own values need no validation, and validating ~10 pydantic models per
    # keyboard was the largest single cost of answering a question (bench/answers.py).
    rows = [
        [
            InlineKeyboardButton.model_construct(text=button.label, callback_data=pack(button, message.token))
            for button in row
        ]
        for row in message.buttons
    ]
    return InlineKeyboardMarkup.model_construct(inline_keyboard=rows)


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
