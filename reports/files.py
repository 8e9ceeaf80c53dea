"""Writing output files safely."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from reports.errors import ReportError
from storage.db import create_private

T = TypeVar("T")


async def write_atomically(out: Path, write: Callable[[Path], Awaitable[T]]) -> T:
    """Write to a temporary file beside `out` and rename it: no half-written file on failure."""
    if not out.parent.is_dir():
        raise ReportError(f"Папка {out.parent} не существует")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        create_private(tmp)  # an export may hold personal data: 0600, kept by the rename
        result = await write(tmp)
        tmp.replace(out)
        return result
    finally:
        tmp.unlink(missing_ok=True)
