"""The console channel: the same conversation in a terminal, buttons shown as numbers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from bot import numbered
from bot.conversation import Commands, Conversation
from bot.messages import Button, Incoming, Message

CHANNEL = "console"
CONSOLE_COMMANDS = Commands(start="«начать»", stop="«стоп»")
# The console shows buttons as a numbered list (bot/numbered.py), as VK does for clients without
# inline keyboards.
render = numbered.render


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
    button = numbered.pick(text, buttons) if last is not None else None
    if last is not None and button is not None:
        return Incoming(CHANNEL, user, "press", token=last.token, action=button.action, value=button.value)
    return Incoming(CHANNEL, user, "text", text=text)
