"""Queries on an open connection. Callers own the transaction (see Storage.transaction)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.direct import DirectStatement
from storage.schema import (
    answers,
    channel_state,
    consents,
    prefill_keys,
    processed_updates,
    respondents,
    survey_sessions,
)
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
    def from_row(cls, row: Sequence[Any]) -> Respondent:
        """From a row of RESPONDENT_COLUMNS, in that order."""
        id_, pseudonym, channel, external_id, name, dialog, unreachable_at = row
        return cls(id_, pseudonym, channel, external_id, name, dict(dialog or {}), as_utc(unreachable_at))


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
    def from_row(cls, row: Sequence[Any]) -> SurveySession:
        """From a row of SESSION_COLUMNS, in that order."""
        id_, respondent_id, channel, status, source, source_ref, started_at, completed_at = row
        started = as_utc(started_at)
        assert started is not None
        return cls(id_, respondent_id, channel, status, source, source_ref, started, as_utc(completed_at))


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


_R = respondents.c
_S = survey_sessions.c
# The columns Respondent and SurveySession hold, in their order: no extra JSON or timestamps to
# decode per row.
RESPONDENT_COLUMNS = (_R.id, _R.pseudonym, _R.channel, _R.external_id, _R.name, _R.dialog, _R.unreachable_at)
SESSION_COLUMNS = (_S.id, _S.respondent_id, _S.channel, _S.status, _S.source, _S.source_ref, _S.started_at, _S.completed_at)  # fmt: skip

# The statements of every chat answer are built once and run directly on SQLite's driver
# (storage/direct.py): SQLAlchemy's per-call work costs more than running them (bench/answers.py).
_RESPONDENT_BY_EXTERNAL = DirectStatement(
    select(*RESPONDENT_COLUMNS).where(
        _R.channel == bindparam("b_channel"), _R.external_id == bindparam("b_external")
    )
)
_SET_DIALOG = DirectStatement(
    update(respondents).where(_R.id == bindparam("b_id")).values(dialog=bindparam("b_dialog"))
)
_SESSION_BY_ID = DirectStatement(select(*SESSION_COLUMNS).where(_S.id == bindparam("b_id")))
_ANSWERS_OF = DirectStatement(
    select(
        answers.c.question_code,
        answers.c.option_code,
        answers.c.value_text,
        answers.c.followup_text,
        answers.c.followup_skipped,
        answers.c.prefilled,
    ).where(answers.c.session_id == bindparam("b_session"))
)
_TOUCH_SESSION = DirectStatement(
    update(survey_sessions).where(_S.id == bindparam("b_id")).values(updated_at=bindparam("b_now"))
)
_ANSWER_KEYS = (
    "session_id", "answered_at", "question_code", "platform_code", "option_code",
    "option_platform_code", "value_text", "followup_text", "followup_skipped", "prefilled",
)  # fmt: skip
_INSERT_ANSWER = DirectStatement(insert(answers), column_keys=_ANSWER_KEYS)
_UPDATE_ANSWER = DirectStatement(  # a follow-up text added, or an answer changed after "Назад"
    update(answers)
    .where(answers.c.session_id == bindparam("b_session"), answers.c.question_code == bindparam("b_code"))
    .values(
        {key: bindparam(f"v_{key}") for key in _ANSWER_KEYS if key not in ("session_id", "question_code")}
    )
)
# Once per questionnaire: starting, finishing and the consent question.
_ACTIVE_SESSION = DirectStatement(
    select(*SESSION_COLUMNS)
    .where(_S.respondent_id == bindparam("b_respondent"), _S.status == IN_PROGRESS)
    .order_by(_S.id.desc())
    .limit(1)
)
_SESSION_KEYS = (
    "respondent_id", "channel", "status", "source", "source_ref", "prefill",
    "questionnaire_version", "started_at", "updated_at",
)  # fmt: skip
_CREATE_SESSION = DirectStatement(insert(survey_sessions).returning(_S.id), column_keys=_SESSION_KEYS)
_FINISH_SESSION = DirectStatement(
    update(survey_sessions)
    .where(_S.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), updated_at=bindparam("b_now"))
)
_COMPLETE_SESSION = DirectStatement(
    update(survey_sessions)
    .where(_S.id == bindparam("b_id"))
    .values(status=COMPLETED, updated_at=bindparam("b_now"), completed_at=bindparam("b_now"))
)
_PREFILL_BY_KEY = DirectStatement(
    select(prefill_keys.c.key, prefill_keys.c["values"], prefill_keys.c.source, prefill_keys.c.label).where(
        prefill_keys.c.key == bindparam("b_key")
    )
)
_C = consents.c
_CONSENT_KEYS = (
    "respondent_id",
    "granted",
    "kind",
    "purpose",
    "channel",
    "text_version",
    "method",
    "recorded_at",
    "recorded_by",
)
_RECORD_CONSENT = DirectStatement(insert(consents), column_keys=_CONSENT_KEYS)
_LATEST_CONSENT = DirectStatement(
    select(_C.kind, _C.channel, _C.text_version, _C.method, _C.recorded_at)
    .where(_C.respondent_id == bindparam("b_respondent"), _C.purpose == bindparam("b_purpose"))
    .order_by(_C.id.desc())
    .limit(1)
)


async def get_respondent(conn: AsyncConnection, channel: str, external_id: str) -> Respondent | None:
    row = await _RESPONDENT_BY_EXTERNAL.first(conn, {"b_channel": channel, "b_external": external_id})
    return Respondent.from_row(row) if row else None


async def get_or_create_respondent(
    conn: AsyncConnection, channel: str, external_id: str, now: datetime, name: str | None = None
) -> Respondent:
    existing = await get_respondent(conn, channel, external_id)
    if existing is not None:
        return existing
    await conn.execute(
        insert_ignore(conn, respondents).values(
            pseudonym=secrets.token_hex(8),
            channel=channel,
            external_id=external_id,
            name=name,
            dialog={},
            created_at=now,
        )
    )
    created = await get_respondent(conn, channel, external_id)
    assert created is not None
    return created


async def lock_respondent(conn: AsyncConnection, respondent_id: int) -> Respondent:
    """Re-read the respondent, holding a row lock on PostgreSQL so workers serialise per person."""
    query = select(*RESPONDENT_COLUMNS).where(_R.id == respondent_id).with_for_update()
    row = (await conn.execute(query)).one()
    return Respondent.from_row(row)


async def set_dialog(conn: AsyncConnection, respondent_id: int, dialog: Mapping[str, Any]) -> None:
    await _SET_DIALOG.run(conn, {"b_id": respondent_id, "b_dialog": dict(dialog)})


async def mark_unreachable(conn: AsyncConnection, respondent_id: int, now: datetime | None) -> None:
    await conn.execute(
        update(respondents).where(respondents.c.id == respondent_id).values(unreachable_at=now)
    )


# --- survey sessions and answers ----------------------------------------------------------


async def get_session(conn: AsyncConnection, session_id: int) -> SurveySession | None:
    row = await _SESSION_BY_ID.first(conn, {"b_id": session_id})
    return SurveySession.from_row(row) if row else None


async def active_session(conn: AsyncConnection, respondent_id: int) -> SurveySession | None:
    row = await _ACTIVE_SESSION.first(conn, {"b_respondent": respondent_id})
    return SurveySession.from_row(row) if row else None


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
        {
            "respondent_id": respondent_id,
            "channel": channel,
            "status": IN_PROGRESS,
            "source": source,
            "source_ref": source_ref,
            "prefill": {code: a.option for code, a in prefill.items()},
            "questionnaire_version": questionnaire.version,
            "started_at": now,
            "updated_at": now,
        },
    )
    assert created is not None
    session_id = int(created[0])
    await sync_answers(conn, questionnaire, session_id, {}, prefill, now)
    session = await get_session(conn, session_id)
    assert session is not None
    return session


async def load_answers(conn: AsyncConnection, session_id: int) -> dict[str, Answer]:
    rows = await _ANSWERS_OF.rows(conn, {"b_session": session_id})
    return {
        question: Answer(
            option=option,
            text=value if option == OTHER_CODE else None,
            followup=followup,
            prefilled=bool(prefilled),
            followup_skipped=bool(skipped),
        )
        for question, option, value, followup, skipped, prefilled in rows
    }


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


async def sync_answers(
    conn: AsyncConnection,
    questionnaire: Questionnaire,
    session_id: int,
    before: Mapping[str, Answer],
    after: Mapping[str, Answer],
    now: datetime,
) -> None:
    """Write the difference between two answer sets: each answer is stored as it is given."""
    removed = [code for code in before if code not in after]
    if removed:
        await conn.execute(
            delete(answers).where(answers.c.session_id == session_id, answers.c.question_code.in_(removed))
        )
    for code, answer in after.items():
        old = before.get(code)
        if old == answer:
            continue
        values = answer_values(questionnaire, code, answer)
        if old is None:
            await _INSERT_ANSWER.run(conn, {"session_id": session_id, "answered_at": now, **values})
        else:
            changed = {f"v_{key}": value for key, value in values.items() if key != "question_code"}
            await _UPDATE_ANSWER.run(
                conn, {"b_session": session_id, "b_code": code, "v_answered_at": now, **changed}
            )
    await _TOUCH_SESSION.run(conn, {"b_id": session_id, "b_now": now})


async def finish_session(conn: AsyncConnection, session_id: int, status: str, now: datetime) -> None:
    if status == COMPLETED:
        await _COMPLETE_SESSION.run(conn, {"b_id": session_id, "b_now": now})
    else:
        await _FINISH_SESSION.run(conn, {"b_id": session_id, "b_status": status, "b_now": now})


# --- prefill keys --------------------------------------------------------------------------


async def create_prefill(
    conn: AsyncConnection,
    values: Mapping[str, str],
    source: str,
    label: str,
    now: datetime,
    key: str | None = None,
) -> str:
    key = key or secrets.token_urlsafe(9)  # 12 chars of A-Za-z0-9_-: fits Telegram's 64-char payload
    await conn.execute(
        insert(prefill_keys).values(key=key, values=dict(values), source=source, label=label, created_at=now)
    )
    return key


async def get_prefill(conn: AsyncConnection, key: str) -> PrefillKey | None:
    row = await _PREFILL_BY_KEY.first(conn, {"b_key": key})
    if row is None:
        return None
    found_key, values, source, label = row
    return PrefillKey(key=found_key, values=dict(values), source=source, label=label)


# --- consent register ---------------------------------------------------------------------


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
        {
            "respondent_id": respondent_id,
            "granted": kind == ConsentKind.GRANTED,
            "kind": str(kind),
            "purpose": str(purpose),
            "channel": channel,
            "text_version": text_version,
            "method": method,
            "recorded_at": now,
            "recorded_by": recorded_by,
        },
    )


async def latest_consent(
    conn: AsyncConnection, respondent_id: int, purpose: ConsentPurpose = ConsentPurpose.INVITATIONS
) -> ConsentRecord | None:
    """The record that decides the purpose now (its latest), or None when never asked."""
    row = await _LATEST_CONSENT.first(conn, {"b_respondent": respondent_id, "b_purpose": str(purpose)})
    if row is None:
        return None
    kind, channel, text_version, method, recorded_at = row
    recorded = as_utc(recorded_at)
    assert recorded is not None
    return ConsentRecord(ConsentKind(kind), channel, text_version, method, recorded)


# --- idempotency and channel state --------------------------------------------------------


def dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    """INSERT of the connection's dialect: ON CONFLICT clauses are dialect syntax."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_ignore(conn: AsyncConnection, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING (a row already there is kept, rowcount 0)."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


# One statement per dialect (ON CONFLICT is dialect syntax); SQLAlchemy cannot cache its compiled
# form, so building it once matters more here than for other statements.
_MARK_PROCESSED = {
    name: DirectStatement(
        dialect.insert(processed_updates).on_conflict_do_nothing(),
        ("channel", "bot", "update_id", "processed_at"),
    )
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


async def mark_processed(
    conn: AsyncConnection, channel: str, update_id: str, now: datetime, *, bot: str = ""
) -> bool:
    """Record an update as handled; False when it already was (a re-delivery).

    `bot` is the Telegram bot id or the VK community id: update ids are numbered per bot, so
    another bot on the same database has its own ids that may equal the old bot's.
    """
    changed = await _MARK_PROCESSED[conn.dialect.name].run(
        conn, {"channel": channel, "bot": bot, "update_id": update_id, "processed_at": now}
    )
    return changed == 1


async def get_state(conn: AsyncConnection, key: str) -> str | None:
    row = (await conn.execute(select(channel_state.c.value).where(channel_state.c.key == key))).first()
    return None if row is None else str(row.value)


async def set_state(conn: AsyncConnection, key: str, value: str, now: datetime) -> None:
    stmt = dialect_insert(conn, channel_state).values(key=key, value=value, updated_at=now)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated_at": now})
    )
