"""Writing output files safely."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bot.errors import UsageError

T = TypeVar("T")


async def write_atomically(out: Path, write: Callable[[Path], Awaitable[T]]) -> T:
    """Write to a temporary file beside `out` and rename it: no half-written file on failure."""
    if not out.parent.is_dir():
        raise UsageError(f"Папка {out.parent} не существует")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        result = await write(tmp)
        tmp.replace(out)
        return result
    finally:
        tmp.unlink(missing_ok=True)
