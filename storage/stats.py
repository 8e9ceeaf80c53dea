"""Small operational counts for staff (`/stats`): not the quarterly analysis (reports/ does that)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.reports_repo import Answered
from storage.repository import COMPLETED, IN_PROGRESS, ConsentPurpose
from storage.schema import answers, consents, survey_sessions


@dataclass(frozen=True)
class Counts:
    completed_today: int
    completed_since: int
    in_progress: int
    consenting: int


async def survey_counts(
    conn: AsyncConnection, *, today: datetime, since: datetime, unit: Answered | None = None
) -> Counts:
    """The counts of all units, or of the questionnaires (and people) with `unit`'s answer."""

    def sessions(*where: object) -> object:
        query = select(func.count()).select_from(survey_sessions).where(*where)  # type: ignore[arg-type]
        if unit is not None:
            query = query.where(
                select(answers.c.id)
                .where(
                    and_(
                        answers.c.session_id == survey_sessions.c.id,
                        answers.c.question_code == unit.question,
                        answers.c.option_code == unit.option,
                    )
                )
                .exists()
            )
        return query

    async def scalar(query: object) -> int:
        return int((await conn.execute(query)).scalar_one())  # type: ignore[call-overload]

    done = survey_sessions.c.status == COMPLETED
    latest = (
        select(consents.c.respondent_id, func.max(consents.c.id).label("last_id"))
        .where(consents.c.purpose == ConsentPurpose.INVITATIONS)
        .group_by(consents.c.respondent_id)
        .subquery()
    )
    consenting = (
        select(func.count())
        .select_from(consents.join(latest, consents.c.id == latest.c.last_id))
        .where(consents.c.granted.is_(True))
    )
    if unit is not None:
        # A person counts for a unit when one of their questionnaires names it.
        in_unit = (
            select(survey_sessions.c.respondent_id)
            .join(answers, answers.c.session_id == survey_sessions.c.id)
            .where(answers.c.question_code == unit.question, answers.c.option_code == unit.option)
        )
        consenting = consenting.where(consents.c.respondent_id.in_(in_unit))
    return Counts(
        completed_today=await scalar(sessions(done, survey_sessions.c.completed_at >= today)),
        completed_since=await scalar(sessions(done, survey_sessions.c.completed_at >= since)),
        in_progress=await scalar(sessions(survey_sessions.c.status == IN_PROGRESS)),
        consenting=await scalar(consenting),
    )
