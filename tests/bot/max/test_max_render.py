"""Messages as MAX keyboards within the documented limits; the fake server refuses anything beyond."""

from __future__ import annotations

import json

import pytest

from bot.core.messages import Action, Button, Message
from bot.max import render
from bot.max.api import MaxClient, MaxError
from tests.fakes.max_api import TOKEN, FakeMax


def answers(n: int, value_size: int = 3) -> tuple[tuple[Button, ...], ...]:
    return tuple((Button(f"Вариант {i}", Action.ANSWER, str(i).zfill(value_size)),) for i in range(n))


NAV = ((Button("«", Action.PAGE, "0"), Button("Назад", Action.BACK), Button("Прервать", Action.ABORT)),)


def test_rows_over_seven_are_split() -> None:
    row = tuple(Button(str(i), Action.ANSWER, str(i)) for i in range(10))
    assert [len(r) for r in render.fit_rows((row,))] == [7, 3]


def test_too_many_rows_drop_answers_and_keep_navigation() -> None:
    rows = render.fit_rows(answers(40) + NAV)
    assert len(rows) == render.INLINE_MAX_ROWS
    assert rows[-1][1].action == Action.BACK and rows[-1][2].action == Action.ABORT
    assert [r[0].value for r in rows[:3]] == ["000", "001", "002"]  # the first answers are kept


def test_too_many_buttons_are_cut_to_210() -> None:
    rows = tuple(tuple(Button("x", Action.PAGE, str(i * 7 + j)) for j in range(7)) for i in range(35))
    fitted = render.fit_rows(rows)
    assert sum(len(r) for r in fitted) <= render.INLINE_MAX_BUTTONS and len(fitted) <= render.INLINE_MAX_ROWS


def test_long_labels_are_shortened_to_128() -> None:
    long = "Информационно-консультационная поддержка " * 5
    shown = render.label(long)
    assert len(shown) == render.MAX_LABEL and shown.endswith("…")
    assert render.label("  ") == "…"  # an empty text is refused by MAX


def test_payload_round_trip_and_size() -> None:
    button = Button("Да", Action.CONSENT_YES, "значение")
    payload = render.payload_of(button, "s1:consent")
    assert render.parse_payload(payload) == ("s1:consent", Action.CONSENT_YES, "значение")
    with pytest.raises(ValueError):
        render.payload_of(Button("x", Action.ANSWER, "я" * 600), "t")  # 1200 bytes


@pytest.mark.parametrize(
    "raw",
    [
        None,
        5,
        "",
        "not json",
        "[1]",
        '{"t": "x", "a": "rm -rf"}',
        '{"t": 1, "a": "ans"}',
        '{"t": "x", "a": "ans", "v": 3}',
    ],
)
def test_foreign_payloads_are_refused(raw: object) -> None:
    assert render.parse_payload(raw) is None


def test_keyboard_shape_and_intents() -> None:
    message = Message(
        "Согласны?", ((Button("Да", Action.CONSENT_YES), Button("Нет", Action.CONSENT_NO)), NAV[0]), "tok"
    )
    board = render.keyboard(message)
    assert board is not None and board["type"] == "inline_keyboard"
    rows = board["payload"]["buttons"]
    assert [[b["intent"] for b in r] for r in rows] == [
        ["positive", "default"],
        ["default", "default", "negative"],
    ]
    assert all(b["type"] == "callback" and json.loads(b["payload"])["t"] == "tok" for r in rows for b in r)
    assert render.keyboard(Message("без кнопок")) is None and render.attachments(Message("x")) == []


def test_text_is_split_within_4000() -> None:
    text = ("Абзац. " * 300 + "\n\n") * 4
    chunks = render.split_text(text)
    assert all(len(c) <= render.MAX_TEXT for c in chunks) and len(chunks) > 1
    assert " ".join(chunks).split() == text.split()


def test_notification_is_short() -> None:
    assert len(render.notification("я" * 500)) == render.MAX_NOTIFICATION


async def test_the_largest_keyboard_is_accepted_by_the_fake_server(fake: FakeMax) -> None:
    # Long answers and long values: the worst the survey can produce, sent for real.
    message = Message("Выберите", answers(60, value_size=200) + NAV, token="x" * 64)
    client = MaxClient(TOKEN, api_base_url=fake.url, rps=1000, backoff=0.01)
    try:
        for chunk in render.split_text("Вопрос " * 1000):
            await client.send_message(user_id=1, text=chunk, attachments=render.attachments(message))
    finally:
        await client.close()
    assert all(len(m.buttons) <= render.INLINE_MAX_BUTTONS for m in fake.sent.values())
    assert len(fake.sent) >= 2


@pytest.mark.parametrize(
    "body",
    [
        {"text": "я" * 4001},
        {
            "text": "x",
            "attachments": [
                {
                    "type": "inline_keyboard",
                    "payload": {"buttons": [[{"type": "callback", "text": "b", "payload": "p"}] * 8]},
                }
            ],
        },
        {
            "text": "x",
            "attachments": [
                {
                    "type": "inline_keyboard",
                    "payload": {"buttons": [[{"type": "callback", "text": "b", "payload": "p"}]] * 31},
                }
            ],
        },
        {
            "text": "x",
            "attachments": [
                {
                    "type": "inline_keyboard",
                    "payload": {"buttons": [[{"type": "callback", "text": "b" * 129, "payload": "p"}]]},
                }
            ],
        },
        {
            "text": "x",
            "attachments": [
                {
                    "type": "inline_keyboard",
                    "payload": {"buttons": [[{"type": "callback", "text": "", "payload": "p"}]]},
                }
            ],
        },
        {
            "text": "x",
            "attachments": [
                {
                    "type": "inline_keyboard",
                    "payload": {"buttons": [[{"type": "callback", "text": "b", "payload": "p" * 1025}]]},
                }
            ],
        },
    ],
)
async def test_the_fake_server_refuses_what_max_documents_as_too_big(
    fake: FakeMax, body: dict[str, object]
) -> None:
    # Without this, «accepted by the fake» above would prove nothing.
    client = MaxClient(TOKEN, api_base_url=fake.url, rps=1000, backoff=0.01)
    try:
        with pytest.raises(MaxError) as caught:
            await client.call("POST", "/messages", {"user_id": 1}, body)
        assert caught.value.status == 400 and fake.sent == {}
    finally:
        await client.close()
