"""Bad input of every kind (hypothesis): never a crash, never a half-written questionnaire,
always a clear reply or message."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import ConfigError, load_settings
from bot.conversation import Conversation, Layout
from bot.errors import UsageError
from bot.messages import Action, Incoming
from reports.paper import import_paper
from storage.schema import answers, survey_sessions
from storage.store import Storage
from survey_flow.loader import QuestionnaireError, load_questionnaire
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT

SLOW = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
SQLISH = st.sampled_from(["'; DROP TABLE answers; --", "1 OR 1=1", '" OR ""="', "%s", "\\x00", "NULL"])
TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), max_size=50),
    st.sampled_from(["🙂" * 500, "а" * 100_000, " ", "\u202e\u200b", "/start", "/stop", "назад"]),
    SQLISH,
)


@pytest.fixture
def sqlite_storage(
    tmp_path_factory: pytest.TempPathFactory, questionnaire: Questionnaire
) -> Iterator[Storage]:
    path = tmp_path_factory.mktemp("bad") / "bad.db"
    storage = asyncio.run(Storage.open(f"sqlite+aiosqlite:///{path}"))
    yield storage
    asyncio.run(storage.close())


@SLOW
@given(events=st.lists(st.tuples(st.sampled_from(["text", "press", "start", "unsupported"]), TEXT, TEXT, TEXT),
                       min_size=1, max_size=25))  # fmt: skip
def test_any_event_sequence_gets_a_reply_and_keeps_answers_consistent(
    tmp_path_factory: pytest.TempPathFactory,
    questionnaire: Questionnaire,
    events: list[tuple[str, str, str, str]],
) -> None:
    async def run() -> None:
        path = tmp_path_factory.mktemp("seq") / "s.db"
        storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
        try:
            conversation = Conversation(storage, questionnaire, CONSENT, layout=Layout(page_size=8))
            for kind, text, token, value in events:
                event = (
                    Incoming(
                        "telegram", "42", "press", token=token[:64], action=Action.ANSWER, value=value[:64]
                    )
                    if kind == "press"
                    else Incoming("telegram", "42", kind, text=text)
                )
                result = await conversation.handle(event)
                assert result.messages or result.notice or result.answered  # always a reply
                for message in result.messages:
                    assert message.text.strip()
            async with storage.transaction() as conn:
                stored = list(await conn.execute(select(answers)))
                sessions = list(await conn.execute(select(survey_sessions)))
            for row in stored:
                assert len(row.followup_text or "") <= 2000 and len(row.value_text) <= 2000
                assert not any(ord(c) < 32 and c not in "\n\t" for c in (row.followup_text or ""))
            assert sum(s.status == "in_progress" for s in sessions) <= 1
        finally:
            await storage.close()

    asyncio.run(run())


@SLOW
@given(
    payload=st.one_of(
        st.text(max_size=200), st.text(alphabet=string.ascii_letters + "-_", max_size=80), SQLISH
    )
)
def test_deep_link_payloads_of_every_shape_start_the_survey(
    sqlite_storage: Storage, questionnaire: Questionnaire, payload: str
) -> None:
    async def run() -> None:
        conversation = Conversation(sqlite_storage, questionnaire, CONSENT)
        user = f"u{abs(hash(payload))}"
        result = await conversation.handle(Incoming("telegram", user, "start", text=payload))
        assert result.messages and result.messages[-1].text.startswith("Вопрос 1 из")

    asyncio.run(run())


@SLOW
@given(body=st.text(max_size=400))
def test_malformed_config_files_give_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, body: str
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(body, encoding="utf-8")
    try:
        load_settings(path, explicit=True)
    except ConfigError as exc:
        message = str(exc)
        assert message and "Traceback" not in message and str(path) in message


@SLOW
@given(body=st.one_of(st.text(max_size=400), st.just("[[questions]]\ncode = 1\n"), st.just("version = 3")))
def test_malformed_questionnaire_files_give_clear_errors(
    tmp_path_factory: pytest.TempPathFactory, body: str
) -> None:
    path = tmp_path_factory.mktemp("q") / "q.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    assert str(caught.value).strip()


@SLOW
@given(cells=st.lists(st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["1", "2", "5", "21", "", "x"])),
                                min_size=1, max_size=20), min_size=1, max_size=8))  # fmt: skip
def test_malformed_paper_imports_change_nothing_or_import_whole(
    sqlite_storage: Storage,
    questionnaire: Questionnaire,
    tmp_path_factory: pytest.TempPathFactory,
    cells: list[list[str]],
) -> None:
    header = [
        "11",
        "12",
        "13",
        "14",
        "15",
        "17",
        "18",
        "19",
        "21",
        "22",
        "23",
        "24",
        "25",
        "26",
        "27",
        "28",
        "29",
    ]
    path = tmp_path_factory.mktemp("paper") / "paper.csv"
    lines = [";".join(header)] + [
        ";".join(c.replace(";", ",").replace("\n", " ") for c in row) for row in cells
    ]
    path.write_text("\n".join(lines), encoding="utf-8")

    async def count() -> int:
        async with sqlite_storage.transaction() as conn:
            return int((await conn.execute(select(func.count()).select_from(survey_sessions))).scalar_one())

    async def run() -> None:
        before = await count()
        try:
            imported = await import_paper(
                sqlite_storage, questionnaire, path, ZoneInfo("Asia/Novosibirsk"), datetime.now(UTC)
            )
        except UsageError as exc:
            assert str(exc).strip()
            assert await count() == before  # all or nothing
            return
        assert await count() == before + imported

    asyncio.run(run())


def test_a_100_kb_message_gets_a_polite_reply_and_stores_nothing(
    sqlite_storage: Storage, questionnaire: Questionnaire
) -> None:
    async def run() -> None:
        conversation = Conversation(sqlite_storage, questionnaire, CONSENT)
        await conversation.handle(Incoming("telegram", "big", "start"))
        result = await conversation.handle(Incoming("telegram", "big", "text", text="ы" * 100_000))
        assert result.messages  # a polite «not recognised», nothing stored for a choice question
        async with sqlite_storage.transaction() as conn:
            assert list(await conn.execute(select(answers))) == []

    asyncio.run(run())
