"""A scripted respondent talking to a Conversation, pressing buttons by their labels."""

from __future__ import annotations

import itertools

from bot.core.conversation import Conversation
from bot.core.messages import Button, Incoming, Message, Result

_updates = itertools.count(1)


class Chat:
    def __init__(self, conversation: Conversation, user: str = "u1", channel: str = "test") -> None:
        self.conversation = conversation
        self.user = user
        self.channel = channel
        self.last: Message | None = None
        self.log: list[Result] = []

    async def send(self, event: Incoming) -> Result:
        result = await self.conversation.handle(event)
        self.log.append(result)
        for message in result.messages:
            if message.buttons:
                self.last = message
        return result

    async def start(self, payload: str = "") -> Result:
        return await self.send(Incoming(self.channel, self.user, "start", text=payload))

    async def text(self, text: str, update_id: str | None = None) -> Result:
        return await self.send(Incoming(self.channel, self.user, "text", text=text, update_id=update_id))

    def button(self, label: str, message: Message | None = None) -> Button:
        message = message or self.last
        assert message is not None
        for row in message.buttons:
            for button in row:
                if button.label == label:
                    return button
        raise AssertionError(f"no button {label!r} in {[b.label for r in message.buttons for b in r]}")

    async def press(self, label: str, message: Message | None = None, update_id: str | None = None) -> Result:
        message = message or self.last
        assert message is not None
        button = self.button(label, message)
        return await self.send(
            Incoming(
                self.channel, self.user, "press", token=message.token, action=button.action,
                value=button.value, update_id=update_id,
            )
        )  # fmt: skip

    async def answer_all(self, labels: list[str]) -> None:
        for label in labels:
            result = await self.press(label)
            assert result.answered, (label, result)

    @property
    def last_text(self) -> str:
        return self.log[-1].messages[-1].text if self.log and self.log[-1].messages else ""
