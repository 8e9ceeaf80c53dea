"""Analysts get /export and /report files in Telegram; others are refused; low-score alerts."""

from __future__ import annotations

import asyncio
import io

from openpyxl import load_workbook

from bot.core.staff import WRONG_ROLE
from bot.telegram.reports_dialog import MARKING, Pick
from bot.telegram.staff import NOT_AVAILABLE
from tests.bot.telegram.conftest import CHAT, Service
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram

# In person, provided, satisfied; 11(23) = 2 with its follow-up, then 4, 5, 5, 5; consent no.
LOW_SCORE_SURVEY = ["1", "2", "2", "4", "1", "2", "1", "1", "2", "Не нашел форму", "4", "5", "5", "5", "нет"]


async def run_survey(fake: FakeTelegram, chat: int, answers: list[str]) -> None:
    fake.push_text(chat, "/start")
    for text in answers:
        fake.push_text(chat, text)
    await fake.wait_idle(timeout=60)


async def test_analyst_exports_all_time_as_xlsx(service: Service, fake_tg: FakeTelegram) -> None:
    await run_survey(fake_tg, CHAT, LOW_SCORE_SURVEY)
    fake_tg.push_text(902, "/export")
    await fake_tg.wait_idle()
    assert fake_tg.texts(902)[-1] == "За какой период?"
    for label in ("За все время", "Все подразделения", "xlsx"):
        fake_tg.press(902, label)
        await fake_tg.wait_idle()
    chat, name, data, caption = fake_tg.documents[-1]
    assert chat == 902 and name.endswith(".xlsx") and caption.startswith("Анкет: 1.") and MARKING in caption
    sheet = load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3  # codes, question texts, one questionnaire
    assert str(CHAT) not in repr(rows)  # pseudonyms only, never the messenger id


async def test_analyst_gets_quarterly_report(service: Service, fake_tg: FakeTelegram) -> None:
    await run_survey(fake_tg, CHAT, LOW_SCORE_SURVEY)
    fake_tg.push_text(902, "/report")
    await fake_tg.wait_idle()
    fake_tg.press(902, "Квартальный анализ (пункт 11)")
    await fake_tg.wait_idle()
    quarter = fake_tg.last_with_buttons(902)
    assert quarter is not None and quarter.text == "За какой период?"
    fake_tg.press(902, quarter.labels()[0])  # the current quarter
    await fake_tg.wait_idle()
    fake_tg.press(902, "Все подразделения")
    await fake_tg.wait_idle()
    _, name, data, caption = fake_tg.documents[-1]
    assert name.endswith(".xlsx") and "анкет 1" in caption and MARKING in caption
    workbook = load_workbook(io.BytesIO(data))
    assert any(
        "не подлежит опубликованию" in str(c.value) for s in workbook for r in s.iter_rows() for c in r
    )


async def test_a_report_error_reaches_the_analyst_as_its_message(
    database: Database, fake_tg: FakeTelegram
) -> None:
    # Process groups are checked against the questionnaire only when a report is built.
    bad_groups = {"reports": {"process_groups": [{"name": "Телефон", "points": ["42"]}]}}
    svc = await Service(database, fake_tg, bad_groups).start()
    try:
        fake_tg.push_text(902, "/report")
        await fake_tg.wait_idle()
        fake_tg.press(902, "Квартальный анализ (пункт 11)")
        await fake_tg.wait_idle()
        quarter = fake_tg.last_with_buttons(902)
        assert quarter is not None
        fake_tg.press(902, quarter.labels()[0])
        await fake_tg.wait_idle()
        fake_tg.press(902, "Все подразделения")
        await fake_tg.wait_idle()
        assert fake_tg.documents == []
        assert fake_tg.texts(902)[-1] == (
            "Файл не подготовлен: [reports.process_groups] группа «Телефон»: "
            "нет точек взаимодействия с кодами 42 в вопросе 2(12)"
        )
    finally:
        await svc.crash()


async def test_reports_refused_to_others_and_units_enforced(service: Service, fake_tg: FakeTelegram) -> None:
    await run_survey(fake_tg, CHAT + 5, LOW_SCORE_SURVEY)  # structural unit 2
    await run_survey(fake_tg, CHAT + 6, ["1", "2", "1", *LOW_SCORE_SURVEY[3:]])  # structural unit 1
    for chat in (CHAT, 901):  # a respondent; an operator
        for command in ("/export", "/report"):
            fake_tg.push_text(chat, command)
    await fake_tg.wait_idle()
    assert fake_tg.texts(CHAT) == [NOT_AVAILABLE, NOT_AVAILABLE]
    assert fake_tg.texts(901) == [WRONG_ROLE.format(roles="admin, analyst")] * 2
    # Forged button data: a respondent, and an analyst of unit 2 asking for unit 1.
    message_id = 1
    fake_tg.push_callback(CHAT, message_id, Pick(what="export", period="all", unit="*", fmt="csv").pack())
    fake_tg.push_callback(903, message_id, Pick(what="export", period="all", unit="1", fmt="csv").pack())
    await fake_tg.wait_idle()
    assert [a.get("text") for a in fake_tg.callback_answers[-2:]] == [
        NOT_AVAILABLE, "Вам доступны только данные подразделения «Управление инвестиционной политики».",
    ]  # fmt: skip
    assert fake_tg.documents == []
    # Forged "all units" from a unit-limited analyst: only their unit (2) is exported.
    fake_tg.push_callback(903, message_id, Pick(what="export", period="all", unit="*", fmt="csv").pack())
    await fake_tg.wait_idle()
    assert fake_tg.documents[-1][3].startswith("Анкет: 1. Управление инвестиционной политики")
    # The unit-limited analyst is not asked for a unit: their own is used.
    fake_tg.push_text(903, "/export")
    await fake_tg.wait_idle()
    fake_tg.press(903, "За все время")
    await fake_tg.wait_idle()
    assert fake_tg.last_with_buttons(903) is not None
    assert fake_tg.last_with_buttons(903).labels() == ["xlsx", "csv"]  # type: ignore[union-attr]


async def test_low_score_alert_card_reaches_the_unit_chat_once(
    database: Database, fake_tg: FakeTelegram
) -> None:
    staff_chat = -100777
    service = await Service(
        database, fake_tg, extra={"alerts": {"unit_chats": {"2": staff_chat}, "poll_seconds": 0.2}}
    ).start()
    try:
        await run_survey(fake_tg, CHAT, LOW_SCORE_SURVEY)  # unit 2, a score of 2
        await run_survey(
            fake_tg, CHAT + 1, ["1", "2", "2", "4", "1", "2", "1", "1", "5", "5", "5", "5", "5", "нет"]
        )
        await fake_tg.wait_for(lambda: bool(fake_tg.chat(staff_chat)), timeout=15)
        await service.stop()
        restarted = await Service(
            database, fake_tg, extra={"alerts": {"unit_chats": {"2": staff_chat}, "poll_seconds": 0.2}}
        ).start()
        await asyncio.sleep(1.0)  # several checks of the restarted watcher (poll 0.2 s)
        await restarted.stop()
    finally:
        await service.crash()
    cards = fake_tg.texts(staff_chat)
    assert len(cards) == 1  # the all-5 questionnaire raised none; the restart resent nothing
    card = cards[0]
    assert card.startswith("⚠️ Низкая оценка") and "11(23): 2 ⚠️" in card and "«Не нашел форму»" in card
    assert str(CHAT) not in card and "Анна" not in card


async def test_staff_enter_client_totals_in_the_bot(service: Service, fake_tg: FakeTelegram) -> None:
    from bot.telegram.clients_command import USAGE
    from storage.reports_repo import client_totals_for

    for chat, text in (
        (CHAT, "/clients 2025Q3 1 offline 120 Телефон"),  # not staff
        (901, "/clients"),  # no arguments: how to use it
        (901, "/clients 2025Q3 1 offline много Телефон"),  # not a number
        (901, "/clients 2025Q3 2 offline 5 Телефон"),  # another unit than the operator's own
        (901, "/clients 2025Q9 1 offline 5 Телефон"),  # no such quarter
        (901, "/clients 2025Q3 1 offline 120 Телефон"),
        (902, "/clients 2025Q3 2 online 7 4"),  # an analyst of all units; the group by point code
    ):
        fake_tg.push_text(chat, text)
    await fake_tg.wait_idle()
    assert fake_tg.texts(CHAT) == [NOT_AVAILABLE]
    usage, not_number, other_unit, bad_quarter, saved = fake_tg.texts(901)
    assert usage == USAGE and "целое неотрицательное число" in not_number
    assert other_unit == "Вы можете вносить числа только своего подразделения."
    assert "2025Q9" in bad_quarter and saved.startswith("Записано: 2025Q3")
    assert fake_tg.texts(902)[0].startswith(
        "Записано: 2025Q3, Управление инвестиционной политики, «Телефон», онлайн: 7"
    )
    assert service.storage is not None
    async with service.storage.transaction() as conn:
        assert await client_totals_for(conn, "2025Q3", "1") == {("Телефон", "offline"): 120}
        assert await client_totals_for(conn, "2025Q3", "2") == {("Телефон", "online"): 7}


async def test_client_totals_out_of_range_are_refused_in_the_bot(
    service: Service, fake_tg: FakeTelegram
) -> None:
    from storage.reports_repo import client_totals_for

    for text in (
        "/clients 2025Q3 1 offline 99999999999999999999 Телефон",  # overflows the database column
        "/clients 2025Q3 1 offline 3000000000 Телефон",  # fits SQLite, overflows PostgreSQL INTEGER
        "/clients 2025Q3 1 offline ² Телефон",  # a digit to str.isdigit(), not to int()
        "/clients 9999Q4 1 offline 5 Телефон",  # a quarter no report can cover
        "/clients 2025Q3 1 offline 2147483647 Телефон",  # the largest accepted
    ):
        fake_tg.push_text(901, text)
    await fake_tg.wait_idle()
    huge, overflow, superscript, far_quarter, saved = fake_tg.texts(901)
    for reply in (huge, overflow, superscript):
        assert reply.startswith("Число клиентов — целое неотрицательное число (до 2147483647)")
    assert "9999Q4" in far_quarter and "вне допустимого периода" in far_quarter
    assert saved.startswith("Записано: 2025Q3")
    assert service.storage is not None
    async with service.storage.transaction() as conn:
        assert await client_totals_for(conn, "2025Q3", "1") == {("Телефон", "offline"): 2147483647}
        assert await client_totals_for(conn, "9999Q4", "1") == {}
