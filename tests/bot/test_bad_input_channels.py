"""Hostile input at the channels' doors (hypothesis): any Telegram callback data from staff and
non-staff users, any VK event object. Always answered, never a traceback, nothing recorded unless
the input is one the bot itself could have made; a VK event that fails goes to the dead letters."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiogram.types import Update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import Services, questionnaire_from
from bot.core.conversation import Conversation
from bot.telegram.processing import UpdateProcessor
from bot.telegram.reports_dialog import Pick, well_formed
from bot.telegram.runner import build_dispatcher, make_bot
from bot.vk.api import VkClient
from bot.vk.events import VK_COMMANDS
from bot.vk.render import VK_LAYOUT
from bot.vk.runner import VkChannel
from bot.vk.staff import VkStaff
from storage.channels import list_dead_letters
from storage.schema import answers, consents, dead_letters
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.bot.telegram.conftest import tg_settings
from tests.bot.vk.conftest import STAFF
from tests.conftest import CONSENT, Database
from tests.fakes.telegram_api import BOT_ID, FakeTelegram
from tests.fakes.vk_api import GROUP_ID, TOKEN, FakeVk

T = TypeVar("T")
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
RESPONDENT, ANALYST, UNIT_ANALYST, ADMIN = 5550001, 902, 903, 900


class Problems(logging.Handler):
    """Every log record at ERROR or with a traceback: there must be none."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@pytest.fixture
def problems() -> Iterator[Problems]:
    handler = Problems()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class Rig:
    """One event loop and one set of servers for all examples of a test (starting them per
    example would cost more than the examples)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def close(self) -> None:
        self.loop.close()


# --- Telegram callback data --------------------------------------------------------------------

CALLBACK_DATA = st.one_of(
    st.text(max_size=64),
    st.builds(lambda parts: "|".join(["s", *parts]), st.lists(st.text(max_size=12), max_size=6)),
    st.builds(lambda parts: "|".join(["p", *parts]), st.lists(st.text(max_size=12), max_size=5)),
    st.builds(
        lambda what, period, unit, fmt: f"s|{what}|{period}|{unit}|{fmt}",
        st.sampled_from(["export", "report", "app2", "nonsense", ""]),
        st.sampled_from(["", "all", "2025Q1", "9999Q9", "0000Q4", "2025Q5", "٢٠٢٥Q1", "2025q1"]),
        st.sampled_from(["", "*", "1", "2", "99", "-1", "²"]),
        st.sampled_from(["", "csv", "xlsx", "pdf"]),
    ),
    st.builds(
        lambda token, action, value: f"p|{token}|{action}|{value}",
        st.sampled_from(["1:1", "idle", "stop", "1:resume", "1:consent", "0:0", ":"]),
        st.sampled_from(["ans", "oth", "pg", "back", "abort", "cont", "new", "cy", "cn", "xx"]),
        st.sampled_from(["", "1", "99", "²", "-1", "Другое: 99", "1" * 40]),
    ),
)


class TelegramRig(Rig):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.ids = itertools.count(1)
        self.run(self._start())

    async def _start(self) -> None:
        self.fake = await FakeTelegram().start()
        url = f"sqlite+aiosqlite:///{self.folder / 'tg.db'}"
        settings = tg_settings(Database("sqlite", url, None), self.fake)
        self.storage = await Storage.open(url)
        services = Services(settings, self.storage, questionnaire_from(settings))
        self.bot = make_bot(settings)
        self.processor = UpdateProcessor(build_dispatcher(services, self.bot), self.bot)

    def press(self, user: int, data: str) -> None:
        number = next(self.ids)
        raw = {
            "update_id": number,
            "callback_query": {
                "id": f"cb{number}",
                "from": {"id": user, "is_bot": False, "first_name": "Анна"},
                "chat_instance": str(user),
                "message": {
                    "message_id": 1,
                    "date": int(time.time()),
                    "chat": {"id": user, "type": "private"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Otklik"},
                    "text": "…",
                },
                "data": data,
            },
        }
        update = Update.model_validate(raw, context={"bot": self.bot})
        assert self.run(self.processor.process(update))

    def counts(self) -> tuple[int, int]:
        async def count() -> tuple[int, int]:
            async with self.storage.transaction() as conn:
                stored = (await conn.execute(select(func.count()).select_from(answers))).scalar_one()
                granted = (
                    await conn.execute(
                        select(func.count()).select_from(consents).where(consents.c.granted.is_(True))
                    )
                ).scalar_one()
            return int(stored), int(granted)

        return self.run(count())

    def close(self) -> None:
        async def stop() -> None:
            await self.bot.session.close()
            await self.storage.close()
            await self.fake.stop()

        self.run(stop())
        super().close()


@pytest.fixture
def telegram_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelegramRig]:
    rig = TelegramRig(tmp_path_factory.mktemp("tg-fuzz"))
    try:
        yield rig
    finally:
        rig.close()


def _complete_pick(data: str, q: Questionnaire) -> bool:
    try:
        pick = Pick.unpack(data)
    except (TypeError, ValueError):
        return False
    return well_formed(pick, q) and bool(pick.period and pick.unit)


@FUZZ
@given(user=st.sampled_from([RESPONDENT, ANALYST, UNIT_ANALYST, ADMIN]), data=CALLBACK_DATA)
def test_any_callback_data_is_answered_without_a_traceback(
    telegram_rig: TelegramRig, problems: Problems, questionnaire: Questionnaire, user: int, data: str
) -> None:
    rig = telegram_rig
    answered_before, documents_before = len(rig.fake.callback_answers), len(rig.fake.documents)
    rig.press(user, data)
    assert len(rig.fake.callback_answers) == answered_before + 1  # no endless spinner
    assert [r.getMessage() for r in problems.records] == []
    # No button press from nowhere answers a question or grants a consent.
    assert rig.counts() == (0, 0)
    if len(rig.fake.documents) > documents_before:  # a file only for a choice the dialog offers
        assert user in (ANALYST, UNIT_ANALYST, ADMIN) and _complete_pick(data, questionnaire)


# --- VK event objects ----------------------------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
PEER = st.one_of(st.sampled_from([1001, 1002, -5, 0, 2_000_000_001, 10**30]), st.text(max_size=5), JSONISH)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "peer_id": PEER,
        "from_id": PEER,
        "id": st.one_of(st.integers(), JSONISH),
        "text": st.one_of(st.sampled_from(["Начать", "1", "/stats", "/staffhelp", "стоп", ""]), JSONISH),
        "payload": st.one_of(
            st.sampled_from(['{"command":"start"}', '{"t":"1:1","a":"ans","v":"99"}']), JSONISH
        ),
        "ref": st.one_of(st.text(max_size=10), JSONISH),
    },
)
OBJECT = st.one_of(
    JSONISH,
    st.fixed_dictionaries({}, optional={"message": st.one_of(MESSAGE, JSONISH), "client_info": JSONISH}),
    st.fixed_dictionaries(
        {},
        optional={
            "user_id": PEER,
            "peer_id": PEER,
            "event_id": st.one_of(st.text(max_size=10), JSONISH),
            "payload": st.one_of(st.just({"t": "1:1", "a": "ans", "v": "99"}), JSONISH),
            "conversation_message_id": st.one_of(st.integers(), JSONISH),
        },
    ),
)
EVENT = st.one_of(
    JSONISH,
    st.fixed_dictionaries(
        {
            "type": st.one_of(
                st.sampled_from(["message_new", "message_event", "message_allow", "message_deny", "wall"]),
                JSONISH,
            ),
            "object": OBJECT,
        }
    ),
)


class Spy(VkChannel):
    """The real channel, noting which events fail (to compare with the dead letters)."""

    failed = 0

    async def handle_update(self, update: dict[str, Any]) -> None:
        try:
            await super().handle_update(update)
        except Exception:
            self.failed += 1
            raise


class VkRig(Rig):
    def __init__(self, folder: Path, questionnaire: Questionnaire) -> None:
        super().__init__()
        self.fake = FakeVk().start()
        self.ids = itertools.count(1)

        async def start() -> None:
            self.storage = await Storage.open(f"sqlite+aiosqlite:///{folder / 'vk.db'}")

        self.run(start())
        self.client = VkClient(
            TOKEN, api_version="5.199", api_base_url=self.fake.url, rps=1000, backoff=0.01, attempts=2
        )
        conversation = Conversation(
            self.storage,
            questionnaire,
            CONSENT,
            layout=VK_LAYOUT,
            commands=VK_COMMANDS,
            bot_key=str(GROUP_ID),
        )
        self.channel = Spy(
            self.client, conversation, self.storage, GROUP_ID, staff=VkStaff(STAFF, questionnaire)
        )

    def dead_letters(self) -> int:
        async def count() -> int:
            async with self.storage.transaction() as conn:
                return int((await conn.execute(select(func.count()).select_from(dead_letters))).scalar_one())

        return self.run(count())

    def close(self) -> None:
        self.client.close()
        self.run(self.storage.close())
        self.fake.close()
        super().close()


@pytest.fixture
def vk_rig(tmp_path_factory: pytest.TempPathFactory, questionnaire: Questionnaire) -> Iterator[VkRig]:
    rig = VkRig(tmp_path_factory.mktemp("vk-fuzz"), questionnaire)
    try:
        yield rig
    finally:
        rig.close()


@FUZZ
@given(events=st.lists(EVENT, min_size=1, max_size=4))
def test_any_vk_event_is_handled_or_kept_as_a_dead_letter(vk_rig: VkRig, events: list[Any]) -> None:
    rig = vk_rig
    for event in events:
        if isinstance(event, dict):  # distinct ids, as VK gives them
            event["event_id"] = f"fuzz{next(rig.ids)}"
    letters, failed = rig.dead_letters(), rig.channel.failed
    rig.run(rig.channel.handle_batch(events))  # never raises out while the database is there
    assert rig.dead_letters() - letters == rig.channel.failed - failed


def test_vk_dead_letters_keep_the_raw_event(vk_rig: VkRig) -> None:
    broken = {
        "type": "message_new",
        "object": {"message": {"peer_id": 1001, "from_id": "x"}},
        "event_id": "e1",
    }
    vk_rig.run(vk_rig.channel.handle_batch([broken, ["not", "an", "event"]]))

    async def letters() -> list[Any]:
        async with vk_rig.storage.transaction() as conn:
            return await list_dead_letters(conn, channel="vk")

    kept = vk_rig.run(letters())
    assert [(x.update_id, x.bot) for x in kept] == [(None, "777"), ("e1", "777")]
    assert kept[0].raw == '["not", "an", "event"]' and '"from_id": "x"' in kept[1].raw
