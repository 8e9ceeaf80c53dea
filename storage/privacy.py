"""Erasure on request: unlink a person from their answers, keep the anonymous answers and the
consent register (as a record that mailings to them stopped), never the messenger id or name."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

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
