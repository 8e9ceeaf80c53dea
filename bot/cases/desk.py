"""The staff side of a case, channel-neutral: the card, the answer's delivery, closing.

Answers reach the respondent through the mailing's transports (`bot.mailing.transport.Transport`:
Telegram's with its rate limiter and retries, VK's with its idempotent `random_id`), registered
per channel in `CaseRelay` by the channel runners of this process. The respondent's address is
read from storage only here, right before sending, and never shown to staff.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.config import AlertsConfig
from bot.core.alerts import alert_card
from bot.core.clock import utcnow
from bot.mailing.transport import Transport
from reports.options import UNIT, option_text
from storage import cases as cases_repo
from storage import mailing as mailing_store
from storage import repository as repo
from storage.cases import Case, CaseStatus, ClosedBy, Delivery, Direction
from storage.store import Storage
from survey_flow.engine import Answer
from survey_flow.model import Questionnaire

log = logging.getLogger(__name__)


class CaseAction(StrEnum):
    """What a button of a case does; in callback data as `c|<action>|<number>`."""

    ANSWER = "a"  # on the card: write an answer
    CLOSE = "x"  # on the card: close the case
    SEND = "s"  # under the preview
    EDIT = "e"
    CANCEL = "c"


class Outcome(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # the respondent blocked the bot or left: marked unreachable
    FAILED = "failed"  # the messenger refused it after retries, or its fate is unknown
    NOT_ALLOWED = "not_allowed"  # closed, agreement withdrawn, or the person is unreachable
    NO_CHANNEL = "no_channel"  # the respondent's messenger does not run in this process


STATUS_TEXT = {
    CaseStatus.OPEN: "открыто, ответа еще нет",
    CaseStatus.ANSWERED: "есть ответ",
    CaseStatus.CLOSED: "закрыто",
}
CLOSED_TEXT = {
    ClosedBy.STAFF: "закрыл сотрудник",
    ClosedBy.THANKS: "клиент поблагодарил",
    ClosedBy.QUIET: "долго не было сообщений",
    ClosedBy.WITHDRAWAL: "клиент отозвал согласие",
    ClosedBy.ERASURE: "данные клиента удалены по его запросу",
}
OUTCOME_TEXT = {
    Outcome.SENT: "Ответ по обращению № {number} доставлен клиенту.",
    Outcome.BLOCKED: "Ответ по обращению № {number} не доставлен: клиент заблокировал бота.",
    Outcome.FAILED: (
        "Ответ по обращению № {number} не удалось доставить: мессенджер не принял его. "
        "Попробуйте позже, нажав «Ответить» на карточке."
    ),
    Outcome.NOT_ALLOWED: (
        "Ответ по обращению № {number} не отправлен: обращение закрыто или клиент отозвал согласие."
    ),
    Outcome.NO_CHANNEL: (
        "Ответ по обращению № {number} не отправлен: мессенджер клиента сейчас не подключен. "
        "Попробуйте позже."
    ),
}
SIGNED = "Ответ министерства на Ваше обращение № {number}:\n\n{text}\n\n— {unit}\n\nЕсли хотите ответить, напишите сообщение здесь."
STAFF_ANSWER = "✉️ Обращение № {number}: ответ подразделения ({result}):\n{text}"
CLIENT_REPLY = "💬 Обращение № {number}, сообщение клиента:\n{text}"
ERASED = "(текст удален по запросу клиента)"
CLOSED_NOTICE = "Обращение № {number} закрыто: {why}."
OVERDUE = (
    "⏰ Обращение № {number}: срок ответа истек {due}, ответа клиенту нет. Нажмите «Ответить» на карточке."
)
ANSWER_LABEL = "Ответить"
CLOSE_LABEL = "Закрыть"

Button = tuple[str, str]  # label, callback data


def button_data(action: CaseAction, number: int) -> str:
    return f"c|{action}|{number}"


def card_buttons(number: int) -> list[Button]:
    return [
        (ANSWER_LABEL, button_data(CaseAction.ANSWER, number)),
        (CLOSE_LABEL, button_data(CaseAction.CLOSE, number)),
    ]


class StaffChat(Protocol):
    """Where the staff see cases: the unit chats (Telegram groups)."""

    async def post(
        self, chat: int, text: str, *, buttons: Sequence[Button] = (), reply_to: int | None = None
    ) -> int:
        """The posted message's id."""
        ...

    async def add_buttons(self, chat: int, message_id: int, buttons: Sequence[Button]) -> None:
        """Put `buttons` under a message posted before (the low-score card)."""
        ...


@dataclass
class CaseRelay:
    """The transports answers go out through, one per channel running in this process."""

    transports: dict[str, Transport] = field(default_factory=dict)

    @contextlib.contextmanager
    def channel(self, name: str, transport: Transport) -> Iterator[None]:
        self.transports[name] = transport
        try:
            yield
        finally:
            if self.transports.get(name) is transport:
                del self.transports[name]


def last_day(case: Case, zone: ZoneInfo) -> str:
    """The deadline as staff read it: the last working day (it ends at the next local midnight)."""
    return f"{(case.deadline_at.astimezone(zone) - timedelta(days=1)):%d.%m.%Y}"


def case_card(q: Questionnaire, case: Case, answers: dict[str, Answer], zone: ZoneInfo) -> str:
    head = f"📨 Обращение № {case.number}: клиент согласился получить ответ здесь"
    body = alert_card(q, case.session_id, answers, case.opened_at)
    return f"{head}\n{body}\nОтветить до: {last_day(case, zone)} включительно"


def case_line(case: Case, q: Questionnaire, zone: ZoneInfo) -> str:
    status = STATUS_TEXT[case.status]
    if case.status == CaseStatus.CLOSED and case.closed_by is not None:
        status = f"закрыто ({CLOSED_TEXT[case.closed_by]})"
    return (
        f"№ {case.number} · {option_text(q, UNIT, case.unit)} · открыто {case.opened_at.astimezone(zone):%d.%m.%Y}"
        f" · срок {last_day(case, zone)} · {status}"
    )


def unit_chat(config: AlertsConfig, unit: str) -> int | None:
    return config.unit_chats.get(unit, config.default_chat)


class CaseDesk:
    def __init__(
        self,
        storage: Storage,
        q: Questionnaire,
        relay: CaseRelay,
        zone: ZoneInfo,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.storage, self.q, self.relay, self.zone, self.clock = storage, q, relay, zone, clock

    def unit_name(self, case: Case) -> str:
        return option_text(self.q, UNIT, case.unit)

    def signed(self, case: Case, text: str) -> str:
        return SIGNED.format(number=case.number, text=text, unit=self.unit_name(case))

    async def case(self, number: int) -> Case | None:
        async with self.storage.transaction() as conn:
            return await cases_repo.get_case(conn, number, unit=None)

    async def answer(self, case: Case, text: str, *, staff: str) -> Outcome:
        """Deliver `text`, signed with the unit's name, to the respondent of `case`."""
        now = self.clock()
        async with self.storage.transaction() as conn:
            address = await cases_repo.delivery_address(conn, case.number)
            if address is None:
                return Outcome.NOT_ALLOWED
            message_id = await cases_repo.add_message(
                conn, case.number, direction=Direction.TO_RESPONDENT, text=text, now=now, staff=staff
            )
        transport = self.relay.transports.get(address.channel)
        if transport is None:
            async with self.storage.transaction() as conn:
                await cases_repo.set_delivery(
                    conn, message_id, Delivery.FAILED, now, error="channel not running"
                )
            return Outcome.NO_CHANNEL
        delivered = await transport.send(
            address.external_id, self.signed(case, text), None, identity=f"case:{case.number}:{message_id}"
        )
        now = self.clock()
        async with self.storage.transaction() as conn:
            if delivered.status == mailing_store.SENT:
                await cases_repo.set_delivery(
                    conn, message_id, Delivery.SENT, now, message_ref=delivered.message_id
                )
                await cases_repo.mark_answered(conn, case.number, now)
                return Outcome.SENT
            if delivered.status == mailing_store.UNREACHABLE:
                await cases_repo.set_delivery(conn, message_id, Delivery.BLOCKED, now, error=delivered.error)
                respondent = await repo.get_respondent(conn, address.channel, address.external_id)
                if respondent is not None:
                    await repo.mark_unreachable(conn, respondent.id, now)
                return Outcome.BLOCKED
            await cases_repo.set_delivery(conn, message_id, Delivery.FAILED, now, error=delivered.error)
            return Outcome.FAILED

    async def close(self, case: Case, *, staff: str) -> bool:
        async with self.storage.transaction() as conn:
            return await cases_repo.close_case(
                conn, case.number, by=ClosedBy.STAFF, now=self.clock(), staff=staff
            )

    async def thread(self, case: Case) -> list[str]:
        """The case as staff read it: the card's facts, then the messages (no ids, no names)."""
        async with self.storage.transaction() as conn:
            found = await cases_repo.messages(conn, case.number)
            answers = await repo.load_answers(conn, case.session_id)
        lines = [
            case_line(case, self.q, self.zone),
            alert_card(self.q, case.session_id, answers, case.opened_at),
        ]
        for message in found:
            who = "Подразделение" if message.direction == Direction.TO_RESPONDENT else "Клиент"
            when = message.created_at.astimezone(self.zone).strftime("%d.%m.%Y %H:%M")
            lines.append(f"{when} {who}: {message.text if message.text is not None else ERASED}")
        return lines
