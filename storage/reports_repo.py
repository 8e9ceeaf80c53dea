"""Read-side queries of exports and reports, and the client totals of Appendix 2.

Callers own the connection (see Storage.transaction). Completed sessions are read in id-ordered
batches, so the memory of an export does not grow with the number of questionnaires.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from storage.repository import COMPLETED, dialect_insert
from storage.schema import answers, client_totals, respondents, survey_sessions

# The options of the questionnaire's own (not configured) questions the reports count. The method
# question, «Способ получения меры поддержки», is the client's channel of interaction (point 2.3 of
# the order): option 1 «Лично в органе власти» is offline, option 2(4) online.
IN_PERSON_OPTION = "1"
ONLINE_OPTION = "2"
SATISFIED_OPTION = "1"  # «Скорее удовлетворен» of the satisfaction question
OFFLINE = "offline"
ONLINE = "online"
UNSPECIFIED = "unspecified"  # no answer to 5(15), e.g. a blank on a paper form


class Answered(NamedTuple):
    """Questionnaires whose answer to `question` is `option` (e.g. the ones of one unit)."""

    question: str
    option: str


class Appendix2Questions(NamedTuple):
    """The codes of the questions Appendix 2 groups and counts by."""

    point: str
    satisfaction: str
    method: str


class PackedSession(NamedTuple):
    """A completed questionnaire as the export reads it."""

    id: int
    channel: str
    source: str
    source_ref: str | None
    pseudonym: str | None
    external_id: str | None
    name: str | None
    # question code -> its `answer_cell` value, and `followup_key(code)` -> the difficulty text
    cells: dict[str, str]


FOLLOWUP_SUFFIX = "_text"


def followup_key(question_code: str) -> str:
    """The key of a difficulty text in `PackedSession.cells` (the export names its column alike)."""
    return question_code + FOLLOWUP_SUFFIX


def answer_cell(
    *, labels: bool, verbatim: Sequence[str], other_code: str, other_prefix: str
) -> ColumnElement[str]:
    """An answer's export cell computed by the database, so Python does not branch per cell:
    the option code itself for `verbatim` questions (the recorded date and time), the prefix and
    the typed text for an own variant, else the option's label or its platform code."""
    a = answers.c
    return case(
        (a.question_code.in_(list(verbatim)), a.option_code),
        (a.option_code == other_code, literal(other_prefix) + a.value_text),
        else_=a.value_text if labels else a.option_platform_code,
    )


def _completed_in(start: datetime, end: datetime, unit: Answered | None) -> list[ColumnElement[bool]]:
    s = survey_sessions.c
    where: list[ColumnElement[bool]] = [s.status == COMPLETED, s.completed_at >= start, s.completed_at < end]
    if unit is not None:
        unit_answer = answers.alias("unit_answer")
        where.append(
            exists()
            .where(
                unit_answer.c.session_id == s.id,
                unit_answer.c.question_code == unit.question,
                unit_answer.c.option_code == unit.option,
            )
            .correlate(survey_sessions)
        )
    return where


def _packed_answers(conn: AsyncConnection, cell: ColumnElement[str]) -> ColumnElement[Any]:
    """[{question code: cell}, {followup key: text}] of one session, built by the database."""
    a = answers.c
    key = a.question_code + FOLLOWUP_SUFFIX
    if conn.dialect.name == "postgresql":
        cells = func.json_object_agg(a.question_code, cell)
        texts = func.json_object_agg(key, a.followup_text).filter(a.followup_text.is_not(None))
        packed = func.json_build_array(cells, texts)
    else:
        cells = func.json_group_object(a.question_code, cell)
        texts = func.json_group_object(key, a.followup_text).filter(a.followup_text.is_not(None))
        packed = func.json_array(cells, texts)
    return select(packed).where(a.session_id == survey_sessions.c.id).scalar_subquery()


async def iter_completed(
    conn: AsyncConnection,
    start: datetime,
    end: datetime,
    unit: Answered | None = None,
    batch: int = 1000,
    *,
    cell: ColumnElement[str] | None = None,
) -> AsyncIterator[PackedSession]:
    """Completed sessions in [start, end) (optionally of one unit) with their answers, by id.

    `cell` is what `PackedSession.cells` holds per answer (default: the option's platform code).
    """
    s = survey_sessions.c
    r = respondents.c
    where = _completed_in(start, end, unit)
    # One row per session with its answers packed as JSON objects by the database: no per-answer
    # rows or objects in Python, the largest cost of a 100,000-row export (docs/performance.md).
    packed = _packed_answers(conn, answers.c.option_platform_code if cell is None else cell)
    loads = json.loads
    last_id = 0
    while True:
        rows = (
            await conn.execute(
                select(s.id, s.channel, s.source, s.source_ref, r.pseudonym, r.external_id, r.name, packed)
                .select_from(survey_sessions.outerjoin(respondents, r.id == s.respondent_id))
                .where(*where, s.id > last_id)
                .order_by(s.id)
                .limit(batch)
            )
        ).all()
        if not rows:
            return
        for session_id, channel, source, source_ref, pseudonym, external_id, name, data in rows:
            # SQLite returns JSON text, PostgreSQL a parsed value; an empty aggregate is null there.
            cells, texts = loads(data) if isinstance(data, str) else data
            cells = cells or {}
            if texts:
                cells.update(texts)
            yield PackedSession(session_id, channel, source, source_ref, pseudonym, external_id, name, cells)
        last_id = rows[-1][0]


@dataclass
class AnswerTally:
    """Answers of completed questionnaires to some questions, counted in one pass."""

    # question code -> option code -> number of questionnaires with that answer
    options: dict[str, dict[str, int]]
    # question code -> [(score, difficulty text, how many times)], identical texts counted once;
    # most frequent first, then by score and text (the database's order of texts)
    texts: dict[str, list[tuple[str, str, int]]]


async def tally_answers(
    conn: AsyncConnection, start: datetime, end: datetime, unit: Answered | None, questions: Sequence[str]
) -> AnswerTally:
    """Option counts and difficulty texts from one grouped read of the answers: reading them is
    the report's largest cost, so they are read once (docs/performance.md)."""
    a = answers.c
    times = func.count().label("times")
    completed = select(survey_sessions.c.id).where(*_completed_in(start, end, unit))
    rows = await conn.execute(
        select(a.question_code, a.option_code, a.followup_text, times)
        .where(a.session_id.in_(completed), a.question_code.in_(list(questions)))
        .group_by(a.question_code, a.option_code, a.followup_text)
        .order_by(a.question_code, times.desc(), a.option_code, a.followup_text)
    )
    tally = AnswerTally({code: {} for code in questions}, {code: [] for code in questions})
    for question_code, option_code, text, count in rows:
        by_option = tally.options[question_code]
        by_option[option_code] = by_option.get(option_code, 0) + int(count)
        if text is not None:
            tally.texts[question_code].append((str(option_code), str(text), int(count)))
    return tally


@dataclass(frozen=True)
class GroupFigures:
    questionnaires: int
    respondents: int
    satisfied: int
    satisfaction_answers: int


def channel_kind(way: Any) -> ColumnElement[str]:
    """The channel of interaction by the answer to the method question (`way` is its answers
    row), whatever the questionnaire came through: a QR scan at the reception is offline, a paper
    form of an online applicant online."""
    return case(
        (way.c.option_code == IN_PERSON_OPTION, literal(OFFLINE)),
        (way.c.option_code == ONLINE_OPTION, literal(ONLINE)),
        else_=literal(UNSPECIFIED),
    )


async def appendix2_figures(
    conn: AsyncConnection,
    start: datetime,
    end: datetime,
    unit: Answered,
    groups: Mapping[str, str],
    other_group: str,
    questions: Appendix2Questions,
) -> dict[tuple[str, str], GroupFigures]:
    """(process group, online/offline/unspecified) -> figures; `groups` maps point codes to
    group names."""
    s = survey_sessions.c
    point = aliased(answers)
    sat = aliased(answers)
    way = aliased(answers)
    group = (
        case(
            *((point.c.option_code == code, literal(name)) for code, name in groups.items()),
            else_=literal(other_group),
        )
        if groups
        else literal(other_group)
    )
    kind = channel_kind(way)
    # Paper questionnaires have no respondent: each one counts as one person.
    person = func.count(func.distinct(s.respondent_id)) + func.sum(
        case((s.respondent_id.is_(None), 1), else_=0)
    )
    query = (
        select(
            group.label("grp"),
            kind.label("kind"),
            func.count().label("questionnaires"),
            person.label("persons"),
            func.sum(case((sat.c.option_code == SATISFIED_OPTION, 1), else_=0)).label("satisfied"),
            func.count(sat.c.id).label("sat_answers"),
        )
        .select_from(
            survey_sessions.outerjoin(
                point, and_(point.c.session_id == s.id, point.c.question_code == questions.point)
            )
            .outerjoin(sat, and_(sat.c.session_id == s.id, sat.c.question_code == questions.satisfaction))
            .outerjoin(way, and_(way.c.session_id == s.id, way.c.question_code == questions.method))
        )
        .where(*_completed_in(start, end, unit))
        .group_by(group, kind)
    )
    figures: dict[tuple[str, str], GroupFigures] = {}
    for row in await conn.execute(query):
        figures[(str(row.grp), str(row.kind))] = GroupFigures(
            questionnaires=int(row.questionnaires),
            respondents=int(row.persons or 0),
            satisfied=int(row.satisfied or 0),
            satisfaction_answers=int(row.sat_answers),
        )
    return figures


# --- client totals ------------------------------------------------------------------------


async def set_client_total(
    conn: AsyncConnection,
    *,
    quarter: str,
    unit: str,
    process_group: str,
    channel: str,
    total: int,
    now: datetime,
    by: str | None,
) -> None:
    values = {"total": total, "updated_at": now, "updated_by": by}
    stmt = dialect_insert(conn, client_totals).values(
        quarter=quarter, unit=unit, process_group=process_group, channel=channel, **values
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["quarter", "unit", "process_group", "channel"], set_=values
        )
    )


async def client_totals_for(conn: AsyncConnection, quarter: str, unit: str) -> dict[tuple[str, str], int]:
    c = client_totals.c
    rows = await conn.execute(
        select(c.process_group, c.channel, c.total).where(c.quarter == quarter, c.unit == unit)
    )
    return {(row.process_group, row.channel): int(row.total) for row in rows}


async def count_completed(
    conn: AsyncConnection, start: datetime, end: datetime, unit: Answered | None
) -> int:
    query = select(func.count()).select_from(survey_sessions).where(*_completed_in(start, end, unit))
    return int((await conn.execute(query)).scalar_one())


async def count_without_answer(conn: AsyncConnection, start: datetime, end: datetime, question: str) -> int:
    """Completed questionnaires in [start, end) with no answer to `question` (a paper blank)."""
    s = survey_sessions.c
    given = exists().where(answers.c.session_id == s.id, answers.c.question_code == question)
    query = select(func.count()).select_from(survey_sessions).where(*_completed_in(start, end, None), ~given)
    return int((await conn.execute(query)).scalar_one())
