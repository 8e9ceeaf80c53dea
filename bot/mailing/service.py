"""The mailing service inside `otklik run`: leader election, the scheduler and the sender.

The database is the source of truth. At start (and every `poll_seconds`) the scheduler reads
the campaigns table and rebuilds its APScheduler jobs from it; nothing is pickled. A campaign
due while the service was down starts at once if it is late by less than `grace_minutes`,
otherwise it is marked missed and the admins are told (through the registered `Notifier`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy.exc import SQLAlchemyError

from bot.config import MailingConfig, Settings
from bot.core.clock import utcnow
from bot.core.retry import sleep_until
from bot.core.staff import Role
from bot.mailing import texts
from bot.mailing.transport import Delivered, Notifier, Transport
from bot.runtime.leader import run_as_leader
from bot.runtime.metrics import Metrics
from storage import mailing as store
from storage import repository as repo
from storage.locks import LeaderLock
from storage.schema import outbox, reminders
from storage.store import Storage

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass
class MailingDeps:
    """`transports` maps a campaign channel (telegram, vk) to its transport; it may be filled later
    (a channel registers once its client is up): campaigns of a missing channel wait."""

    storage: Storage
    config: MailingConfig
    transports: dict[str, Transport]
    notifier: Notifier
    admin_chats: list[str]
    questions: store.AudienceQuestions  # the questions a campaign's audience filters answer
    rates: dict[str, float] = field(default_factory=dict)  # per channel, for time estimates
    clock: Clock = utcnow
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    metrics: Metrics = field(default_factory=Metrics)


def admin_chats(settings: Settings) -> list[str]:
    return [str(m.telegram_id) for m in settings.staff.members if m.role is Role.ADMIN and m.telegram_id]


class NotMarked(Exception):
    """The row could not be marked `sending`: its request must not be made."""


class SendingMarks:
    """Marks outbox (or reminder) rows `sending` right before their requests are made, committed first.

    Senders waiting at the same moment share one transaction, so the extra commit per message
    costs little at high rates.
    """

    def __init__(self, storage: Storage, *, table: Any = outbox, metrics: Metrics | None = None) -> None:
        self.storage = storage
        self.metrics = metrics or Metrics()
        self.table = table  # outbox or reminders
        self._waiting: dict[int, asyncio.Future[bool]] = {}
        self._task: asyncio.Task[None] | None = None

    async def mark(self, outbox_id: int) -> None:
        """Return once the row is `sending`; raise NotMarked if it cannot be (database error, or
        the row is no longer `claimed`)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[outbox_id] = future
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._commit())
        if not await future:
            raise NotMarked(outbox_id)

    async def _commit(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            marked: set[int] = set()
            try:
                async with self.storage.transaction() as conn:
                    marked = await store.mark_sending(conn, list(batch), table=self.table)
            except (SQLAlchemyError, OSError) as exc:
                self.metrics.database_error("mailing")
                log.warning("mailing: database error %s before sending, rows requeued", type(exc).__name__)
            except Exception:  # a defect: the waiting senders must not wait forever
                log.exception("mailing: marking rows as sending failed")
            for outbox_id, future in batch.items():
                if not future.done():
                    future.set_result(outbox_id in marked)


class Sender:
    """Claims outbox rows of running campaigns, sends them through the rate limiter, records results.

    A pipeline keeps the limiter fed: one claimer fills a small queue (about a quarter second of
    sending) with `claimed` rows, several senders take from it, and a recorder writes outcomes
    every 0.1 s. A row becomes `sending` only right before its request (SendingMarks). Rows still
    `claimed` were never handed to the channel: they go back to `pending` on a graceful stop and,
    after a crash, when the next leader starts.
    """

    def __init__(self, deps: MailingDeps) -> None:
        self.deps = deps
        rate = deps.config.rate()
        self.batch = min(50, max(1, int(rate * 0.25)))
        self.concurrency = min(50, max(4, int(rate * 0.05)))
        self._shown: dict[int, str] = {}  # the progress text last shown per campaign
        self._logged: dict[int, str] = {}  # the progress last logged per campaign
        # Results not yet written; kept across batches so a database hiccup loses none of them.
        self._outcomes: list[tuple[store.Claimed, Delivered]] = []
        self._unsent: list[int] = []  # claimed rows whose request was not made: back to pending
        self._marks = SendingMarks(deps.storage, metrics=deps.metrics)

    async def recover(self) -> None:
        """Before anything is claimed: rows a dead leader only queued go back to `pending`; rows
        it left mid-send become `unknown`, except recent VK rows, which go back to `pending` (VK
        deduplicates the resend by random_id)."""
        async with self.deps.storage.transaction() as conn:
            queued = await store.requeue_claimed(conn)
            requeued = await store.requeue_idempotent(conn, self.deps.clock())
            outbox_unknown, reminders_unknown = await store.recover_sending(conn)
        if queued:
            log.info("mailing: %d invitations queued at the last stop (not sent): queued again", queued)
        if requeued:
            log.warning(
                "mailing: %d VK invitations were mid-send at the last stop: resent (same random_id)", requeued
            )
        if outbox_unknown or reminders_unknown:
            log.warning(
                "mailing: %d invitations and %d reminders were mid-send at the last stop: marked unknown",
                outbox_unknown, reminders_unknown,
            )  # fmt: skip

    async def run(self, lost: asyncio.Event) -> None:
        worker = asyncio.create_task(self._worker(lost))
        progress = asyncio.create_task(self._progress_loop(lost))
        try:
            await lost.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(worker), 10)  # in-flight sends finish, get recorded
        finally:
            for task in (worker, progress):
                task.cancel()
            await asyncio.gather(worker, progress, return_exceptions=True)

    async def _worker(self, lost: asyncio.Event) -> None:
        while not lost.is_set():
            try:
                busy = await self.step(lost)
            except (SQLAlchemyError, OSError) as exc:
                self.deps.metrics.database_error("mailing")
                log.warning("mailing sender: database error %s, retrying", type(exc).__name__)
                busy = False
            if not busy:
                await sleep_until(lost, self.deps.config.poll_seconds, self.deps.wake)
                self.deps.wake.clear()

    async def step(self, lost: asyncio.Event) -> bool:
        """Send the oldest running campaign until it is done, paused or stopped; False if none."""
        deps = self.deps
        await self._flush(self._outcomes)  # left over from a failed batch
        async with deps.storage.transaction() as conn:
            running = await store.list_campaigns(conn, [store.RUNNING])
        running = [c for c in running if c.channel in deps.transports]
        if not running:
            return False
        campaign = min(running, key=lambda c: c.id)
        if not await self._renders(campaign):
            return True  # marked failed; the next campaign is not held up
        await self._pipeline(campaign, lost)
        async with deps.storage.transaction() as conn:
            finished = await store.finish_if_done(conn, campaign.id, deps.clock())
        if finished:
            await self.report(campaign.id, final=True)
        return True

    async def _renders(self, campaign: store.Campaign) -> bool:
        """A text that cannot be rendered (stored before templates were checked) fails its campaign
        instead of every send of it: logged, marked failed, the admin told."""
        try:
            texts.render(campaign.text, None, self.deps.config.name_fallback)
        except texts.TextProblem as exc:
            log.error("mailing %d: its text cannot be rendered, campaign marked failed: %s", campaign.id, exc)
            async with self.deps.storage.transaction() as conn:
                await store.set_status(
                    conn, campaign.id, store.CAMPAIGN_FAILED, allowed_from=[store.RUNNING],
                    now=self.deps.clock(), note=str(exc)[:300],
                )  # fmt: skip
            if campaign.notify_chat is not None:
                await self.deps.notifier.tell(
                    campaign.notify_chat, f"Рассылка №{campaign.id} не отправлена: {exc}"
                )
            return False
        return True

    async def _pipeline(self, campaign: store.Campaign, lost: asyncio.Event) -> None:
        deps = self.deps
        queue: asyncio.Queue[store.Claimed] = asyncio.Queue(maxsize=self.batch)
        outcomes = self._outcomes
        senders = [
            asyncio.create_task(self._send_loop(campaign, queue, outcomes)) for _ in range(self.concurrency)
        ]
        recorder = asyncio.create_task(self._record_loop(outcomes))
        try:
            while not lost.is_set():
                async with deps.storage.transaction() as conn:
                    claimed, skipped = await store.claim(
                        conn, campaign.id, self.batch, deps.clock(), deps.config.frequency_cap_days
                    )
                if not claimed and not skipped:
                    break  # nothing pending, or paused / cancelled
                for item in claimed:
                    await queue.put(item)
            if lost.is_set():
                await self._release_queued(queue)
            await queue.join()
        finally:
            for task in (*senders, recorder):
                task.cancel()
            await asyncio.gather(*senders, recorder, return_exceptions=True)
            # After an error or a cancellation: rows never handed to Telegram go back to pending.
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self._release_queued(queue)
            await self._flush(outcomes)

    async def _send_loop(
        self,
        campaign: store.Campaign,
        queue: asyncio.Queue[store.Claimed],
        outcomes: list[tuple[store.Claimed, Delivered]],
    ) -> None:
        while True:
            item = await queue.get()
            try:
                result = await self._send(campaign, item)
                if result is None:
                    self._unsent.append(item.outbox_id)
                else:
                    outcomes.append((item, result))
                    self.deps.metrics.mailing_result(campaign.channel, "invitation", result.status)
            finally:
                queue.task_done()

    async def _record_loop(self, outcomes: list[tuple[store.Claimed, Delivered]]) -> None:
        while True:
            await asyncio.sleep(0.1)
            try:
                await self._flush(outcomes)
            except (SQLAlchemyError, OSError) as exc:
                self.deps.metrics.database_error("mailing")
                log.warning("mailing: recording results failed (%s), retrying", type(exc).__name__)

    async def _flush(self, outcomes: list[tuple[store.Claimed, Delivered]]) -> None:
        batch, unsent = list(outcomes), list(self._unsent)
        if not batch and not unsent:
            return
        async with self.deps.storage.transaction() as conn:
            now = self.deps.clock()
            await store.record(
                conn, [store.Outcome(i.outbox_id, r.status, r.message_id, r.error) for i, r in batch], now
            )
            for item, result in batch:
                if result.status == store.UNREACHABLE:
                    await repo.mark_unreachable(conn, item.respondent_id, now)
            if unsent:
                await store.release(conn, unsent)
        del outcomes[: len(batch)]
        del self._unsent[: len(unsent)]

    async def _release_queued(self, queue: asyncio.Queue[store.Claimed]) -> None:
        """Rows claimed but never handed to the channel: back to `pending` on a graceful stop."""
        waiting: list[int] = []
        while not queue.empty():
            waiting.append(queue.get_nowait().outbox_id)
            queue.task_done()
        if waiting:
            async with self.deps.storage.transaction() as conn:
                await store.release(conn, waiting)

    async def _send(self, campaign: store.Campaign, item: store.Claimed) -> Delivered | None:
        """The outcome, or None if no request was made and the row goes back to `pending`."""
        cfg = self.deps.config
        transport = self.deps.transports.get(campaign.channel)
        if transport is None:  # the channel went away mid-campaign: the row was never sent
            return Delivered(store.FAILED, error=f"канал {campaign.channel} не запущен")
        try:
            text = texts.render(campaign.text, item.name, cfg.name_fallback)
        except texts.TextProblem as exc:  # nothing was sent: failed, not unknown
            return Delivered(store.FAILED, error=str(exc)[:300])
        button = (cfg.button_text, transport.survey_link(campaign.prefill_key))
        identity = f"campaign:{campaign.id}:{item.respondent_id}"
        requested = False

        async def on_request() -> None:
            nonlocal requested
            await self._marks.mark(item.outbox_id)
            requested = True

        try:
            return await transport.send(
                item.external_id, text, button, identity=identity, on_request=on_request
            )
        except NotMarked:
            return None
        except Exception as exc:  # a defect must not lose the batch's other results
            log.exception("mailing: sending outbox row %s failed", item.outbox_id)
            # Before the request nothing left: `failed`; after it, it may have arrived: `unknown`.
            status = store.UNKNOWN if requested else store.FAILED
            return Delivered(status, error=f"{type(exc).__name__}: {exc}"[:300])

    async def _progress_loop(self, lost: asyncio.Event) -> None:
        while not lost.is_set():
            await sleep_until(lost, self.deps.config.progress_seconds)
            try:
                async with self.deps.storage.transaction() as conn:
                    running = await store.list_campaigns(conn, [store.RUNNING, store.PAUSED])
                for campaign in running:
                    await self.report(campaign.id)
            except (SQLAlchemyError, OSError) as exc:
                log.info("progress report skipped: %s", type(exc).__name__)

    async def report(self, campaign_id: int, *, final: bool = False) -> None:
        """Show the campaign's progress to the admin who started it (one message, edited)."""
        deps = self.deps
        async with deps.storage.transaction() as conn:
            campaign = await store.get_campaign(conn, campaign_id)
            if campaign is None:
                return
            progress = await store.progress(conn, campaign_id)
        line = (
            f"mailing {campaign.id}: {campaign.status}, sent {progress[store.SENT]}, "
            f"failed {progress[store.FAILED]}, unreachable {progress[store.UNREACHABLE]}, left {progress.left}"
        )
        # A paused or stalled campaign is checked every few seconds: INFO only when it changed.
        changed = self._logged.get(campaign_id) != line
        self._logged[campaign_id] = line
        log.log(logging.INFO if changed or final else logging.DEBUG, "%s", line)
        if campaign.notify_chat is None:
            return
        rate = deps.rates.get(campaign.channel, deps.config.rate())
        text = texts.progress_text(campaign, progress, rate, deps.config.timezone)
        if self._shown.get(campaign_id) == text and not final:
            return  # nothing changed (e.g. paused): no edit
        self._shown[campaign_id] = text
        if campaign.progress_message_id is None:
            message_id = await deps.notifier.tell(campaign.notify_chat, text)
            async with deps.storage.transaction() as conn:
                await store.set_progress_message(conn, campaign_id, message_id)
        else:
            await deps.notifier.edit(campaign.notify_chat, campaign.progress_message_id, text)
        if final:
            await deps.notifier.tell(campaign.notify_chat, f"Рассылка №{campaign.id} завершена.\n\n{text}")


class CampaignScheduler:
    """APScheduler jobs rebuilt from the campaigns table; reminders as an interval job."""

    def __init__(self, deps: MailingDeps, sender: Sender) -> None:
        self.deps = deps
        self.sender = sender
        self.started_at = deps.clock()
        self.scheduler: AsyncIOScheduler | None = None

    async def run(self, lost: asyncio.Event) -> None:
        self.started_at = self.deps.clock()
        scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler = scheduler
        cfg = self.deps.config
        scheduler.add_job(
            _job(self.reconcile), "interval", seconds=cfg.poll_seconds, id="reconcile",
            next_run_time=datetime.now(UTC), max_instances=1, coalesce=True, misfire_grace_time=None,
        )  # fmt: skip
        if cfg.reminder.enabled:
            scheduler.add_job(
                _job(self.remind), "interval", minutes=cfg.reminder.check_minutes, id="reminders",
                next_run_time=datetime.now(UTC), max_instances=1, coalesce=True, misfire_grace_time=None,
            )  # fmt: skip
        scheduler.start()
        try:
            await lost.wait()
        finally:
            scheduler.shutdown(wait=False)
            self.scheduler = None

    async def reconcile(self) -> None:
        """Make the jobs match the table: one date job per scheduled campaign."""
        try:
            async with self.deps.storage.transaction() as conn:
                scheduled = await store.list_campaigns(conn, [store.SCHEDULED], limit=10_000)
        except (SQLAlchemyError, OSError) as exc:
            self.deps.metrics.database_error("scheduler")
            log.warning("scheduler: database unavailable (%s)", type(exc).__name__)
            return
        scheduler = self.scheduler
        if scheduler is None:
            return
        now = self.deps.clock()
        wanted = set()
        for campaign in scheduled:
            if campaign.scheduled_at <= now:
                await self.fire(campaign.id)
                continue
            job_id = f"campaign:{campaign.id}"
            wanted.add(job_id)
            job = scheduler.get_job(job_id)
            if job is None or job.next_run_time != campaign.scheduled_at:
                scheduler.add_job(
                    _job(self.fire), DateTrigger(run_date=campaign.scheduled_at), args=[campaign.id],
                    id=job_id, replace_existing=True, misfire_grace_time=None,
                )  # fmt: skip
        for job in scheduler.get_jobs():
            if job.id.startswith("campaign:") and job.id not in wanted:
                job.remove()

    async def fire(self, campaign_id: int) -> None:
        try:
            await self._fire(campaign_id)
        except (SQLAlchemyError, OSError) as exc:  # the next reconcile tries again
            log.warning(
                "mailing %d: start deferred, database unavailable (%s)", campaign_id, type(exc).__name__
            )

    async def _fire(self, campaign_id: int) -> None:
        deps = self.deps
        grace = timedelta(minutes=deps.config.grace_minutes)
        async with deps.storage.transaction() as conn:
            campaign = await store.get_campaign(conn, campaign_id)
            if campaign is None or campaign.status != store.SCHEDULED:
                return
            now = deps.clock()
            # Late only if it came due while no leader was running: beyond the grace it is missed.
            lateness = self.started_at - campaign.scheduled_at
            if lateness > grace:
                note = (
                    f"время {texts.local_time(campaign.scheduled_at, deps.config.timezone)} прошло, "
                    f"пока сервис был остановлен (опоздание больше {deps.config.grace_minutes:g} мин)"
                )
                missed = await store.set_status(
                    conn, campaign_id, store.MISSED, allowed_from=[store.SCHEDULED], now=now, note=note
                )
                count = None
            else:
                missed = False
                count = await store.start_campaign(conn, campaign_id, deps.questions, now)
        if missed:
            log.warning("mailing %d missed: %s", campaign_id, note)
            text = (
                f"Рассылка №{campaign_id} не отправлена: {note}. "
                f"Создайте ее заново (/mailing) или командой otklik mailing create."
            )
            for chat in {*deps.admin_chats, *([campaign.notify_chat] if campaign.notify_chat else [])}:
                await deps.notifier.tell(chat, text)
            return
        if count is not None:
            log.info("mailing %d started: %d recipients", campaign_id, count)
            deps.wake.set()
            await self.sender.report(campaign_id)

    async def remind(self) -> None:
        """One reminder per unfinished survey, in every channel whose transport is up (Telegram,
        VK): the survey's own channel, so the person is reminded where they started."""
        for channel in sorted(self.deps.transports):
            await self._remind(channel)

    async def _remind(self, channel: str) -> None:
        deps = self.deps
        cfg = deps.config.reminder
        transport = deps.transports.get(channel)
        if transport is None:  # the channel stopped meanwhile
            return
        now = deps.clock()
        try:
            async with deps.storage.transaction() as conn:
                claimed = await store.claim_reminders(
                    conn,
                    channel=channel,
                    older_than=now - timedelta(hours=cfg.after_hours),
                    newer_than=now - timedelta(days=cfg.max_age_days),
                    limit=200,
                    now=now,
                )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("reminders (%s): database unavailable (%s)", channel, type(exc).__name__)
            return
        if not claimed:
            return
        button = (deps.config.button_text, transport.survey_link(""))
        # `reminder:<row id>` is the identity: VK derives the random_id from it (a retry is not a
        # second message); Telegram ignores it.
        marks = SendingMarks(deps.storage, table=reminders, metrics=deps.metrics)
        results = await asyncio.gather(
            *(
                _send_safely(transport, item, cfg.text, button, f"reminder:{item.outbox_id}", marks)
                for item in claimed
            )
        )
        done = [(i, r) for i, r in zip(claimed, results, strict=True) if r is not None]
        for _item, result in done:
            deps.metrics.mailing_result(channel, "reminder", result.status)
        unsent = [i.outbox_id for i, r in zip(claimed, results, strict=True) if r is None]
        async with deps.storage.transaction() as conn:
            now = deps.clock()
            await store.record_reminders(
                conn, [store.Outcome(i.outbox_id, r.status, r.message_id, r.error) for i, r in done], now
            )
            for item, r in done:
                if r.status == store.UNREACHABLE:
                    await repo.mark_unreachable(conn, item.respondent_id, now)
            if unsent:
                await store.release_reminders(conn, unsent)
        log.info("reminders (%s): %d sent", channel, sum(r.status == store.SENT for _, r in done))


async def _send_safely(
    transport: Transport,
    item: store.Claimed,
    text: str,
    button: tuple[str, str],
    identity: str,
    marks: SendingMarks,
) -> Delivered | None:
    """A defect in one send must not lose the other results of the batch (rows stay recorded).
    None: the row could not be marked `sending`, no request was made."""
    requested = False

    async def on_request() -> None:
        nonlocal requested
        await marks.mark(item.outbox_id)
        requested = True

    try:
        return await transport.send(item.external_id, text, button, identity=identity, on_request=on_request)
    except NotMarked:
        return None
    except Exception as exc:
        log.exception("reminder %s: sending failed", item.outbox_id)
        return Delivered(
            store.UNKNOWN if requested else store.FAILED, error=f"{type(exc).__name__}: {exc}"[:300]
        )


def _job(func: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Coroutine[Any, Any, None]]:
    """An APScheduler job that ends quietly when shutdown cancels it (no traceback in the log)."""

    @functools.wraps(func)
    async def job(*args: Any) -> None:
        try:
            await func(*args)
        except asyncio.CancelledError:
            log.debug("job %s stopped by shutdown", func.__name__)

    return job


async def run_mailing(
    deps: MailingDeps,
    stop: asyncio.Event,
    *,
    schema: str | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Until `stop`: lead (or wait to lead) and run the scheduler and the sender.

    `on_ready` is called once the sender has recovered and runs, or when another process leads.
    An exception means the service stopped: the caller restarts it (bot/mailing/hub.py).
    """
    lock = LeaderLock(deps.storage, "mailing", schema)

    async def work(lost: asyncio.Event) -> None:
        sender = Sender(deps)
        scheduler = CampaignScheduler(deps, sender)
        await sender.recover()
        if on_ready is not None:
            on_ready()
        await asyncio.gather(sender.run(lost), scheduler.run(lost))

    await run_as_leader(
        lock,
        work,
        stop,
        retry_seconds=deps.config.leader_retry_seconds,
        on_standby=on_ready,
        on_leading=deps.metrics.set_leader,
    )


async def queue_depth(storage: Storage) -> int:
    """Invitations not sent yet (pending, claimed or mid-send): the mailing's queue, for /metrics."""
    async with storage.transaction() as conn:
        return await store.queue_depth(conn)
