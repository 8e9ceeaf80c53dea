"""The channel-neutral conversation: platform events in, messages out, state in the database.

Channels translate their events into `Incoming` and render `Message`s; all survey decisions are
made here (through the pure engine) inside one database transaction per event.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core import cases, texts
from bot.core.cases import CaseTerms
from bot.core.clock import utcnow
from bot.core.dialog import Dialog, Phase
from bot.core.messages import Action, Button, Incoming, Kind, Message, Result
from bot.core.screens import Commands, ConsentTerms, Screens, page_count
from storage import cases as cases_repo
from storage import repository as repo
from storage.cases import ClosedBy, Direction
from storage.store import Storage
from survey_flow import engine
from survey_flow.engine import Accepted, Answer, Rejected, Step
from survey_flow.model import SCALE_CODES, Option, Questionnaire
from survey_flow.text import normalize

PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PAGE_RE = re.compile(r"[0-9]{1,6}")  # ASCII digits only: str.isdigit() also accepts «²»
BACK_WORDS = frozenset({"назад", "back", "/back"})
ABORT_WORDS = frozenset({"прервать", "отмена", "/cancel", "cancel"})
START_WORDS = frozenset({"/start", "start", "начать", "старт", "начать опрос"})
STOP_WORDS = frozenset({"/stop", "стоп", "stop", "отписаться"})
YES_WORDS = frozenset({"да", "1", "согласен", "согласна", "да, согласен(на)", "yes"})
NO_WORDS = frozenset({"нет", "2", "не согласен", "не согласна", "no"})
CONTINUE_WORDS = frozenset({"продолжить", "1"})
RESTART_WORDS = frozenset({"начать заново", "заново", "2"})

# Imported from here by the channels and the composition root.
__all__ = ["Commands", "ConsentTerms", "Conversation", "Layout", "NoEvents", "SurveyEvents"]


@dataclass(frozen=True)
class Layout:
    """Keyboard limits of a channel: options per page (Telegram is roomier than VK)."""

    page_size: int = 8


class SurveyEvents(Protocol):
    """What the conversation reports for monitoring (bot/runtime/metrics.py), called once committed."""

    def survey_started(self, channel: str) -> None: ...

    def survey_completed(self, channel: str) -> None: ...

    def update_duplicate(self, channel: str) -> None: ...


class NoEvents:
    def survey_started(self, channel: str) -> None:
        return None

    def survey_completed(self, channel: str) -> None:
        return None

    def update_duplicate(self, channel: str) -> None:
        return None


class Conversation:
    def __init__(
        self,
        storage: Storage,
        questionnaire: Questionnaire,
        consent: ConsentTerms,
        *,
        layout: Layout | None = None,
        commands: Commands | None = None,
        clock: Callable[[], datetime] = utcnow,
        bot_key: str = "",
        events: SurveyEvents | None = None,
        cases: CaseTerms | None = None,
    ) -> None:
        self.storage = storage
        self.cases = cases or CaseTerms.off()
        self.events: SurveyEvents = events or NoEvents()
        self.q = questionnaire
        self.consent = consent
        self.layout = layout or Layout()
        self.commands = commands or Commands()
        self.screens = Screens(questionnaire, consent, self.commands)
        self.clock = clock
        # The bot (Telegram bot id, VK community id) whose update ids this conversation records.
        self.bot_key = bot_key
        # Per-respondent serialisation inside this process (the DB row lock covers other workers).
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def handle(self, event: Incoming) -> Result:
        # Reported only once the transaction committed: a rolled-back event counts nothing.
        committed: list[Callable[[str], None]] = []
        result = await self._handle(event, committed)
        for report in committed:
            report(event.channel)
        return result

    async def _handle(self, event: Incoming, committed: list[Callable[[str], None]]) -> Result:
        key = (event.channel, event.external_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock, self.storage.transaction() as conn:
            now = self.clock()
            claim = await repo.claim_update(
                conn,
                event.channel,
                event.update_id,
                event.external_id,
                now,
                name=event.name,
                bot=self.bot_key,
            )
            if claim is None:
                committed.append(self.events.update_duplicate)
                return Result(duplicate=True)
            respondent = claim.respondent
            if respondent.unreachable_at is not None:  # they wrote to us: reachable again
                await repo.mark_unreachable(conn, respondent.id, None)
            turn = _Turn(
                self, conn, respondent, now, page_size=event.page_size, in_progress=claim.in_progress
            )
            turn.committed = committed
            result = await turn.dispatch(event)
            result.respondent_id = respondent.id
            result.phase = turn.dialog.phase
            return result


class _Turn:
    """One event's handling inside one transaction."""

    def __init__(
        self,
        conv: Conversation,
        conn: AsyncConnection,
        respondent: repo.Respondent,
        now: datetime,
        *,
        page_size: int | None = None,
        in_progress: tuple[repo.SurveySession, dict[str, Answer]] | None = None,
    ):
        self.conv = conv
        self.page_size = page_size or conv.layout.page_size
        self.q = conv.q
        self.screens = conv.screens
        self.conn = conn
        self.respondent = respondent
        self.now = now
        # What is stored, to write only a change (most answers leave the phase as it was).
        self.stored: dict[str, Any] = dict(respondent.dialog)
        self.dialog = Dialog.from_json(self.stored)
        self.committed: list[Callable[[str], None]] = []  # reports to make once committed
        # The newest session in progress with its answers, if the claim read them (current as of
        # the turn's start only: taken once, before this turn writes anything).
        self._in_progress = in_progress

    def take_in_progress(self) -> tuple[repo.SurveySession, dict[str, Answer]] | None:
        found, self._in_progress = self._in_progress, None
        return found

    async def dispatch(self, event: Incoming) -> Result:
        word = normalize(event.text) if event.kind == Kind.TEXT else ""
        if (
            event.kind == Kind.STOP
            or (event.kind == Kind.PRESS and event.action == Action.WITHDRAW)
            or word in STOP_WORDS
        ):
            return await self.withdraw()
        if (
            event.kind == Kind.START
            or (event.kind == Kind.PRESS and event.action == Action.START)
            or word in START_WORDS
        ):
            payload = event.text.strip() if event.kind == Kind.START else ""
            return await self.start(payload)
        if event.kind == Kind.UNSUPPORTED:
            return Result(messages=[Message(texts.UNSUPPORTED)], notice=texts.UNSUPPORTED)
        phase = self.dialog.phase
        if phase == Phase.RESUME:
            return await self.on_resume(event, word)
        if phase == Phase.CONSENT:
            return await self.on_consent(event, word)
        if phase == Phase.REPLY:
            return await self.on_reply(event, word)
        if phase == Phase.SURVEY:
            current = await self.current_session()
            if current is not None:
                return await self.on_survey(*current, event, word)
            await self.set_dialog(Dialog.idle())
        if event.kind == Kind.PRESS:
            return Result(notice=texts.STALE_BUTTON, messages=[])
        if event.kind == Kind.TEXT and event.text.strip():
            relayed = await self.to_case(event.text.strip())
            if relayed is not None:
                return relayed
        return Result(messages=[self.screens.idle()])

    # --- helpers ---------------------------------------------------------------------------

    async def set_dialog(self, dialog: Dialog) -> None:
        self.dialog = dialog
        stored = dialog.to_json()
        if stored == self.stored:
            return
        self.stored = stored
        await repo.set_dialog(self.conn, self.respondent.id, stored)

    async def current_session(self) -> tuple[repo.SurveySession, dict[str, Answer]] | None:
        """The session the dialog is in, with its answers, if it is still in progress."""
        session_id = self.dialog.session
        if session_id is None:
            return None
        found = self.take_in_progress()
        if found is None or found[0].id != session_id:
            found = await repo.session_with_answers(self.conn, session_id)
        if found is None:
            return None
        session, _answers = found
        if session.status != repo.IN_PROGRESS or session.respondent_id != self.respondent.id:
            return None
        return found

    def question_message(
        self, session_id: int, answers: dict[str, Answer], candidates: tuple[Option, ...] = ()
    ) -> Message:
        page = self.dialog.page or 0
        return self.screens.question(
            session_id, answers, page=page, page_size=self.page_size, candidates=candidates
        )

    def with_heading(
        self, session_id: int, answers: dict[str, Answer], shown_before: Step | None
    ) -> list[Message]:
        return self.screens.with_heading(session_id, answers, shown_before, page_size=self.page_size)

    # --- start, resume ---------------------------------------------------------------------

    async def start(self, payload: str) -> Result:
        known = self.take_in_progress()
        if known is not None:
            active: repo.SurveySession | None = known[0]
            answers = known[1]
        else:
            active = await repo.active_session(self.conn, self.respondent.id)
            answers = await repo.load_answers(self.conn, active.id) if active is not None else {}
        if active is not None:
            if engine.answered_steps(self.q, answers):
                await self.set_dialog(Dialog.resume(active.id, payload))
                return Result(messages=[self.screens.resume(active.id)])
            await repo.finish_session(self.conn, active.id, repo.ABANDONED, self.now)
        return await self.begin(payload, greeting=True)

    async def begin(self, payload: str, *, greeting: bool) -> Result:
        prefill: dict[str, Answer] = {}
        source, source_ref = "direct", None
        if payload and PAYLOAD_RE.match(payload):
            found = await repo.get_prefill(self.conn, payload)
            if found is not None:
                prefill, _problems = engine.prefill_answers(self.q, found.values)
                source, source_ref = found.source, found.key
        session = await repo.create_session(
            self.conn,
            self.q,
            respondent_id=self.respondent.id,
            channel=self.respondent.channel,
            source=source,
            source_ref=source_ref,
            prefill=prefill,
            now=self.now,
        )
        await self.set_dialog(Dialog.survey(session.id))
        self.committed.append(self.conv.events.survey_started)
        messages = [Message(texts.GREETING)] if greeting else []
        messages.append(self.screens.title(prefill))
        messages.append(self.question_message(session.id, prefill))
        return Result(messages=messages)

    async def on_resume(self, event: Incoming, word: str) -> Result:
        session_id = self.dialog.session
        token = f"{session_id}:resume"
        if event.kind == Kind.PRESS and event.token != token:
            return Result(notice=texts.STALE_BUTTON)
        wants_continue = event.action == Action.CONTINUE or word in CONTINUE_WORDS
        wants_restart = event.action == Action.RESTART or word in RESTART_WORDS
        session = await repo.get_session(self.conn, session_id) if session_id is not None else None
        alive = session is not None and session.status == repo.IN_PROGRESS
        if wants_continue and session is not None and alive:
            await self.set_dialog(Dialog.survey(session.id))
            answers = await repo.load_answers(self.conn, session.id)
            messages = self.with_heading(session.id, answers, None)  # where the respondent is
            return Result(messages=messages, answered=texts.CONTINUE)
        if wants_restart or (wants_continue and not alive):
            if session is not None and alive:
                await repo.finish_session(self.conn, session.id, repo.ABANDONED, self.now)
            result = await self.begin(self.dialog.payload or "", greeting=False)
            result.answered = texts.RESTART
            return result
        return Result(messages=[Message(texts.RESUME_REPEAT), self.screens.resume(int(session_id or 0))])

    # --- the survey itself -----------------------------------------------------------------

    async def on_survey(
        self, session: repo.SurveySession, answers: dict[str, Answer], event: Incoming, word: str
    ) -> Result:
        step = engine.next_step(self.q, answers)
        if step is None:  # answered elsewhere (e.g. a crash between answer and completion)
            return await self.complete(session, answers, None)
        token = f"{session.id}:{step.key}"
        if event.kind == Kind.PRESS:
            if event.token != token:
                return Result(notice=texts.STALE_BUTTON)
            return await self.on_press(session, answers, step, event)
        if word in BACK_WORDS:
            return await self.back(session, answers)
        if word in ABORT_WORDS:
            return await self.pause()
        return await self.answer(session, answers, event.text)

    async def on_press(
        self, session: repo.SurveySession, answers: dict[str, Answer], step: Step, event: Incoming
    ) -> Result:
        if event.action == Action.ANSWER:
            if not _is_button_value(step, event.value):  # forged or from another keyboard
                return Result(notice=texts.STALE_BUTTON)
            return await self.answer(session, answers, event.value, pressed=True)
        if event.action == Action.BACK:
            return await self.back(session, answers)
        if event.action == Action.ABORT:
            return await self.pause()
        if event.action == Action.SKIP:
            return await self.settle(session, answers, engine.skip_followup(self.q, answers), pressed=True)
        if event.action == Action.OTHER and step.question.allow_other:
            return Result(messages=[Message(texts.OTHER_PROMPT)], notice=texts.OTHER_PROMPT)
        if event.action == Action.PAGE and PAGE_RE.fullmatch(event.value):
            pages = page_count(len(step.question.options), self.page_size)
            page = min(int(event.value), pages - 1)
            await self.set_dialog(replace(self.dialog, page=page))
            return Result(messages=[self.question_message(session.id, answers)], edit_in_place=True)
        return Result(notice=texts.STALE_BUTTON)

    async def answer(
        self, session: repo.SurveySession, answers: dict[str, Answer], text: str, *, pressed: bool = False
    ) -> Result:
        return await self.settle(session, answers, engine.apply_input(self.q, answers, text), pressed=pressed)

    async def settle(
        self,
        session: repo.SurveySession,
        answers: dict[str, Answer],
        outcome: Accepted | Rejected,
        *,
        pressed: bool,
    ) -> Result:
        """Store an accepted answer and ask the next step, or repeat the step with the reason."""
        if isinstance(outcome, Rejected):
            question = self.question_message(session.id, answers, candidates=outcome.candidates)
            return Result(
                messages=[Message(outcome.message), question], notice=outcome.message if pressed else None
            )
        await repo.sync_answers(self.conn, self.q, session.id, answers, outcome.answers, self.now)
        echo = self.screens.echo(outcome.step, outcome.answers)
        if engine.is_complete(self.q, outcome.answers):
            result = await self.complete(session, outcome.answers, echo)
            return result
        await self.set_dialog(Dialog.survey(session.id))
        return Result(messages=self.with_heading(session.id, outcome.answers, outcome.step), answered=echo)

    async def back(self, session: repo.SurveySession, answers: dict[str, Answer]) -> Result:
        updated, undone = engine.go_back(self.q, answers)
        if undone is None:
            return Result(
                messages=[Message(texts.NOTHING_TO_UNDO), self.question_message(session.id, answers)],
                notice=texts.NOTHING_TO_UNDO,
            )
        await repo.sync_answers(self.conn, self.q, session.id, answers, updated, self.now)
        await self.set_dialog(Dialog.survey(session.id))
        current = engine.next_step(self.q, answers)
        answered = self.screens.went_back(current) if current else None
        # Back across a block boundary (from 9(21) to 8(19)) shows the earlier block's title again.
        return Result(messages=self.with_heading(session.id, updated, current), answered=answered)

    async def pause(self) -> Result:
        await self.set_dialog(Dialog.idle())
        text = self.screens.paused()
        return Result(messages=[Message(text)], answered=text)

    async def complete(
        self, session: repo.SurveySession, answers: dict[str, Answer], echo: str | None
    ) -> Result:
        final = engine.finalize(self.q, answers, self.now)
        await repo.sync_answers(self.conn, self.q, session.id, answers, final, self.now)
        await repo.finish_session(self.conn, session.id, repo.COMPLETED, self.now)
        self.committed.append(self.conv.events.survey_completed)
        latest = await repo.latest_consent(self.conn, self.respondent.id)
        messages = [Message(texts.THANKS)]
        if latest is not None and latest.granted and latest.text_version == self.conv.consent.version:
            await self.set_dialog(Dialog.idle())
            messages.append(self.screens.withdraw())
            messages += await self.ask_reply(session.id, answers)
        else:
            await self.set_dialog(Dialog.consent(session.id))
            messages.append(self.screens.consent_request(session.id))
        return Result(messages=messages, answered=echo)

    # --- consent ---------------------------------------------------------------------------

    async def on_consent(self, event: Incoming, word: str) -> Result:
        session_id = self.dialog.session
        if event.kind == Kind.PRESS and event.token != f"{session_id}:consent":
            return Result(notice=texts.STALE_BUTTON)
        if event.action == Action.CONSENT_YES or word in YES_WORDS:
            granted = True
        elif event.action == Action.CONSENT_NO or word in NO_WORDS:
            granted = False
        else:
            return Result(
                messages=[Message(texts.CONSENT_REPEAT), self.screens.consent_request(int(session_id or 0))]
            )
        if granted:
            kind = repo.ConsentKind.GRANTED
        else:
            # «Нет» is a refusal; only a consent given before (e.g. to an older consent text) and
            # still in force is withdrawn by it.
            latest = await repo.latest_consent(self.conn, self.respondent.id)
            in_force = latest is not None and latest.granted
            kind = repo.ConsentKind.WITHDRAWN if in_force else repo.ConsentKind.REFUSED
        await self.record_consent(kind)
        await self.set_dialog(Dialog.idle())
        answered = self.screens.consent_answered(granted)
        then = await self.ask_reply(int(session_id or 0), None)
        if granted:
            return Result(messages=[self.screens.withdraw(), *then], answered=answered)
        return Result(messages=[Message(texts.CONSENT_DECLINED), *then], answered=answered)

    # --- the ministry's answer to difficulties named (docs/cases.md) ------------------------

    async def ask_reply(self, session_id: int, answers: dict[str, Answer] | None) -> list[Message]:
        """Once, after the survey: «may the ministry answer you here?» when the questionnaire has a
        low score with a difficulty described (and [cases] is on); nothing otherwise."""
        terms = self.conv.cases
        if not terms.enabled or not session_id:
            return []
        if answers is None:
            answers = await repo.load_answers(self.conn, session_id)
        if not cases.asks_for_reply(self.q, answers) or cases.unit_of(self.q, answers) is None:
            return []
        if await cases_repo.case_of_session(self.conn, session_id) is not None:
            return []
        await self.set_dialog(Dialog.reply(session_id))
        return [self.reply_request(session_id)]

    def reply_request(self, session_id: int) -> Message:
        buttons = ((Button(cases.YES, Action.REPLY_YES), Button(cases.NO, Action.REPLY_NO)),)
        return Message(self.conv.cases.question, buttons, token=f"{session_id}:reply")

    async def on_reply(self, event: Incoming, word: str) -> Result:
        session_id = int(self.dialog.session or 0)
        if event.kind == Kind.PRESS and event.token != f"{session_id}:reply":
            return Result(notice=texts.STALE_BUTTON)
        if event.action == Action.REPLY_YES or word in YES_WORDS:
            agreed = True
        elif event.action == Action.REPLY_NO or word in NO_WORDS:
            agreed = False
        else:
            return Result(messages=[Message(texts.CONSENT_REPEAT), self.reply_request(session_id)])
        answered = texts.ECHO_ANSWERED.format(
            question=self.conv.cases.question, answer=cases.YES if agreed else cases.NO
        )
        await self.set_dialog(Dialog.idle())
        await self.record_reply(agreed)
        if not agreed:
            return Result(messages=[Message(cases.REFUSED)], answered=answered)
        answers = await repo.load_answers(self.conn, session_id)
        unit = cases.unit_of(self.q, answers)
        assert unit is not None  # asked only when the unit is known
        case = await cases.open_for(
            self.conn, self.conv.cases, session_id=session_id, unit=unit, channel=self.respondent.channel,
            now=self.now,
        )  # fmt: skip
        text = cases.AGREED.format(number=case.number, stop=self.conv.commands.stop)
        return Result(messages=[Message(text)], answered=answered)

    async def record_reply(self, agreed: bool) -> None:
        await cases_repo.record_reply_consent(
            self.conn, self.respondent.id, agreed=agreed, channel=self.respondent.channel,
            text_version=self.conv.cases.text_version, now=self.now,
        )  # fmt: skip

    async def to_case(self, text: str) -> Result | None:
        """A message outside a survey while the respondent's case is going: it goes to the unit."""
        case = await cases_repo.case_for_reply(self.conn, self.respondent.id)
        if case is None or not await cases_repo.reply_allowed(self.conn, self.respondent.id):
            return None
        await cases_repo.add_message(
            self.conn, case.number, direction=Direction.FROM_RESPONDENT, text=text[: cases.REPLY_MAX_CHARS],
            now=self.now,
        )  # fmt: skip
        if cases.is_thanks(text):
            await cases_repo.close_case(self.conn, case.number, by=ClosedBy.THANKS, now=self.now)
            return Result(messages=[Message(cases.CLOSED_BY_THANKS.format(number=case.number))])
        return Result(messages=[Message(cases.REPLY_RECEIVED.format(number=case.number))])

    async def record_consent(self, kind: repo.ConsentKind) -> None:
        """A consent-register entry made in the chat, under the current consent text."""
        await repo.record_consent(
            self.conn,
            self.respondent.id,
            kind=kind,
            channel=self.respondent.channel,
            text_version=self.conv.consent.version,
            method="bot",
            now=self.now,
        )

    async def withdraw(self) -> Result:
        # /stop also ends the agreement to be answered, closing the cases still going; while the
        # reply question is open it answers it: a refusal.
        ended = refused = False
        if self.dialog.phase == Phase.REPLY:
            refused = True
            await self.record_reply(False)
            await self.set_dialog(Dialog.idle())
        else:
            ended = await cases_repo.end_reply_consent(
                self.conn, self.respondent.id, channel=self.respondent.channel, now=self.now,
                text_version=self.conv.cases.text_version,
            )  # fmt: skip
        latest = await repo.latest_consent(self.conn, self.respondent.id)
        asked = self.dialog.phase == Phase.CONSENT
        if latest is not None and latest.granted:
            kind: repo.ConsentKind | None = repo.ConsentKind.WITHDRAWN
            reply = texts.CONSENT_WITHDRAWN
        else:
            # Nothing to withdraw. While the consent question is open, «стоп» answers it: a refusal.
            kind = repo.ConsentKind.REFUSED if asked else None
            withdrawn_before = latest is not None and latest.kind == repo.ConsentKind.WITHDRAWN
            reply = texts.ALREADY_WITHDRAWN if withdrawn_before else texts.NOTHING_TO_WITHDRAW
        if kind is not None:
            await self.record_consent(kind)
        if ended or refused:
            said = cases.REPLY_WITHDRAWN if ended else cases.REFUSED
            reply = said if kind is None else f"{said}\n{reply}"
        if asked:
            await self.set_dialog(Dialog.idle())
        return Result(messages=[Message(reply)], notice=reply)


def _is_button_value(step: Step, value: str) -> bool:
    """Whether an answer button of this step carries `value`: a pressed answer is one of the
    step's own options, never text for the engine to read as «Другое»."""
    if step.followup:  # typed, never pressed
        return False
    if step.question.kind == "scale":
        return value in SCALE_CODES
    return step.question.option(value) is not None
