"""Channel-neutral messages as VK messages: inline keyboards within VK's limits, text chunks, ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bot.core import keyboards
from bot.core.conversation import Layout
from bot.core.messages import Action, Button, Message

MAX_TEXT = 4096  # messages.send refuses longer texts (error 914)
MAX_LABEL = 40  # button label limit
MAX_PAYLOAD = 255  # button payload limit (bytes of JSON)
MAX_SNACKBAR = 90  # sendMessageEventAnswer show_snackbar text limit
INLINE_MAX_PER_ROW = 5
INLINE_MAX_ROWS = 6
INLINE_MAX_BUTTONS = 10
# Options per page: 4 option rows + «Другое» + one navigation row (« » back abort) = 6 rows, 9 buttons.
VK_PAGE_SIZE = 4
VK_LAYOUT = Layout(page_size=VK_PAGE_SIZE)

EMPTY_KEYBOARD = json.dumps({"inline": True, "buttons": []})


def label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1].rstrip() + "…"


def payload_of(button: Button, token: str) -> str:
    data = json.dumps({"t": token, "a": button.action, "v": button.value}, ensure_ascii=False)
    if len(data.encode()) > MAX_PAYLOAD:
        raise ValueError(f"button payload over {MAX_PAYLOAD} bytes: {data}")
    return data


def parse_payload(raw: Any) -> tuple[str, str, str] | None:
    """(token, action, value) from one of our button payloads (a JSON string or an object)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return keyboards.payload_fields(raw)


def fit_rows(rows: tuple[tuple[Button, ...], ...]) -> list[list[Button]]:
    """VK inline limits: at most 5 buttons a row, 6 rows, 10 buttons."""
    return keyboards.fit_rows(
        rows, per_row=INLINE_MAX_PER_ROW, max_rows=INLINE_MAX_ROWS, max_buttons=INLINE_MAX_BUTTONS
    )


def keyboard(message: Message, *, callback: bool = True) -> str | None:
    """The inline keyboard JSON of a message (None without buttons).

    Callback buttons arrive as `message_event`; clients without callback support get text buttons
    whose payload comes back with `message_new`.
    """
    if not message.buttons:
        return None
    kind = "callback" if callback else "text"
    rows = [
        [
            {
                "action": {"type": kind, "label": label(b.label), "payload": payload_of(b, message.token)},
                "color": _color(b),
            }
            for b in row
        ]
        for row in fit_rows(message.buttons)
    ]
    return json.dumps({"inline": True, "buttons": rows}, ensure_ascii=False)


def _color(button: Button) -> str:
    if button.action in (Action.CONSENT_YES, Action.REPLY_YES, Action.START, Action.CONTINUE):
        return "positive"
    if button.action in (Action.ABORT, Action.WITHDRAW):
        return "negative"
    if button.action == Action.ANSWER:
        return "primary"
    return "secondary"


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


def random_id(peer_id: int, identity: str) -> int:
    """A deterministic non-zero signed 31-bit id: the same message sent again is deduplicated by VK."""
    digest = hashlib.sha256(f"{peer_id}:{identity}".encode()).digest()
    value = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
    return value or 1


def snackbar(text: str) -> str:
    shown = text if len(text) <= MAX_SNACKBAR else text[: MAX_SNACKBAR - 1] + "…"
    return json.dumps({"type": "show_snackbar", "text": shown}, ensure_ascii=False)
