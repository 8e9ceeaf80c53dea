"""The `/mailing` dialog for admins (state in the database) and refusals for everyone else."""

from __future__ import annotations

import asyncio

from bot.app import Services, questionnaire_from
from bot.config import MailingConfig
from bot.core.staff import WRONG_ROLE
from bot.telegram.mailing import (
    CANCELLED_DIALOG,
    MAILING_COMMANDS,
    STEP_AUDIENCE,
    STEP_AUDIENCE_CHANNELS,
    STEP_TEXT,
    STEP_TIME,
)
from bot.telegram.runner import run_telegram
from bot.telegram.staff import NOT_AVAILABLE
from bot.vk import runner as vk_runner
from storage import mailing as store
from storage.store import Storage
from tests.bot.mailing.conftest import FAST, FIRST_CHAT, mailing_service, seed
from tests.bot.mailing.test_campaign_e2e import invitations, wait_status
from tests.bot.mailing.test_vk_mailing import FIRST_PEER, vk_settings
from tests.bot.telegram.conftest import CHAT, tg_settings
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.vk_api import FakeVk

ADMIN, OPERATOR = 900, 901


async def say(fake: FakeTelegram, chat: int, text: str) -> str:
    before = len(fake.texts(chat))
    fake.push_text(chat, text)
    await fake.wait_idle()
    await fake.wait_for(lambda: len(fake.texts(chat)) > before)
    return fake.texts(chat)[-1]


async def test_admin_creates_a_campaign_through_the_dialog_across_a_restart(
    database: Database, fake_tg: FakeTelegram
) -> None:
    service = await mailing_service(database, fake_tg).start()
    try:
        assert service.storage is not None
        await seed(service.storage, 3)
        assert await say(fake_tg, ADMIN, "/mailing") == STEP_TEXT
        reply = await say(fake_tg, ADMIN, "Здравствуйте, {имя}!")
        assert "Неизвестная подстановка {имя}" in reply and "Попробуйте еще раз" in reply
        assert await say(fake_tg, ADMIN, "Здравствуйте, {name}! Ждем ваш отзыв.") == STEP_AUDIENCE
        assert "Непонятный фильтр" in await say(fake_tg, ADMIN, "регион=5")
        # VK is not enabled here: the channel cannot be chosen.
        assert "Канал ВКонтакте не подключен" in await say(fake_tg, ADMIN, "вк все")
        assert await say(fake_tg, ADMIN, "все") == STEP_TIME
        # Commands keep their meaning inside the dialog; the dialog waits.
        assert (await say(fake_tg, ADMIN, "/stats")).startswith("Анкеты")
        # The service restarts mid-dialog: the dialog state is in the database.
        await service.crash()
        await service.start()
        assert "уже прошло" in await say(fake_tg, ADMIN, "01.01.2020 10:00")
        preview = await say(fake_tg, ADMIN, "сейчас")
        assert "Здравствуйте, Ирина! Ждем ваш отзыв." in preview
        assert "получат: 3" in preview and "[кнопка «Пройти опрос»]" in preview
        assert "Рассылка №1 создана" in await say(fake_tg, ADMIN, "да")
        assert service.storage is not None
        await wait_status(service.storage, 1, store.DONE)
        got = invitations(fake_tg)
        assert got == {
            FIRST_CHAT + i: [f"Здравствуйте, Клиент{FIRST_CHAT + i}! Ждем ваш отзыв."] for i in range(3)
        }
        await fake_tg.wait_for(lambda: any("завершена" in t for t in fake_tg.texts(ADMIN)))
        # Plain text after the dialog is an ordinary message again; «отмена» leaves a new dialog.
        assert await say(fake_tg, ADMIN, "/mailing") == STEP_TEXT
        assert await say(fake_tg, ADMIN, "отмена") == CANCELLED_DIALOG
        listing = await say(fake_tg, ADMIN, "/mailings")
        assert "Рассылка №1: завершена" in listing and "отправлено: 3" in listing
    finally:
        await service.stop()


async def test_non_admins_try_every_staff_command(database: Database, fake_tg: FakeTelegram) -> None:
    service = await mailing_service(database, fake_tg).start()
    try:
        assert service.storage is not None
        await seed(service.storage, 2)
        commands = [f"/{c.name}" + (" 1" if "_" in c.name else "") for c in MAILING_COMMANDS]
        assert len(commands) == 5
        for command in commands:
            assert await say(fake_tg, OPERATOR, command) == WRONG_ROLE.format(roles="admin")
            assert await say(fake_tg, CHAT, command) == NOT_AVAILABLE
        help_text = await say(fake_tg, OPERATOR, "/staffhelp")
        assert "/stats" in help_text and "/mailing" not in help_text
        # Their next plain text goes to the survey, not to a mailing dialog.
        reply = await say(fake_tg, OPERATOR, "все")
        assert "Рассылка" not in reply and "Шаг" not in reply
        async with service.storage.transaction() as conn:
            assert await store.list_campaigns(conn) == []
        assert "/mailing — создать рассылку" in await say(fake_tg, ADMIN, "/staffhelp")
        await asyncio.sleep(0)
    finally:
        await service.stop()


async def test_admin_chooses_vk_in_the_dialog_when_vk_is_enabled(
    database: Database, fake_tg: FakeTelegram, fake: FakeVk, storage: Storage
) -> None:
    """Telegram and VK in one process: the `/mailing` dialog offers VK and the campaign goes out
    through the VK client to VK respondents only."""
    settings = tg_settings(database, fake_tg).model_copy(
        update={"vk": vk_settings(database, fake).vk, "mailing": MailingConfig(**FAST)}
    )
    vk_people = await seed(storage, 3, first=FIRST_PEER, channel="vk", withdrawn=[FIRST_PEER + 2])
    await seed(storage, 2, first=FIRST_CHAT, channel="telegram")
    services = Services(settings, storage, questionnaire_from(settings))
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_telegram(services, stop)),
        asyncio.create_task(vk_runner.run(services, stop)),
    ]
    try:
        assert await say(fake_tg, ADMIN, "/mailing") == STEP_TEXT
        assert await say(fake_tg, ADMIN, "Здравствуйте, {name}!") == STEP_AUDIENCE_CHANNELS
        assert "Неизвестный канал «почта»" in await say(fake_tg, ADMIN, "канал=почта")
        assert await say(fake_tg, ADMIN, "вк все") == STEP_TIME
        preview = await say(fake_tg, ADMIN, "сейчас")
        assert "согласившиеся получать приглашения (ВКонтакте)" in preview and "получат: 2" in preview
        assert "Рассылка №1 создана" in await say(fake_tg, ADMIN, "да")
        await wait_status(storage, 1, store.DONE)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    async with storage.transaction() as conn:
        campaign = await store.get_campaign(conn, 1)
        rows = dict(await store.outbox_rows(conn, 1))
    assert campaign is not None and campaign.channel == "vk" and campaign.created_by == f"tg:{ADMIN}"
    assert rows == dict.fromkeys(vk_people[:2], store.SENT)
    assert sorted((m.peer_id, m.text) for m in fake.sent) == [
        (FIRST_PEER + i, f"Здравствуйте, Клиент{FIRST_PEER + i}!") for i in range(2)
    ]
    assert invitations(fake_tg) == {}  # Telegram respondents are not in a VK campaign
