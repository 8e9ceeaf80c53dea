"""Callback data of inline buttons: ids only (step token, action, option code), never texts."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from bot.core.messages import Button


class Press(CallbackData, prefix="p", sep="|"):
    """`p|<session>:<step>|<action>|<option code>`; tokens contain ':', hence the '|' separator."""

    token: str
    action: str
    value: str = ""


def pack(button: Button, token: str) -> str:
    # The same string as Press(...).pack() (a test checks it), without building a pydantic model
    # per button: keyboards are rendered for every answer.
    for part in (token, button.action, button.value):
        if "|" in part:
            raise ValueError(f"separator in callback data part {part!r}")
    data = f"p|{token}|{button.action}|{button.value}"
    if len(data.encode()) > 64:  # Telegram's limit; option codes are short by config validation
        raise ValueError(f"callback data too long for button {button.label!r}")
    return data
