"""VK: each event of a long-poll batch on its own (a broken one is kept as a dead letter, the others
are handled), forged answer presses, update ids keyed by community."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.core import texts
from bot.core.conversation import Conversation, Layout
from bot.core.messages import Incoming
from storage.channels import list_dead_letters
from tests.bot.vk.conftest import Bot, User
from tests.bot.vk.test_vk_channel import START, snackbars, stored_answers
from tests.conftest import CONSENT, Database
from tests.fakes.vk_api import FakeVk


def cli(database: Database, *argv: str) -> int:
    return main(["--database", database.url, *argv])


async def test_a_broken_event_goes_to_dead_letters_and_the_others_are_handled(
    bot: Bot,
    fake: FakeVk,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = User(fake, 1001), User(fake, 1002)
    not_an_object = {"type": "message_new", "object": ["peer_id", 1003]}
    bad_sender = User(fake, 1004).message_new("Начать", payload=START)
    bad_sender["object"]["message"]["from_id"] = "not a number"
    message_not_an_object = {"type": "message_new", "object": {"message": "text", "user_id": 1005}}
    for event in (
        first.message_new("Начать", payload=START),
        not_an_object,
        bad_sender,
        message_not_an_object,
        second.message_new("Начать", payload=START),
    ):
        fake.push(event)
    await fake.settled()
    assert [m.text for m in first.inbox()][:1] == [texts.GREETING]
    assert [m.text for m in second.inbox()][:1] == [texts.GREETING]
    async with bot.db.transaction() as conn:
        letters = await list_dead_letters(conn, channel="vk")
    assert sorted(x.update_id or "" for x in letters) == sorted(
        str(e["event_id"]) for e in (not_an_object, bad_sender, message_not_an_object)
    )
    assert {x.bot for x in letters} == {"777"}
    assert any('"not a number"' in x.raw for x in letters)
    # The same batch again (a restart before the ts was saved) keeps no second copy.
    assert bot.channel is not None
    await bot.channel.handle_batch([not_an_object, bad_sender])
    async with bot.db.transaction() as conn:
        assert len(await list_dead_letters(conn, channel="vk")) == 3

    monkeypatch.chdir(tmp_path)
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)
    assert await asyncio.to_thread(cli, database, "dead-letters", "list", "--channel", "vk") == 0
    listed = capsys.readouterr().out
    assert all(f"\t{x.update_id}\t" in listed for x in letters) and "ValueError" in listed
    assert await asyncio.to_thread(cli, database, "dead-letters", "list", "--channel", "telegram") == 0
    assert "Необработанных обновлений нет." in capsys.readouterr().out


async def test_a_forged_answer_press_with_a_valid_token_is_stale(bot: Bot, fake: FakeVk, user: User) -> None:
    await user.say("Начать", payload=START)
    live = user.last_with_buttons()
    payload = json.loads(live.buttons()[0]["payload"])
    for value in ("99", "0", "Другое: 99", ""):
        forged = user.message_event(user.answer_button("1"))
        forged["object"]["payload"] = {**payload, "a": "ans", "v": value}
        await user.push(forged)
    assert snackbars(fake) == [texts.STALE_BUTTON] * 4
    assert await stored_answers(bot.db) == {}
    # A text button of ours sends the same payload as a message (clients without callback buttons).
    await user.say("99", payload=json.dumps({**payload, "a": "ans", "v": "99"}))
    assert await stored_answers(bot.db) == {}


async def test_event_ids_are_kept_per_community(storage: Any, questionnaire: Any) -> None:
    """Two communities on one database: the same message id in each is two events."""
    replies = []
    for community in ("777", "778"):
        conversation = Conversation(storage, questionnaire, CONSENT, layout=Layout(), bot_key=community)
        result = await conversation.handle(Incoming("vk", "1001", "start", update_id="m1"))
        replies.append(result.duplicate)
    assert replies == [False, False]
