"""MAX updates (GET /updates or a webhook, the same `Update` objects) as channel-neutral events.

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
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.core.messages import Incoming, Kind
from bot.max import render
from storage.channels import Channel

CHANNEL = Channel.MAX
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
