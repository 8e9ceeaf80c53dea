"""The VK channel wired to the fake VK server and a real database, plus a scripted VK user."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.config import StaffConfig, StaffMember
from bot.core.conversation import Conversation, Layout
from bot.vk.api import VkClient
from bot.vk.events import VK_COMMANDS
from bot.vk.render import VK_PAGE_SIZE
from bot.vk.runner import VkChannel
from bot.vk.staff import VkStaff
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT, Database
from tests.fakes.vk_api import GROUP_ID, TOKEN, FakeVk, Sent

_message_ids = itertools.count(1)
STAFF = StaffConfig(
    members=[
        StaffMember(vk_id=900, name="Анна", role="admin"),
        StaffMember(vk_id=901, role="operator", unit="1"),
        StaffMember(telegram_id=902, role="admin"),  # Telegram only: not staff in VK
    ]
)


class Bot:
    """The VK channel as `otklik run` runs it, startable and stoppable (a restart is stop + start)."""

    def __init__(self, fake: FakeVk, database: Database, questionnaire: Questionnaire) -> None:
        self.fake = fake
        self.database = database
        self.questionnaire = questionnaire
        self.storage: Storage | None = None
        self.client: VkClient | None = None
        self.channel: VkChannel | None = None
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.storage = await self.database.open()
        self.client = VkClient(
            TOKEN, api_version="5.199", api_base_url=self.fake.url, rps=200, backoff=0.01, attempts=4
        )
        conversation = Conversation(
            self.storage,
            self.questionnaire,
            CONSENT,
            layout=Layout(page_size=VK_PAGE_SIZE),
            commands=VK_COMMANDS,
        )
        self.channel = VkChannel(
            self.client,
            conversation,
            self.storage,
            GROUP_ID,
            wait=5,
            backoff=0.05,
            staff=VkStaff(STAFF, self.questionnaire),
        )
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(self.channel.run(self.stop_event))

    async def stop(self) -> None:
        self.stop_event.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, timeout=10)
            self.task = None
        if self.client is not None:
            self.client.close()
        if self.storage is not None:
            await self.storage.close()
            self.storage = None

    @property
    def db(self) -> Storage:
        assert self.storage is not None
        return self.storage


class User:
    """A VK user writing to the community and pressing buttons."""

    def __init__(self, fake: FakeVk, user_id: int) -> None:
        self.fake = fake
        self.id = user_id

    def inbox(self) -> list[Sent]:
        return self.fake.messages_to(self.id)

    def last_with_buttons(self) -> Sent:
        for message in reversed(self.inbox()):
            if message.buttons():
                return message
        raise AssertionError("no message with buttons")

    @property
    def last_text(self) -> str:
        return self.inbox()[-1].text

    def message_new(self, text: str = "", **extra: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": next(_message_ids),
            "date": 1_700_000_000,
            "peer_id": self.id,
            "from_id": self.id,
            "text": text,
            "conversation_message_id": self.fake.next_cmid(self.id),
            "attachments": [],
        }
        message.update(extra)
        client_info = {
            "button_actions": ["text", "callback", "open_link"],
            "keyboard": True,
            "inline_keyboard": True,
        }
        return {"type": "message_new", "object": {"message": message, "client_info": client_info}}

    def message_event(self, label: str, message: Sent | None = None) -> dict[str, Any]:
        message = message or self.last_with_buttons()
        for action in message.buttons():
            if action["label"] == label:
                return {
                    "type": "message_event",
                    "object": {
                        "user_id": self.id,
                        "peer_id": self.id,
                        "event_id": secrets.token_hex(6),
                        "payload": json.loads(action["payload"]),
                        "conversation_message_id": message.cmid,
                    },
                }
        raise AssertionError(f"no button {label!r} in {message.labels()}")

    def answer_button(self, value: str, message: Sent | None = None) -> str:
        """The label of the answer button carrying option code `value`."""
        message = message or self.last_with_buttons()
        for action in message.buttons():
            data = json.loads(action["payload"])
            if data.get("a") == "ans" and data.get("v") == value:
                return str(action["label"])
        raise AssertionError(f"no answer {value!r} in {message.labels()}")

    async def choose(self, value: str) -> list[Sent]:
        return await self.press(self.answer_button(value))

    async def say(self, text: str = "", **extra: Any) -> list[Sent]:
        return await self.push(self.message_new(text, **extra))

    async def press(self, label: str, message: Sent | None = None) -> list[Sent]:
        return await self.push(self.message_event(label, message))

    async def push(self, update: dict[str, Any]) -> list[Sent]:
        before = len(self.inbox())
        self.fake.push(update)
        await self.fake.settled()
        return self.inbox()[before:]


@pytest.fixture
def fake() -> Iterator[FakeVk]:
    server = FakeVk().start()
    yield server
    server.close()
    assert not server.violations, server.violations


@pytest.fixture
async def bot(fake: FakeVk, database: Database, questionnaire: Questionnaire) -> AsyncIterator[Bot]:
    running = Bot(fake, database, questionnaire)
    await running.start()
    await fake.wait_for(lambda: bool(fake.polls))
    yield running
    await running.stop()


@pytest.fixture
def user(fake: FakeVk) -> User:
    return User(fake, 1001)
