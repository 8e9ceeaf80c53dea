"""Low-score alerts (beyond the order, as «Ваш контроль» does): a short card to the staff chat of
the structural unit when a questionnaire has a score of 1–3 or «Скорее не удовлетворен».

The watcher reads completed sessions from the database (any channel, paper included), so it
needs no hook in the conversation and survives restarts: it resumes from a stored cursor with a
look-back, and a per-session claim prevents duplicates. Cards carry no personal data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.config import AlertsConfig
from bot.core.retry import sleep_until
from storage import alerts as alerts_repo
from storage import cases as cases_repo
from storage import repository as repo
from storage.store import Storage
from survey_flow.engine import Answer, answer_label
from survey_flow.model import Questionnaire, QuestionRole

log = logging.getLogger(__name__)

LOW_SCORES = frozenset({"1", "2", "3"})
NOT_SATISFIED = "2"  # «Скорее не удовлетворен», the option of the satisfaction question
LOOK_BACK = timedelta(minutes=10)  # transactions may commit a little out of completion order

Buttons = Sequence[tuple[str, str]]  # (label, callback data)
# Sends a card with its buttons; the message id, when the channel tells it.
Send = Callable[[int, str, Buttons], Awaitable[int | None]]


def is_alarming(q: Questionnaire, answers: dict[str, Answer]) -> bool:
    satisfaction = answers.get(q.by_role(QuestionRole.SATISFACTION).code)
    if satisfaction is not None and satisfaction.option == NOT_SATISFIED:
        return True
    return any(_is_scale(q, c) and a.option in LOW_SCORES for c, a in answers.items())


def _is_scale(q: Questionnaire, code: str) -> bool:
    return any(question.code == code and question.kind == "scale" for question in q.questions)


def alert_card(q: Questionnaire, session_id: int, answers: dict[str, Answer], completed_at: datetime) -> str:
    def shown(code: str) -> str:
        return answer_label(q, code, answers[code]) if code in answers else "—"

    satisfaction = q.by_role(QuestionRole.SATISFACTION)
    lines = [
        "⚠️ Низкая оценка в анкете",
        f"Подразделение: {shown(q.by_role(QuestionRole.UNIT).code)}",
        f"Мера поддержки: {shown(q.by_role(QuestionRole.MEASURE).code)}",
        f"Точка взаимодействия: {shown(q.by_role(QuestionRole.POINT).code)}",
        f"{satisfaction.printed_code}: {shown(satisfaction.code)}",
    ]
    for code, answer in answers.items():
        if not _is_scale(q, code):
            continue
        question = q.question(code)
        mark = " ⚠️" if answer.option in LOW_SCORES else ""
        lines.append(f"{question.printed_code}: {answer.option}{mark}")
        if answer.followup:
            lines.append(f"   сложности: «{answer.followup[:500]}»")
    lines.append(f"Анкета № {session_id}, {completed_at:%d.%m.%Y %H:%M} UTC")
    return "\n".join(lines)


class AlertWatcher:
    """`case_buttons`: the buttons of a card whose questionnaire already has a case (docs/cases.md);
    a case opened after its card was sent gets them on that card from the cases' jobs."""

    def __init__(
        self,
        storage: Storage,
        q: Questionnaire,
        config: AlertsConfig,
        send: Send,
        case_buttons: Callable[[int], Buttons] | None = None,
    ) -> None:
        self.storage, self.q, self.config, self.send = storage, q, config, send
        self.case_buttons = case_buttons
        # Sessions of the look-back window already judged in this process: not re-read every poll.
        self._judged: set[int] = set()

    def chat_for(self, answers: dict[str, Answer]) -> int | None:
        unit = answers.get(self.q.by_role(QuestionRole.UNIT).code)
        if unit is not None and unit.option in self.config.unit_chats:
            return self.config.unit_chats[unit.option]
        return self.config.default_chat

    async def check_once(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        sent = 0
        async with self.storage.transaction() as conn:
            stored = await repo.get_state(conn, alerts_repo.CURSOR_KEY)
            since = datetime.fromisoformat(stored) - LOOK_BACK if stored else now - timedelta(days=1)
            sessions = await alerts_repo.completed_since(conn, since)
        self._judged &= {session_id for session_id, _ in sessions}  # forget what left the window
        for session_id, completed_at in sessions:
            if session_id in self._judged:
                continue
            async with self.storage.transaction() as conn:
                answers = await repo.load_answers(conn, session_id)
                self._judged.add(session_id)
                chat = self.chat_for(answers)
                if chat is None or not is_alarming(self.q, answers):
                    continue
                if not await alerts_repo.claim(conn, session_id, now):
                    continue
                case = await cases_repo.case_of_session(conn, session_id) if self.case_buttons else None
                with_case = case is not None and await cases_repo.thread_of(conn, case.number) is None
            # Sent outside the transaction (no lock held over the network); a failure frees the
            # claim so the next check tries again.
            card = alert_card(self.q, session_id, answers, repo.as_utc(completed_at) or now)
            buttons = self.case_buttons(case.number) if self.case_buttons and case and with_case else ()
            try:
                message_id = await self.send(chat, card, buttons)
            except Exception:
                self._judged.discard(session_id)
                async with self.storage.transaction() as conn:
                    await alerts_repo.release(conn, session_id)
                raise
            sent += 1
            if message_id is not None:
                async with self.storage.transaction() as conn:
                    await alerts_repo.set_card(conn, session_id, str(chat), str(message_id), now)
                    if case is not None and buttons:
                        await cases_repo.set_thread(
                            conn, case.number, unit_chat=str(chat), message_id=str(message_id)
                        )
        async with self.storage.transaction() as conn:
            await repo.set_state(conn, alerts_repo.CURSOR_KEY, now.isoformat(), now)
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        if not self.config.enabled:
            return
        while not stop.is_set():
            try:
                sent = await self.check_once()
                if sent:
                    log.info("alerts: %d low-score card(s) sent", sent)
            except Exception as exc:  # keep watching; the claim makes a retry safe
                log.warning("alerts: check failed (%s), will retry", type(exc).__name__)
            await sleep_until(stop, self.config.poll_seconds)
