"""VK events in, conversation results out: Bots Long Poll updates translated into `Incoming`.

Each event is handled on its own; events of one person in order, of different people
concurrently. The results are shown by `VkDelivery` (bot/vk/delivery.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.core import numbered, texts
from bot.core.clock import utcnow
from bot.core.conversation import Commands, Conversation
from bot.core.dead_letters import DeadLetters
from bot.core.messages import Incoming, Kind, Message, Result
from bot.runtime.batches import handle_by_person
from bot.runtime.metrics import Metrics, UpdateOutcome
from bot.vk import render
from bot.vk.delivery import VkDelivery
from bot.vk.staff import VkStaff
from storage import repository as repo
from storage.channels import Channel
from storage.store import Storage

log = logging.getLogger(__name__)

CHANNEL = Channel.VK
VK_COMMANDS = Commands(start="«Начать»", stop="«стоп»")
START_COMMAND = "start"  # payload {"command": "start"} of VK's own «Начать» button
CHATS_FROM = 2_000_000_000  # peer ids of group chats start here
# A client without inline keyboards reads whole lists as numbered text: no paging.
NUMBERED_PAGE_SIZE = 1000


class VkEvents:
    """Turns VK events into conversation turns and hands the results to `delivery`."""

    def __init__(
        self,
        conversation: Conversation,
        storage: Storage,
        group_id: int,
        delivery: VkDelivery,
        *,
        clock: Callable[[], datetime] = utcnow,
        staff: VkStaff | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.conversation = conversation
        self.storage = storage
        self.group_id = group_id
        self.delivery = delivery
        self.clock = clock
        self.staff = staff
        # An event that fails for a reason other than an outage is kept here and skipped.
        self.dead_letters = DeadLetters(
            storage, CHANNEL, str(group_id), clock=clock,
            on_kept=lambda: self.metrics.update(CHANNEL, UpdateOutcome.DEAD_LETTER),
        )  # fmt: skip

    # --- events -------------------------------------------------------------------------------

    async def handle_batch(self, updates: list[Any]) -> None:
        """Events of one person in order, of different people concurrently.

        Each event is handled on its own: one that fails for a reason other than an outage goes
        to the dead letters and the others are handled. An outage (database, network) is raised,
        so the batch is tried again; events already handled are recognised by their ids.
        """
        await handle_by_person(
            updates, person=_peer_key, update_id=_event_id, handle=self.handle_update,
            dead_letters=self.dead_letters, metrics=self.metrics, channel=CHANNEL,
        )  # fmt: skip

    async def handle_update(self, update: dict[str, Any]) -> None:
        if not isinstance(update, dict):
            raise TypeError(f"an event is {type(update).__name__}, not an object")
        kind = update.get("type")
        obj = update.get("object") or {}
        if kind in ("message_new", "message_event", "message_allow", "message_deny") and not isinstance(
            obj, dict
        ):
            raise TypeError(f"event object is {type(obj).__name__}, not an object")
        event_id = update.get("event_id")
        if kind == "message_new":
            await self.on_message(obj, event_id)
        elif kind == "message_event":
            await self.on_callback(obj, event_id)
        elif kind in ("message_allow", "message_deny"):
            await self.on_permission(obj, allowed=kind == "message_allow")

    async def on_message(self, obj: dict[str, Any], event_id: str | None) -> None:
        message: dict[str, Any] = obj.get("message") or obj
        peer = int(message.get("peer_id") or 0)
        sender = int(message.get("from_id") or 0)
        if sender <= 0 or peer != sender or peer >= CHATS_FROM:
            return  # group chats and other communities: the survey is a private conversation
        client_info = obj.get("client_info")
        if isinstance(client_info, dict):
            self.delivery.note_client(peer, client_info)
        update_id = str(event_id or f"m{message.get('id')}")
        user = str(sender)
        text = str(message.get("text") or "")
        if self.staff is not None and self.staff.wants(text):
            reply = await self.staff.answer(self.storage, sender, text)
            await self.delivery.deliver(peer, Result(messages=[Message(reply)]), f"{update_id}:staff")
            return
        raw_payload = message.get("payload")
        pressed = render.parse_payload(raw_payload)
        ref = message.get("ref")
        page_size = NUMBERED_PAGE_SIZE if self.delivery.numbered(peer) else None
        choices = await self.delivery.choices(peer, text)
        chosen = numbered.pick(text, choices[1]) if choices is not None else None
        if ref:  # vk.me/<group>?ref=<key>: the first message of a respondent from a link or QR code
            incoming = Incoming(CHANNEL, user, Kind.START, text=str(ref), update_id=update_id)
        elif pressed is not None:  # a text button of ours (clients without callback buttons)
            token, action, value = pressed
            incoming = Incoming(
                CHANNEL, user, Kind.PRESS, token=token, action=action, value=value, update_id=update_id
            )
        elif _is_start_command(raw_payload):
            incoming = Incoming(CHANNEL, user, Kind.START, update_id=update_id)
        elif raw_payload:
            # A text button from a keyboard this bot no longer understands: its label must not be
            # taken for an answer to the current question.
            notice = Result(messages=[Message(texts.STALE_BUTTON)])
            await self.delivery.deliver(peer, notice, update_id)
            return
        elif chosen is not None and choices is not None:  # a number typed for a listed option
            incoming = Incoming(
                CHANNEL, user, Kind.PRESS, token=choices[0], action=chosen.action, value=chosen.value,
                update_id=update_id,
            )  # fmt: skip
        elif text.strip():
            incoming = Incoming(CHANNEL, user, Kind.TEXT, text=text, update_id=update_id)
        else:  # stickers, photos, voice messages, ...
            incoming = Incoming(CHANNEL, user, Kind.UNSUPPORTED, update_id=update_id)
        if page_size is not None:
            incoming = replace(incoming, page_size=page_size)
        result = await self.conversation.handle(incoming)
        # A text button press (or a typed number) answered only with a notice, such as «Эта кнопка
        # уже неактуальна»: there is no snackbar for a message, so the notice is sent as one.
        if (
            incoming.kind == Kind.PRESS
            and result.notice
            and result.notice not in {m.text for m in result.messages}
        ):
            result.messages.insert(0, Message(result.notice))
        await self.delivery.deliver(peer, result, update_id)

    async def on_callback(self, obj: dict[str, Any], event_id: str | None) -> None:
        user_id = int(obj.get("user_id") or 0)
        peer = int(obj.get("peer_id") or user_id)
        callback_id = str(obj.get("event_id") or "")
        cmid = obj.get("conversation_message_id")
        update_id = str(event_id or f"cb{callback_id}")
        notice: str | None = None
        result: Result | None = None
        try:
            pressed = render.parse_payload(obj.get("payload"))
            if pressed is None or user_id <= 0 or peer >= CHATS_FROM:
                notice = texts.STALE_BUTTON
                return
            token, action, value = pressed
            result = await self.conversation.handle(
                Incoming(
                    CHANNEL, str(user_id), Kind.PRESS, token=token, action=action, value=value,
                    update_id=update_id,
                )
            )  # fmt: skip
            # A notice the messages do not already say: a snackbar, or a message when it is too long.
            if result.notice and result.notice not in {m.text for m in result.messages}:
                if len(result.notice) <= render.MAX_SNACKBAR:
                    notice = result.notice
                else:
                    result.messages.insert(0, Message(result.notice))
        finally:
            # Always answer: the client shows a spinner on the button until it gets an answer.
            await self.delivery.answer_press(callback_id, user_id, peer, notice)
        if result is not None:
            await self.delivery.deliver(peer, result, update_id, edit_cmid=int(cmid) if cmid else None)

    async def on_permission(self, obj: dict[str, Any], *, allowed: bool) -> None:
        user_id = str(obj.get("user_id") or "")
        async with self.storage.transaction() as conn:
            respondent = await repo.get_respondent(conn, CHANNEL, user_id)
            if respondent is not None:
                await repo.mark_unreachable(conn, respondent.id, None if allowed else self.clock())


def _peer_key(update: Any) -> str:
    """Whose event this is, for ordering; events it cannot tell go together under ""."""
    obj = update.get("object") if isinstance(update, dict) else None
    if not isinstance(obj, dict):
        return ""
    message = obj.get("message")
    peer = (message.get("peer_id") if isinstance(message, dict) else None) or obj.get("peer_id")
    peer = peer or obj.get("user_id") or ""
    return str(peer) if isinstance(peer, (int, str)) else ""


def _event_id(update: Any) -> str | None:
    event_id = update.get("event_id") if isinstance(update, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def _is_start_command(raw: Any) -> bool:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return False
    return isinstance(raw, dict) and raw.get("command") == START_COMMAND
