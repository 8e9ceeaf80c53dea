"""Questionnaires of messenger respondents, stored through the real repository, for case tests."""

from __future__ import annotations

from datetime import datetime

from storage import repository as repo
from storage.store import Storage
from survey_flow import engine
from survey_flow.model import Questionnaire
from tests.helpers import walk


async def questionnaire_of(
    storage: Storage,
    q: Questionnaire,
    user: str,
    inputs: list[str],
    when: datetime,
    channel: str = "telegram",
) -> tuple[int, int]:
    """A completed questionnaire of `user`: (respondent id, session id)."""
    answers = engine.finalize(q, walk(q, inputs), when)
    async with storage.transaction() as conn:
        person = await repo.get_or_create_respondent(conn, channel, user, when, f"Имя {user}")
        session = await repo.create_session(
            conn, q, respondent_id=person.id, channel=channel, source="direct", source_ref=None,
            prefill={}, now=when,
        )  # fmt: skip
        await repo.sync_answers(conn, q, session.id, {}, answers, when)
        await repo.finish_session(conn, session.id, repo.COMPLETED, when)
    return person.id, session.id
