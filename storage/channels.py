"""Channels: their names as stored, dead letters (updates a channel could not parse or handle) and the
adoption of processed update ids written before they were keyed by bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.repository import as_utc
from storage.schema import dead_letters, processed_updates


class Channel(StrEnum):
    """Where a respondent answered: stored in respondents, survey_sessions, consents, cases,
    processed_updates and dead_letters."""

    TELEGRAM = "telegram"
    VK = "vk"
    MAX = "max"
    CONSOLE = "console"  # `otklik survey console`: a terminal
    OFFLINE = "offline"  # a paper questionnaire entered by staff


MAX_RAW = 1_000_000  # characters of raw JSON kept; a bigger update is cut (and says so)
MAX_ERROR = 2_000


@dataclass(frozen=True)
class DeadLetter:
    id: int
    channel: str
    bot: str
    update_id: str | None
    raw: str
    error: str
    received_at: datetime


async def add_dead_letter(
    conn: AsyncConnection,
    *,
    channel: str,
    bot: str,
    update_id: str | None,
    raw: str,
    error: str,
    now: datetime,
) -> int | None:
    """Keep one update; an update already kept (same channel, bot and update id, e.g. a batch
    fetched again after a failure) is not kept twice. Returns the letter's id, or None then."""
    if update_id is not None:
        update_id = update_id[:64]
        known = await conn.execute(
            select(dead_letters.c.id).where(
                dead_letters.c.channel == channel,
                dead_letters.c.bot == bot,
                dead_letters.c.update_id == update_id,
            )
        )
        if known.first() is not None:
            return None
    if len(raw) > MAX_RAW:
        raw = raw[:MAX_RAW] + f"\n… (обрезано, всего {len(raw)} символов)"
    result = await conn.execute(
        insert(dead_letters).values(
            channel=channel,
            bot=bot,
            update_id=update_id,
            raw=raw,
            error=error[:MAX_ERROR],
            received_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def list_dead_letters(
    conn: AsyncConnection, *, channel: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
    if channel is not None:
        query = query.where(dead_letters.c.channel == channel)
    return [_letter(row) for row in await conn.execute(query)]


async def get_dead_letter(conn: AsyncConnection, letter_id: int) -> DeadLetter | None:
    row = (await conn.execute(select(dead_letters).where(dead_letters.c.id == letter_id))).first()
    return None if row is None else _letter(row)


async def adopt_processed_updates(conn: AsyncConnection, channel: str, bot: str) -> int:
    """Give ids recorded before they were keyed by bot to the bot that starts now (the same bot
    that ran before the upgrade, in every ordinary case): a batch re-delivered across the
    upgrade is still recognised. Later calls find nothing to adopt."""
    table = processed_updates
    legacy = select(table.c.update_id).where(table.c.channel == channel, table.c.bot == "").limit(1)
    if (await conn.execute(legacy)).first() is None:
        return 0  # nothing to adopt: no write, so a service can start on a read-only database
    mine = select(table.c.update_id).where(table.c.channel == channel, table.c.bot == bot)
    # An id already recorded for this bot needs no legacy twin (and would collide with it).
    await conn.execute(
        delete(table).where(table.c.channel == channel, table.c.bot == "", table.c.update_id.in_(mine))
    )
    result = await conn.execute(
        update(processed_updates)
        .where(processed_updates.c.channel == channel, processed_updates.c.bot == "")
        .values(bot=bot)
    )
    return int(result.rowcount or 0)


def _letter(row: object) -> DeadLetter:
    received = as_utc(row.received_at)  # type: ignore[attr-defined]
    assert received is not None
    return DeadLetter(
        id=int(row.id),  # type: ignore[attr-defined]
        channel=str(row.channel),  # type: ignore[attr-defined]
        bot=str(row.bot),  # type: ignore[attr-defined]
        update_id=row.update_id,  # type: ignore[attr-defined]
        raw=str(row.raw),  # type: ignore[attr-defined]
        error=str(row.error),  # type: ignore[attr-defined]
        received_at=received,
    )
