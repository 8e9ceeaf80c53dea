"""The fixture quarter: known questionnaires entered through the real Conversation and storage.

Times are UTC; the ministry's zone (Asia/Novosibirsk) is UTC+7, so A (00:30 on 1 July local) is
inside 2025Q3, G and I are just outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from bot.core.conversation import Conversation
from storage import repository as repo
from storage.schema import respondents, survey_sessions
from storage.store import Storage
from survey_flow import engine
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT
from tests.fakes.chat import Chat
from tests.helpers import walk

# Question order: 1 2 3 4 5 6 8 [10 if 8=2] 9 11(+f) 12(+f) [13 14 if 5=1 | 15 16 if 5=2] 17(+f)
A = ["1", "1", "1", "1", "1", "1", "1", "1", "5", "5", "5", "5", "5"]
B = ["2", "2", "1", "31", "2", "2", "2", "2", "2", "2", "Долго искал информацию", "4",
     "3", "Неудобная форма", "4", "1", "Очень долго"]  # fmt: skip
C = ["1", "1", "1", "1", "1", "2", "1", "1", "4", "3", "Много документов", "5", "4", "4"]
D = ["3", "1", "1", "1", "1", "1", "1", "2", "1", "Ничего не понятно", "2", "Справки",
     "3", "Грубили", "4", "5"]  # fmt: skip
E = ["1", "1", "1", "1", "1", "1", "2", "1", "1", "4", "4", "5", "5", "3", "Долго"]
F = ["1", "1", "2", "1", "2", "1", "1", "1", "5", "5", "5", "5", "5"]


@dataclass(frozen=True)
class Planned:
    name: str
    channel: str  # telegram, vk, offline (paper)
    user: str | None
    inputs: list[str]
    when: datetime


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PLAN = [
    Planned("A", "telegram", "a", A, utc("2025-06-30T17:30:00")),
    Planned("B", "telegram", "b", B, utc("2025-08-15T05:00:00")),
    Planned("C", "vk", "c", C, utc("2025-09-10T03:00:00")),
    Planned("D", "telegram", "a", D, utc("2025-09-30T16:00:00")),
    Planned("E", "offline", None, E, utc("2025-08-01T03:00:00")),
    Planned("F", "telegram", "f", F, utc("2025-08-02T03:00:00")),
    Planned("G", "telegram", "g", A, utc("2025-06-30T13:00:00")),  # 20:00 on 30 June local: Q2
    Planned("I", "telegram", "i", A, utc("2025-09-30T17:10:00")),  # 00:10 on 1 October local: Q4
]


async def chat_through(storage: Storage, q: Questionnaire, plan: Planned) -> int:
    conversation = Conversation(storage, q, CONSENT, clock=lambda: plan.when)
    chat = Chat(conversation, user=plan.user or "", channel=plan.channel)
    await chat.start()
    for text in plan.inputs:
        result = await chat.text(text)
        assert result.answered is not None, (plan.name, text, result)
    assert result.phase in ("consent", "idle"), (plan.name, result)
    async with storage.transaction() as conn:
        row = (
            await conn.execute(
                select(survey_sessions.c.id, survey_sessions.c.status)
                .where(survey_sessions.c.respondent_id == result.respondent_id)
                .order_by(survey_sessions.c.id.desc())
            )
        ).first()
    assert row is not None and row.status == repo.COMPLETED
    return int(row.id)


async def paper(storage: Storage, q: Questionnaire, inputs: list[str], when: datetime) -> int:
    answers = engine.finalize(q, walk(q, inputs), when)
    async with storage.transaction() as conn:
        session = await repo.create_session(
            conn,
            q,
            respondent_id=None,
            channel="offline",
            source="paper",
            source_ref=None,
            prefill={},
            now=when,
        )
        await repo.sync_answers(conn, q, session.id, {}, answers, when)
        await repo.finish_session(conn, session.id, repo.COMPLETED, when)
    return session.id


async def fill_quarter(storage: Storage, q: Questionnaire) -> dict[str, int]:
    """Enter the plan; returns name -> session id. Also leaves one questionnaire in progress."""
    ids: dict[str, int] = {}
    for plan in PLAN:
        if plan.channel == "offline":
            ids[plan.name] = await paper(storage, q, plan.inputs, plan.when)
        else:
            ids[plan.name] = await chat_through(storage, q, plan)
    unfinished = Chat(Conversation(storage, q, CONSENT, clock=lambda: utc("2025-08-20T03:00:00")), user="h")
    await unfinished.start()
    await unfinished.text("1")
    await unfinished.text("1")
    return ids


async def pseudonyms(storage: Storage) -> dict[str, str]:
    async with storage.transaction() as conn:
        rows = await conn.execute(select(respondents.c.external_id, respondents.c.pseudonym))
        return {row.external_id: row.pseudonym for row in rows}
