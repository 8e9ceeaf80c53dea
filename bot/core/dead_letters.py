"""Dead letters: an update a channel cannot parse or handle is kept whole and the channel moves on.

One broken update must not hold up the others (Telegram would deliver it again and again at the
same offset; VK would retry its whole batch). It is logged and stored in `dead_letters`, where an
operator finds it with `otklik dead-letters list` / `show ID`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from bot.core.clock import utcnow
from storage.channels import add_dead_letter
from storage.store import Storage

log = logging.getLogger(__name__)


def raw_json(data: Any) -> str:
    """The update as JSON text; whatever cannot be encoded is kept as its repr."""
    try:
        return json.dumps(data, ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        try:
            return repr(data)[:100_000]
        except RecursionError:
            return f"<{type(data).__name__} nested too deeply to keep>"


def describe(exc: BaseException) -> str:
    """One line an operator can act on: for a parse error, which fields and why."""
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        return f"ValidationError: {'; '.join(problems)}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class DeadLetters:
    """Where one channel's broken updates go (`bot`: Telegram bot id or VK community id)."""

    def __init__(
        self,
        storage: Storage,
        channel: str,
        bot: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_kept: Callable[[], None] | None = None,
    ) -> None:
        self.storage = storage
        self.on_kept = on_kept  # monitoring: one more dead letter
        self.channel = channel
        self.bot = bot
        self.clock = clock

    async def keep(self, raw: str, error: str, update_id: str | None) -> None:
        """Store one broken update; raises when the database cannot take it (the caller retries,
        so the update is not acknowledged before it is kept)."""
        async with self.storage.transaction() as conn:
            letter = await add_dead_letter(
                conn, channel=self.channel, bot=self.bot, update_id=update_id, raw=raw,
                error=error, now=self.clock(),
            )  # fmt: skip
        if letter is not None:
            if self.on_kept is not None:
                self.on_kept()
            first_line = error.splitlines()[0] if error else ""
            log.error(
                "%s: update %s could not be handled (%s); kept as dead letter %d, see "
                "`otklik dead-letters show %d`",
                self.channel, update_id or "?", first_line[:300], letter, letter,
            )  # fmt: skip
