"""Mailing fixtures: respondents seeded straight into the database, the Telegram service harness."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from bot.config import MailingConfig
from storage import repository as repo
from storage.schema import survey_sessions
from storage.store import Storage
from tests.bot.telegram.conftest import Service
from tests.bot.vk.conftest import fake  # noqa: F401  (the fake VK server, for VK campaigns and reminders)
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram

FIRST_CHAT = 6_000_000
FAST = {"poll_seconds": 0.3, "progress_seconds": 1.0, "leader_retry_seconds": 0.5}


def now() -> datetime:
    return datetime.now(UTC)


async def seed(
    storage: Storage,
    count: int,
    *,
    first: int = FIRST_CHAT,
    consent: bool = True,
    channel: str = "telegram",
    withdrawn: Iterable[int] = (),
) -> list[int]:
    """`count` respondents with chat ids first.., a consent grant each; `withdrawn` chats then withdraw."""
    ids = []
    later = now() + timedelta(seconds=1)
    gone = set(withdrawn)
    async with storage.transaction() as conn:
        for chat in range(first, first + count):
            person = await repo.get_or_create_respondent(conn, channel, str(chat), now(), f"Клиент{chat}")
            ids.append(person.id)
            if consent:
                await repo.record_consent(
                    conn, person.id, granted=True, channel=channel, text_version="v1", method="bot", now=now()
                )
            if chat in gone:
                await repo.record_consent(
                    conn,
                    person.id,
                    granted=False,
                    channel=channel,
                    text_version="v1",
                    method="bot",
                    now=later,
                )
    return ids


async def completed_survey(
    storage: Storage, respondent_id: int, answers: dict[str, str], at: datetime, questionnaire: Any
) -> None:
    """A completed survey with these Block 1 answers (question code -> option code)."""
    from survey_flow.engine import Answer

    async with storage.transaction() as conn:
        session = await repo.create_session(
            conn, questionnaire, respondent_id=respondent_id, channel="telegram", source="direct",
            source_ref=None, prefill={k: Answer(option=v) for k, v in answers.items()}, now=at,
        )  # fmt: skip
        await repo.finish_session(conn, session.id, repo.COMPLETED, at)
        await conn.execute(
            update(survey_sessions).where(survey_sessions.c.id == session.id).values(completed_at=at)
        )


def mailing_service(database: Database, telegram: FakeTelegram, **mailing: Any) -> Service:
    service = Service(database, telegram)
    config = MailingConfig(**{**FAST, **mailing})
    service.settings = service.settings.model_copy(update={"mailing": config})
    return service


async def withdraw(storage: Storage, respondent_ids: Iterable[int]) -> None:
    async with storage.transaction() as conn:
        for person in respondent_ids:
            await repo.record_consent(
                conn, person, granted=False, channel="telegram", text_version="v1", method="bot", now=now()
            )
