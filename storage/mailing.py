"""Mailing campaigns, their delivery outbox and reminders (queries on an open connection).

The outbox has one row per (campaign, respondent). A sender claims `pending` rows, re-checking
consent, reachability and the frequency cap in the claiming transaction, and marks them
`claimed`: queued in this process, not yet sent. Right before its request leaves, a row becomes
`sending` (committed first); the result is recorded afterwards. After a crash, `claimed` rows go
back to `pending` (nothing was sent: `requeue_claimed`), while `sending` rows become `unknown`
(`recover_sending`): Telegram has no idempotency key, so such a message may or may not have
arrived and is never sent again.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.repository import (
    COMPLETED,
    IN_PROGRESS,
    RESPONDENT_COLUMNS,
    ConsentPurpose,
    Respondent,
    as_utc,
    create_prefill,
    insert_ignore,
)
from storage.schema import (
    answers,
    campaigns,
    consents,
    outbox,
    reminders,
    respondents,
    survey_sessions,
)


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    MISSED = "missed"
    FAILED = "failed"  # its text cannot be rendered (made before templates were checked)


class OutboxStatus(StrEnum):
    """Of an outbox row, and of a reminder."""

    PENDING = "pending"
    CLAIMED = "claimed"  # queued by a sender, no request made yet
    SENDING = "sending"  # the request is being made: it may reach the API
    SENT = "sent"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED_NO_CONSENT = "skipped_no_consent"
    SKIPPED_RECENT = "skipped_recent"
    UNKNOWN = "unknown"


# The statuses by their short names, as the mailing service and its tests use them.
SCHEDULED = CampaignStatus.SCHEDULED
RUNNING = CampaignStatus.RUNNING
PAUSED = CampaignStatus.PAUSED
DONE = CampaignStatus.DONE
CANCELLED = CampaignStatus.CANCELLED
MISSED = CampaignStatus.MISSED
CAMPAIGN_FAILED = CampaignStatus.FAILED
ACTIVE = (SCHEDULED, RUNNING, PAUSED)

PENDING = OutboxStatus.PENDING
CLAIMED = OutboxStatus.CLAIMED
SENDING = OutboxStatus.SENDING
SENT = OutboxStatus.SENT
FAILED = OutboxStatus.FAILED
UNREACHABLE = OutboxStatus.UNREACHABLE
SKIPPED_NO_CONSENT = OutboxStatus.SKIPPED_NO_CONSENT
SKIPPED_RECENT = OutboxStatus.SKIPPED_RECENT
UNKNOWN = OutboxStatus.UNKNOWN
OUTBOX_STATUSES = tuple(OutboxStatus)
# What counts as "invited" for the frequency cap: the message left or may have left (a request
# was made). A `claimed` row, only queued, does not count.
INVITED = (SENDING, SENT, UNKNOWN)

# Block 1 questions the audience can be filtered by (the form's own numbers).
MEASURE_QUESTION = "1"
UNIT_QUESTION = "3"
DISTRICT_QUESTION = "4"


@dataclass(frozen=True)
class Audience:
    """Who a campaign goes to: consenting, reachable respondents of a channel, narrowed by filters."""

    channel: str = "telegram"
    support_measure: str | None = None
    unit: str | None = None
    district: str | None = None
    completed_before_days: int | None = None  # last completed survey more than N days ago, or never
    never_completed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "support_measure": self.support_measure,
            "unit": self.unit,
            "district": self.district,
            "completed_before_days": self.completed_before_days,
            "never_completed": self.never_completed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Audience:
        days = data.get("completed_before_days")
        return cls(
            channel=str(data.get("channel") or "telegram"),
            support_measure=data.get("support_measure"),
            unit=data.get("unit"),
            district=data.get("district"),
            completed_before_days=int(days) if days is not None else None,
            never_completed=bool(data.get("never_completed", False)),
        )

    def prefill(self) -> dict[str, str]:
        """Block 1 answers known from the filters: the survey opens with them filled in."""
        values = {
            MEASURE_QUESTION: self.support_measure,
            UNIT_QUESTION: self.unit,
            DISTRICT_QUESTION: self.district,
        }
        return {code: value for code, value in values.items() if value}


@dataclass(frozen=True)
class Campaign:
    id: int
    status: CampaignStatus
    channel: str
    text: str
    audience: Audience
    prefill_key: str
    scheduled_at: datetime
    created_at: datetime
    created_by: str
    notify_chat: str | None
    progress_message_id: int | None
    started_at: datetime | None
    finished_at: datetime | None
    note: str | None

    @classmethod
    def from_row(cls, row: Any) -> Campaign:
        scheduled, created = as_utc(row.scheduled_at), as_utc(row.created_at)
        assert scheduled is not None and created is not None
        return cls(
            id=row.id,
            status=CampaignStatus(row.status),
            channel=row.channel,
            text=row.text,
            audience=Audience.from_json(row.audience or {}),
            prefill_key=row.prefill_key,
            scheduled_at=scheduled,
            created_at=created,
            created_by=row.created_by,
            notify_chat=row.notify_chat,
            progress_message_id=row.progress_message_id,
            started_at=as_utc(row.started_at),
            finished_at=as_utc(row.finished_at),
            note=row.note,
        )


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def left(self) -> int:
        return self[PENDING] + self[CLAIMED] + self[SENDING]

    @property
    def skipped(self) -> int:
        return self[SKIPPED_NO_CONSENT] + self[SKIPPED_RECENT]

    @property
    def done(self) -> int:
        return self.total - self.left


@dataclass(frozen=True)
class Claimed:
    """An outbox or reminder row marked `claimed`: queued for sending by this process."""

    outbox_id: int
    respondent_id: int
    external_id: str
    name: str | None


@dataclass(frozen=True)
class Outcome:
    outbox_id: int
    status: OutboxStatus
    message_id: str | None = None
    error: str | None = None


# --- campaigns ---------------------------------------------------------------------------


async def create_campaign(
    conn: AsyncConnection,
    *,
    text: str,
    audience: Audience,
    scheduled_at: datetime,
    created_by: str,
    now: datetime,
    notify_chat: str | None = None,
    extra_prefill: Mapping[str, str] | None = None,
) -> Campaign:
    key = "c" + secrets.token_urlsafe(9)
    result = await conn.execute(
        insert(campaigns)
        .values(
            status=SCHEDULED,
            channel=audience.channel,
            text=text,
            audience=audience.to_json(),
            prefill_key=key,
            scheduled_at=scheduled_at,
            created_at=now,
            created_by=created_by,
            notify_chat=notify_chat,
        )
        .returning(campaigns.c.id)
    )
    campaign_id = int(result.scalar_one())
    values = {**audience.prefill(), **(extra_prefill or {})}
    await create_prefill(conn, values, "campaign", f"campaign:{campaign_id}", now, key=key)
    found = await get_campaign(conn, campaign_id)
    assert found is not None
    return found


async def get_campaign(conn: AsyncConnection, campaign_id: int) -> Campaign | None:
    row = (await conn.execute(select(campaigns).where(campaigns.c.id == campaign_id))).first()
    return Campaign.from_row(row) if row else None


async def list_campaigns(
    conn: AsyncConnection, statuses: Sequence[CampaignStatus] | None = None, limit: int = 50
) -> list[Campaign]:
    query = select(campaigns).order_by(campaigns.c.id.desc()).limit(limit)
    if statuses is not None:
        query = query.where(campaigns.c.status.in_(statuses))
    return [Campaign.from_row(row) for row in await conn.execute(query)]


async def set_status(
    conn: AsyncConnection,
    campaign_id: int,
    status: CampaignStatus,
    *,
    allowed_from: Iterable[CampaignStatus],
    now: datetime,
    note: str | None = None,
    **values: Any,
) -> bool:
    """Move a campaign to `status` only from one of `allowed_from` (a compare-and-set)."""
    changes: dict[str, Any] = {"status": status, **values}
    if status in (DONE, CANCELLED, MISSED, CAMPAIGN_FAILED):
        changes["finished_at"] = now
    if note is not None:
        changes["note"] = note
    result = await conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.status.in_(list(allowed_from)))
        .values(**changes)
    )
    return bool(result.rowcount == 1)


async def set_progress_message(conn: AsyncConnection, campaign_id: int, message_id: int | None) -> None:
    await conn.execute(
        update(campaigns).where(campaigns.c.id == campaign_id).values(progress_message_id=message_id)
    )


# --- audience ----------------------------------------------------------------------------


def _latest_consent() -> Any:
    return (
        select(consents.c.respondent_id, func.max(consents.c.id).label("last_id"))
        .where(consents.c.purpose == ConsentPurpose.INVITATIONS)
        .group_by(consents.c.respondent_id)
        .subquery()
    )


def audience_query(audience: Audience, now: datetime) -> Select[Any]:
    """Respondent ids of consenting, reachable respondents matching the filters."""
    latest = _latest_consent()
    query = (
        select(respondents.c.id)
        .select_from(
            respondents.join(latest, latest.c.respondent_id == respondents.c.id).join(
                consents, consents.c.id == latest.c.last_id
            )
        )
        .where(
            respondents.c.channel == audience.channel,
            respondents.c.unreachable_at.is_(None),
            consents.c.granted.is_(True),
        )
    )
    for code, value in (
        (MEASURE_QUESTION, audience.support_measure),
        (UNIT_QUESTION, audience.unit),
        (DISTRICT_QUESTION, audience.district),
    ):
        if value:
            query = query.where(
                select(answers.c.id)
                .select_from(answers.join(survey_sessions, survey_sessions.c.id == answers.c.session_id))
                .where(
                    survey_sessions.c.respondent_id == respondents.c.id,
                    answers.c.question_code == code,
                    answers.c.option_code == value,
                )
                .exists()
            )
    completed = survey_sessions.c.respondent_id == respondents.c.id, survey_sessions.c.status == COMPLETED
    if audience.never_completed:
        query = query.where(~select(survey_sessions.c.id).where(*completed).exists())
    elif audience.completed_before_days is not None:
        since = now - timedelta(days=audience.completed_before_days)
        query = query.where(
            ~select(survey_sessions.c.id).where(*completed, survey_sessions.c.completed_at >= since).exists()
        )
    return query


@dataclass(frozen=True)
class AudienceSize:
    matching: int  # consenting, reachable, matching the filters
    recently_invited: int  # of them, invited within the frequency cap: they will be skipped

    @property
    def will_receive(self) -> int:
        return self.matching - self.recently_invited


async def audience_size(
    conn: AsyncConnection, audience: Audience, now: datetime, cap_days: float
) -> AudienceSize:
    ids = audience_query(audience, now).subquery()
    matching = int((await conn.execute(select(func.count()).select_from(ids))).scalar_one())
    recent = 0
    if cap_days > 0:
        recent_q = select(func.count(func.distinct(outbox.c.respondent_id))).where(
            outbox.c.respondent_id.in_(select(ids.c.id)),
            outbox.c.status.in_(INVITED),
            outbox.c.claimed_at >= now - timedelta(days=cap_days),
        )
        recent = int((await conn.execute(recent_q)).scalar_one())
    return AudienceSize(matching, recent)


async def start_campaign(conn: AsyncConnection, campaign_id: int, now: datetime) -> int | None:
    """scheduled -> running, with one `pending` outbox row per audience member; None if not scheduled.

    The status changes first (a compare-and-set that takes the write lock), so two callers racing
    for one campaign cannot both fill its outbox.
    """
    if not await set_status(conn, campaign_id, RUNNING, allowed_from=[SCHEDULED], now=now, started_at=now):
        return None
    campaign = await get_campaign(conn, campaign_id)
    assert campaign is not None
    sub = audience_query(campaign.audience, now).subquery()
    rows = select(literal(campaign_id), sub.c.id, literal(PENDING)).select_from(sub).order_by(sub.c.id)
    await conn.execute(insert(outbox).from_select(["campaign_id", "respondent_id", "status"], rows))
    count = await conn.execute(select(func.count()).where(outbox.c.campaign_id == campaign_id))
    return int(count.scalar_one())


def _lock(conn: AsyncConnection, query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query  # SQLite: one writer at a time; guarded updates below keep claims exclusive


# --- claiming and recording --------------------------------------------------------------


async def claim(
    conn: AsyncConnection, campaign_id: int, limit: int, now: datetime, cap_days: float
) -> tuple[list[Claimed], dict[str, int]]:
    """Claim up to `limit` pending rows of a running campaign.

    Consent, reachability and the frequency cap are checked here, in the claiming transaction:
    a withdrawal committed before it is honoured. Rows that may not be sent get their final
    status at once; the others become `claimed` (`mark_sending` just before each request).
    Returns them and the count of skipped rows.
    """
    running = (
        await conn.execute(
            select(campaigns.c.id).where(campaigns.c.id == campaign_id, campaigns.c.status == RUNNING)
        )
    ).first()
    if running is None:
        return [], {}
    query = (
        select(outbox.c.id, outbox.c.respondent_id)
        .where(outbox.c.campaign_id == campaign_id, outbox.c.status == PENDING)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    rows = list(await conn.execute(_lock(conn, query, skip_locked=True)))
    if not rows:
        return [], {}
    people = [r.respondent_id for r in rows]
    info = {
        r.id: r
        for r in await conn.execute(
            select(
                respondents.c.id, respondents.c.external_id, respondents.c.name, respondents.c.unreachable_at
            ).where(respondents.c.id.in_(people))
        )
    }
    consenting = await consenting_ids(conn, people)
    recent: set[int] = set()
    if cap_days > 0:
        recent = {
            r.respondent_id
            for r in await conn.execute(
                select(outbox.c.respondent_id).where(
                    outbox.c.respondent_id.in_(people),
                    outbox.c.campaign_id != campaign_id,
                    outbox.c.status.in_(INVITED),
                    outbox.c.claimed_at >= now - timedelta(days=cap_days),
                )
            )
        }
    claimed: list[Claimed] = []
    skipped: dict[str, int] = {}
    for row in rows:
        person = info[row.respondent_id]
        if row.respondent_id not in consenting:
            status = SKIPPED_NO_CONSENT
        elif person.unreachable_at is not None:
            status = UNREACHABLE
        elif row.respondent_id in recent:
            status = SKIPPED_RECENT
        else:
            status = CLAIMED
        result = await conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id, outbox.c.status == PENDING)
            .values(status=status, claimed_at=now)
        )
        if result.rowcount != 1:  # another sender took it (SQLite without row locks)
            continue
        if status == CLAIMED:
            claimed.append(Claimed(row.id, row.respondent_id, person.external_id, person.name))
        else:
            skipped[status] = skipped.get(status, 0) + 1
    return claimed, skipped


async def consenting_ids(conn: AsyncConnection, respondent_ids: Sequence[int]) -> set[int]:
    """Those whose latest consent record is a grant."""
    if not respondent_ids:
        return set()
    latest = (
        select(consents.c.respondent_id, func.max(consents.c.id).label("last_id"))
        .where(
            consents.c.respondent_id.in_(list(respondent_ids)),
            consents.c.purpose == ConsentPurpose.INVITATIONS,
        )
        .group_by(consents.c.respondent_id)
        .subquery()
    )
    rows = await conn.execute(
        select(consents.c.respondent_id)
        .select_from(consents.join(latest, consents.c.id == latest.c.last_id))
        .where(consents.c.granted.is_(True))
    )
    return {r.respondent_id for r in rows}


async def mark_sending(conn: AsyncConnection, outbox_ids: Sequence[int], *, table: Any = outbox) -> set[int]:
    """`claimed` -> `sending` right before the requests are made; returns the ids changed by this
    call. Only those may be sent: a row no longer `claimed` (released meanwhile, or re-claimed and
    already marked by another leader after a takeover) must not be sent twice. `table`: outbox or
    reminders."""
    ids = list(outbox_ids)
    if not ids:
        return set()
    rows = await conn.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.status == CLAIMED)
        .values(status=SENDING)
        .returning(table.c.id)
    )
    return {int(r.id) for r in rows}


async def record(conn: AsyncConnection, outcomes: Iterable[Outcome], now: datetime) -> None:
    await _record_outcomes(conn, outbox, outcomes, now)


async def _record_outcomes(
    conn: AsyncConnection, table: Any, outcomes: Iterable[Outcome], now: datetime
) -> None:
    """Send results of claimed rows (outbox or reminders); a row no longer `claimed` or `sending`
    is left alone. A result may come without a request (the channel is gone: `failed`)."""
    for outcome in outcomes:
        values: dict[str, Any] = {
            "status": outcome.status,
            "sent_at": now if outcome.status == SENT else None,
            "error": outcome.error,
        }
        if "message_id" in table.c:
            values["message_id"] = outcome.message_id
        await conn.execute(
            update(table)
            .where(table.c.id == outcome.outbox_id, table.c.status.in_([CLAIMED, SENDING]))
            .values(**values)
        )


async def release(conn: AsyncConnection, outbox_ids: Sequence[int]) -> None:
    """Claimed rows whose request was never made go back to `pending`."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(list(outbox_ids)), outbox.c.status == CLAIMED)
        .values(status=PENDING, claimed_at=None)
    )


async def requeue_claimed(conn: AsyncConnection) -> int:
    """After a crash: rows that were only queued (no request made) go back to `pending`; reminders
    only queued are forgotten, so their sessions are claimed again."""
    result = await conn.execute(
        update(outbox).where(outbox.c.status == CLAIMED).values(status=PENDING, claimed_at=None)
    )
    await release_reminders(conn, None)
    return int(result.rowcount or 0)


async def release_reminders(conn: AsyncConnection, reminder_ids: Sequence[int] | None) -> None:
    """Reminders claimed but never requested (all of them if None): their sessions may be reminded."""
    query = delete(reminders).where(reminders.c.status == CLAIMED)
    if reminder_ids is not None:
        query = query.where(reminders.c.id.in_(list(reminder_ids)))
    await conn.execute(query)


# Channels whose send carries an idempotency key (VK's random_id, derived from the outbox row), and
# how long after the claim a resend is still deduplicated: VK compares only recent messages, so a
# row claimed longer ago than this is reported `unknown` like a Telegram one.
IDEMPOTENT_CHANNELS = ("vk",)
RESEND_WINDOW = timedelta(minutes=10)


async def requeue_idempotent(conn: AsyncConnection, now: datetime, window: timedelta = RESEND_WINDOW) -> int:
    """After a crash, before `recover_sending`: rows of VK campaigns caught mid-send within `window`
    go back to `pending`. Sent again with the same random_id, a message that did arrive is not
    delivered twice."""
    idempotent = select(campaigns.c.id).where(campaigns.c.channel.in_(IDEMPOTENT_CHANNELS))
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.status == SENDING,
            outbox.c.claimed_at >= now - window,
            outbox.c.campaign_id.in_(idempotent),
        )
        .values(status=PENDING, claimed_at=None)
    )
    return int(result.rowcount or 0)


async def recover_sending(conn: AsyncConnection) -> tuple[int, int]:
    """After a crash: rows caught mid-send become `unknown` (outbox, reminders); never resent."""
    note = "прервано остановкой сервиса во время отправки"
    a = await conn.execute(
        update(outbox).where(outbox.c.status == SENDING).values(status=UNKNOWN, error=note)
    )
    b = await conn.execute(
        update(reminders).where(reminders.c.status == SENDING).values(status=UNKNOWN, error=note)
    )
    return int(a.rowcount or 0), int(b.rowcount or 0)


async def progress(conn: AsyncConnection, campaign_id: int) -> Progress:
    rows = await conn.execute(
        select(outbox.c.status, func.count())
        .where(outbox.c.campaign_id == campaign_id)
        .group_by(outbox.c.status)
    )
    return Progress({str(status): int(count) for status, count in rows})


async def finish_if_done(conn: AsyncConnection, campaign_id: int, now: datetime) -> bool:
    """running -> done once no row is pending, queued or being sent."""
    left = await conn.execute(
        select(func.count()).where(
            outbox.c.campaign_id == campaign_id, outbox.c.status.in_([PENDING, CLAIMED, SENDING])
        )
    )
    if int(left.scalar_one()):
        return False
    return await set_status(conn, campaign_id, DONE, allowed_from=[RUNNING], now=now)


async def queue_depth(conn: AsyncConnection) -> int:
    """Invitations of running or paused campaigns not sent yet (one indexed count per campaign)."""
    active = select(campaigns.c.id).where(campaigns.c.status.in_([RUNNING, PAUSED]))
    left = await conn.execute(
        select(func.count()).where(
            outbox.c.campaign_id.in_(active), outbox.c.status.in_([PENDING, CLAIMED, SENDING])
        )
    )
    return int(left.scalar_one())


async def outbox_rows(conn: AsyncConnection, campaign_id: int) -> list[tuple[int, str]]:
    """(respondent id, status) of every row: for tests and audits."""
    rows = await conn.execute(
        select(outbox.c.respondent_id, outbox.c.status).where(outbox.c.campaign_id == campaign_id)
    )
    return [(int(r.respondent_id), str(r.status)) for r in rows]


# --- reminders ---------------------------------------------------------------------------


async def claim_reminders(
    conn: AsyncConnection,
    *,
    channel: str,
    older_than: datetime,
    newer_than: datetime,
    limit: int,
    now: datetime,
) -> list[Claimed]:
    """Unfinished sessions idle since `older_than` (and not before `newer_than`), consenting,
    reachable, never reminded: a `claimed` reminder row is inserted for each (`mark_sending`
    with `table=reminders` right before its request)."""
    reminded = select(reminders.c.id).where(reminders.c.session_id == survey_sessions.c.id).exists()
    rows = list(
        await conn.execute(
            select(
                survey_sessions.c.id,
                survey_sessions.c.respondent_id,
                respondents.c.external_id,
                respondents.c.name,
            )
            .select_from(
                survey_sessions.join(respondents, respondents.c.id == survey_sessions.c.respondent_id)
            )
            .where(
                survey_sessions.c.status == IN_PROGRESS,
                survey_sessions.c.channel == channel,
                survey_sessions.c.updated_at <= older_than,
                survey_sessions.c.updated_at >= newer_than,
                respondents.c.unreachable_at.is_(None),
                ~reminded,
            )
            .order_by(survey_sessions.c.id)
            .limit(limit)
        )
    )
    consenting = await consenting_ids(conn, [r.respondent_id for r in rows])
    claimed: list[Claimed] = []
    for row in rows:
        if row.respondent_id not in consenting:
            continue
        result = await conn.execute(
            insert_ignore(conn, reminders).values(
                session_id=row.id, respondent_id=row.respondent_id, status=CLAIMED, created_at=now
            )
        )
        if result.rowcount == 1:
            reminder_id = (
                await conn.execute(select(reminders.c.id).where(reminders.c.session_id == row.id))
            ).scalar_one()
            claimed.append(Claimed(int(reminder_id), row.respondent_id, row.external_id, row.name))
    return claimed


async def record_reminders(conn: AsyncConnection, outcomes: Iterable[Outcome], now: datetime) -> None:
    await _record_outcomes(conn, reminders, outcomes, now)


async def respondent_by_pseudonym(conn: AsyncConnection, pseudonym: str) -> Respondent | None:
    row = (
        await conn.execute(select(*RESPONDENT_COLUMNS).where(respondents.c.pseudonym == pseudonym))
    ).first()
    return Respondent.from_row(row) if row else None


# --- consent register export -------------------------------------------------------------


CONSENT_COLUMNS = (
    "record_id", "respondent", "channel", "kind", "text_version", "method", "recorded_at", "recorded_by",
    "purpose",
)  # fmt: skip


async def consent_register(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    """Every record in order (kind: granted, refused, withdrawn, erased; purpose: invitations,
    reply), with the respondent's pseudonym (not the messenger id)."""
    rows = await conn.execute(
        select(
            consents.c.id,
            respondents.c.pseudonym,
            consents.c.channel,
            consents.c.kind,
            consents.c.text_version,
            consents.c.method,
            consents.c.recorded_at,
            consents.c.recorded_by,
            consents.c.purpose,
        )
        .select_from(consents.join(respondents, respondents.c.id == consents.c.respondent_id))
        .order_by(consents.c.id)
    )
    return [
        (
            r.id,
            r.pseudonym,
            r.channel,
            r.kind,
            r.text_version,
            r.method,
            as_utc(r.recorded_at),
            r.recorded_by or "",
            r.purpose,
        )
        for r in rows
    ]
