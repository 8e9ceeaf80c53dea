"""The console channel: the same conversation in a terminal, buttons shown as numbers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from bot.conversation import Commands, Conversation
from bot.messages import Action, Button, Incoming, Message

CHANNEL = "console"
CONSOLE_COMMANDS = Commands(start="«начать»", stop="«стоп»")
_NAV_WORDS = {Action.BACK: "назад", Action.ABORT: "прервать"}


def render(message: Message) -> tuple[str, list[Button]]:
    """Text for the terminal and the numbered buttons (navigation is typed as a word)."""
    lines = [message.text]
    numbered: list[Button] = []
    hints: list[str] = []
    for row in message.buttons:
        for button in row:
            if button.action in _NAV_WORDS:
                hints.append(f"«{_NAV_WORDS[button.action]}» — {button.label.lstrip('◀✖ ').lower()}")
            elif button.action == Action.PAGE:
                continue  # the console shows whole lists
            else:
                numbered.append(button)
    if numbered and all(b.action == Action.ANSWER and b.label == str(i) for i, b in enumerate(numbered, 1)):
        lines += ["", "  " + "  ".join(f"[{b.label}]" for b in numbered)]  # a 1–5 scale
    elif numbered:
        lines.append("")
        lines += [f"  {index}. {button.label}" for index, button in enumerate(numbered, start=1)]
    if hints:
        lines.append("(" + "; ".join(hints) + ")")
    return "\n".join(lines), numbered


async def run_console(
    conversation: Conversation,
    user: str,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    read_line: Callable[[], str] | None = None,
) -> int:
    """Walk one person through the survey. Returns 0; EOF keeps the answers for a later resume."""
    out = stdout or sys.stdout
    source = stdin or sys.stdin

    def _read() -> str:
        return read_line() if read_line else source.readline()

    last: Message | None = None
    buttons: list[Button] = []

    async def send(event: Incoming) -> bool:
        nonlocal last, buttons
        result = await conversation.handle(event)
        for message in result.messages:
            text, numbered = render(message)
            print(text, file=out)
            print(file=out)
            if message.buttons:
                last, buttons = message, numbered
        # The session ends when the dialog is idle again: consent answered, paused or withdrawn.
        return result.phase == "idle"

    await send(Incoming(CHANNEL, user, "start"))
    while True:
        print("> ", end="", file=out, flush=True)
        line = await asyncio.to_thread(_read)
        if not line:
            print("\nВвод завершен. Ответы сохранены; запустите снова, чтобы продолжить.", file=out)
            return 0
        text = line.rstrip("\n")
        event = _to_event(user, text, last, buttons)
        if await send(event):
            return 0


def _to_event(user: str, text: str, last: Message | None, buttons: list[Button]) -> Incoming:
    stripped = text.strip()
    if last is not None and stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
        button = buttons[int(stripped) - 1]
        return Incoming(CHANNEL, user, "press", token=last.token, action=button.action, value=button.value)
    return Incoming(CHANNEL, user, "text", text=text)
