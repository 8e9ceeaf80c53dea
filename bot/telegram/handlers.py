"""The survey in a private chat: Telegram updates become `Incoming` events, results are shown.

Handlers only translate; every decision is made by `Conversation`. Dependencies arrive through
the dispatcher's workflow data (`conversation`, `delivery`).
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Update
from aiogram.types import Message as TgMessage

from bot.core.conversation import Conversation
from bot.core.messages import Incoming, Kind
from bot.telegram import texts
from bot.telegram.callbacks import Press
from bot.telegram.delivery import Delivery
from bot.telegram.filters import has_text, private_chat
from storage.channels import Channel

CHANNEL = Channel.TELEGRAM


def survey_press_router() -> Router:
    """Survey button presses, the bulk of all updates: included first, so they do not pass through
    every staff router on the way (their `p|` callback data matches nothing else)."""
    router = Router(name="survey_press")
    router.callback_query.register(on_press, Press.filter())
    return router


def survey_router() -> Router:
    router = Router(name="survey")
    # Surveys run in private chats only; a bot added to a group stays silent there.
    router.message.filter(private_chat)
    router.message.register(on_start, CommandStart())
    router.message.register(on_stop, Command("stop"))
    router.message.register(on_text, has_text)
    router.message.register(on_other)
    router.callback_query.register(on_unknown_press)  # after every router's own button data
    return router


def _event(message: TgMessage, update: Update, kind: Kind, text: str = "") -> Incoming:
    user = message.from_user
    return Incoming(
        CHANNEL,
        str(message.chat.id),
        kind,
        text=text,
        update_id=str(update.update_id),
        name=user.first_name if user else None,
    )


async def on_start(
    message: TgMessage,
    command: CommandObject,
    event_update: Update,
    conversation: Conversation,
    delivery: Delivery,
) -> None:
    result = await conversation.handle(_event(message, event_update, Kind.START, command.args or ""))
    await delivery.show(message.chat.id, result)


async def on_stop(
    message: TgMessage, event_update: Update, conversation: Conversation, delivery: Delivery
) -> None:
    result = await conversation.handle(_event(message, event_update, Kind.STOP))
    await delivery.show(message.chat.id, result)


async def on_text(
    message: TgMessage, event_update: Update, conversation: Conversation, delivery: Delivery
) -> None:
    result = await conversation.handle(_event(message, event_update, Kind.TEXT, message.text or ""))
    await delivery.show(message.chat.id, result)


async def on_other(
    message: TgMessage, event_update: Update, conversation: Conversation, delivery: Delivery
) -> None:
    result = await conversation.handle(_event(message, event_update, Kind.UNSUPPORTED))
    await delivery.show(message.chat.id, result)


async def on_press(
    query: CallbackQuery,
    callback_data: Press,
    event_update: Update,
    conversation: Conversation,
    delivery: Delivery,
) -> None:
    if query.message is None:  # a press on an inline-mode message: not ours
        await delivery.answer_callback(query.id, texts.STALE)
        return
    chat_id = query.message.chat.id
    event = Incoming(
        CHANNEL,
        str(chat_id),
        Kind.PRESS,
        token=callback_data.token,
        action=callback_data.action,
        value=callback_data.value,
        update_id=str(event_update.update_id),
        name=query.from_user.first_name,
    )
    result = await conversation.handle(event)
    await delivery.show(chat_id, result, pressed_message_id=query.message.message_id, callback_id=query.id)


async def on_unknown_press(query: CallbackQuery, delivery: Delivery) -> None:
    """Forged, truncated or foreign callback data: a polite answer, nothing recorded."""
    await delivery.answer_callback(query.id, texts.STALE)
