"""How long report work tells its progress to whoever runs it (a terminal's bar, or nobody)."""

from __future__ import annotations

from typing import Protocol

# Rows between two progress updates: a bar redrawn per row would cost more than the row itself.
CHUNK = 1000


class Progress(Protocol):
    def set_total(self, total: int) -> None: ...

    def update(self, done: int) -> None:
        """`done` more items are finished."""
