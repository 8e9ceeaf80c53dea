"""The fake MAX Bot API server, started per test, and the MAX channel wired to it and a real
database (SQLite and PostgreSQL through the `database` fixture), plus a scripted MAX user."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.core.conversation import Conversation
from bot.max.api import MaxClient
from bot.max.events import MAX_COMMANDS
from bot.max.render import MAX_LAYOUT
from bot.max.runner import MaxChannel
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT, Database
from tests.fakes.max_api import BOT_ID, TOKEN, FakeMax, Sent


@pytest.fixture
async def fake() -> AsyncIterator[FakeMax]:
    server = FakeMax()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Bot:
    """The MAX channel as `otklik run` runs it, startable and stoppable (a restart is stop + start)."""

    def __init__(self, fake: FakeMax, database: Database, questionnaire: Questionnaire) -> None:
        self.fake = fake
        self.database = database
        self.questionnaire = questionnaire
        self.storage: Storage | None = None
        self.client: MaxClient | None = None
        self.channel: MaxChannel | None = None
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.storage = await self.database.open()
        self.client = MaxClient(TOKEN, api_base_url=self.fake.url, rps=1000, backoff=0.01, attempts=4)
        conversation = Conversation(
            self.storage, self.questionnaire, CONSENT, layout=MAX_LAYOUT, commands=MAX_COMMANDS,
            bot_key=str(BOT_ID),
        )  # fmt: skip
        self.channel = MaxChannel(self.client, conversation, self.storage, BOT_ID, hold=5, backoff=0.05)
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(self.channel.run(self.stop_event))

    async def stop(self) -> None:
        self.stop_event.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, timeout=10)
            self.task = None
        if self.client is not None:
            await self.client.close()
        if self.storage is not None:
            await self.storage.close()
            self.storage = None

    @property
    def db(self) -> Storage:
        assert self.storage is not None
        return self.storage


class User:
    """A MAX user writing to the bot and pressing buttons."""

    def __init__(self, fake: FakeMax, user_id: int) -> None:
        self.fake = fake
        self.id = user_id

    def inbox(self) -> list[Sent]:
        return self.fake.messages_to(self.id)

    def last_with_buttons(self) -> Sent:
        for message in reversed(self.inbox()):
            if message.buttons:
                return message
        raise AssertionError("no message with buttons")

    @property
    def last_text(self) -> str:
        return self.inbox()[-1].text

    def answer_button(self, value: str, message: Sent | None = None) -> str:
        """The label of the answer button carrying option code `value`."""
        message = message or self.last_with_buttons()
        for button in message.buttons:
            data = json.loads(button["payload"])
            if data.get("a") == "ans" and data.get("v") == value:
                return str(button["text"])
        raise AssertionError(f"no answer {value!r} in {message.labels()}")

    async def settle(self, before: int) -> list[Sent]:
        await self.fake.settled()
        return self.inbox()[before:]

    async def say(self, text: str) -> list[Sent]:
        before = len(self.inbox())
        await self.fake.user_writes(self.id, text)
        return await self.settle(before)

    async def start(self, payload: str | None = None) -> list[Sent]:
        before = len(self.inbox())
        await self.fake.bot_started(self.id, payload)
        return await self.settle(before)

    async def press(self, label: str, message: Sent | None = None) -> list[Sent]:
        before = len(self.inbox())
        await self.fake.user_presses(self.id, label, message=message or self.last_with_buttons())
        return await self.settle(before)

    async def choose(self, value: str) -> list[Sent]:
        return await self.press(self.answer_button(value))

    async def push(self, update: dict[str, Any]) -> list[Sent]:
        before = len(self.inbox())
        await self.fake.push(update)
        return await self.settle(before)


@pytest.fixture
async def bot(fake: FakeMax, database: Database, questionnaire: Questionnaire) -> AsyncIterator[Bot]:
    running = Bot(fake, database, questionnaire)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def user(fake: FakeMax) -> User:
    return User(fake, 1001)
