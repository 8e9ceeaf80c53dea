"""What the low-score alert watcher reads and writes: recently completed sessions and a claim
per alerted session (in channel_state), so two workers never send the same card twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.repository import COMPLETED, as_utc, insert_ignore
from storage.schema import channel_state, survey_sessions

CURSOR_KEY = "alerts:checked_until"


async def completed_since(
    conn: AsyncConnection, since: datetime, limit: int = 500
) -> list[tuple[int, datetime]]:
    rows = await conn.execute(
        select(survey_sessions.c.id, survey_sessions.c.completed_at)
        .where(survey_sessions.c.status == COMPLETED, survey_sessions.c.completed_at >= since)
        .order_by(survey_sessions.c.completed_at, survey_sessions.c.id)
        .limit(limit)
    )
    return [(int(r.id), r.completed_at) for r in rows]


async def claim(conn: AsyncConnection, session_id: int, now: datetime) -> bool:
    """True for the one caller that claims this session's alert."""
    result = await conn.execute(
        insert_ignore(conn, channel_state).values(key=f"alert:{session_id}", value="sent", updated_at=now)
    )
    return bool(result.rowcount == 1)


async def release(conn: AsyncConnection, session_id: int) -> None:
    await conn.execute(delete(channel_state).where(channel_state.c.key == f"alert:{session_id}"))


async def claimed_at(conn: AsyncConnection, session_id: int) -> datetime | None:
    """When the session's card was claimed (or last noted where it went); None: no card yet."""
    row = (
        await conn.execute(
            select(channel_state.c.updated_at).where(channel_state.c.key == f"alert:{session_id}")
        )
    ).first()
    return None if row is None else as_utc(row[0])


async def set_card(conn: AsyncConnection, session_id: int, chat: str, message_id: str, now: datetime) -> None:
    """Where the session's card went: a case opened later gains its buttons there."""
    await conn.execute(
        update(channel_state)
        .where(channel_state.c.key == f"alert:{session_id}")
        .values(value=f"{chat}:{message_id}", updated_at=now)
    )


async def card_of(conn: AsyncConnection, session_id: int) -> tuple[str, str] | None:
    """(chat, message id) of the session's card, or None when none was sent or it is not known."""
    row = (
        await conn.execute(select(channel_state.c.value).where(channel_state.c.key == f"alert:{session_id}"))
    ).first()
    if row is None or ":" not in str(row[0]):
        return None
    chat, message_id = str(row[0]).rsplit(":", 1)
    return chat, message_id
