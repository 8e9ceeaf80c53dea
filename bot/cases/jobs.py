"""The cases' background work, run by the one leading process (as the mailing sender is):

- a case without a card in its unit chat gets one (with «Ответить» and «Закрыть»);
- the respondents' replies, stored by the conversation in any channel's process, are shown in
  the unit chat as replies to the case's card, in order (a cursor in channel_state);
- an open case past its deadline gets one overdue reminder (a claim: never two);
- an answered case with nothing written for `[cases] quiet_days` closes by itself.

Everything is read from the database, so a restart or a change of leader loses nothing: what was
not posted yet is posted by the next check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.cases.desk import (
    CLIENT_REPLY,
    CLOSED_NOTICE,
    CLOSED_TEXT,
    ERASED,
    OVERDUE,
    StaffChat,
    card_buttons,
    case_card,
    last_day,
    unit_chat,
)
from bot.config import AlertsConfig, CasesConfig
from bot.core.clock import utcnow
from bot.core.retry import sleep_until
from bot.runtime.leader import run_as_leader
from storage import alerts as alerts_repo
from storage import cases as cases_repo
from storage import repository as repo
from storage.cases import Case, ClosedBy
from storage.locks import LeaderLock
from storage.store import Storage
from survey_flow.model import Questionnaire

log = logging.getLogger(__name__)

# A card claimed this long ago whose message is still unknown was lost (or sent before cases
# existed): the case gets a card of its own.
CARD_IN_FLIGHT = timedelta(minutes=2)
REPLIES_CURSOR = "cases:replies_shown_until"  # the last respondent message shown in a unit chat


class CaseJobs:
    def __init__(
        self,
        storage: Storage,
        q: Questionnaire,
        config: CasesConfig,
        alerts: AlertsConfig,
        chat: StaffChat,
        zone: ZoneInfo,
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float = 10.0,
    ) -> None:
        self.storage, self.q, self.config, self.alerts = storage, q, config, alerts
        self.chat, self.zone, self.clock, self.poll_seconds = chat, zone, clock, poll_seconds

    async def check_once(self) -> None:
        now = self.clock()
        await self.post_cards()
        await self.show_replies()
        await self.remind_overdue(now)
        await self.close_quiet(now)

    async def post_cards(self) -> int:
        """A case opened after its questionnaire's low-score card was sent: the card gains the
        case's buttons (or, if where it went is not known, a card of the case is posted). A card
        not sent yet gets them from the alert watcher, which sees the case."""
        async with self.storage.transaction() as conn:
            waiting = await cases_repo.without_thread(conn)
        posted = 0
        for case in waiting:
            chat = unit_chat(self.alerts, case.unit)
            if chat is None:
                continue  # no staff chat for this unit: /cases and the CLI still show it
            async with self.storage.transaction() as conn:
                claimed = await alerts_repo.claimed_at(conn, case.session_id)
                card = await alerts_repo.card_of(conn, case.session_id)
                answers = await repo.load_answers(conn, case.session_id)
            if claimed is None or (card is None and self.clock() - claimed < CARD_IN_FLIGHT):
                continue  # the alert watcher is sending the card: it adds the buttons itself
            buttons = card_buttons(case.number)
            where = card
            if card is not None:
                try:
                    await self.chat.add_buttons(int(card[0]), int(card[1]), buttons)
                except Exception as exc:  # deleted, or the chat moved: a card of its own instead
                    log.info(
                        "cases: card of %d not updated (%s), posting one", case.number, type(exc).__name__
                    )
                    where = None
            if where is None:
                text = case_card(self.q, case, answers, self.zone)
                where = (str(chat), str(await self.chat.post(chat, text, buttons=buttons)))
            async with self.storage.transaction() as conn:
                await cases_repo.set_thread(conn, case.number, unit_chat=where[0], message_id=where[1])
            posted += 1
        return posted

    async def show_replies(self) -> int:
        async with self.storage.transaction() as conn:
            stored = await repo.get_state(conn, REPLIES_CURSOR)
            replies = await cases_repo.replies_after(conn, int(stored or 0))
        shown = 0
        for reply in replies:
            async with self.storage.transaction() as conn:
                thread = await cases_repo.thread_of(conn, reply.case_number)
                case = await cases_repo.get_case(conn, reply.case_number, unit=None)
            if thread is None or case is None:
                break  # its card is not posted yet: shown after it, in order
            text = CLIENT_REPLY.format(
                number=reply.case_number, text=reply.text if reply.text is not None else ERASED
            )
            if case.closed_by == ClosedBy.THANKS:
                text += "\n" + CLOSED_NOTICE.format(number=case.number, why=CLOSED_TEXT[ClosedBy.THANKS])
            await self.chat.post(int(thread[0]), text, reply_to=int(thread[1]))
            async with self.storage.transaction() as conn:
                await repo.set_state(conn, REPLIES_CURSOR, str(reply.id), self.clock())
            shown += 1
        return shown

    async def remind_overdue(self, now: datetime) -> int:
        async with self.storage.transaction() as conn:
            late = await cases_repo.overdue(conn, now, not_reminded=True)
        reminded = 0
        for case in late:
            async with self.storage.transaction() as conn:
                if not await cases_repo.claim_overdue_reminder(conn, case.number, now):
                    continue
                thread = await cases_repo.thread_of(conn, case.number)
            try:
                await self._tell(
                    case, thread, OVERDUE.format(number=case.number, due=last_day(case, self.zone))
                )
            except Exception:
                async with self.storage.transaction() as conn:
                    await cases_repo.release_overdue_reminder(conn, case.number)
                raise
            reminded += 1
        return reminded

    async def close_quiet(self, now: datetime) -> int:
        async with self.storage.transaction() as conn:
            due = await cases_repo.quiet(conn, now, timedelta(days=self.config.quiet_days))
        closed = 0
        for case in due:
            async with self.storage.transaction() as conn:
                if not await cases_repo.close_case(conn, case.number, by=ClosedBy.QUIET, now=now):
                    continue
                thread = await cases_repo.thread_of(conn, case.number)
            closed += 1
            try:
                await self._tell(
                    case, thread, CLOSED_NOTICE.format(number=case.number, why=CLOSED_TEXT[ClosedBy.QUIET])
                )
            except Exception as exc:  # the closing stands; the notice is a courtesy
                log.warning("cases: closing notice for %d not sent (%s)", case.number, type(exc).__name__)
        return closed

    async def _tell(self, case: Case, thread: tuple[str, str] | None, text: str) -> None:
        if thread is not None:
            await self.chat.post(int(thread[0]), text, reply_to=int(thread[1]))
            return
        chat = unit_chat(self.alerts, case.unit)
        if chat is not None:
            await self.chat.post(chat, text)

    async def work(self, lost: asyncio.Event) -> None:
        while not lost.is_set():
            try:
                await self.check_once()
            except Exception as exc:  # keep going; claims and the cursor make a retry safe
                log.warning("cases: check failed (%s), will retry", type(exc).__name__)
            await sleep_until(lost, self.poll_seconds)

    async def run(self, stop: asyncio.Event, *, schema: str | None = None) -> None:
        """Until `stop`: the jobs run in whichever process holds the cases' leader lock."""
        lock = LeaderLock(self.storage, "cases", schema)
        while not stop.is_set():
            try:
                await run_as_leader(lock, self.work, stop)
            except Exception:
                log.exception("cases: jobs stopped, restarting")
                await sleep_until(stop, self.poll_seconds)
