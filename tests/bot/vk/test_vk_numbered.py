"""VK clients that render differently: old text buttons, and clients without inline keyboards."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.core import texts
from storage.schema import answers, consents
from tests.bot.vk.conftest import Bot, User
from tests.bot.vk.test_vk_channel import START, rows, stored_answers
from tests.fakes.vk_api import FakeVk

FOLLOWUP = "государственной поддержки. Впишите _____."


def text_client(update: dict[str, Any]) -> dict[str, Any]:
    update["object"]["client_info"]["button_actions"] = ["text"]
    return update


def no_inline_keyboard(update: dict[str, Any]) -> dict[str, Any]:
    """A client that shows no inline keyboard (VK's client_info.inline_keyboard = false)."""
    info = update["object"]["client_info"]
    info.update({"inline_keyboard": False, "keyboard": False, "button_actions": ["text"]})
    return update


async def test_an_old_text_button_gets_the_stale_notice(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.push(text_client(user.message_new("Начать", payload=START)))
    question = user.last_with_buttons()
    button = next(b for b in question.buttons() if json.loads(b["payload"])["v"] == "2")
    await user.push(text_client(user.message_new(button["label"], payload=button["payload"])))
    assert await stored_answers(bot.db) == {"1": "2"}
    # The same button pressed again (the client keeps showing old keyboards): a notice, no change.
    sent = await user.push(text_client(user.message_new(button["label"], payload=button["payload"])))
    assert [m.text for m in sent] == [texts.STALE_BUTTON]
    # A payload this bot cannot read (an older keyboard): the label is not taken for an answer.
    sent = await user.push(text_client(user.message_new("2", payload='{"x": 1}')))
    assert [m.text for m in sent] == [texts.STALE_BUTTON]
    assert await stored_answers(bot.db) == {"1": "2"}


async def test_without_inline_keyboards_options_are_numbered(bot: Bot, fake: FakeVk, user: User) -> None:
    async def say(text: str) -> list[Any]:
        return await user.push(no_inline_keyboard(user.message_new(text)))

    sent = await say("Начать")
    question = sent[-1]
    assert question.keyboard is None
    assert "  1. Субсидия" in question.text and "  2. Грант" in question.text
    assert "«прервать» — прервать" in question.text
    for number in ("2", "1", "1"):  # Грант, the first point, the first unit
        await say(number)
    districts = user.inbox()[-1]
    # All 35 districts in one list (no pages to turn without buttons).
    assert "  35. рабочий посёлок Кольцово" in districts.text and "Страница" not in districts.text
    await say("31")  # город Новосибирск
    for number in ("1", "1", "1", "1"):  # in person, a person, provided, satisfied
        await say(number)
    await say("2")  # 11(23) = 2: the follow-up
    followup = user.inbox()[-1]
    assert FOLLOWUP in followup.text and f"  1. {texts.SKIP}" in followup.text
    await say("1")  # «Пропустить»
    for number in ("5", "5", "5", "5"):
        await say(number)
    consent = user.inbox()[-1]
    assert f"  1. {texts.CONSENT_YES}" in consent.text and f"  2. {texts.CONSENT_NO}" in consent.text
    await say("2")
    assert user.last_text == texts.CONSENT_DECLINED
    assert all(m.keyboard is None for m in user.inbox())
    saved = await stored_answers(bot.db)
    assert (saved["1"], saved["4"], saved["11"], saved["17"]) == ("2", "31", "2", "5")
    skipped = await rows(
        bot.db,
        select(answers.c.followup_text, answers.c.followup_skipped).where(answers.c.question_code == "11"),
    )
    assert [(r.followup_text, bool(r.followup_skipped)) for r in skipped] == [(None, True)]
    assert [r.kind for r in await rows(bot.db, select(consents.c.kind))] == ["refused"]


async def test_numbers_keep_their_meaning_after_a_restart(bot: Bot, fake: FakeVk, user: User) -> None:
    async def say(text: str) -> list[Any]:
        return await user.push(no_inline_keyboard(user.message_new(text)))

    await say("Начать")
    for number in ("1", "1", "1", "1", "1", "1", "1", "1", "3"):  # ... 11(23) = 3: the follow-up
        await say(number)
    assert f"  1. {texts.SKIP}" in user.inbox()[-1].text
    await bot.stop()
    await bot.start()
    await fake.wait_for(lambda: bool(fake.polls))
    # «1» is still «Пропустить», not a difficulty text «1».
    await say("1")
    skipped = await rows(
        bot.db,
        select(answers.c.followup_text, answers.c.followup_skipped).where(answers.c.question_code == "11"),
    )
    assert [(r.followup_text, bool(r.followup_skipped)) for r in skipped] == [(None, True)]
    assert "Насколько просто Вам было собрать" in user.inbox()[-1].text
