"""The cases' leader jobs with an injected clock, posting through the real aiogram client to the
fake Bot API, on SQLite and PostgreSQL: the card, the respondent's replies as a thread, one
overdue reminder, closing after the quiet time; and an answer to a VK respondent through the
fake VK server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.cases.desk import ANSWER_LABEL, CaseDesk, CaseRelay, Outcome
from bot.cases.jobs import CaseJobs
from bot.config import AlertsConfig, CasesConfig
from bot.telegram.cases import TelegramStaffChat
from bot.vk.api import VkClient
from bot.vk.mailing import VkTransport
from reports.working_days import deadline
from storage import alerts as alerts_repo
from storage import cases as cases_repo
from storage import repository as repo
from storage.cases import CaseStatus, ClosedBy, Delivery, Direction
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.vk_api import GROUP_ID, TOKEN, FakeVk
from tests.reports.data import B
from tests.storage.cases_data import questionnaire_of

ZONE = ZoneInfo("Asia/Novosibirsk")
T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # a Friday, 17:00 in Novosibirsk
UNIT_CHAT = -100555  # unit 1 (questionnaire B)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def bot(fake_tg: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake_tg.base_url))
    client = Bot(token=fake_tg.token, session=session)
    yield client
    await session.close()


async def agreed_case(storage: Storage, q: Questionnaire, channel: str, user: str) -> cases_repo.Case:
    respondent, session = await questionnaire_of(storage, q, user, B, T0, channel=channel)
    async with storage.transaction() as conn:
        await cases_repo.record_reply_consent(
            conn, respondent, agreed=True, channel=channel, text_version="1", now=T0
        )
        # The low-score card was claimed, and its message is not known: the jobs post the case's own card.
        await alerts_repo.claim(conn, session, T0)
        return await cases_repo.open_case(
            conn, session, unit="1", channel=channel, now=T0, deadline_at=deadline(T0, 1, ZONE)
        )


async def test_card_thread_overdue_reminder_and_quiet_closing(
    storage: Storage, questionnaire: Questionnaire, fake_tg: FakeTelegram, bot: Bot
) -> None:
    case = await agreed_case(storage, questionnaire, "telegram", "777")
    clock = Clock(T0 + timedelta(hours=1))
    jobs = CaseJobs(
        storage, questionnaire, CasesConfig(quiet_days=7), AlertsConfig(unit_chats={"1": UNIT_CHAT}),
        TelegramStaffChat(bot), ZONE, clock=clock,
    )  # fmt: skip
    await jobs.check_once()
    (card,) = fake_tg.chat(UNIT_CHAT)
    assert card.text.startswith(f"📨 Обращение № {case.number}") and ANSWER_LABEL in card.labels()
    assert "Ответить до: 07.12.2026 включительно" in card.text  # Friday evening + 1 working day: Monday
    assert "777" not in card.text and "Имя 777" not in card.text

    async with storage.transaction() as conn:
        await cases_repo.add_message(
            conn, case.number, direction=Direction.FROM_RESPONDENT, text="А где форма?", now=clock.now
        )
    await jobs.check_once()
    await jobs.check_once()  # shown once: the cursor moved past it
    restarted = CaseJobs(
        storage, questionnaire, CasesConfig(quiet_days=7), AlertsConfig(unit_chats={"1": UNIT_CHAT}),
        TelegramStaffChat(bot), ZONE, clock=clock,
    )  # fmt: skip
    await restarted.check_once()  # a restart (or another leader) neither reposts the card nor the reply
    replies = [m for m in fake_tg.chat(UNIT_CHAT) if m.reply_to == card.message_id]
    assert [m.text for m in replies] == [f"💬 Обращение № {case.number}, сообщение клиента:\nА где форма?"]

    clock.now = datetime(2026, 12, 7, 16, 59, tzinfo=UTC)  # 23:59 on Monday in Novosibirsk: not late
    await jobs.check_once()
    assert len(fake_tg.chat(UNIT_CHAT)) == 2
    clock.now = datetime(2026, 12, 7, 17, 1, tzinfo=UTC)  # Tuesday has begun there
    await jobs.check_once()
    await jobs.check_once()
    reminders = [m for m in fake_tg.chat(UNIT_CHAT) if m.text.startswith("⏰")]
    assert len(reminders) == 1 and reminders[0].reply_to == card.message_id
    assert f"№ {case.number}: срок ответа истек 07.12.2026" in reminders[0].text

    answered_at = clock.now + timedelta(hours=1)
    async with storage.transaction() as conn:
        sent = await cases_repo.add_message(
            conn, case.number, direction=Direction.TO_RESPONDENT, text="Ответ", now=answered_at, staff="tg:1"
        )
        await cases_repo.set_delivery(conn, sent, Delivery.SENT, answered_at)
        await cases_repo.mark_answered(conn, case.number, answered_at)
    clock.now = answered_at + timedelta(days=7) - timedelta(minutes=1)
    await jobs.check_once()
    async with storage.transaction() as conn:
        still = await cases_repo.get_case(conn, case.number, unit=None)
    assert still is not None and still.status == CaseStatus.ANSWERED
    clock.now = answered_at + timedelta(days=7)
    await jobs.check_once()
    async with storage.transaction() as conn:
        closed = await cases_repo.get_case(conn, case.number, unit=None)
    assert closed is not None and closed.closed_by == ClosedBy.QUIET and closed.closed_at == clock.now
    assert fake_tg.texts(UNIT_CHAT)[-1] == f"Обращение № {case.number} закрыто: долго не было сообщений."


async def test_an_answer_reaches_a_vk_respondent_and_a_refusing_one_is_marked(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    fake = FakeVk().start()
    client = VkClient(TOKEN, api_version="5.199", api_base_url=fake.url, rps=200, backoff=0.01, attempts=4)
    try:
        relay = CaseRelay()
        desk = CaseDesk(storage, questionnaire, relay, ZONE, clock=lambda: T0 + timedelta(hours=2))
        case = await agreed_case(storage, questionnaire, "vk", "7001")
        assert await desk.answer(case, "Здравствуйте!", staff="telegram:903") == Outcome.NO_CHANNEL
        with relay.channel("vk", VkTransport(client, GROUP_ID)):
            assert await desk.answer(case, "Здравствуйте! Разберемся.", staff="telegram:903") == Outcome.SENT
            (message,) = fake.messages_to(7001)
            assert "Здравствуйте! Разберемся." in message.text and f"№ {case.number}" in message.text
            assert "903" not in message.text
            refusing = await agreed_case(storage, questionnaire, "vk", "7002")
            fake.refuse_peers[7002] = 901  # the person does not allow messages from the community
            assert await desk.answer(refusing, "Ответ", staff="telegram:903") == Outcome.BLOCKED
        async with storage.transaction() as conn:
            first = await cases_repo.get_case(conn, case.number, unit=None)
            person = await repo.get_respondent(conn, "vk", "7002")
            thread = await cases_repo.messages(conn, refusing.number)
        assert first is not None and first.status == CaseStatus.ANSWERED
        assert first.first_answer_at == T0 + timedelta(hours=2)
        assert person is not None and person.unreachable_at is not None
        assert [m.delivery for m in thread] == [Delivery.BLOCKED]
        # Nothing more goes to an unreachable person.
        with relay.channel("vk", VkTransport(client, GROUP_ID)):
            assert await desk.answer(refusing, "Еще раз", staff="telegram:903") == Outcome.NOT_ALLOWED
    finally:
        client.close()
        fake.close()
