"""Channel-neutral messages as VK messages: inline keyboards within VK's limits, text chunks, ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any

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
    if not isinstance(raw, dict):
        return None
    token, action, value = raw.get("t"), raw.get("a"), raw.get("v", "")
    if not isinstance(token, str) or action not in Action.ALL or not isinstance(value, str):
        return None
    return token, str(action), value


def fit_rows(rows: tuple[tuple[Button, ...], ...]) -> list[list[Button]]:
    """VK inline limits: at most 5 buttons a row, 6 rows, 10 buttons.

    Rows longer than 5 are split. When the result is still too big, rows of answer buttons (a long
    list of search candidates) are dropped from the end: navigation, «Другое» and typing still work.
    """
    split: list[list[Button]] = []
    for row in rows:
        for start in range(0, len(row), INLINE_MAX_PER_ROW):
            split.append(list(row[start : start + INLINE_MAX_PER_ROW]))

    while len(split) > INLINE_MAX_ROWS or sum(len(r) for r in split) > INLINE_MAX_BUTTONS:
        answer_rows = [i for i, r in enumerate(split) if all(b.action == Action.ANSWER for b in r)]
        if answer_rows:
            del split[answer_rows[-1]]
            continue
        flat = [b for r in split for b in r][:INLINE_MAX_BUTTONS]
        split = [flat[i : i + INLINE_MAX_PER_ROW] for i in range(0, len(flat), INLINE_MAX_PER_ROW)]
        split = split[:INLINE_MAX_ROWS]
    return split


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
