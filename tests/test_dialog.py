"""The typed dialog state reads what is stored in respondents.dialog and writes the same JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.core import texts
from bot.core.conversation import Conversation
from bot.core.dialog import Dialog, Phase
from storage import repository as repo
from storage.schema import respondents
from storage.store import Storage
from tests.chat import Chat

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Every shape the conversation has written to respondents.dialog, as it was stored.
STORED_SHAPES = [
    {"phase": "idle"},
    {"phase": "survey", "session": 7, "page": 0},
    {"phase": "survey", "session": 7, "page": 3},
    {"phase": "resume", "session": 7, "payload": ""},
    {"phase": "resume", "session": 7, "payload": "k3Yx_9"},
    {"phase": "consent", "session": 7},
]


@pytest.mark.parametrize("stored", STORED_SHAPES)
def test_a_stored_dialog_round_trips_unchanged(stored: dict[str, object]) -> None:
    assert Dialog.from_json(stored).to_json() == stored


def test_stored_shapes_load_as_their_phase() -> None:
    assert Dialog.from_json({"phase": "survey", "session": 7, "page": 3}) == Dialog.survey(7, page=3)
    assert Dialog.from_json({"phase": "resume", "session": 7, "payload": "k"}) == Dialog.resume(7, "k")
    assert Dialog.from_json({"phase": "consent", "session": 7}) == Dialog.consent(7)
    assert Dialog.from_json({"phase": "idle"}) == Dialog.idle()


def test_a_new_respondent_and_an_unknown_phase_are_idle() -> None:
    assert Dialog.from_json({}).phase == Phase.IDLE
    assert Dialog.from_json({"phase": "elsewhere", "session": 7}).phase == Phase.IDLE


async def test_an_old_survey_dialog_in_the_database_goes_on(
    conversation: Conversation, storage: Storage
) -> None:
    """A respondent whose dialog was written before the typed state, on page 2 of the districts,
    sees that page and the stored JSON keeps its shape."""
    chat = Chat(conversation)
    await chat.start()
    await chat.answer_all(["Субсидия", "Телефон", "Управление инвестиционной политики"])
    async with storage.transaction() as conn:
        respondent = await repo.get_respondent(conn, "test", "u1")
        assert respondent is not None and respondent.dialog["phase"] == "survey"
        session = respondent.dialog["session"]
        await repo.set_dialog(conn, respondent.id, {"phase": "survey", "session": session, "page": 1})
    result = await chat.text("нечто, чего нет в списке районов")
    assert "Страница 2 из 5" in result.messages[-1].text
    async with storage.transaction() as conn:
        row = (await conn.execute(select(respondents.c.dialog))).one()
    assert row.dialog == {"phase": "survey", "session": session, "page": 1}
    result = await chat.text("стоп")
    assert result.messages[0].text == texts.NOTHING_TO_WITHDRAW and result.phase == Phase.SURVEY
