"""Cases end to end through the real aiogram client, the fake Bot API and real storage (SQLite
and PostgreSQL): the card's «Ответить», the preview, the answer, the respondent's reply, closing,
refusals, a restart mid-case."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from bot import defaults
from bot.cases.desk import ANSWER_LABEL, CLOSE_LABEL
from bot.core import cases as core_cases
from bot.telegram.cases import CANCEL_LABEL, EDIT_LABEL, REFUSED, SEND_LABEL
from storage import cases as cases_repo
from storage import repository as repo
from storage.cases import CaseStatus, ClosedBy, Delivery, Direction
from storage.schema import case_messages, respondents
from storage.store import Storage
from tests.bot.telegram.conftest import CHAT, Service
from tests.bot.telegram.test_staff_reports import LOW_SCORE_SURVEY, run_survey
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram, SentMessage

STAFF_CHAT = -100777  # the chat of unit 2 (LOW_SCORE_SURVEY names unit 2)
ADMIN, OTHER_UNIT, UNIT_2 = 900, 901, 903  # from tests/telegram/conftest.py: [staff]
EXTRA: dict[str, Any] = {
    "alerts": {"unit_chats": {"2": STAFF_CHAT}, "poll_seconds": 0.2},
    "cases": {"enabled": True},
}


async def started(database: Database, fake: FakeTelegram) -> Service:
    return await Service(database, fake, extra=EXTRA).start()


def db(service: Service) -> Storage:
    assert service.storage is not None
    return service.storage


async def agree(fake: FakeTelegram, storage: Storage, chat: int = CHAT) -> cases_repo.Case:
    """The low-score survey, then «Да, ответьте мне» to the question that follows it."""
    await run_survey(fake, chat, LOW_SCORE_SURVEY)
    question = fake.last_with_buttons(chat)
    assert question is not None and question.text == defaults.CASES_QUESTION
    assert question.labels() == [core_cases.YES, core_cases.NO]
    fake.press(chat, core_cases.YES)
    await fake.wait_idle()
    async with storage.transaction() as conn:
        person = await repo.get_respondent(conn, "telegram", str(chat))
        assert person is not None
        case = await cases_repo.case_for_reply(conn, person.id)
    assert case is not None
    assert fake.texts(chat)[-1].startswith(
        f"Спасибо! Сотрудники министерства ответят Вам здесь. Номер Вашего обращения — {case.number}."
    )
    return case


async def card(fake: FakeTelegram, storage: Storage, number: int = 1) -> SentMessage:
    """The case's card in the unit chat, once the case knows it as its thread."""
    await fake.wait_for(lambda: any(ANSWER_LABEL in m.labels() for m in fake.chat(STAFF_CHAT)), timeout=15)
    for _ in range(100):
        async with storage.transaction() as conn:
            if await cases_repo.thread_of(conn, number) is not None:
                break
        await asyncio.sleep(0.05)
    return next(m for m in fake.chat(STAFF_CHAT) if ANSWER_LABEL in m.labels())


async def staff_press(fake: FakeTelegram, message: SentMessage, label: str, user: int) -> None:
    fake.press(message.chat_id, label, message, user_id=user)
    await fake.wait_idle()


async def write(fake: FakeTelegram, user: int, text: str) -> None:
    fake.push_text(user, text)
    await fake.wait_idle()


async def test_staff_answer_with_preview_reaches_the_respondent_signed_with_the_unit(
    database: Database, fake_tg: FakeTelegram
) -> None:
    service = await started(database, fake_tg)
    try:
        case = await agree(fake_tg, db(service))
        the_card = await card(fake_tg, db(service))
        assert the_card.text.startswith("⚠️ Низкая оценка")  # the low-score card itself gained the buttons
        assert the_card.labels() == [ANSWER_LABEL, CLOSE_LABEL]
        assert str(CHAT) not in the_card.text and "Анна" not in the_card.text
        before = len(fake_tg.texts(CHAT))

        await staff_press(fake_tg, the_card, ANSWER_LABEL, UNIT_2)
        assert fake_tg.texts(UNIT_2)[-1].startswith(f"Обращение № {case.number}. Напишите ответ")
        await write(fake_tg, UNIT_2, "Форма есть на сайте, раздел «Поддержка».")
        preview = fake_tg.last_with_buttons(UNIT_2)
        assert preview is not None and preview.labels() == [SEND_LABEL, EDIT_LABEL, CANCEL_LABEL]
        assert "Форма есть на сайте" in preview.text and "Управление" in preview.text
        await staff_press(fake_tg, preview, EDIT_LABEL, UNIT_2)  # a second thought
        await write(fake_tg, UNIT_2, "Здравствуйте! Форма — на сайте, раздел «Поддержка».")
        preview = fake_tg.last_with_buttons(UNIT_2)
        assert preview is not None
        await staff_press(fake_tg, preview, SEND_LABEL, UNIT_2)
        assert fake_tg.texts(UNIT_2)[-1] == f"Ответ по обращению № {case.number} доставлен клиенту."

        delivered = fake_tg.texts(CHAT)[before:]
        assert len(delivered) == 1
        answer = delivered[0]
        assert "Здравствуйте! Форма — на сайте" in answer and f"№ {case.number}" in answer
        assert "— Управление инвестиционной политики" in answer  # the unit's name signs it
        assert "903" not in answer and "аналитик" not in answer  # never the staff account
        thread = [m for m in fake_tg.chat(STAFF_CHAT) if m.reply_to == the_card.message_id]
        assert thread and "Здравствуйте! Форма" in thread[-1].text
        async with db(service).transaction() as conn:
            now_case = await cases_repo.get_case(conn, case.number, unit=None)
            stored = await cases_repo.messages(conn, case.number)
        assert now_case is not None and now_case.status == CaseStatus.ANSWERED
        assert [(m.direction, m.delivery) for m in stored] == [(Direction.TO_RESPONDENT, Delivery.SENT)]
    finally:
        await service.crash()


async def test_a_staff_member_of_another_unit_is_refused(database: Database, fake_tg: FakeTelegram) -> None:
    service = await started(database, fake_tg)
    try:
        await agree(fake_tg, db(service))
        the_card = await card(fake_tg, db(service))
        await staff_press(fake_tg, the_card, ANSWER_LABEL, OTHER_UNIT)
        await staff_press(fake_tg, the_card, CLOSE_LABEL, OTHER_UNIT)
        assert [a.get("text") for a in fake_tg.callback_answers[-2:]] == [REFUSED, REFUSED]
        assert fake_tg.texts(OTHER_UNIT) == []  # no prompt, nothing about the case
        fake_tg.push_text(OTHER_UNIT, "/cases")
        await fake_tg.wait_idle()
        assert fake_tg.texts(OTHER_UNIT)[-1] == "Открытых обращений нет."  # unit 1 has none
        fake_tg.push_text(ADMIN, "/cases")
        await fake_tg.wait_idle()
        assert fake_tg.texts(ADMIN)[-1].startswith("№ 1 · Управление")
    finally:
        await service.crash()


async def test_a_draft_survives_a_restart_and_is_sent_after_it(
    database: Database, fake_tg: FakeTelegram
) -> None:
    service = await started(database, fake_tg)
    try:
        case = await agree(fake_tg, db(service))
        the_card = await card(fake_tg, db(service))
        await staff_press(fake_tg, the_card, ANSWER_LABEL, ADMIN)
        await write(fake_tg, ADMIN, "Ответ после перезапуска")
        preview = fake_tg.last_with_buttons(ADMIN)
        assert preview is not None
        await service.stop()
        service = await started(database, fake_tg)
        await staff_press(fake_tg, preview, SEND_LABEL, ADMIN)
        assert fake_tg.texts(ADMIN)[-1] == f"Ответ по обращению № {case.number} доставлен клиенту."
        assert "Ответ после перезапуска" in fake_tg.texts(CHAT)[-1]
        # The preview's buttons are gone; a second press (a re-delivered or late one) sends nothing.
        assert preview.markup is None
        sent = len(fake_tg.texts(CHAT))
        fake_tg.push_callback(ADMIN, preview.message_id, f"c|s|{case.number}")
        await fake_tg.wait_idle()
        assert len(fake_tg.texts(CHAT)) == sent
    finally:
        await service.crash()


async def test_a_blocked_respondent_is_marked_and_the_staff_told(
    database: Database, fake_tg: FakeTelegram
) -> None:
    service = await started(database, fake_tg)
    try:
        case = await agree(fake_tg, db(service))
        the_card = await card(fake_tg, db(service))
        fake_tg.blocked.add(CHAT)
        await staff_press(fake_tg, the_card, ANSWER_LABEL, UNIT_2)
        await write(fake_tg, UNIT_2, "Ответ")
        preview = fake_tg.last_with_buttons(UNIT_2)
        assert preview is not None
        await staff_press(fake_tg, preview, SEND_LABEL, UNIT_2)
        assert "клиент заблокировал бота" in fake_tg.texts(UNIT_2)[-1]
        async with db(service).transaction() as conn:
            row = (await conn.execute(select(respondents.c.unreachable_at))).first()
            delivery = (await conn.execute(select(case_messages.c.delivery))).scalar_one()
            now_case = await cases_repo.get_case(conn, case.number, unit=None)
        assert row is not None and row[0] is not None and delivery == Delivery.BLOCKED
        assert now_case is not None and now_case.status == CaseStatus.OPEN  # not answered
    finally:
        await service.crash()


async def test_staff_close_the_case(database: Database, fake_tg: FakeTelegram) -> None:
    service = await started(database, fake_tg)
    try:
        case = await agree(fake_tg, db(service))
        the_card = await card(fake_tg, db(service))
        await staff_press(fake_tg, the_card, CLOSE_LABEL, UNIT_2)
        async with db(service).transaction() as conn:
            closed = await cases_repo.get_case(conn, case.number, unit=None)
        assert closed is not None and closed.closed_by == ClosedBy.STAFF
        notices = [m.text for m in fake_tg.chat(STAFF_CHAT) if m.reply_to == the_card.message_id]
        assert notices == [f"Обращение № {case.number} закрыто: закрыл сотрудник."]
        await staff_press(fake_tg, the_card, ANSWER_LABEL, UNIT_2)
        assert fake_tg.texts(UNIT_2) == []  # a closed case takes no answer
    finally:
        await service.crash()


async def answer_case(fake: FakeTelegram, the_card: SentMessage, user: int, text: str) -> None:
    await staff_press(fake, the_card, ANSWER_LABEL, user)
    await write(fake, user, text)
    preview = fake.last_with_buttons(user)
    assert preview is not None and preview.labels() == [SEND_LABEL, EDIT_LABEL, CANCEL_LABEL]
    await staff_press(fake, preview, SEND_LABEL, user)


async def test_the_respondent_replies_in_the_thread_and_thanks_close_the_case(
    database: Database, fake_tg: FakeTelegram
) -> None:
    service = await started(database, fake_tg)
    try:
        case = await agree(fake_tg, db(service))
        the_card = await card(fake_tg, db(service))
        await answer_case(fake_tg, the_card, UNIT_2, "Форма — на сайте.")
        await write(fake_tg, CHAT, "А где именно на сайте?")
        assert (
            fake_tg.texts(CHAT)[-1]
            == f"Ваше сообщение передано сотрудникам министерства (обращение № {case.number})."
        )

        def thread() -> list[str]:
            return [m.text for m in fake_tg.chat(STAFF_CHAT) if m.reply_to == the_card.message_id]

        await fake_tg.wait_for(lambda: any("А где именно на сайте?" in t for t in thread()), timeout=10)
        assert thread()[-1] == f"💬 Обращение № {case.number}, сообщение клиента:\nА где именно на сайте?"
        await write(fake_tg, CHAT, "Спасибо большое!")
        assert fake_tg.texts(CHAT)[-1].startswith(f"Спасибо! Обращение № {case.number} закрыто.")
        await fake_tg.wait_for(lambda: any("клиент поблагодарил" in t for t in thread()), timeout=10)
        async with db(service).transaction() as conn:
            closed = await cases_repo.get_case(conn, case.number, unit=None)
            stored = await cases_repo.messages(conn, case.number)
        assert closed is not None and closed.closed_by == ClosedBy.THANKS
        assert [m.direction for m in stored] == [
            Direction.TO_RESPONDENT, Direction.FROM_RESPONDENT, Direction.FROM_RESPONDENT,
        ]  # fmt: skip
        # After the case is closed, a text is no longer relayed: the usual «how to start» answer.
        await write(fake_tg, CHAT, "Еще вопрос")
        assert "Ваше сообщение передано" not in fake_tg.texts(CHAT)[-1]
    finally:
        await service.crash()


async def test_a_no_opens_no_case_and_the_card_has_no_buttons(
    database: Database, fake_tg: FakeTelegram
) -> None:
    service = await started(database, fake_tg)
    try:
        await run_survey(fake_tg, CHAT, LOW_SCORE_SURVEY)
        fake_tg.press(CHAT, core_cases.NO)
        await fake_tg.wait_idle()
        assert fake_tg.texts(CHAT)[-1] == core_cases.REFUSED
        await fake_tg.wait_for(lambda: bool(fake_tg.chat(STAFF_CHAT)), timeout=15)
        await asyncio.sleep(0.6)  # several checks of the watcher and the jobs (0.2 s)
        (alert,) = fake_tg.chat(STAFF_CHAT)
        assert alert.text.startswith("⚠️ Низкая оценка") and alert.labels() == []
        before = len(fake_tg.texts(CHAT))
        await write(fake_tg, CHAT, "Почему так сложно?")  # not relayed: there is no case
        assert (
            len(fake_tg.texts(CHAT)) == before + 1
            and "Ваше сообщение передано" not in fake_tg.texts(CHAT)[-1]
        )
        async with db(service).transaction() as conn:
            assert await cases_repo.list_cases(conn, unit=None, statuses=list(CaseStatus)) == []
            person = await repo.get_respondent(conn, "telegram", str(CHAT))
            assert person is not None and not await cases_repo.reply_allowed(conn, person.id)
        assert len(fake_tg.chat(STAFF_CHAT)) == 1
    finally:
        await service.crash()


async def test_a_withdrawal_mid_case_closes_it_and_nothing_more_is_sent(
    database: Database, fake_tg: FakeTelegram
) -> None:
    service = await started(database, fake_tg)
    try:
        case = await agree(fake_tg, db(service))
        the_card = await card(fake_tg, db(service))
        await staff_press(fake_tg, the_card, ANSWER_LABEL, UNIT_2)
        await write(fake_tg, UNIT_2, "Ответ после отзыва")
        preview = fake_tg.last_with_buttons(UNIT_2)
        assert preview is not None
        await write(fake_tg, CHAT, "/stop")
        assert fake_tg.texts(CHAT)[-1].startswith(core_cases.REPLY_WITHDRAWN)
        sent = len(fake_tg.texts(CHAT))
        await staff_press(fake_tg, preview, SEND_LABEL, UNIT_2)
        assert len(fake_tg.texts(CHAT)) == sent  # nothing reached the respondent
        assert fake_tg.callback_answers[-1]["text"] == f"Обращение № {case.number} уже закрыто."
        async with db(service).transaction() as conn:
            closed = await cases_repo.get_case(conn, case.number, unit=None)
            stored = await cases_repo.messages(conn, case.number)
        assert closed is not None and closed.closed_by == ClosedBy.WITHDRAWAL and stored == []
        await write(fake_tg, CHAT, "Все-таки ответьте")  # no longer relayed
        assert "Ваше сообщение передано" not in fake_tg.texts(CHAT)[-1]
    finally:
        await service.crash()
