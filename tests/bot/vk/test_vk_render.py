"""VK rendering rules: keyboards within VK's limits for every step of the survey, texts, ids."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlalchemy.exc import OperationalError

from bot.core.conversation import Conversation, Layout
from bot.core.messages import Action, Button, Message
from bot.core.retry import is_transient as transient
from bot.vk import render
from bot.vk.api import RateLimiter, VkError
from bot.vk.render import VK_PAGE_SIZE
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT
from tests.fakes.chat import Chat
from tests.fakes.vk_api import keyboard_problem


def test_every_question_page_fits_without_dropping_buttons(questionnaire: Questionnaire) -> None:
    for question in questionnaire.asked_questions:
        rows: list[tuple[Button, ...]] = []
        if question.kind == "scale":
            rows.append(tuple(Button(str(n), Action.ANSWER, str(n)) for n in range(1, 6)))
            nav: tuple[Button, ...] = (Button("Назад", Action.BACK), Button("Прервать", Action.ABORT))
        else:
            shown = question.options[:VK_PAGE_SIZE]
            rows += [(Button(o.text, Action.ANSWER, o.code),) for o in shown]
            if question.allow_other:
                rows.append((Button("Другое", Action.OTHER),))
            nav = (
                Button("«", Action.PAGE, "0"), Button("»", Action.PAGE, "2"),
                Button("Назад", Action.BACK), Button("Прервать", Action.ABORT),
            )  # fmt: skip
        rows.append(nav)
        fitted = render.fit_rows(tuple(rows))
        assert sum(len(r) for r in fitted) == sum(len(r) for r in rows), question.code
        markup = render.keyboard(Message("q", tuple(rows), token="1:1"))
        assert markup is not None and keyboard_problem(json.loads(markup)) is None, question.code


async def test_the_real_survey_messages_fit(storage: Storage, questionnaire: Questionnaire) -> None:
    conversation = Conversation(storage, questionnaire, CONSENT, layout=Layout(page_size=VK_PAGE_SIZE))
    chat = Chat(conversation, channel="vk")
    await chat.start()
    seen = 0
    for typed in ["2", "»", "1", "3", "район", "4", "1", "2", "1", "1", "2", "Долго", "5", "5", "5", "5"]:
        if typed == "»":
            await chat.press("»")
        else:
            await chat.text(typed)
        for result in chat.log[-1:]:
            for message in result.messages:
                markup = render.keyboard(message)
                if markup:
                    assert keyboard_problem(json.loads(markup)) is None, message.text
                    seen += 1
    assert seen >= 14


def test_candidates_beyond_the_limit_are_dropped_not_navigation() -> None:
    rows = tuple((Button(f"район {n}", Action.ANSWER, str(n)),) for n in range(30))
    rows += (
        (Button("Другое", Action.OTHER),),
        (Button("Назад", Action.BACK), Button("Прервать", Action.ABORT)),
    )
    fitted = render.fit_rows(rows)
    flat = [b.action for r in fitted for b in r]
    assert len(fitted) <= 6 and len(flat) <= 10
    assert flat[-3:] == [Action.OTHER, Action.BACK, Action.ABORT]


def test_labels_and_payloads() -> None:
    long = "Управление развития малого и среднего предпринимательства"
    assert len(render.label(long)) == 40 and render.label(long).endswith("…")
    button = Button(long, Action.ANSWER, "12")
    payload = render.payload_of(button, "15:4")
    assert render.parse_payload(payload) == ("15:4", "ans", "12")
    assert render.parse_payload(json.loads(payload)) == ("15:4", "ans", "12")
    assert render.parse_payload('{"command": "start"}') is None
    assert render.parse_payload("not json") is None
    assert render.parse_payload({"t": "1", "a": "rm -rf", "v": ""}) is None


@pytest.mark.parametrize("size", [1, 4096, 4097, 10_000, 30_000])
def test_split_text_respects_the_limit(size: int) -> None:
    words = ("слово " * (size // 6 + 1))[:size]
    chunks = render.split_text(words)
    assert all(0 < len(c) <= 4096 for c in chunks)
    assert " ".join(chunks).split() == words.split()
    unbroken = "я" * size
    assert "".join(render.split_text(unbroken)) == unbroken


def test_random_id_is_deterministic_31_bit() -> None:
    ids = {render.random_id(peer, f"event-{n}:0:0") for peer in (1, 2) for n in range(500)}
    assert len(ids) == 1000
    assert all(0 < i < 2**31 for i in ids)
    assert render.random_id(5, "x") == render.random_id(5, "x") != render.random_id(6, "x")


async def test_rate_limiter_spaces_calls() -> None:
    limiter = RateLimiter(rps=50)
    started = time.monotonic()
    await asyncio.gather(*(limiter.wait() for _ in range(11)))
    assert time.monotonic() - started >= 0.19


def test_transient_failures_are_told_from_broken_events() -> None:
    assert transient(OperationalError("select 1", {}, Exception("database is locked")))
    assert transient(ConnectionRefusedError())
    assert transient(VkError("groups.getLongPollServer", -1, "connection refused"))
    assert not transient(VkError("groups.getLongPollServer", 5, "bad token"))
    assert not transient(ValueError("invalid literal for int()"))
    assert not transient(KeyError("message"))
