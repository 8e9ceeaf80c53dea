"""Progress bars (tqdm) for long CLI work, drawn on stderr and only when it is a terminal.

In a pipe, cron or a test nothing extra is printed, and stdout is never touched: what a command
prints there is the same with or without a bar.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _size_known(stream: TextIO) -> bool:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return size.columns > 0 and size.lines > 0


class TerminalProgress:
    """A bar when `stream` (stderr by default) is a terminal; otherwise nothing at all."""

    def __init__(self, description: str, unit: str, *, stream: TextIO | None = None) -> None:
        out = stream or sys.stderr
        self.shown = is_terminal(out)
        self._bar: Any = None
        if self.shown:
            # A terminal that reports no size (a bare pty, some serial consoles) would get no bar
            # at all from tqdm: 80×24 then. mininterval: at most 5 redraws a second.
            known = _size_known(out)
            self._bar = tqdm(
                desc=description,
                unit=unit,
                file=out,
                mininterval=0.2,
                ncols=None if known else 80,
                nrows=None if known else 24,
                dynamic_ncols=known,
            )

    def set_total(self, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done)

    def set_position(self, done: int, status: str = "") -> None:
        """Absolute progress, for work done elsewhere (a campaign sent by the service)."""
        if self._bar is not None:
            self._bar.n = done
            if status:
                self._bar.set_postfix_str(status, refresh=False)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
