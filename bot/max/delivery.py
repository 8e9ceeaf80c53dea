"""A conversation result shown in MAX: messages sent, the answered one edited, presses answered.

A press is answered with POST /answers, which MAX documents as "an updated message and/or a
one-off notification": the pressed message's new state (its echo, or the next page of a list)
travels in that answer, so the spinner stops and the buttons go in one call. A typed answer
turns the last message with buttons into its echo with PUT /messages.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.clock import utcnow
from bot.core.messages import Message, Result
from bot.max import render
from bot.max.api import MaxBlocked, MaxClient, MaxError
from storage import repository as repo
from storage.store import Storage

log = logging.getLogger(__name__)

REMEMBERED_USERS = 10_000  # last keyboard message per user, kept in memory only
# An answer must carry a message or a notification; a press with nothing to change or say gets this.
RECEIVED = "Принято"


@dataclass(frozen=True)
class Pressed:
    """A button press to answer: its callback id and the pressed message as the update showed it."""

    callback_id: str
    message_id: str | None
    text: str | None = None
    attachments: list[dict[str, Any]] | None = None


class MaxDelivery:
    def __init__(
        self, client: MaxClient, storage: Storage, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.client = client
        self.storage = storage
        self.clock = clock
        # The last message with buttons per user: a typed answer turns it into the echo.
        self._last_keyboard: dict[int, str] = {}

    # --- sending -------------------------------------------------------------------------------

    async def deliver(self, user_id: int, result: Result, *, pressed: Pressed | None = None) -> None:
        """Show a conversation result; a press is always answered, whatever else fails."""
        outgoing = [] if result.duplicate else list(result.messages)
        notice = _notice(result, outgoing) if pressed is not None else None
        if pressed is not None:
            await self._answer_press(user_id, result, pressed, outgoing, notice)
        elif result.answered and not result.duplicate and user_id in self._last_keyboard:
            await self._edit(self._last_keyboard.pop(user_id), result.answered, [])
        await self.send_all(user_id, outgoing, result.respondent_id)

    async def send_all(self, user_id: int, messages: list[Message], respondent_id: int | None) -> None:
        for message in messages:
            try:
                await self.send(user_id, message)
            except MaxBlocked:
                await self.mark_unreachable(respondent_id)
                log.info("MAX: user %s blocked the bot", user_id)
                return
            except MaxError as exc:  # after the client's retries: the next message would fail too
                log.error("MAX: could not send to %s: %s", user_id, exc)
                return

    async def send(self, user_id: int, message: Message) -> None:
        """One message, split at the text limit; the keyboard goes with the last part."""
        chunks = render.split_text(message.text)
        attachments = render.attachments(message)
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            sent = await self.client.send_message(
                user_id=user_id, text=chunk, attachments=attachments if last else None
            )
            if last and attachments:
                self._last_keyboard.pop(user_id, None)
                self._last_keyboard[user_id] = sent.mid
                if len(self._last_keyboard) > REMEMBERED_USERS:  # forget the longest-quiet user
                    del self._last_keyboard[next(iter(self._last_keyboard))]

    async def answer_only(self, pressed: Pressed, notice: str = RECEIVED) -> None:
        """A press answered with a notice only, the message left as it is (a stale button)."""
        await self._answer(pressed.callback_id, notification=render.notification(notice))

    # --- pressed messages ------------------------------------------------------------------------

    async def _answer_press(
        self, user_id: int, result: Result, pressed: Pressed, outgoing: list[Message], notice: str | None
    ) -> None:
        replacement: dict[str, Any] | None = None
        carried: Message | None = None
        echo: str | None = None
        if pressed.message_id is not None and not result.duplicate:
            if result.answered and self._last_keyboard.get(user_id) == pressed.message_id:
                self._last_keyboard.pop(user_id, None)
            if result.edit_in_place and outgoing and len(outgoing[0].text) <= render.MAX_TEXT:
                carried = outgoing.pop(0)
                replacement = {"text": carried.text, "attachments": render.attachments(carried)}
            elif result.answered and len(result.answered) <= render.MAX_TEXT:
                echo = result.answered
                replacement = {"text": echo, "attachments": []}
            elif result.answered:  # too long to edit in: the echo comes as a message
                outgoing.insert(0, Message(result.answered))
        if replacement is None and notice is None and pressed.text:
            # Nothing changes: the message as it is (the documented answer needs one or the other).
            replacement = {"text": pressed.text, "attachments": pressed.attachments}
        if notice is not None:
            notification: str | None = render.notification(notice)
        else:
            notification = None if replacement is not None else RECEIVED
        done = await self._answer(pressed.callback_id, notification=notification, message=replacement)
        if not done:  # the message could not be replaced: what it was to show comes as new messages
            if carried is not None:
                outgoing.insert(0, carried)
            elif echo is not None:
                outgoing.insert(0, Message(echo))
        elif carried is not None and carried.buttons and pressed.message_id is not None:
            self._last_keyboard[user_id] = pressed.message_id

    async def _answer(
        self,
        callback_id: str,
        *,
        notification: str | None = None,
        message: dict[str, Any] | None = None,
    ) -> bool:
        try:
            await self.client.answer_callback(callback_id, notification=notification, message=message)
        except MaxError as exc:  # too late (the press expired) or an edit refused
            log.warning("MAX: could not answer a button press: %s", exc)
            if message is not None:  # the spinner still has to stop
                with contextlib.suppress(MaxError):
                    await self.client.answer_callback(callback_id, notification=notification or RECEIVED)
            return False
        return True

    async def _edit(self, message_id: str, text: str, attachments: list[dict[str, Any]]) -> bool:
        if len(text) > render.MAX_TEXT:
            return False
        try:
            await self.client.edit_message(message_id, text=text, attachments=attachments)
        except MaxError as exc:  # e.g. too old to edit: the question simply keeps its buttons
            log.info("MAX: could not edit message %s: %s", message_id, exc)
            return False
        return True

    async def mark_unreachable(self, respondent_id: int | None) -> None:
        if respondent_id is None:
            return
        async with self.storage.transaction() as conn:
            await repo.mark_unreachable(conn, respondent_id, self.clock())


def _notice(result: Result, outgoing: list[Message]) -> str | None:
    """A notice the messages do not already say: a notification, or a message when too long."""
    if not result.notice or result.notice in {m.text for m in outgoing}:
        return None
    if len(result.notice) <= render.MAX_NOTIFICATION:
        return result.notice
    outgoing.insert(0, Message(result.notice))
    return None
