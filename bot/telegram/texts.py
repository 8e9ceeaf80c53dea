"""Telegram-specific service texts (Russian)."""

from __future__ import annotations

from bot.core import texts as common

STALE = common.STALE_BUTTON
APOLOGY = (
    "Извините, не получилось обработать сообщение. Ваши ответы сохранены; попробуйте ещё раз чуть позже."
)
