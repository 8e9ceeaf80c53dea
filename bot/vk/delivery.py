"""A conversation result shown in VK: messages sent, the answered one edited, presses answered.

What a peer's VK client can show is learnt from its messages (`client_info`) and kept here:
clients without callback buttons get text buttons with a payload; clients without inline
keyboards get the options as a numbered list, and the list is remembered (in memory, and in
`channel_state` for a restart) so that a typed number presses one, as in the console.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from bot.core import numbered
from bot.core.clock import utcnow
from bot.core.messages import Action, Button, Message, Result
from bot.vk import render
from bot.vk.api import UNREACHABLE_CODES, VkClient, VkError
from storage import repository as repo
from storage.store import Storage

log = logging.getLogger(__name__)

REMEMBERED_PEERS = 10_000  # last keyboard message per peer, kept in memory only


class VkDelivery:
    def __init__(
        self,
        client: VkClient,
        storage: Storage,
        group_id: int,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.storage = storage
        self.group_id = group_id
        self.clock = clock
        # The last message with buttons per peer: a typed answer turns it into the echo.
        self._last_keyboard: dict[int, int] = {}
        # Peers whose VK client has no callback buttons: they get text buttons with a payload.
        self._text_buttons: set[int] = set()
        # Peers whose VK client shows no inline keyboard at all: options are listed with numbers.
        self._numbered: set[int] = set()
        self._choices: dict[int, tuple[str, list[Button]]] = {}

    # --- what the peer's client can show -------------------------------------------------------

    def note_client(self, peer: int, client_info: dict[str, Any]) -> None:
        """Remember the button kinds and keyboards a peer's VK client supports."""
        if "callback" in (client_info.get("button_actions") or ["callback"]):
            self._text_buttons.discard(peer)
        else:
            self._text_buttons.add(peer)
        if client_info.get("inline_keyboard", True) is False:
            self._numbered.add(peer)
        else:
            self._numbered.discard(peer)
            self._choices.pop(peer, None)

    def numbered(self, peer: int) -> bool:
        """True when the peer's client shows no inline keyboard: options come as a numbered list."""
        return peer in self._numbered

    async def choices(self, peer: int, typed: str) -> tuple[str, list[Button]] | None:
        """The numbered list a typed answer may pick from (none for keyboard clients)."""
        if peer not in self._numbered:
            return None
        found = self._choices.get(peer)
        if found is None and typed.strip().isdigit():
            found = await self._load_choices(peer)
        return found

    # --- sending -------------------------------------------------------------------------------

    async def deliver(
        self, peer: int, result: Result, identity: str, *, edit_cmid: int | None = None
    ) -> None:
        """Show a conversation result: edit the answered message, then send the new ones."""
        if result.duplicate:
            return
        # (identity, message): the identity feeds random_id, so it must not depend on edit outcomes.
        outgoing = [(f"{identity}:{index}", message) for index, message in enumerate(result.messages)]
        if edit_cmid is not None:
            if result.answered:  # the pressed (live) message becomes the echo here, not later
                self._last_keyboard.pop(peer, None)
            if result.edit_in_place and outgoing:
                first = outgoing[0][1]
                if await self._edit(peer, first.text, self._keyboard(peer, first), cmid=edit_cmid):
                    outgoing.pop(0)
            elif result.answered and not await self._edit(
                peer, result.answered, render.EMPTY_KEYBOARD, cmid=edit_cmid
            ):
                outgoing.insert(0, (f"{identity}:echo", Message(result.answered)))
        elif result.answered and peer in self._last_keyboard:
            await self._edit(
                peer, result.answered, render.EMPTY_KEYBOARD, message_id=self._last_keyboard.pop(peer)
            )
        for key, message in outgoing:
            try:
                await self.send(peer, message, key)
            except VkError as exc:
                if exc.code in UNREACHABLE_CODES:
                    await self._mark_unreachable(result.respondent_id)
                    log.info("VK: peer %s does not allow messages (error %s)", peer, exc.code)
                else:
                    log.error("VK: could not send to %s: %s", peer, exc)
                return

    async def send(self, peer: int, message: Message, identity: str) -> None:
        text = message.text
        if peer in self._numbered and message.buttons:
            text, choices = numbered.render(message)
            await self._remember_choices(peer, message.token, choices)
        chunks = render.split_text(text)
        markup = None if peer in self._numbered else self._keyboard(peer, message)
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            message_id = await self.client.call(
                "messages.send",
                {
                    "peer_id": peer,
                    "message": chunk,
                    "random_id": render.random_id(peer, f"{identity}:{number}"),
                    "keyboard": markup if last else None,
                    "dont_parse_links": 1,
                },
            )
            if last and markup is not None and isinstance(message_id, int):
                self._last_keyboard.pop(peer, None)
                self._last_keyboard[peer] = message_id
                if len(self._last_keyboard) > REMEMBERED_PEERS:  # forget the longest-quiet peer
                    del self._last_keyboard[next(iter(self._last_keyboard))]

    async def answer_press(self, callback_id: str, user_id: int, peer: int, notice: str | None) -> None:
        """Answer a callback button press (stops the spinner), with `notice` as a snackbar."""
        if not callback_id or user_id <= 0:
            return
        try:
            await self.client.call(
                "messages.sendMessageEventAnswer",
                {
                    "event_id": callback_id,
                    "user_id": user_id,
                    "peer_id": peer,
                    "event_data": render.snackbar(notice) if notice else None,
                },
            )
        except VkError as exc:  # too late (the answer window passed) or similar: nothing to redo
            log.warning("VK: could not answer a button press: %s", exc)

    # --- numbered lists --------------------------------------------------------------------------

    def _choices_key(self, peer: int) -> str:
        return f"vk:{self.group_id}:choices:{peer}"

    async def _remember_choices(self, peer: int, token: str, choices: list[Button]) -> None:
        self._choices.pop(peer, None)
        self._choices[peer] = (token, choices)
        if len(self._choices) > REMEMBERED_PEERS:  # forget the longest-quiet peer
            del self._choices[next(iter(self._choices))]
        data = {"t": token, "b": [[b.label, b.action, b.value] for b in choices]}
        try:
            async with self.storage.transaction() as conn:
                await repo.set_state(
                    conn, self._choices_key(peer), json.dumps(data, ensure_ascii=False), self.clock()
                )
        except (OperationalError, InterfaceError, OSError) as exc:
            # The question still goes out; only a restart before the answer would lose the numbers.
            log.warning("VK: could not store the numbered list for %s: %s", peer, exc)

    async def _load_choices(self, peer: int) -> tuple[str, list[Button]] | None:
        """The last numbered list sent to this peer before a restart, if any."""
        async with self.storage.transaction() as conn:
            raw = await repo.get_state(conn, self._choices_key(peer))
        try:
            data = json.loads(raw) if raw else None
            if not isinstance(data, dict):
                return None
            buttons = [
                Button(str(label), Action(str(action)), str(value)) for label, action, value in data["b"]
            ]
            found = (str(data["t"]), buttons)
        except (ValueError, KeyError, TypeError):  # not ours or damaged: the number is read as text
            return None
        self._choices[peer] = found
        return found

    # --- editing ---------------------------------------------------------------------------------

    def _keyboard(self, peer: int, message: Message) -> str | None:
        return render.keyboard(message, callback=peer not in self._text_buttons)

    async def _edit(
        self,
        peer: int,
        text: str,
        markup: str | None,
        *,
        cmid: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        if len(text) > render.MAX_TEXT:
            return False
        try:
            await self.client.call(
                "messages.edit",
                {
                    "peer_id": peer,
                    "conversation_message_id": cmid,
                    "message_id": message_id,
                    "message": text,
                    "keyboard": markup or render.EMPTY_KEYBOARD,
                    "dont_parse_links": 1,
                },
            )
        except VkError as exc:  # e.g. too old to edit: the caller sends a new message instead
            log.info("VK: could not edit a message in %s: %s", peer, exc)
            return False
        return True

    async def _mark_unreachable(self, respondent_id: int | None) -> None:
        if respondent_id is None:
            return
        async with self.storage.transaction() as conn:
            await repo.mark_unreachable(conn, respondent_id, self.clock())
