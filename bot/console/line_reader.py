"""Lines from a file descriptor, read without blocking the event loop and cancellable at any time.

`asyncio.to_thread(sys.stdin.readline)` cannot be interrupted: Ctrl+C cancels the awaiting task,
but the interpreter then waits for the reading thread, i.e. for the next Enter. Here the loop
waits for the descriptor to become readable (`add_reader`) and reads only what is there, so a
cancelled read leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import codecs
import os


class LineReader:
    def __init__(self, fd: int, encoding: str = "utf-8") -> None:
        self._fd = fd
        self._buffer = b""
        self._eof = False
        # A broken byte sequence from a terminal in another encoding becomes «�», not a crash.
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        # Regular files and /dev/null cannot be watched by epoll; their reads never block anyway.
        self._pollable: bool | None = None

    async def readline(self) -> str:
        """The next line with its "\n", as `readline` returns it: "" only at the end of input."""
        while b"\n" not in self._buffer and not self._eof:
            await self._readable()
            chunk = os.read(self._fd, 65536)
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True
        if b"\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n", 1)
            raw += b"\n"
        else:
            raw, self._buffer = self._buffer, b""
        return self._decoder.decode(raw, final=self._eof and not self._buffer)

    async def _readable(self) -> None:
        if self._pollable is False:
            return
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        try:
            loop.add_reader(self._fd, wake)
        except (OSError, ValueError):
            self._pollable = False
            return
        self._pollable = True
        try:
            await ready
        finally:
            loop.remove_reader(self._fd)
