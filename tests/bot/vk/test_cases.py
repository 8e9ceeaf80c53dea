"""A case of a VK respondent end to end: the real VK channel against the fake VK server, real
storage (SQLite and PostgreSQL): the question after the survey, «Да», the unit's answer delivered
in VK, the respondent's reply and thanks."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from bot import defaults
from bot.cases.desk import CaseDesk, CaseRelay, Outcome
from bot.config import StaffConfig
from bot.core import cases as core_cases
from bot.core.cases import CaseTerms
from bot.core.conversation import Conversation, Layout
from bot.vk.api import VkClient
from bot.vk.events import VK_COMMANDS
from bot.vk.mailing import VkTransport
from bot.vk.render import VK_PAGE_SIZE
from bot.vk.runner import VkChannel
from bot.vk.staff import VkStaff
from storage import cases as cases_repo
from storage import repository as repo
from storage.cases import ClosedBy, Direction
from survey_flow.model import Questionnaire
from tests.bot.telegram.test_staff_reports import LOW_SCORE_SURVEY
from tests.bot.vk.conftest import User
from tests.conftest import CONSENT, Database
from tests.fakes.vk_api import GROUP_ID, TOKEN, FakeVk

ZONE = ZoneInfo("Asia/Novosibirsk")
TERMS = CaseTerms(True, defaults.CASES_QUESTION, "1", 5, frozenset(), ZONE)


async def test_a_vk_respondent_agrees_is_answered_in_vk_and_thanks(
    database: Database, questionnaire: Questionnaire
) -> None:
    fake = FakeVk().start()
    storage = await database.open()
    client = VkClient(TOKEN, api_version="5.199", api_base_url=fake.url, rps=200, backoff=0.01, attempts=4)
    conversation = Conversation(
        storage,
        questionnaire,
        CONSENT,
        layout=Layout(page_size=VK_PAGE_SIZE),
        commands=VK_COMMANDS,
        cases=TERMS,
    )
    channel = VkChannel(
        client,
        conversation,
        storage,
        GROUP_ID,
        wait=5,
        backoff=0.05,
        staff=VkStaff(StaffConfig(), questionnaire),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run(stop))
    try:
        await fake.wait_for(lambda: bool(fake.polls))
        user = User(fake, 1001)
        await user.say("начать")
        for text in LOW_SCORE_SURVEY:
            await user.say(text)
        question = user.last_with_buttons()
        assert question.text == defaults.CASES_QUESTION and question.labels() == [
            core_cases.YES,
            core_cases.NO,
        ]
        await user.press(core_cases.YES)
        assert "Номер Вашего обращения — 1." in user.last_text
        async with storage.transaction() as conn:
            case = await cases_repo.get_case(conn, 1, unit=None)
        assert case is not None and case.channel == "vk" and case.unit == "2"

        relay = CaseRelay()
        desk = CaseDesk(storage, questionnaire, relay, ZONE)
        with relay.channel("vk", VkTransport(client, GROUP_ID)):
            assert (
                await desk.answer(case, "Здравствуйте! Форма на сайте.", staff="telegram:903") == Outcome.SENT
            )
        await fake.settled()
        answer = user.last_text
        assert "Здравствуйте! Форма на сайте." in answer and "— Управление инвестиционной политики" in answer

        replies = await user.say("Спасибо!")
        assert replies[-1].text.startswith("Спасибо! Обращение № 1 закрыто.")
        async with storage.transaction() as conn:
            closed = await cases_repo.get_case(conn, 1, unit=None)
            thread = await cases_repo.messages(conn, 1)
            person = await repo.get_respondent(conn, "vk", "1001")
        assert closed is not None and closed.closed_by == ClosedBy.THANKS
        assert [(m.direction, m.text) for m in thread] == [
            (Direction.TO_RESPONDENT, "Здравствуйте! Форма на сайте."),
            (Direction.FROM_RESPONDENT, "Спасибо!"),
        ]
        assert person is not None and person.unreachable_at is None
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        client.close()
        await storage.close()
        fake.close()
        assert not fake.violations, fake.violations
