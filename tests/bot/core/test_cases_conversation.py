"""The question after the survey in the channel-neutral conversation (SQLite and PostgreSQL):
asked only with [cases] on and a low score with a difficulty described; once; its answers."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot import defaults
from bot.core import cases as core_cases
from bot.core.cases import CaseTerms
from bot.core.conversation import Conversation, Layout
from bot.core.dialog import Phase
from storage import cases as cases_repo
from storage import repository as repo
from storage.repository import ConsentPurpose
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.bot.telegram.test_staff_reports import LOW_SCORE_SURVEY
from tests.conftest import CONSENT
from tests.fakes.chat import Chat

ON = CaseTerms(True, defaults.CASES_QUESTION, "r1", 5, frozenset(), ZoneInfo("Asia/Novosibirsk"))
# The low-score survey with «Пропустить» typed for the difficulty: a low score, nothing described.
NOT_DESCRIBED = [*LOW_SCORE_SURVEY[:9], "Пропустить", *LOW_SCORE_SURVEY[10:]]
ALL_FIVES = ["1", "2", "2", "4", "1", "2", "1", "1", "5", "5", "5", "5", "5", "нет"]


def chat(storage: Storage, q: Questionnaire, terms: CaseTerms, user: str) -> Chat:
    return Chat(Conversation(storage, q, CONSENT, layout=Layout(page_size=8), cases=terms), user=user)


async def survey(c: Chat, inputs: list[str]) -> str:
    await c.start()
    result = None
    for text in inputs:
        result = await c.text(text)
    assert result is not None
    return result.messages[-1].text


async def test_asked_only_with_cases_on_and_a_difficulty_described(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    assert await survey(chat(storage, questionnaire, CaseTerms.off(), "off"), LOW_SCORE_SURVEY) != ON.question
    assert await survey(chat(storage, questionnaire, ON, "fives"), ALL_FIVES) != ON.question
    assert await survey(chat(storage, questionnaire, ON, "skipped"), NOT_DESCRIBED) != ON.question
    asked = chat(storage, questionnaire, ON, "asked")
    assert await survey(asked, LOW_SCORE_SURVEY) == ON.question
    repeat = await asked.text("может быть")
    assert [m.text for m in repeat.messages] == [
        "Пожалуйста, ответьте «Да» или «Нет» кнопкой или сообщением.",
        ON.question,
    ]
    result = await asked.text("нет")
    assert result.messages[-1].text == core_cases.REFUSED and result.phase == Phase.IDLE
    async with storage.transaction() as conn:
        person = await repo.get_respondent(conn, "test", "asked")
        assert person is not None
        latest = await repo.latest_consent(conn, person.id, ConsentPurpose.REPLY)
        assert latest is not None and not latest.granted and latest.text_version == "r1"
        assert await cases_repo.case_for_reply(conn, person.id) is None
    # Asked once: a «да» now is no answer to it, and opens nothing.
    assert (await asked.text("да")).phase == Phase.IDLE
    async with storage.transaction() as conn:
        assert await cases_repo.list_cases(conn, unit=None) == []


async def test_stop_answers_the_question_with_a_no(storage: Storage, questionnaire: Questionnaire) -> None:
    c = chat(storage, questionnaire, ON, "stopper")
    assert await survey(c, LOW_SCORE_SURVEY) == ON.question
    result = await c.text("/stop")
    assert result.messages[-1].text.startswith(core_cases.REFUSED) and result.phase == Phase.IDLE
    async with storage.transaction() as conn:
        person = await repo.get_respondent(conn, "test", "stopper")
        assert person is not None
        assert not await cases_repo.reply_allowed(conn, person.id)
        assert await cases_repo.case_for_reply(conn, person.id) is None
