"""MAX updates, as the fake server (after the documentation) delivers them, as channel-neutral events."""

from __future__ import annotations

import copy
from typing import Any

from bot.core.messages import Action, Button, Message
from bot.max import render
from bot.max.api import MaxClient
from bot.max.events import CHANNEL, Reach, translate
from tests.fakes.max_api import TOKEN, FakeMax


async def delivered(fake: FakeMax) -> list[dict[str, Any]]:
    client = MaxClient(TOKEN, api_base_url=fake.url, rps=1000, backoff=0.01)
    try:
        return (await client.get_updates(None, hold=0)).updates
    finally:
        await client.close()


async def test_typed_text_and_a_typed_start_with_payload(fake: FakeMax) -> None:
    await fake.user_writes(11, "ООО «Ромашка»")
    await fake.user_writes(11, "/start ref-7")
    await fake.user_writes(11, "/start")
    text, start, bare = [translate(u) for u in await delivered(fake)]
    assert text is not None and text.incoming is not None
    assert (text.incoming.channel, text.incoming.external_id, text.incoming.kind) == (CHANNEL, "11", "text")
    assert text.incoming.text == "ООО «Ромашка»" and text.incoming.name == "Иван"
    assert text.incoming.update_id is not None and text.incoming.update_id.startswith("m:")
    assert start is not None and start.incoming is not None
    assert (start.incoming.kind, start.incoming.text) == ("start", "ref-7")
    assert bare is not None and bare.incoming is not None
    assert (bare.incoming.kind, bare.incoming.text) == ("text", "/start")  # the conversation's start word


async def test_a_sticker_is_unsupported(fake: FakeMax) -> None:
    await fake.user_writes(11, "")
    (event,) = [translate(u) for u in await delivered(fake)]
    assert event is not None and event.incoming is not None and event.incoming.kind == "unsupported"


async def test_a_press_on_our_button(fake: FakeMax) -> None:
    message = Message("Вопрос", ((Button("Да", Action.ANSWER, "y"),),), token="s1:q1")
    fake.sent.clear()
    client = MaxClient(TOKEN, api_base_url=fake.url, rps=1000, backoff=0.01)
    try:
        await client.send_message(user_id=12, text=message.text, attachments=render.attachments(message))
    finally:
        await client.close()
    callback_id = await fake.user_presses(12, "Да")
    (event,) = [translate(u) for u in await delivered(fake)]
    assert event is not None and event.incoming is not None and not event.stale
    assert event.callback_id == callback_id and event.message_id == fake.last_to(12).mid
    incoming = event.incoming
    assert (incoming.kind, incoming.token, incoming.action, incoming.value) == (
        "press",
        "s1:q1",
        Action.ANSWER,
        "y",
    )
    assert incoming.update_id == f"cb:{callback_id}"


async def test_a_forged_press_is_stale_and_still_answerable(fake: FakeMax) -> None:
    await fake.press_payload(12, '{"t": "x", "a": "drop table"}')
    await fake.press_payload(12, "free text")
    for event in [translate(u) for u in await delivered(fake)]:
        assert event is not None and event.stale and event.incoming is None
        assert event.callback_id is not None and event.message_id is None


async def test_deep_link_start_and_stop(fake: FakeMax) -> None:
    await fake.bot_started(13, "q1-msp")
    await fake.bot_started(13)
    await fake.bot_started(13, "x" * 513)  # documented: longer payloads are not passed on
    await fake.bot_stopped(13)
    linked, plain, too_long, stopped = [translate(u) for u in await delivered(fake)]
    assert linked is not None and linked.incoming is not None and linked.reach == Reach.REACHABLE
    assert (linked.incoming.kind, linked.incoming.text) == ("start", "q1-msp")
    assert plain is not None and plain.incoming is not None and plain.incoming.text == ""
    assert too_long is not None and too_long.incoming is not None and too_long.incoming.text == ""
    assert stopped is not None and stopped.incoming is None and stopped.reach == Reach.UNREACHABLE
    assert linked.incoming.update_id != plain.incoming.update_id


async def test_the_same_update_twice_has_the_same_id(fake: FakeMax) -> None:
    await fake.user_writes(14, "да")
    (update,) = await delivered(fake)
    first, second = translate(update), translate(copy.deepcopy(update))
    assert (
        first is not None
        and second is not None
        and first.incoming is not None
        and second.incoming is not None
    )
    assert first.incoming.update_id == second.incoming.update_id


def test_group_chats_bots_and_other_types_are_ignored() -> None:
    group = {
        "update_type": "message_created",
        "timestamp": 1,
        "message": {
            "sender": {"user_id": 5, "first_name": "A", "is_bot": False},
            "recipient": {"chat_id": -77, "chat_type": "chat", "user_id": None},
            "body": {"mid": "m1", "seq": 1, "text": "привет"},
        },
    }
    assert translate(group) is None
    from_bot = copy.deepcopy(group)
    from_bot["message"]["recipient"] = {"chat_id": -1, "chat_type": "dialog", "user_id": 5}
    from_bot["message"]["sender"]["is_bot"] = True
    assert translate(from_bot) is None
    assert translate({"update_type": "message_edited", "timestamp": 1}) is None
    assert translate({"update_type": "user_added", "timestamp": 1}) is None


def test_malformed_updates_are_ignored_not_raised() -> None:
    for update in [
        {},
        {"update_type": "message_created"},
        {"update_type": "message_created", "message": "x"},
        {"update_type": "message_callback", "callback": {"callback_id": "c", "user": {"user_id": "5"}}},
        {"update_type": "bot_started", "user": {"user_id": -3}},
        {"update_type": "bot_stopped", "user": None},
    ]:
        assert translate(update) is None
