"""Fingerprints of paper questionnaires: the same forms imported twice are caught.

A fingerprint is a hash of the form's date and its answers as stored (question code, option code,
the typed «Другое» text, the difficulties text). It is computed from stored values only, so the
migration can compute it for paper forms entered before fingerprints were kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import paper_forms

OTHER_OPTION = "other"

# (question code, option code, value text, difficulties text) of one stored answer
StoredAnswer = tuple[str, str, str, str | None]


def fingerprint(completed_at: datetime, stored: Iterable[StoredAnswer]) -> str:
    when = completed_at if completed_at.tzinfo else completed_at.replace(tzinfo=UTC)
    items = sorted(
        # An option's label is left out: renaming a unit in the settings must not make an old
        # form look new; only a typed «Другое» text is the respondent's own answer.
        [code, option, text if option == OTHER_OPTION else "", followup or ""]
        for code, option, text, followup in stored
    )
    canonical = json.dumps(
        [when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), items], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def record(conn: AsyncConnection, session_id: int, digest: str, now: datetime) -> None:
    await conn.execute(insert(paper_forms).values(session_id=session_id, fingerprint=digest, entered_at=now))


async def already_stored(conn: AsyncConnection, digests: Sequence[str]) -> dict[str, int]:
    """fingerprint -> the number of a stored questionnaire with it, for those already stored."""
    found: dict[str, int] = {}
    unique = sorted(set(digests))
    for start in range(0, len(unique), 500):  # keep the IN list of a big file within limits
        rows = await conn.execute(
            select(paper_forms.c.fingerprint, paper_forms.c.session_id)
            .where(paper_forms.c.fingerprint.in_(unique[start : start + 500]))
            .order_by(paper_forms.c.session_id)
        )
        for digest, session_id in rows:
            found.setdefault(str(digest), int(session_id))
    return found
