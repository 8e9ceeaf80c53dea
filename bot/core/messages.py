"""Channel-neutral outgoing messages: text plus rows of buttons carrying short ids only."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum, nonmember

from bot.core.dialog import Phase


@dataclass(frozen=True)
class Button:
    label: str
    action: Action
    value: str = ""


class Kind(StrEnum):
    """What a platform event is, to the conversation."""

    START = "start"  # the start command, its text the deep-link payload
    TEXT = "text"
    PRESS = "press"  # a button of ours: token, action and value
    STOP = "stop"  # the stop command
    UNSUPPORTED = "unsupported"  # a sticker, a photo, a voice message…


class Action(StrEnum):
    """What a button does; the value travels in its callback data, so it stays short."""

    ANSWER = "ans"
    OTHER = "oth"  # «Другое»: asks to type the variant
    PAGE = "pg"
    BACK = "back"
    ABORT = "abort"
    CONTINUE = "cont"
    RESTART = "new"
    CONSENT_YES = "cy"
    CONSENT_NO = "cn"
    WITHDRAW = "stop"
    START = "start"
    SKIP = "skip"  # «Пропустить»: the follow-up question is offered, not required
    REPLY_YES = "ry"  # the ministry may answer the difficulties named, here in the chat
    REPLY_NO = "rn"

    # The values a callback may carry, to check untrusted callback data against.
    ALL = nonmember(
        frozenset(
            {
                ANSWER,
                OTHER,
                PAGE,
                BACK,
                ABORT,
                CONTINUE,
                RESTART,
                CONSENT_YES,
                CONSENT_NO,
                WITHDRAW,
                START,
                SKIP,
                REPLY_YES,
                REPLY_NO,
            }
        )
    )


@dataclass(frozen=True)
class Message:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    token: str = ""  # identifies the step the buttons belong to; a press with another token is stale


@dataclass(frozen=True)
class Incoming:
    """One platform event, translated by a channel."""

    channel: str
    external_id: str
    kind: Kind
    text: str = ""
    token: str = ""
    action: str = ""
    value: str = ""
    update_id: str | None = None
    name: str | None = None
    # Options per page for this event's replies when the client differs from the channel's usual
    # (a VK client without inline keyboards reads whole numbered lists); None: the channel's layout.
    page_size: int | None = None


@dataclass
class Result:
    messages: list[Message] = field(default_factory=list)
    # For the message whose buttons were answered: the text it should now show (buttons removed).
    answered: str | None = None
    # Replace the pressed message in place (paging) instead of sending a new one.
    edit_in_place: bool = False
    notice: str | None = None  # short answer to a button press
    duplicate: bool = False
    respondent_id: int | None = None
    phase: Phase = Phase.IDLE  # the dialog phase after the event
