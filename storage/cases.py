"""Cases: a unit's staff answer a respondent who named difficulties and agreed to be answered.

What staff see (`Case`, `CaseMessage`) never holds a messenger id, a name or a staff member's
identity: the case number, the unit, the times and the texts. The respondent is reached only
through `delivery_address`, which the relay alone calls and which answers only while the
respondent's agreement to be answered (consent purpose `reply`) stands. Callers own the
transaction (see Storage.transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import repository as repo
from storage.repository import ConsentKind, ConsentPurpose, as_utc
from storage.schema import answers, case_messages, cases, respondents, survey_sessions


class CaseStatus(StrEnum):
    OPEN = "open"  # waiting for the unit's first answer
    ANSWERED = "answered"  # the unit answered at least once; the thread may go on
    CLOSED = "closed"


class ClosedBy(StrEnum):
    """Why a case was closed."""

    STAFF = "staff"  # a staff member closed it
    THANKS = "thanks"  # the respondent thanked (the bot recognised it)
    QUIET = "quiet"  # nothing was written for the configured quiet time after an answer
    WITHDRAWAL = "withdrawal"  # the respondent withdrew the agreement to be answered
    ERASURE = "erasure"  # the respondent's data was erased on request (otklik forget)


class Direction(StrEnum):
    TO_RESPONDENT = "to_respondent"  # the unit's answer
    FROM_RESPONDENT = "from_respondent"  # the respondent's reply


class Delivery(StrEnum):
    PENDING = "pending"  # written, not yet handed to the messenger
    SENT = "sent"
    FAILED = "failed"  # the messenger refused it (after retries)
    BLOCKED = "blocked"  # the respondent blocked the bot or left: never retried
    RECEIVED = "received"  # a reply from the respondent, stored as it arrived


@dataclass(frozen=True)
class Case:
    number: int
    session_id: int
    unit: str  # option code of question 3
    channel: str
    status: CaseStatus
    opened_at: datetime
    deadline_at: datetime
    first_answer_at: datetime | None
    last_message_at: datetime
    closed_at: datetime | None
    closed_by: ClosedBy | None

    def overdue(self, now: datetime) -> bool:
        """No answer yet and the deadline has passed."""
        return self.first_answer_at is None and self.status != CaseStatus.CLOSED and now >= self.deadline_at


@dataclass(frozen=True)
class CaseMessage:
    id: int
    case_number: int
    direction: Direction
    text: str | None  # None once erased on request
    delivery: Delivery
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveryAddress:
    """Where the relay sends an answer. Only the relay reads it; it is never shown to staff."""

    channel: str
    external_id: str


_K = cases.c
_M = case_messages.c
_CASE_COLUMNS = (
    _K.id, _K.session_id, _K.unit, _K.channel, _K.status, _K.opened_at, _K.deadline_at,
    _K.first_answer_at, _K.last_message_at, _K.closed_at, _K.closed_by,
)  # fmt: skip


def _case(row: Sequence[Any]) -> Case:
    number, session_id, unit, channel, status, opened, due, first, last, closed, closed_by = row
    opened_at, deadline_at, last_at = as_utc(opened), as_utc(due), as_utc(last)
    assert opened_at is not None and deadline_at is not None and last_at is not None
    return Case(
        number=number,
        session_id=session_id,
        unit=unit,
        channel=channel,
        status=CaseStatus(status),
        opened_at=opened_at,
        deadline_at=deadline_at,
        first_answer_at=as_utc(first),
        last_message_at=last_at,
        closed_at=as_utc(closed),
        closed_by=ClosedBy(closed_by) if closed_by else None,
    )


def _cases() -> Select[Any]:
    return select(*_CASE_COLUMNS)


# --- the agreement to be answered ---------------------------------------------------------


async def record_reply_consent(
    conn: AsyncConnection,
    respondent_id: int,
    *,
    agreed: bool,
    channel: str,
    text_version: str,
    now: datetime,
) -> None:
    """The respondent's answer to «may the ministry answer you here?» (yes: granted, no: refused)."""
    await repo.record_consent(
        conn,
        respondent_id,
        kind=ConsentKind.GRANTED if agreed else ConsentKind.REFUSED,
        purpose=ConsentPurpose.REPLY,
        channel=channel,
        text_version=text_version,
        method="bot",
        now=now,
    )


async def reply_allowed(conn: AsyncConnection, respondent_id: int) -> bool:
    latest = await repo.latest_consent(conn, respondent_id, ConsentPurpose.REPLY)
    return latest is not None and latest.granted


async def end_reply_consent(
    conn: AsyncConnection,
    respondent_id: int,
    *,
    channel: str,
    now: datetime,
    method: str = "bot",
    kind: ConsentKind = ConsentKind.WITHDRAWN,
    recorded_by: str | None = None,
    text_version: str = "-",
) -> bool:
    """/stop, a withdrawal (kind WITHDRAWN) or an erasure (ERASED): the agreement ends and the
    respondent's cases still going are closed, so nothing more is sent. False when there was
    no agreement standing (nothing is recorded then)."""
    if kind not in (ConsentKind.WITHDRAWN, ConsentKind.ERASED):
        raise ValueError(f"an agreement ends by a withdrawal or an erasure, not {kind}")
    if not await reply_allowed(conn, respondent_id):
        return False
    await repo.record_consent(
        conn,
        respondent_id,
        kind=kind,
        purpose=ConsentPurpose.REPLY,
        channel=channel,
        text_version=text_version,
        method=method,
        now=now,
        recorded_by=recorded_by,
    )
    by = ClosedBy.ERASURE if kind == ConsentKind.ERASED else ClosedBy.WITHDRAWAL
    for case in await _cases_of_respondent(conn, respondent_id, still_going=True):
        await close_case(conn, case.number, by=by, now=now)
    return True


# --- cases --------------------------------------------------------------------------------


async def open_case(
    conn: AsyncConnection, session_id: int, *, unit: str, channel: str, now: datetime, deadline_at: datetime
) -> Case:
    """The case of a questionnaire (one per questionnaire: the existing one when already open)."""
    existing = await case_of_session(conn, session_id)
    if existing is not None:
        return existing
    await conn.execute(
        repo.insert_ignore(conn, cases).values(
            session_id=session_id,
            unit=unit,
            channel=channel,
            status=CaseStatus.OPEN,
            opened_at=now,
            # In UTC: SQLite keeps the wall time and drops the zone (a local deadline would shift).
            deadline_at=deadline_at.astimezone(UTC),
            last_message_at=now,
        )
    )
    created = await case_of_session(conn, session_id)
    assert created is not None
    return created


async def case_of_session(conn: AsyncConnection, session_id: int) -> Case | None:
    row = (await conn.execute(_cases().where(_K.session_id == session_id))).first()
    return _case(row) if row else None


async def get_case(conn: AsyncConnection, number: int, *, unit: str | None) -> Case | None:
    """The case; with `unit`, only when it belongs to that unit (staff of another unit get None)."""
    query = _cases().where(_K.id == number)
    if unit is not None:
        query = query.where(_K.unit == unit)
    row = (await conn.execute(query)).first()
    return _case(row) if row else None


async def list_cases(
    conn: AsyncConnection,
    *,
    unit: str | None,
    statuses: Sequence[CaseStatus] = (CaseStatus.OPEN, CaseStatus.ANSWERED),
    limit: int = 100,
) -> list[Case]:
    """Cases of a unit (all units with None) in these statuses, oldest first."""
    query = _cases().where(_K.status.in_([str(s) for s in statuses]))
    if unit is not None:
        query = query.where(_K.unit == unit)
    rows = await conn.execute(query.order_by(_K.opened_at, _K.id).limit(limit))
    return [_case(row) for row in rows]


async def messages(conn: AsyncConnection, number: int) -> list[CaseMessage]:
    """The thread of a case, in order (without who on the staff wrote each answer)."""
    rows = await conn.execute(
        select(_M.id, _M.case_id, _M.direction, _M.text, _M.delivery, _M.created_at, _M.delivered_at)
        .where(_M.case_id == number)
        .order_by(_M.id)
    )
    found = []
    for id_, case_id, direction, text, delivery, created, delivered in rows:
        created_at = as_utc(created)
        assert created_at is not None
        found.append(
            CaseMessage(
                id_, case_id, Direction(direction), text, Delivery(delivery), created_at, as_utc(delivered)
            )
        )
    return found


async def add_message(
    conn: AsyncConnection,
    number: int,
    *,
    direction: Direction,
    text: str,
    now: datetime,
    staff: str | None = None,
    message_ref: str | None = None,
) -> int:
    """Append to the thread; the new message's id. An answer starts as PENDING (the relay marks
    its delivery), a reply as RECEIVED with the messenger's `message_ref`. `staff` (who
    answered) is kept for audit only."""
    if (direction == Direction.TO_RESPONDENT) != (staff is not None):
        raise ValueError("an answer names the staff member who wrote it; a reply names none")
    delivery = Delivery.PENDING if direction == Direction.TO_RESPONDENT else Delivery.RECEIVED
    result = await conn.execute(
        case_messages.insert()
        .values(
            case_id=number,
            direction=direction,
            text=text,
            delivery=delivery,
            staff=staff,
            created_at=now,
            message_ref=message_ref,
        )
        .returning(_M.id)
    )
    message_id = int(result.scalar_one())
    await conn.execute(update(cases).where(_K.id == number).values(last_message_at=now))
    return message_id


async def set_delivery(
    conn: AsyncConnection,
    message_id: int,
    delivery: Delivery,
    now: datetime,
    *,
    error: str | None = None,
    message_ref: str | None = None,
) -> None:
    """The relay's outcome for an answer; `message_ref` is the messenger's id of the delivered
    message (a reply of the respondent to it belongs to this case)."""
    delivered = now if delivery == Delivery.SENT else None
    await conn.execute(
        update(case_messages)
        .where(_M.id == message_id)
        .values(delivery=delivery, delivered_at=delivered, error=error, message_ref=message_ref)
    )


async def mark_answered(conn: AsyncConnection, number: int, now: datetime) -> bool:
    """The unit's answer reached the respondent: the first one sets the first-answer time and
    moves an open case to answered. False when it was answered (or closed) before."""
    result = await conn.execute(
        update(cases)
        .where(_K.id == number, _K.first_answer_at.is_(None), _K.status == CaseStatus.OPEN)
        .values(first_answer_at=now, status=CaseStatus.ANSWERED)
    )
    return bool(result.rowcount == 1)


async def close_case(
    conn: AsyncConnection, number: int, *, by: ClosedBy, now: datetime, staff: str | None = None
) -> bool:
    """False when the case was closed already (the first closing stands)."""
    result = await conn.execute(
        update(cases)
        .where(_K.id == number, _K.status != CaseStatus.CLOSED)
        .values(status=CaseStatus.CLOSED, closed_at=now, closed_by=by, closed_by_staff=staff)
    )
    return bool(result.rowcount == 1)


async def overdue(
    conn: AsyncConnection, now: datetime, *, unit: str | None = None, not_reminded: bool = False
) -> list[Case]:
    """Open cases without an answer whose deadline has passed, oldest deadline first;
    `not_reminded`: only those the unit has not been reminded of yet."""
    query = _cases().where(_K.status == CaseStatus.OPEN, _K.deadline_at <= now)
    if unit is not None:
        query = query.where(_K.unit == unit)
    if not_reminded:
        query = query.where(_K.overdue_reminded_at.is_(None))
    return [_case(row) for row in await conn.execute(query.order_by(_K.deadline_at, _K.id))]


async def claim_overdue_reminder(conn: AsyncConnection, number: int, now: datetime) -> bool:
    """True for the one caller that sends this case's overdue reminder (two workers never both)."""
    result = await conn.execute(
        update(cases).where(_K.id == number, _K.overdue_reminded_at.is_(None)).values(overdue_reminded_at=now)
    )
    return bool(result.rowcount == 1)


async def release_overdue_reminder(conn: AsyncConnection, number: int) -> None:
    """The reminder could not be sent: the next check tries again."""
    await conn.execute(update(cases).where(_K.id == number).values(overdue_reminded_at=None))


async def set_thread(conn: AsyncConnection, number: int, *, unit_chat: str, message_id: str) -> None:
    """The case's root message in the unit's staff chat (relayed replies answer to it)."""
    await conn.execute(
        update(cases).where(_K.id == number).values(unit_chat=unit_chat, thread_message_id=message_id)
    )


async def thread_of(conn: AsyncConnection, number: int) -> tuple[str, str] | None:
    """(unit chat, root message id) of the case's thread, or None before it has one."""
    row = (await conn.execute(select(_K.unit_chat, _K.thread_message_id).where(_K.id == number))).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return str(row[0]), str(row[1])


async def case_by_thread(conn: AsyncConnection, unit_chat: str, message_id: str) -> Case | None:
    """The case whose thread root is this message of the staff chat (a staff reply to it)."""
    row = (
        await conn.execute(_cases().where(_K.unit_chat == unit_chat, _K.thread_message_id == message_id))
    ).first()
    return _case(row) if row else None


async def quiet(conn: AsyncConnection, now: datetime, quiet_for: timedelta) -> list[Case]:
    """Answered cases with nothing written for `quiet_for`: due to close automatically."""
    query = _cases().where(_K.status == CaseStatus.ANSWERED, _K.last_message_at <= now - quiet_for)
    return [_case(row) for row in await conn.execute(query.order_by(_K.id))]


async def case_for_reply(conn: AsyncConnection, respondent_id: int) -> Case | None:
    """The respondent's latest case still going: where a message of theirs belongs."""
    going = await _cases_of_respondent(conn, respondent_id, still_going=True)
    return going[-1] if going else None


async def delivery_address(conn: AsyncConnection, number: int) -> DeliveryAddress | None:
    """For the relay only: the respondent's messenger address of a case still going, while the
    agreement to be answered stands and the person is reachable; None otherwise (send nothing)."""
    row = (
        await conn.execute(
            select(respondents.c.id, respondents.c.channel, respondents.c.external_id)
            .select_from(
                cases.join(survey_sessions, survey_sessions.c.id == _K.session_id).join(
                    respondents, respondents.c.id == survey_sessions.c.respondent_id
                )
            )
            .where(
                _K.id == number,
                _K.status != CaseStatus.CLOSED,
                respondents.c.unreachable_at.is_(None),
            )
        )
    ).first()
    if row is None or not await reply_allowed(conn, row.id):
        return None
    return DeliveryAddress(row.channel, row.external_id)


async def erase_texts(conn: AsyncConnection, respondent_id: int) -> int:
    """Erasure on request: every text of the respondent's case threads (both directions) is
    removed; the cases stay, without texts, for the report figures. The number of cases."""
    numbers = [case.number for case in await _cases_of_respondent(conn, respondent_id, still_going=False)]
    if numbers:
        await conn.execute(
            update(case_messages)
            .where(_M.case_id.in_(numbers))
            .values(text=None, error=None, message_ref=None)
        )
    return len(numbers)


async def _cases_of_respondent(conn: AsyncConnection, respondent_id: int, *, still_going: bool) -> list[Case]:
    query = (
        _cases()
        .select_from(cases.join(survey_sessions, survey_sessions.c.id == _K.session_id))
        .where(survey_sessions.c.respondent_id == respondent_id)
    )
    if still_going:
        query = query.where(_K.status != CaseStatus.CLOSED)
    return [_case(row) for row in await conn.execute(query.order_by(_K.id))]


async def count_by_status(conn: AsyncConnection, *, unit: str | None) -> dict[CaseStatus, int]:
    query = select(_K.status, func.count()).group_by(_K.status)
    if unit is not None:
        query = query.where(_K.unit == unit)
    found = {CaseStatus(status): int(n) for status, n in await conn.execute(query)}
    return {status: found.get(status, 0) for status in CaseStatus}


async def without_thread(conn: AsyncConnection, limit: int = 100) -> list[Case]:
    """Cases still going whose card has not reached the unit chat yet (the relay posts it)."""
    query = _cases().where(_K.status != CaseStatus.CLOSED, _K.thread_message_id.is_(None))
    return [_case(row) for row in await conn.execute(query.order_by(_K.id).limit(limit))]


async def replies_after(conn: AsyncConnection, after_id: int, limit: int = 100) -> list[CaseMessage]:
    """The respondents' replies stored after message `after_id`, in order: what the relay has yet
    to show in the unit chats."""
    rows = await conn.execute(
        select(_M.id, _M.case_id, _M.direction, _M.text, _M.delivery, _M.created_at, _M.delivered_at)
        .where(_M.id > after_id, _M.direction == Direction.FROM_RESPONDENT)
        .order_by(_M.id)
        .limit(limit)
    )
    found = []
    for id_, case_id, direction, text, delivery, created, delivered in rows:
        created_at = as_utc(created)
        assert created_at is not None
        found.append(
            CaseMessage(
                id_, case_id, Direction(direction), text, Delivery(delivery), created_at, as_utc(delivered)
            )
        )
    return found


async def pseudonym_of(conn: AsyncConnection, number: int) -> str | None:
    """The pseudonym of a case's respondent, for pseudonymous exports (never the messenger id)."""
    row = (
        await conn.execute(
            select(respondents.c.pseudonym)
            .select_from(
                cases.join(survey_sessions, survey_sessions.c.id == _K.session_id).join(
                    respondents, respondents.c.id == survey_sessions.c.respondent_id
                )
            )
            .where(_K.id == number)
        )
    ).first()
    return None if row is None else str(row[0])


# --- the responsiveness section of the quarterly report ---------------------------------


async def opened_in(conn: AsyncConnection, start: datetime, end: datetime, unit: str | None) -> list[Case]:
    """Cases opened in [start, end) (of one unit, or of all), by number."""
    query = _cases().where(_K.opened_at >= start, _K.opened_at < end)
    if unit is not None:
        query = query.where(_K.unit == unit)
    return [_case(row) for row in await conn.execute(query.order_by(_K.id))]


async def difficulty_questions(
    conn: AsyncConnection, start: datetime, end: datetime, unit: str | None
) -> dict[tuple[str, str], int]:
    """(unit, question code) -> cases opened in [start, end) whose questionnaire has a difficulty
    text in that question's follow-up: what the difficulties were about, without their texts."""
    a = answers.c
    query = (
        select(_K.unit, a.question_code, func.count())
        .select_from(cases.join(answers, a.session_id == _K.session_id))
        .where(_K.opened_at >= start, _K.opened_at < end, a.followup_text.is_not(None), a.followup_text != "")
        .group_by(_K.unit, a.question_code)
    )
    if unit is not None:
        query = query.where(_K.unit == unit)
    return {(row[0], row[1]): int(row[2]) for row in await conn.execute(query)}
