"""Channel-neutral messages as MAX messages: inline keyboards within MAX's limits, text chunks.

Limits from the Bot API documentation (dev.max.ru/docs-api): message text up to 4000 characters
(NewMessageBody.text), button text 1..128 characters, callback payload up to 1024 characters,
and an inline keyboard of at most 210 buttons in at most 30 rows of at most 7 buttons.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from bot.core import keyboards
from bot.core.conversation import Layout
from bot.core.messages import Action, Button, Message

MAX_TEXT = 4000
MAX_LABEL = 128
MAX_PAYLOAD = 1024
MAX_NOTIFICATION = 200  # no documented limit: a one-off notice stays short on a phone screen
INLINE_MAX_PER_ROW = 7
INLINE_MAX_ROWS = 30
INLINE_MAX_BUTTONS = 210
# Options per page, as in Telegram: MAX's keyboard holds far more, but a long list of buttons
# under a question reads worse than paging.
MAX_PAGE_SIZE = 8
MAX_LAYOUT = Layout(page_size=MAX_PAGE_SIZE)


class Intent(StrEnum):
    """The documented colours of a button."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    DEFAULT = "default"


def label(text: str) -> str:
    text = text.strip() or "…"
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1].rstrip() + "…"


def payload_of(button: Button, token: str) -> str:
    data = json.dumps({"t": token, "a": button.action, "v": button.value}, ensure_ascii=False)
    # The documented limit counts characters; bytes are counted to be safe with Cyrillic values.
    if len(data.encode()) > MAX_PAYLOAD:
        raise ValueError(f"button payload over {MAX_PAYLOAD} bytes: {data[:80]}…")
    return data


def parse_payload(raw: Any) -> tuple[str, str, str] | None:
    """(token, action, value) from one of our callback payloads (a JSON string); None for anything else."""
    if not isinstance(raw, str):
        return None
    try:
        return keyboards.payload_fields(json.loads(raw))
    except ValueError:
        return None


def fit_rows(rows: tuple[tuple[Button, ...], ...]) -> list[list[Button]]:
    """At most 7 buttons a row, 30 rows, 210 buttons."""
    return keyboards.fit_rows(
        rows, per_row=INLINE_MAX_PER_ROW, max_rows=INLINE_MAX_ROWS, max_buttons=INLINE_MAX_BUTTONS
    )


def keyboard(message: Message) -> dict[str, Any] | None:
    """The `inline_keyboard` attachment of a message with callback buttons (None without buttons)."""
    if not message.buttons:
        return None
    rows = [
        [
            {
                "type": "callback",
                "text": label(b.label),
                "payload": payload_of(b, message.token),
                "intent": _intent(b).value,
            }
            for b in row
        ]
        for row in fit_rows(message.buttons)
    ]
    return {"type": "inline_keyboard", "payload": {"buttons": rows}}


def attachments(message: Message) -> list[dict[str, Any]]:
    found = keyboard(message)
    return [found] if found is not None else []


def _intent(button: Button) -> Intent:
    if button.action in (Action.CONSENT_YES, Action.START, Action.CONTINUE):
        return Intent.POSITIVE
    if button.action in (Action.ABORT, Action.WITHDRAW):
        return Intent.NEGATIVE
    return Intent.DEFAULT


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Chunks of at most `limit` characters, cut at paragraph, line or word boundaries."""
    text = text.strip() or "…"
    chunks: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    chunks.append(text)
    return chunks


def notification(text: str) -> str:
    return text if len(text) <= MAX_NOTIFICATION else text[: MAX_NOTIFICATION - 1] + "…"
