"""MAX updates (GET /updates or a webhook, the same `Update` objects) as channel-neutral events,
and `MaxEvents`, which hands them to the conversation and the results to `MaxDelivery`.

Only the bot's dialogs take part: messages in group chats and channels are ignored, as in the
other channels. The documented update types used:

- `message_created`: typed text (or a `/start <payload>` typed by hand), or something the survey
  cannot read (stickers, photos, files: `unsupported`);
- `message_callback`: a press on one of our callback buttons; a payload we did not make is
  `stale` (answered with a notice, never taken for an answer);
- `bot_started`: the user opened the dialog, possibly from a deep link
  `https://max.ru/<bot>?start=<payload>` (the payload, up to 512 characters, prefills Block 1);
- `bot_stopped`: the user stopped the bot; nothing reaches them until they start it again.

Every event carries an `update_id` stable across redelivery (a message id, a callback id), so a
duplicate update is recognised by the conversation's deduplication.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.core import texts
from bot.core.clock import utcnow
from bot.core.conversation import Commands, Conversation
from bot.core.dead_letters import DeadLetters
from bot.core.messages import Incoming, Kind
from bot.max import render
from bot.max.delivery import MaxDelivery, Pressed
from bot.runtime.batches import handle_by_person
from bot.runtime.metrics import Metrics, UpdateOutcome
from storage import repository as repo
from storage.channels import Channel
from storage.store import Storage

log = logging.getLogger(__name__)

CHANNEL = Channel.MAX
MAX_COMMANDS = Commands(start="«Начать»", stop="«стоп»")
DIALOG = "dialog"  # ChatType of a one-to-one chat with the bot


class Reach(StrEnum):
    """What an update says about whether messages reach the user."""

    UNCHANGED = "unchanged"
    REACHABLE = "reachable"  # bot_started: the user (re)opened the dialog
    UNREACHABLE = "unreachable"  # bot_stopped


@dataclass(frozen=True)
class MaxEvent:
    user_id: int
    incoming: Incoming | None  # None: nothing for the conversation (bot_stopped, a stale press)
    callback_id: str | None = None  # a press: must be answered (POST /answers) whatever happens
    message_id: str | None = None  # a press: the message whose keyboard was pressed (to edit)
    stale: bool = False  # a press on a button this bot did not make, or cannot read any more
    reach: Reach = Reach.UNCHANGED


class UpdateType(StrEnum):
    MESSAGE_CREATED = "message_created"
    MESSAGE_CALLBACK = "message_callback"
    BOT_STARTED = "bot_started"
    BOT_STOPPED = "bot_stopped"


def translate(update: dict[str, Any]) -> MaxEvent | None:
    """The event of one update, or None for updates the survey ignores (other types, group chats)."""
    kind = update.get("update_type")
    if kind == UpdateType.MESSAGE_CREATED:
        return _message(update)
    if kind == UpdateType.MESSAGE_CALLBACK:
        return _callback(update)
    if kind == UpdateType.BOT_STARTED:
        return _started(update)
    if kind == UpdateType.BOT_STOPPED:
        user_id = _user_id(update.get("user"))
        return MaxEvent(user_id, None, reach=Reach.UNREACHABLE) if user_id else None
    return None


def _message(update: dict[str, Any]) -> MaxEvent | None:
    message = _object(update.get("message"))
    sender = _object(message.get("sender"))
    recipient = _object(message.get("recipient"))
    user_id = _user_id(sender)
    if not user_id or sender.get("is_bot") or recipient.get("chat_type") != DIALOG:
        return None
    body = _object(message.get("body"))
    mid = body.get("mid")
    if not isinstance(mid, str) or not mid:
        return None
    update_id = f"m:{mid}"
    user = str(user_id)
    name = _name(sender)
    raw_text = body.get("text")
    text = raw_text if isinstance(raw_text, str) else ""
    command, _, argument = text.strip().partition(" ")
    if command.lower() == "/start" and argument.strip():
        incoming = Incoming(CHANNEL, user, Kind.START, text=argument.strip(), update_id=update_id, name=name)
    elif text.strip():
        incoming = Incoming(CHANNEL, user, Kind.TEXT, text=text, update_id=update_id, name=name)
    else:  # stickers, photos, voice messages, files, contacts, ...
        incoming = Incoming(CHANNEL, user, Kind.UNSUPPORTED, update_id=update_id, name=name)
    return MaxEvent(user_id, incoming)


def _callback(update: dict[str, Any]) -> MaxEvent | None:
    callback = _object(update.get("callback"))
    callback_id = callback.get("callback_id")
    user_id = _user_id(callback.get("user"))
    if not isinstance(callback_id, str) or not callback_id or not user_id:
        return None
    message = _object(update.get("message"))  # null when the message was deleted meanwhile
    mid = _object(message.get("body")).get("mid")
    message_id = mid if isinstance(mid, str) and mid else None
    recipient = _object(message.get("recipient"))
    pressed = render.parse_payload(callback.get("payload"))
    in_group = bool(recipient) and recipient.get("chat_type") != DIALOG
    if pressed is None or in_group:
        return MaxEvent(user_id, None, callback_id=callback_id, message_id=message_id, stale=True)
    token, action, value = pressed
    incoming = Incoming(
        CHANNEL, str(user_id), Kind.PRESS, token=token, action=action, value=value,
        update_id=f"cb:{callback_id}", name=_name(_object(callback.get("user"))),
    )  # fmt: skip
    return MaxEvent(user_id, incoming, callback_id=callback_id, message_id=message_id)


def _started(update: dict[str, Any]) -> MaxEvent | None:
    user = _object(update.get("user"))
    user_id = _user_id(user)
    if not user_id:
        return None
    payload = update.get("payload")
    start = payload.strip() if isinstance(payload, str) else ""
    # No message id here: chat, user, time and payload identify one press of «Начать» or of a
    # link (two starts in the same millisecond with the same payload are one start).
    digest = hashlib.sha256(start.encode()).hexdigest()[:12]
    update_id = f"bs:{update.get('chat_id')}:{user_id}:{update.get('timestamp')}:{digest}"
    incoming = Incoming(CHANNEL, str(user_id), Kind.START, text=start, update_id=update_id, name=_name(user))
    return MaxEvent(user_id, incoming, reach=Reach.REACHABLE)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _user_id(user: Any) -> int:
    value = _object(user).get("user_id")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _name(user: dict[str, Any]) -> str | None:
    # The first name only, as the Telegram channel keeps (the deprecated `name` when absent).
    for key in ("first_name", "name"):
        value = user.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class MaxEvents:
    """Turns MAX updates into conversation turns and hands the results to `delivery`."""

    def __init__(
        self,
        conversation: Conversation,
        storage: Storage,
        bot_id: int,
        delivery: MaxDelivery,
        *,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.conversation = conversation
        self.storage = storage
        self.bot_id = bot_id
        self.delivery = delivery
        self.clock = clock
        # An update that fails for a reason other than an outage is kept here and skipped.
        self.dead_letters = DeadLetters(
            storage, CHANNEL, str(bot_id), clock=clock,
            on_kept=lambda: self.metrics.update(CHANNEL, UpdateOutcome.DEAD_LETTER),
        )  # fmt: skip

    async def handle_batch(self, updates: list[Any]) -> None:
        """Updates of one person in order, of different people concurrently.

        Each update is handled on its own: one that fails for a reason other than an outage goes
        to the dead letters and the others are handled. An outage (database, network, MAX) is
        raised, so the batch is tried again; updates already handled are recognised by their ids.
        """
        await handle_by_person(
            updates, person=_user_of, update_id=_update_id, handle=self.handle_update,
            dead_letters=self.dead_letters, metrics=self.metrics, channel=CHANNEL,
        )  # fmt: skip

    async def handle_update(self, update: Any) -> None:
        if not isinstance(update, dict):
            raise TypeError(f"an update is {type(update).__name__}, not an object")
        event = translate(update)
        if event is None:
            return
        if event.reach is not Reach.UNCHANGED:
            await self._set_reach(event.user_id, reachable=event.reach is Reach.REACHABLE)
        if event.callback_id is not None:
            await self._on_press(event, update)
        elif event.incoming is not None:
            result = await self.conversation.handle(event.incoming)
            await self.delivery.deliver(event.user_id, result)

    async def _on_press(self, event: MaxEvent, update: dict[str, Any]) -> None:
        assert event.callback_id is not None
        body = _object(_object(update.get("message")).get("body"))
        text = body.get("text")
        attachments = body.get("attachments")
        pressed = Pressed(
            event.callback_id,
            event.message_id,
            text if isinstance(text, str) and text else None,
            [a for a in attachments if isinstance(a, dict)] if isinstance(attachments, list) else None,
        )
        if event.stale or event.incoming is None:
            await self.delivery.answer_only(pressed, texts.STALE_BUTTON)
            return
        try:
            result = await self.conversation.handle(event.incoming)
        except Exception:
            # The client shows a spinner on the button until it gets an answer.
            await self.delivery.answer_only(pressed)
            raise
        await self.delivery.deliver(event.user_id, result, pressed=pressed)

    async def _set_reach(self, user_id: int, *, reachable: bool) -> None:
        """bot_stopped: mailings skip the person; bot_started: they may be written to again."""
        async with self.storage.transaction() as conn:
            respondent = await repo.get_respondent(conn, CHANNEL, str(user_id))
            if respondent is not None:
                await repo.mark_unreachable(conn, respondent.id, None if reachable else self.clock())


def _user_of(update: Any) -> int:
    """Whose update this is, for ordering; updates it cannot tell go together under 0."""
    if not isinstance(update, dict):
        return 0
    message = _object(update.get("message"))
    for user in (
        update.get("user"),
        _object(update.get("callback")).get("user"),
        message.get("sender"),
    ):
        found = _user_id(user)
        if found:
            return found
    return 0


def _update_id(update: Any) -> str | None:
    """The id a dead letter is kept under (so a batch fetched again keeps it once)."""
    if not isinstance(update, dict):
        return None
    try:
        event = translate(update)
    except Exception:  # the update is broken: kept without an id
        return None
    if event is not None and event.incoming is not None:
        return event.incoming.update_id
    if event is not None and event.callback_id:
        return f"cb:{event.callback_id}"
    return None
