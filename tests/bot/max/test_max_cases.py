"""A case of a MAX respondent end to end: `otklik run`'s Telegram and MAX channels sharing one set of
services, against the fake Telegram Bot API (the staff side) and the fake MAX Bot API (the
respondent), with real storage (SQLite and PostgreSQL): «Да» after the survey, the unit's answer from
Telegram delivered in MAX, the respondent's reply in the case thread, a blocked MAX user."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot import defaults
from bot.app import Services, questionnaire_from
from bot.cases.desk import ANSWER_LABEL
from bot.core import cases as core_cases
from bot.max import runner as max_runner
from bot.telegram.cases import SEND_LABEL
from bot.telegram.runner import run_telegram
from storage import cases as cases_repo
from storage import repository as repo
from storage.cases import CaseStatus, Delivery, Direction
from storage.schema import case_messages
from storage.store import Storage
from tests.bot.max.conftest import User
from tests.bot.telegram.conftest import tg_settings
from tests.bot.telegram.test_cases import EXTRA, STAFF_CHAT, UNIT_2, answer_case, card, staff_press, write
from tests.bot.telegram.test_staff_reports import LOW_SCORE_SURVEY
from tests.conftest import Database
from tests.fakes.max_api import TOKEN, FakeMax
from tests.fakes.telegram_api import FakeTelegram

ANSWER = "Здравствуйте! Форма — на сайте, раздел «Поддержка»."


@dataclass
class Running:
    storage: Storage
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]]


@pytest.fixture
async def running(database: Database, fake: FakeMax, fake_tg: FakeTelegram) -> AsyncIterator[Running]:
    """Both channels as `otklik run` starts them: one `Services`, so the MAX runner's transport is
    the one the Telegram staff side answers through."""
    extra = {**EXTRA, "max": {"enabled": True, "token": TOKEN, "api_base_url": fake.url}}
    settings = tg_settings(database, fake_tg, extra)
    storage = await database.open()
    services = Services(settings, storage, questionnaire_from(settings))
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_telegram(services, stop)),
        asyncio.create_task(max_runner.run(services, stop)),
    ]
    try:
        for _ in range(500):  # the MAX channel is polling
            if fake.calls_of("GET /updates"):
                break
            await asyncio.sleep(0.01)
        yield Running(storage, stop, tasks)
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        await storage.close()


async def agree(user: User, storage: Storage) -> cases_repo.Case:
    """The low-score survey in MAX, then «Да, ответьте мне» to the question that follows it."""
    await user.say("начать")
    for text in LOW_SCORE_SURVEY:
        await user.say(text)
    question = user.last_with_buttons()
    assert question.text == defaults.CASES_QUESTION
    assert question.labels() == [core_cases.YES, core_cases.NO]
    await user.press(core_cases.YES)
    async with storage.transaction() as conn:
        person = await repo.get_respondent(conn, "max", str(user.id))
        assert person is not None
        case = await cases_repo.case_for_reply(conn, person.id)
    assert case is not None and case.channel == "max" and case.unit == "2"
    assert user.last_text.startswith(
        f"Спасибо! Сотрудники министерства ответят Вам здесь. Номер Вашего обращения — {case.number}."
    )
    return case


async def test_a_max_respondent_is_answered_from_telegram_and_replies_into_the_thread(
    running: Running, fake: FakeMax, fake_tg: FakeTelegram, user: User
) -> None:
    case = await agree(user, running.storage)
    the_card = await card(fake_tg, running.storage, case.number)
    assert str(user.id) not in the_card.text  # the card never names the MAX account
    before = len(user.inbox())

    await answer_case(fake_tg, the_card, UNIT_2, ANSWER)
    assert fake_tg.texts(UNIT_2)[-1] == f"Ответ по обращению № {case.number} доставлен клиенту."
    await fake.settled()
    delivered = [m.text for m in user.inbox()[before:]]
    assert len(delivered) == 1
    answer = delivered[0]
    assert ANSWER in answer and f"№ {case.number}" in answer
    assert "— Управление инвестиционной политики" in answer  # the unit's name signs it
    assert "903" not in answer and "аналитик" not in answer  # never the staff account

    replies = await user.say("А где именно на сайте?")
    assert replies[-1].text == (
        f"Ваше сообщение передано сотрудникам министерства (обращение № {case.number})."
    )

    def thread() -> list[str]:
        return [m.text for m in fake_tg.chat(STAFF_CHAT) if m.reply_to == the_card.message_id]

    await fake_tg.wait_for(lambda: any("А где именно на сайте?" in t for t in thread()), timeout=10)
    assert thread()[-1] == f"💬 Обращение № {case.number}, сообщение клиента:\nА где именно на сайте?"
    async with running.storage.transaction() as conn:
        now_case = await cases_repo.get_case(conn, case.number, unit=None)
        stored = await cases_repo.messages(conn, case.number)
    assert now_case is not None and now_case.status == CaseStatus.ANSWERED
    assert [(m.direction, m.text) for m in stored] == [
        (Direction.TO_RESPONDENT, ANSWER),
        (Direction.FROM_RESPONDENT, "А где именно на сайте?"),
    ]
    assert stored[0].delivery == Delivery.SENT


async def test_a_max_user_who_blocked_the_bot_is_marked_unreachable(
    running: Running, fake: FakeMax, fake_tg: FakeTelegram, user: User
) -> None:
    case = await agree(user, running.storage)
    the_card = await card(fake_tg, running.storage, case.number)
    fake.blocked.add(user.id)  # POST /messages is refused with 403 chat.denied
    before = len(user.inbox())
    await staff_press(fake_tg, the_card, ANSWER_LABEL, UNIT_2)
    await write(fake_tg, UNIT_2, ANSWER)
    preview = fake_tg.last_with_buttons(UNIT_2)
    assert preview is not None
    await staff_press(fake_tg, preview, SEND_LABEL, UNIT_2)
    assert "клиент заблокировал бота" in fake_tg.texts(UNIT_2)[-1]
    assert len(user.inbox()) == before
    async with running.storage.transaction() as conn:
        person = await repo.get_respondent(conn, "max", str(user.id))
        delivery = (await conn.execute(select(case_messages.c.delivery))).scalar_one()
        now_case = await cases_repo.get_case(conn, case.number, unit=None)
    assert person is not None and person.unreachable_at is not None
    assert delivery == Delivery.BLOCKED
    assert now_case is not None and now_case.status == CaseStatus.OPEN  # not answered
