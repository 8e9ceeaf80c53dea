"""Telegram, through aiogram and the fake Bot API: titles, «Пропустить», refusal vs withdrawal."""

from __future__ import annotations

from sqlalchemy import select

from bot.core import texts
from storage.schema import answers, consents
from tests.bot.telegram.conftest import CHAT, Service
from tests.bot.telegram.test_survey_e2e import last_question, press, say
from tests.fakes.telegram_api import FakeTelegram

TITLE = (
    "ФОРМА опроса для проведения оценки удовлетворенности внешних клиентов в рамках предоставления "
    "мер государственной поддержки министерством экономического развития Новосибирской области"
)
FOLLOWUP = (
    "Уточните, пожалуйста, с какими конкретно сложностями Вы столкнулись в процессе получения "
    "государственной поддержки. Впишите _____."
)


async def test_titles_skip_and_refusal_in_telegram(service: Service, fake_tg: FakeTelegram) -> None:
    await say(fake_tg, "/start")
    shown = fake_tg.texts(CHAT)
    assert shown[:2] == [texts.GREETING, f"{TITLE}\n\nБЛОК 1. СТАТИСТИЧЕСКИЙ"]
    assert last_question(fake_tg).startswith("Вопрос 1 из 16")
    for text in ("1", "2", "3", "4", "1", "1", "1"):
        await say(fake_tg, text)
    shown = fake_tg.texts(CHAT)
    assert shown[-2] == "БЛОК 2. ОЦЕНКА КАЧЕСТВА МЕР ПОДДЕРЖКИ" and "Вы скорее удовлетворены" in shown[-1]
    await press(fake_tg, "Скорее удовлетворен")
    await press(fake_tg, "1")
    followup = fake_tg.last_with_buttons(CHAT)
    assert followup is not None and FOLLOWUP in followup.text
    labels = [b["text"] for row in followup.markup["inline_keyboard"] for b in row]
    assert labels[0] == texts.SKIP
    await press(fake_tg, texts.SKIP)
    # The follow-up message now shows it was skipped, without buttons; the survey goes on.
    assert followup.markup is None and followup.text.endswith(f"↷ {texts.SKIPPED}")
    assert "Насколько просто Вам было собрать" in last_question(fake_tg)
    for label in ("5", "5", "5", "5"):
        await press(fake_tg, label)
    await press(fake_tg, texts.CONSENT_NO)
    await say(fake_tg, "/stop")
    assert fake_tg.texts(CHAT)[-1] == texts.NOTHING_TO_WITHDRAW
    assert service.storage is not None
    async with service.storage.transaction() as conn:
        row = (
            await conn.execute(
                select(answers.c.option_code, answers.c.followup_text, answers.c.followup_skipped).where(
                    answers.c.question_code == "11"
                )
            )
        ).one()
        register = [(r.kind, r.granted) for r in await conn.execute(select(consents))]
    assert (row.option_code, row.followup_text, bool(row.followup_skipped)) == ("1", None, True)
    assert register == [("refused", False)]


async def test_stop_after_consent_withdraws_it(service: Service, fake_tg: FakeTelegram) -> None:
    await say(fake_tg, "/start")
    for text in ("1", "2", "3", "4", "1", "1", "1", "1", "5", "5", "5", "5", "5", "да"):
        await say(fake_tg, text)
    await say(fake_tg, "/stop")
    assert fake_tg.texts(CHAT)[-1] == texts.CONSENT_WITHDRAWN
    await say(fake_tg, "/stop")
    assert fake_tg.texts(CHAT)[-1] == texts.ALREADY_WITHDRAWN
    assert service.storage is not None
    async with service.storage.transaction() as conn:
        register = [r.kind for r in await conn.execute(select(consents).order_by(consents.c.id))]
    assert register == ["granted", "withdrawn"]
