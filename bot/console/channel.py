"""The console channel: the same conversation in a terminal, buttons shown as numbers."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.console import texts as console_texts
from bot.console.line_reader import LineReader
from bot.core import numbered
from bot.core.conversation import Commands, Conversation
from bot.core.messages import Button, Incoming, Kind, Message
from storage.channels import Channel

CHANNEL = Channel.CONSOLE
CONSOLE_COMMANDS = Commands(start="«начать»", stop="«стоп»")
# The console shows buttons as a numbered list (bot/core/numbered.py), as VK does for clients without
# inline keyboards.
render = numbered.render
# Exit status after Ctrl+C: 128 + SIGINT, as shells report an interrupted program, so a script
# running the console can tell an interruption from a finished survey (0, also after Ctrl+D).
INTERRUPTED = 130


async def run_console(
    conversation: Conversation,
    user: str,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Walk one person through the survey.

    Returns 0 when the survey (or the consent question) is answered or the input ends, and
    `INTERRUPTED` after Ctrl+C; every answer is stored as it is given, so either way the next run
    offers to continue.
    """
    out = stdout or sys.stdout
    readline = _line_source(stdin or sys.stdin)
    pairs = console_texts.replacements(CONSOLE_COMMANDS)

    last: Message | None = None
    buttons: list[Button] = []

    async def send(event: Incoming) -> bool:
        nonlocal last, buttons
        result = await conversation.handle(event)
        # The session ends when the dialog is idle again: consent answered, paused or withdrawn.
        ended = result.phase == "idle"
        for message in result.messages:
            # The program exits after the last message: no choices are offered there.
            text, numbered = render(Message(message.text) if ended else message)
            print(console_texts.to_terminal(text, pairs), file=out)
            print(file=out)
            if message.buttons and not ended:
                last, buttons = message, numbered
        return ended

    with _Interrupt() as interrupt:
        await send(Incoming(CHANNEL, user, Kind.START))
        while not interrupt.fired.is_set():
            print("> ", end="", file=out, flush=True)
            line = await interrupt.race(readline())
            if line is None or not line:
                print(f"\n{console_texts.STOPPED}", file=out, flush=True)
                return INTERRUPTED if line is None else 0
            text = line.rstrip("\r\n")
            event = _to_event(user, text, last, buttons)
            # An answer being stored is finished even if Ctrl+C comes meanwhile.
            if await send(event):
                return 0
        print(f"\n{console_texts.STOPPED}", file=out, flush=True)
        return INTERRUPTED


def _line_source(source: TextIO) -> Callable[[], Awaitable[str]]:
    try:
        fd = source.fileno()
    except (OSError, ValueError, AttributeError):  # an in-memory stream: reading it never blocks
        fd = -1
    if fd < 0:

        async def read_text() -> str:
            return source.readline()

        return read_text
    encoding = getattr(source, "encoding", None) or "utf-8"
    return LineReader(fd, encoding).readline


class _Interrupt:
    """Ctrl+C (SIGINT) while the console runs: a flag the reading loop races against, instead of
    the default KeyboardInterrupt that could strike in the middle of storing an answer."""

    def __init__(self) -> None:
        self.fired = asyncio.Event()
        self._previous: object = None
        self._installed = False

    def __enter__(self) -> _Interrupt:
        loop = asyncio.get_running_loop()
        self._previous = signal.getsignal(signal.SIGINT)
        try:
            loop.add_signal_handler(signal.SIGINT, self.fired.set)
            self._installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
            # Back to asyncio.run's own handler (remove_signal_handler installs Python's default).
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]

    async def race(self, read: Awaitable[str]) -> str | None:
        """The line read, or None when Ctrl+C comes first (the read is then cancelled)."""
        reading = asyncio.ensure_future(read)
        stopping = asyncio.ensure_future(self.fired.wait())
        try:
            done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reading, stopping):
                task.cancel()
        return reading.result() if reading in done else None


def _to_event(user: str, text: str, last: Message | None, buttons: list[Button]) -> Incoming:
    button = numbered.pick(text, buttons) if last is not None else None
    if last is not None and button is not None:
        return Incoming(CHANNEL, user, Kind.PRESS, token=last.token, action=button.action, value=button.value)
    return Incoming(CHANNEL, user, Kind.TEXT, text=text)
