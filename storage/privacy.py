"""Erasure on request: unlink a person from their answers, keep the anonymous answers and the
consent register (as a record that mailings to them stopped), never the messenger id or name.
The agreement to be answered ends with it: the person's cases are closed and every text of their
case threads is erased (the cases stay, without texts, for the report figures)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import cases
from storage import repository as repo
from storage.schema import respondents

FORGOTTEN_PREFIX = "forgotten:"


async def forget(conn: AsyncConnection, channel: str, external_id: str, now: datetime, by: str) -> int | None:
    """The respondent's id, or None when nobody with this messenger id is stored."""
    found = await repo.get_respondent(conn, channel, external_id)
    if found is None:
        return None
    await repo.record_consent(
        conn,
        found.id,
        kind=repo.ConsentKind.ERASED,
        channel=channel,
        text_version="-",
        method="erasure",
        now=now,
        recorded_by=by,
    )
    await cases.end_reply_consent(
        conn,
        found.id,
        channel=channel,
        now=now,
        method="erasure",
        kind=repo.ConsentKind.ERASED,
        recorded_by=by,
    )
    await cases.erase_texts(conn, found.id)
    await conn.execute(
        update(respondents)
        .where(respondents.c.id == found.id)
        .values(
            external_id=FORGOTTEN_PREFIX + secrets.token_hex(8),
            name=None,
            dialog={},
            unreachable_at=now,
        )
    )
    return found.id
