"""Queries on an open connection. Callers own the transaction (see Storage.transaction)."""

from __future__ import annotations

import secrets
from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal, literal_column, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import (
    answers,
    channel_state,
    consents,
    prefill_keys,
    processed_updates,
    respondents,
    survey_sessions,
)
from storage.statement import Statement
from storage.statement import dialect_insert as insert_of
from survey_flow.engine import Answer, answer_label
from survey_flow.model import OTHER_CODE, Questionnaire

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
ABANDONED = "abandoned"


class ConsentKind(StrEnum):
    """What one record of the consent register says (the latest record of a person decides)."""

    GRANTED = "granted"  # agreed to receive invitations
    REFUSED = "refused"  # answered «Нет» when asked; there was no consent to withdraw
    WITHDRAWN = "withdrawn"  # withdrew a consent given before (/stop, the button, an employee)
    ERASED = "erased"  # the person's link to their answers was deleted on request (otklik forget)


class ConsentPurpose(StrEnum):
    """What a consent is for; each purpose has its own history in the register."""

    INVITATIONS = "invitations"  # invitations to future surveys (mailings)
    REPLY = "reply"  # the ministry may answer the respondent about the difficulties they named


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Respondent:
    id: int
    pseudonym: str
    channel: str
    external_id: str
    name: str | None
    dialog: dict[str, Any]
    unreachable_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Respondent:
        """From a row with the columns of RESPONDENT_COLUMNS."""
        return cls(
            row.id, row.pseudonym, row.channel, row.external_id, row.name,
            dict(row.dialog or {}), as_utc(row.unreachable_at),
        )  # fmt: skip


@dataclass(frozen=True)
class SurveySession:
    id: int
    respondent_id: int | None
    channel: str
    status: str
    source: str
    source_ref: str | None
    started_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> SurveySession:
        """From a row with the columns of SESSION_COLUMNS."""
        started = as_utc(row.started_at)
        assert started is not None
        return cls(
            row.id, row.respondent_id, row.channel, row.status, row.source, row.source_ref,
            started, as_utc(row.completed_at),
        )  # fmt: skip


@dataclass(frozen=True)
class PrefillKey:
    key: str
    values: dict[str, str]
    source: str
    label: str


@dataclass(frozen=True)
class ConsentRecord:
    kind: ConsentKind
    channel: str
    text_version: str
    method: str
    recorded_at: datetime

    @property
    def granted(self) -> bool:
        return self.kind == ConsentKind.GRANTED


# --- respondents ---------------------------------------------------------------------------
#
# Every query is a `Statement` (storage/statement.py) next to the one function that runs it.


_R = respondents.c
_S = survey_sessions.c
# The columns Respondent and SurveySession hold: no extra JSON or timestamps to decode per row.
RESPONDENT_COLUMNS = (_R.id, _R.pseudonym, _R.channel, _R.external_id, _R.name, _R.dialog, _R.unreachable_at)
SESSION_COLUMNS = (_S.id, _S.respondent_id, _S.channel, _S.status, _S.source, _S.source_ref, _S.started_at, _S.completed_at)  # fmt: skip


def _insert_all(table: Any) -> Any:
    """INSERT taking every column but the generated `id` as a parameter of the column's name."""
    return insert(table).values({c.key: bindparam(c.key) for c in table.columns if c.key != "id"})


_RESPONDENT_BY_EXTERNAL = Statement(
    select(*RESPONDENT_COLUMNS).where(
        _R.channel == bindparam("channel"), _R.external_id == bindparam("external_id")
    )
)


async def get_respondent(conn: AsyncConnection, channel: str, external_id: str) -> Respondent | None:
    row = await _RESPONDENT_BY_EXTERNAL.first(conn, channel=channel, external_id=external_id)
    return Respondent.from_row(row) if row else None


_CREATE_RESPONDENT = Statement(
    lambda dialect: (
        insert_of(dialect, respondents)
        .values(
            {
                key: bindparam(key)
                for key in ("pseudonym", "channel", "external_id", "name", "dialog", "created_at")
            }
        )
        .on_conflict_do_nothing()
    )
)


async def get_or_create_respondent(
    conn: AsyncConnection, channel: str, external_id: str, now: datetime, name: str | None = None
) -> Respondent:
    existing = await get_respondent(conn, channel, external_id)
    if existing is not None:
        return existing
    await _create_respondent(conn, channel, external_id, now, name)
    created = await get_respondent(conn, channel, external_id)
    assert created is not None
    return created


async def _create_respondent(
    conn: AsyncConnection, channel: str, external_id: str, now: datetime, name: str | None
) -> None:
    await _CREATE_RESPONDENT.run(
        conn,
        pseudonym=secrets.token_hex(8),
        channel=channel,
        external_id=external_id,
        name=name,
        dialog={},
        created_at=now,
    )


# SQLite has no row locks and needs none (Storage runs one transaction at a time): there the
# same statement is compiled without FOR UPDATE.
_LOCK_RESPONDENT_SQL = (
    select(*RESPONDENT_COLUMNS)
    .where(_R.channel == bindparam("channel"), _R.external_id == bindparam("external_id"))
    .with_for_update()
)
_LOCK_RESPONDENT = Statement(_LOCK_RESPONDENT_SQL)


async def lock_respondent(
    conn: AsyncConnection, channel: str, external_id: str, now: datetime, name: str | None = None
) -> Respondent:
    """The respondent of a chat, created if new, locked until the transaction ends: two workers
    handling the same person serialise here, and each sees what the other committed."""
    row = await _LOCK_RESPONDENT.first(conn, channel=channel, external_id=external_id)
    if row is None:
        await _create_respondent(conn, channel, external_id, now, name)
        row = await _LOCK_RESPONDENT.first(conn, channel=channel, external_id=external_id)
        assert row is not None
    return Respondent.from_row(row)


_SET_DIALOG = Statement(
    update(respondents).where(_R.id == bindparam("respondent")).values(dialog=bindparam("dialog"))
)


async def set_dialog(conn: AsyncConnection, respondent_id: int, dialog: Mapping[str, Any]) -> None:
    await _SET_DIALOG.run(conn, respondent=respondent_id, dialog=dict(dialog))


_SET_UNREACHABLE = Statement(
    update(respondents)
    .where(_R.id == bindparam("respondent"))
    .values(unreachable_at=bindparam("unreachable_at"))
)


async def mark_unreachable(conn: AsyncConnection, respondent_id: int, now: datetime | None) -> None:
    await _SET_UNREACHABLE.run(conn, respondent=respondent_id, unreachable_at=now)


# --- survey sessions and answers ----------------------------------------------------------


_SESSION_BY_ID = Statement(select(*SESSION_COLUMNS).where(_S.id == bindparam("id")))


async def get_session(conn: AsyncConnection, session_id: int) -> SurveySession | None:
    row = await _SESSION_BY_ID.first(conn, id=session_id)
    return SurveySession.from_row(row) if row else None


def _newest_in_progress(respondent_id: Any, *columns: Any) -> Any:
    """A respondent's newest session in progress (active_session, and the claim's read of it)."""
    return (
        select(*columns)
        .where(_S.respondent_id == respondent_id, _S.status == IN_PROGRESS)
        .order_by(_S.id.desc())
        .limit(1)
    )


_ACTIVE_SESSION = Statement(_newest_in_progress(bindparam("respondent_id"), *SESSION_COLUMNS))


async def active_session(conn: AsyncConnection, respondent_id: int) -> SurveySession | None:
    row = await _ACTIVE_SESSION.first(conn, respondent_id=respondent_id)
    return SurveySession.from_row(row) if row else None


_CREATE_SESSION = Statement(_insert_all(survey_sessions).returning(_S.id))


async def create_session(
    conn: AsyncConnection,
    questionnaire: Questionnaire,
    *,
    respondent_id: int | None,
    channel: str,
    source: str,
    source_ref: str | None,
    prefill: Mapping[str, Answer],
    now: datetime,
) -> SurveySession:
    created = await _CREATE_SESSION.first(
        conn,
        respondent_id=respondent_id,
        channel=channel,
        status=IN_PROGRESS,
        source=source,
        source_ref=source_ref,
        prefill={code: a.option for code, a in prefill.items()},
        questionnaire_version=questionnaire.version,
        started_at=now,
        updated_at=now,
        completed_at=None,
    )
    assert created is not None
    await sync_answers(conn, questionnaire, created.id, {}, prefill, now)
    session = await get_session(conn, created.id)
    assert session is not None
    return session


_ANSWER_COLUMNS = (
    answers.c.question_code,
    answers.c.option_code,
    answers.c.value_text,
    answers.c.followup_text,
    answers.c.followup_skipped,
    answers.c.prefilled,
)


def _answer(row: Any) -> Answer:
    """From a row with the columns of _ANSWER_COLUMNS."""
    return Answer(
        option=row.option_code,
        text=row.value_text if row.option_code == OTHER_CODE else None,
        followup=row.followup_text,
        prefilled=bool(row.prefilled),
        followup_skipped=bool(row.followup_skipped),
    )


_ANSWERS_OF = Statement(select(*_ANSWER_COLUMNS).where(answers.c.session_id == bindparam("session_id")))


async def load_answers(conn: AsyncConnection, session_id: int) -> dict[str, Answer]:
    return {row.question_code: _answer(row) for row in await _ANSWERS_OF.rows(conn, session_id=session_id)}


# One round trip for what every answer starts with (one row per answer, or one without answers).
_SESSION_WITH_ANSWERS = Statement(
    select(*SESSION_COLUMNS, *_ANSWER_COLUMNS)
    .select_from(survey_sessions.outerjoin(answers, answers.c.session_id == _S.id))
    .where(_S.id == bindparam("id"))
)


async def session_with_answers(
    conn: AsyncConnection, session_id: int
) -> tuple[SurveySession, dict[str, Answer]] | None:
    rows = await _SESSION_WITH_ANSWERS.rows(conn, id=session_id)
    if not rows:
        return None
    given = {row.question_code: _answer(row) for row in rows if row.question_code is not None}
    return SurveySession.from_row(rows[0]), given


def answer_values(questionnaire: Questionnaire, code: str, answer: Answer) -> dict[str, Any]:
    """The stored columns of one answer: both numbers of the question and of the option."""
    question = questionnaire.question(code)
    option = question.option(answer.option)
    return {
        "question_code": code,
        "platform_code": question.platform_code,
        "option_code": answer.option,
        "option_platform_code": option.platform_code if option else answer.option,
        "value_text": answer.text
        if answer.option == OTHER_CODE
        else answer_label(questionnaire, code, answer),
        "followup_text": answer.followup,
        "followup_skipped": answer.followup_skipped,
        "prefilled": answer.prefilled,
    }


_INSERT_ANSWER = Statement(_insert_all(answers))
# Named unlike any column: a parameter named after a column of an UPDATE is a value to SET.
_ANSWER_OF_QUESTION = (
    answers.c.session_id == bindparam("session"),
    answers.c.question_code == bindparam("question"),
)
_UPDATE_ANSWER_SQL = (  # a follow-up text added, or an answer changed after "Назад"
    update(answers)
    .where(*_ANSWER_OF_QUESTION)
    .values(
        {
            c.key: bindparam(c.key)
            for c in answers.columns
            if c.key not in ("id", "session_id", "question_code")
        }
    )
)
_UPDATE_ANSWER = Statement(_UPDATE_ANSWER_SQL)
_DELETE_ANSWER = Statement(delete(answers).where(*_ANSWER_OF_QUESTION))
_TOUCH = (
    update(survey_sessions).where(_S.id == bindparam("session")).values(updated_at=bindparam("updated_at"))
)
_TOUCH_SESSION = Statement(_TOUCH)
# On PostgreSQL the last write of an answer and the session's touch are one statement (a
# data-modifying WITH): one round trip less on every answer. SQLite has no such WITH, and there
# a statement costs no round trip.
_INSERT_ANSWER_TOUCHING = Statement(
    _TOUCH.add_cte(_insert_all(answers).cte("answer")), only_on=("postgresql",)
)
_UPDATE_ANSWER_TOUCHING = Statement(_TOUCH.add_cte(_UPDATE_ANSWER_SQL.cte("answer")), only_on=("postgresql",))


async def sync_answers(
    conn: AsyncConnection,
    questionnaire: Questionnaire,
    session_id: int,
    before: Mapping[str, Answer],
    after: Mapping[str, Answer],
    now: datetime,
) -> None:
    """Write the difference between two answer sets: each answer is stored as it is given."""
    for code in before:
        if code not in after:
            await _DELETE_ANSWER.run(conn, session=session_id, question=code)
    writes: list[tuple[Statement, Statement, dict[str, Any]]] = []
    for code, answer in after.items():
        old = before.get(code)
        if old == answer:
            continue
        values = answer_values(questionnaire, code, answer)
        if old is None:
            params = {"session_id": session_id, "answered_at": now, **values}
            writes.append((_INSERT_ANSWER, _INSERT_ANSWER_TOUCHING, params))
        else:
            del values["question_code"]  # it names the row, it does not change
            params = {"session": session_id, "question": code, "answered_at": now, **values}
            writes.append((_UPDATE_ANSWER, _UPDATE_ANSWER_TOUCHING, params))
    last = writes.pop() if writes and _INSERT_ANSWER_TOUCHING.runs_on(conn) else None
    for alone, _touching, params in writes:
        await alone.run(conn, **params)
    if last is not None:
        _alone, touching, params = last
        await touching.run(conn, **{**params, "session": session_id, "updated_at": now})
    else:
        await _TOUCH_SESSION.run(conn, session=session_id, updated_at=now)


_FINISH_SESSION = Statement(
    update(survey_sessions)
    .where(_S.id == bindparam("session"))
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)
_COMPLETE_SESSION = Statement(
    update(survey_sessions)
    .where(_S.id == bindparam("session"))
    .values(status=COMPLETED, updated_at=bindparam("now"), completed_at=bindparam("now"))
)


async def finish_session(conn: AsyncConnection, session_id: int, status: str, now: datetime) -> None:
    if status == COMPLETED:
        await _COMPLETE_SESSION.run(conn, session=session_id, now=now)
    else:
        await _FINISH_SESSION.run(conn, session=session_id, status=status, now=now)


# --- prefill keys --------------------------------------------------------------------------


_CREATE_PREFILL = Statement(_insert_all(prefill_keys))


async def create_prefill(
    conn: AsyncConnection,
    values: Mapping[str, str],
    source: str,
    label: str,
    now: datetime,
    key: str | None = None,
) -> str:
    key = key or secrets.token_urlsafe(9)  # 12 chars of A-Za-z0-9_-: fits Telegram's 64-char payload
    await _CREATE_PREFILL.run(conn, key=key, values=dict(values), source=source, label=label, created_at=now)
    return key


_PREFILL_BY_KEY = Statement(
    select(prefill_keys.c.key, prefill_keys.c["values"], prefill_keys.c.source, prefill_keys.c.label).where(
        prefill_keys.c.key == bindparam("key")
    )
)


async def get_prefill(conn: AsyncConnection, key: str) -> PrefillKey | None:
    row = await _PREFILL_BY_KEY.first(conn, key=key)
    if row is None:
        return None
    return PrefillKey(key=row.key, values=dict(row.values), source=row.source, label=row.label)


# --- consent register ---------------------------------------------------------------------


_C = consents.c
_RECORD_CONSENT = Statement(_insert_all(consents))


async def record_consent(
    conn: AsyncConnection,
    respondent_id: int,
    *,
    kind: ConsentKind | None = None,
    granted: bool | None = None,
    channel: str,
    text_version: str,
    method: str,
    now: datetime,
    recorded_by: str | None = None,
    purpose: ConsentPurpose = ConsentPurpose.INVITATIONS,
) -> None:
    """Append one record. `granted=True/False` is shorthand for a grant / a withdrawal."""
    if kind is None:
        if granted is None:
            raise TypeError("record_consent needs kind (or granted)")
        kind = ConsentKind.GRANTED if granted else ConsentKind.WITHDRAWN
    elif granted is not None and granted != (kind == ConsentKind.GRANTED):
        raise ValueError(f"granted={granted} contradicts kind={kind}")
    await _RECORD_CONSENT.run(
        conn,
        respondent_id=respondent_id,
        granted=kind == ConsentKind.GRANTED,
        kind=str(kind),
        purpose=str(purpose),
        channel=channel,
        text_version=text_version,
        method=method,
        recorded_at=now,
        recorded_by=recorded_by,
    )


_LATEST_CONSENT = Statement(
    select(_C.kind, _C.channel, _C.text_version, _C.method, _C.recorded_at)
    .where(_C.respondent_id == bindparam("respondent_id"), _C.purpose == bindparam("purpose"))
    .order_by(_C.id.desc())
    .limit(1)
)


async def latest_consent(
    conn: AsyncConnection, respondent_id: int, purpose: ConsentPurpose = ConsentPurpose.INVITATIONS
) -> ConsentRecord | None:
    """The record that decides the purpose now (its latest), or None when never asked."""
    row = await _LATEST_CONSENT.first(conn, respondent_id=respondent_id, purpose=str(purpose))
    if row is None:
        return None
    recorded = as_utc(row.recorded_at)
    assert recorded is not None
    return ConsentRecord(ConsentKind(row.kind), row.channel, row.text_version, row.method, recorded)


# --- idempotency and channel state --------------------------------------------------------


_MARK_PROCESSED = Statement(
    lambda dialect: (
        insert_of(dialect, processed_updates)
        .values({key: bindparam(key) for key in ("channel", "bot", "update_id", "processed_at")})
        .on_conflict_do_nothing()
    )
)


async def mark_processed(
    conn: AsyncConnection, channel: str, update_id: str, now: datetime, *, bot: str = ""
) -> bool:
    """Record an update as handled; False when it already was (a re-delivery).

    `bot` is the Telegram bot id or the VK community id: update ids are numbered per bot, so
    another bot on the same database has its own ids that may equal the old bot's.
    """
    changed = await _MARK_PROCESSED.run(conn, channel=channel, bot=bot, update_id=update_id, processed_at=now)
    return changed == 1


_SESSION_KEYS: tuple[str, ...] = tuple(column.key for column in SESSION_COLUMNS)
_SessionRow = namedtuple("_SessionRow", _SESSION_KEYS)  # type: ignore[misc]


def _claim_update(dialect: str) -> Any:
    fresh = (
        insert_of(dialect, processed_updates)
        .values({key: bindparam(key) for key in ("channel", "bot", "update_id", "processed_at")})
        .on_conflict_do_nothing()
        .returning(literal(1))
        .cte("fresh")
    )
    marked = select(func.count().label("fresh")).select_from(fresh).subquery("marked")
    person = _LOCK_RESPONDENT_SQL.lateral("person")
    # The newest session in progress, read under the lock its answer's write takes anyway
    # (FOR NO KEY UPDATE, as the session's touch), with `xmin` (the row version's writer) to
    # compare against the snapshot below. Columns prefixed: they share the respondent's names.
    newest = (
        _newest_in_progress(
            person.c.id,
            *(column.label(f"session_{column.key}") for column in SESSION_COLUMNS),
            literal_column(f"{survey_sessions.name}.xmin").label("session_version"),
        )
        .with_for_update(key_share=True)
        .lateral("newest")
    )
    # Under READ COMMITTED a statement that waited for the respondent's lock gets the locked
    # rows' newest versions, but reads every other row (the answers) from the snapshot it took
    # before waiting. The session's row changes with every change of its answers (the touch in
    # sync_answers), so: its locked version equal to its version in the snapshot means the
    # answers read here are current; otherwise the caller reads them again.
    snapshot = survey_sessions.alias("snapshot")
    in_snapshot = (
        select(literal_column("snapshot.xmin")).where(snapshot.c.id == newest.c.session_id).scalar_subquery()
    )
    return select(
        marked.c.fresh,
        *person.c,
        *(column for column in newest.c if column.key != "session_version"),
        (newest.c.session_version == in_snapshot).label("session_current"),
        *_ANSWER_COLUMNS,
    ).select_from(
        marked.outerjoin(person, true())
        .outerjoin(newest, true())
        .outerjoin(answers, answers.c.session_id == newest.c.session_id)
    )


# On PostgreSQL the update's marker, the respondent's row lock and the newest session in
# progress with its answers are one statement (one row per answer; `fresh` 0 for a redelivery,
# the respondent's columns empty if there is none yet).
_CLAIM_UPDATE = Statement(_claim_update, only_on=("postgresql",))


@dataclass(frozen=True)
class Claim:
    """Where handling an update starts (claim_update)."""

    respondent: Respondent
    # The respondent's newest session in progress with its answers, when the claim read them
    # and they are known to be current (PostgreSQL); None means: not known, read them.
    in_progress: tuple[SurveySession, dict[str, Answer]] | None = None


async def claim_update(
    conn: AsyncConnection,
    channel: str,
    update_id: str | None,
    external_id: str,
    now: datetime,
    *,
    name: str | None = None,
    bot: str = "",
) -> Claim | None:
    """Where handling an update starts: record it as handled (mark_processed) and lock its
    respondent, created if new, until the transaction ends (lock_respondent). None if the update
    was handled before (a redelivery); an update without an id is never one."""
    if update_id is None:
        return Claim(await lock_respondent(conn, channel, external_id, now, name))
    if not _CLAIM_UPDATE.runs_on(conn):
        if not await mark_processed(conn, channel, update_id, now, bot=bot):
            return None
        return Claim(await lock_respondent(conn, channel, external_id, now, name))
    rows = await _CLAIM_UPDATE.rows(
        conn, channel=channel, bot=bot, update_id=update_id, processed_at=now, external_id=external_id
    )
    row = rows[0]
    if not row.fresh:
        return None
    if row.id is None:  # a new respondent
        return Claim(await lock_respondent(conn, channel, external_id, now, name))
    in_progress = None
    if row.session_id is not None and row.session_current:
        values = [getattr(row, f"session_{key}") for key in _SESSION_KEYS]
        session = SurveySession.from_row(_SessionRow(*values))
        given = {one.question_code: _answer(one) for one in rows if one.question_code is not None}
        in_progress = (session, given)
    return Claim(Respondent.from_row(row), in_progress)


_STATE = Statement(select(channel_state.c.value).where(channel_state.c.key == bindparam("key")))


async def get_state(conn: AsyncConnection, key: str) -> str | None:
    row = await _STATE.first(conn, key=key)
    return None if row is None else str(row.value)


def _upsert_state(dialect: str) -> Any:
    stmt = insert_of(dialect, channel_state).values(
        key=bindparam("key"), value=bindparam("value"), updated_at=bindparam("updated_at")
    )
    return stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}
    )


_SET_STATE = Statement(_upsert_state)


async def set_state(conn: AsyncConnection, key: str, value: str, now: datetime) -> None:
    await _SET_STATE.run(conn, key=key, value=value, updated_at=now)


# --- for the other modules of storage/, which run their own Core statements ---------------------


def dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    """INSERT of the connection's dialect: ON CONFLICT clauses are dialect syntax."""
    return insert_of(conn.dialect.name, table)


def insert_ignore(conn: AsyncConnection, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING (a row already there is kept, rowcount 0)."""
    return dialect_insert(conn, table).on_conflict_do_nothing()
