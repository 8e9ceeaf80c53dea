"""The respondent's side of a case (docs/cases.md), channel-neutral: whether to ask «may the
ministry answer you here?», the case's deadline, and what a reply of the respondent means.

The conversation calls these inside its transaction; the staff side and the relay are in
bot/cases/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.config import Settings
from bot.core.alerts import is_alarming
from reports.working_days import deadline
from storage import cases as cases_repo
from storage.cases import Case
from survey_flow.engine import Answer
from survey_flow.model import Questionnaire, QuestionRole
from survey_flow.text import normalize

YES = "Да, ответьте мне"
NO = "Нет, не нужно"
AGREED = (
    "Спасибо! Сотрудники министерства ответят Вам здесь. Номер Вашего обращения — {number}. "
    "Отозвать согласие можно командой {stop}."
)
REFUSED = "Хорошо, отвечать не будем. Спасибо за участие в опросе!"
REPLY_RECEIVED = "Ваше сообщение передано сотрудникам министерства (обращение № {number})."
REPLY_WITHDRAWN = "Согласие на ответ министерства отозвано: сообщения по Вашему обращению больше не придут."
REPLY_MAX_CHARS = 4000  # a reply is shown in the unit chat as one Telegram message
CLOSED_BY_THANKS = "Спасибо! Обращение № {number} закрыто. Если появятся вопросы, пройдите опрос снова."

# «Спасибо», «спасибо большое!», «благодарю», «спс»: a short message that only thanks.
_THANKS = re.compile(r"^(большое |огромное )?(спасибо|спс|благодарю|благодарим|благодарна|благодарен)\b")
THANKS_MAX_CHARS = 60  # longer messages say more than thanks: they go to the unit, the case stays open


@dataclass(frozen=True)
class CaseTerms:
    """What the asking needs from `[cases]` and `[reports]`."""

    enabled: bool
    question: str
    text_version: str
    deadline_days: int
    holidays: frozenset[date]
    zone: ZoneInfo

    @classmethod
    def of(cls, settings: Settings) -> CaseTerms:
        c = settings.cases
        return cls(
            enabled=c.enabled,
            question=c.question,
            text_version=c.text_version,
            deadline_days=c.deadline_days,
            holidays=c.holiday_set,
            zone=ZoneInfo(settings.reports.timezone),
        )

    @classmethod
    def off(cls) -> CaseTerms:
        return cls(False, "", "-", 5, frozenset(), ZoneInfo("UTC"))


def asks_for_reply(q: Questionnaire, answers: dict[str, Answer]) -> bool:
    """A low score (or «Скорее не удовлетворен») and a difficulty described in words."""
    described = any(a.followup and a.followup.strip() for a in answers.values())
    return described and is_alarming(q, answers)


def is_thanks(text: str) -> bool:
    word = normalize(text)
    return len(word) <= THANKS_MAX_CHARS and _THANKS.match(word) is not None


def unit_of(q: Questionnaire, answers: dict[str, Answer]) -> str | None:
    unit = answers.get(q.by_role(QuestionRole.UNIT).code)
    return unit.option if unit is not None else None


async def open_for(
    conn: AsyncConnection,
    terms: CaseTerms,
    *,
    session_id: int,
    unit: str,
    channel: str,
    now: datetime,
) -> Case:
    due = deadline(now, terms.deadline_days, terms.zone, terms.holidays)
    return await cases_repo.open_case(conn, session_id, unit=unit, channel=channel, now=now, deadline_at=due)
