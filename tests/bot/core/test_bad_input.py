"""Bad input of every kind (hypothesis): never a crash, never a half-written questionnaire,
always a clear reply or message."""

from __future__ import annotations

import asyncio
import re
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from bot.config import ConfigError, load_settings
from bot.core.conversation import Conversation, Layout
from bot.core.messages import Action, Incoming
from reports.errors import ReportError
from reports.paper import import_paper, parse_form_date
from storage.schema import answers, paper_forms, survey_sessions
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
        except ReportError as exc:
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


PAPER_COLUMNS = ["11", "12", "13", "14", "15", "17", "19", "22", "21", "23", "23_text", "24", "24_text",
                 "25", "25_text", "26", "26_text", "27", "27_text", "28", "28_text", "29", "29_text", "18"]  # fmt: skip
PAPER_NOW = datetime(2025, 10, 2, 3, 0, tzinfo=UTC)
CHOICE_CELL = st.sampled_from(["", "", "1", "1", "2", "4", "3", "99", "x", "Другое: своё"])
SCORE_CELL = st.sampled_from(["", "", "1", "2", "3", "4", "5", "5", "0", "6", "пять"])
TEXT_CELL = st.one_of(st.sampled_from(["", "", "", "Долго", "=1+1"]), st.text(max_size=30))
DATE_CELL = st.sampled_from(
    ["", "15.08.2025", "15.08.2025", "2025-09-01 10:00", "23.09.2024", "22.09.2024", "01.01.0001",
     "0001-01-01 03:00", "31.12.9999", "03.10.2025", "02.10.2025", "02.10.2025 10:30", "вчера", "1990-05-05"]
)  # fmt: skip


def paper_cell(column: str) -> st.SearchStrategy[str]:
    if column == "18":
        return DATE_CELL
    if column.endswith("_text"):
        return TEXT_CELL
    if column in ("23", "24", "25", "26", "27", "28", "29"):
        return SCORE_CELL
    return CHOICE_CELL


PAPER_FORMS = (  # an in-person and an online form, answered in full
    ("1", "1", "1", "1", "1", "1", "1", "", "1", "5", "", "4", "", "5", "", "5", "", "", "", "", "", "5", "", "15.08.2025"),
    ("2", "2", "1", "31", "4", "2", "2", "2", "2", "2", "Долго", "4", "", "", "", "", "", "3", "", "4", "", "5", "", "2025-09-01 10:00"),
)  # fmt: skip


def _changed(form: tuple[str, ...], changes: list[tuple[int, str]]) -> tuple[str, ...]:
    cells = list(form)
    for index, value in changes:
        cells[index] = value
    return tuple(cells)


# A whole form with a few cells blanked or replaced (so many files are valid), or any cells at all.
PAPER_FORM = st.builds(
    _changed,
    st.sampled_from(PAPER_FORMS),
    st.lists(
        st.integers(0, len(PAPER_COLUMNS) - 1).flatmap(
            lambda i: st.tuples(
                st.just(i),
                st.sampled_from(["", ""]) | paper_cell(PAPER_COLUMNS[i]) if i < 23 else DATE_CELL,
            )
        ),
        max_size=2,
    ),
)
PAPER_ROW = st.one_of(*[PAPER_FORM] * 6, st.tuples(*[paper_cell(column) for column in PAPER_COLUMNS]))
PAPER_MESSAGE = re.compile(r"^  строка \d+(, столбец [^:]+)?: \S")


@SLOW
@given(
    rows=st.lists(PAPER_ROW, min_size=1, max_size=3),
    repeat=st.lists(st.integers(min_value=0, max_value=5), max_size=2),
    date=st.sampled_from([None, None, "01.09.2025"]),
)
def test_paper_cells_blanks_dates_and_repeats_import_whole_or_store_nothing(
    sqlite_storage: Storage,
    questionnaire: Questionnaire,
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, ...]],
    repeat: list[int],
    date: str | None,
) -> None:
    """Any mix of blank, filled, wrong and misdated cells, with rows repeated within the file and
    the whole file imported twice: an import stores all its rows or, with a line/column message
    per problem, nothing; a second import of stored forms is refused unless allowed."""
    rows = rows + [rows[i % len(rows)] for i in repeat]
    path = tmp_path_factory.mktemp("paper") / "paper.csv"
    cleaned = [[c.replace(";", ",").replace("\n", " ").replace("\r", " ").replace('"', "'") for c in row]
               for row in rows]  # fmt: skip
    lines = [";".join(PAPER_COLUMNS)] + [";".join(row) for row in cleaned]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    zone = ZoneInfo("Asia/Novosibirsk")
    filled_at = None if date is None else datetime(2025, 9, 1, 5, tzinfo=UTC)

    async def counts() -> tuple[int, int]:
        async with sqlite_storage.transaction() as conn:
            sessions = (await conn.execute(select(func.count()).select_from(survey_sessions))).scalar_one()
            prints = (await conn.execute(select(func.count()).select_from(paper_forms))).scalar_one()
        return int(sessions), int(prints)

    async def attempt(allow: bool) -> int | None:
        before = await counts()
        try:
            imported = await import_paper(
                sqlite_storage,
                questionnaire,
                path,
                zone,
                PAPER_NOW,
                filled_at=filled_at,
                allow_duplicates=allow,
            )
        except ReportError as exc:
            message = str(exc)
            assert "Traceback" not in message
            listed = [line for line in message.splitlines()[1:] if line.startswith("  ")]
            assert message.startswith("В файле") or listed
            assert all(PAPER_MESSAGE.match(line) for line in listed), message
            assert await counts() == before  # nothing stored
            event("refused")
            return None
        assert imported == sum(1 for row in cleaned if any(cell.strip() for cell in row))
        event("imported")
        assert await counts() == (before[0] + imported, before[1] + imported)
        return imported

    async def run() -> None:
        async with sqlite_storage.transaction() as conn:  # earlier examples' forms are not repeats
            await conn.execute(delete(paper_forms))
        imported = await attempt(allow=False)
        if imported is None:
            return
        with pytest.raises(ReportError, match=f"Уже импортированных анкет: {imported}\n"):
            await import_paper(sqlite_storage, questionnaire, path, zone, PAPER_NOW, filled_at=filled_at)
        assert await attempt(allow=True) == imported

    asyncio.run(run())


@SLOW
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.builds(
            lambda moment, fmt: moment.strftime(fmt).replace(f"{moment.year}", f"{moment.year:04d}"),
            st.datetimes(timezones=st.none() | st.timezones()),
            st.sampled_from(
                ["%d.%m.%Y", "%Y-%m-%d", "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"]
            ),
        ),
    )
)
def test_any_paper_date_is_within_the_order_and_today_or_a_reason(text: str) -> None:
    zone = ZoneInfo("Asia/Novosibirsk")
    found = parse_form_date(text, zone, PAPER_NOW)
    if isinstance(found, str):
        assert found.startswith(("не удалось разобрать дату", "дата "))
    else:
        assert datetime(2024, 9, 22, 17, tzinfo=UTC) <= found <= datetime(2025, 10, 2, 17, tzinfo=UTC)
