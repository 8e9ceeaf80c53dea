"""Appendix 2 by the client's channel of interaction (question 5(15)), the all-units workbook,
shares above 100 % flagged; hand-computed figures on SQLite and PostgreSQL.

On top of the fixture quarter (data.py) the quarter gets three more questionnaires of unit 1:
Q — a visitor at the reception who scanned the QR code (chat, source qr, 5(15) = 1, satisfied),
P — the paper form of an applicant on the site (paper, point 2, 5(15) = 2(4), satisfied),
N — a paper form with 5(15) left blank (point 1, not satisfied).
By 5(15): Личный приём offline = A C D E Q (persons a, c, E, q; satisfied A C E Q of 5),
Личный приём «канал не указан» = N, сайт online = B P (persons b, P; satisfied P of 2).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import select

from bot.core.conversation import Conversation
from reports.analysis import write_report
from reports.appendix2 import (
    HEADING,
    HEADING_TO,
    OVER_NOTE,
    SUBTITLE,
    SUMMARY_SHEET,
    TITLE,
    process_groups,
    write_appendix2,
    write_appendix2_all,
)
from reports.period import quarter_period
from reports.qr import create_key
from storage import repository as repo
from storage.schema import survey_sessions
from storage.store import Storage
from survey_flow import engine
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT
from tests.fakes.chat import Chat
from tests.helpers import walk
from tests.reports.data import fill_quarter, utc
from tests.reports.test_appendix2 import PERSONAL, SITE, set_total

NSK = ZoneInfo("Asia/Novosibirsk")
UNIT1 = "Управление развития малого и среднего предпринимательства"
# 1 4 5 6 8 9 11 12 13 14 17: point 2 and unit 3 come from the QR key.
QR_VISITOR = ["1", "1", "1", "1", "1", "1", "5", "5", "5", "5", "5"]
# 1 2 3 4 5 6 8 9 11 12 15 16 17: an applicant on the site (5 = 2), satisfied.
SITE_APPLICANT = ["1", "2", "1", "1", "2", "2", "1", "1", "4", "4", "4", "4", "4"]
# In person, then 5(15) is dropped: the form came in with that answer blank.
BLANK_CHANNEL = ["1", "1", "1", "1", "1", "2", "1", "2", "1", "Ничего", "5", "5", "5", "5"]


async def qr_visitor(storage: Storage, q: Questionnaire) -> int:
    when = utc("2025-08-05T04:00:00")
    key = await create_key(storage, q, {"2": "1", "3": "1"}, "qr", "Приемная", when)
    chat = Chat(Conversation(storage, q, CONSENT, clock=lambda: when), user="q", channel="telegram")
    await chat.start(key)
    for text in QR_VISITOR:
        result = await chat.text(text)
        assert result.answered is not None, (text, result)
    async with storage.transaction() as conn:
        row = (
            await conn.execute(
                select(survey_sessions.c.id, survey_sessions.c.source, survey_sessions.c.status).where(
                    survey_sessions.c.respondent_id == result.respondent_id
                )
            )
        ).one()
    assert (row.source, row.status) == ("qr", repo.COMPLETED)
    return int(row.id)


async def paper_form(
    storage: Storage, q: Questionnaire, inputs: list[str], when: datetime, blank: str = ""
) -> None:
    answers = engine.finalize(q, walk(q, inputs), when)
    answers.pop(blank, None)
    async with storage.transaction() as conn:
        session = await repo.create_session(
            conn,
            q,
            respondent_id=None,
            channel="offline",
            source="paper",
            source_ref=None,
            prefill={},
            now=when,
        )
        await repo.sync_answers(conn, q, session.id, {}, answers, when)
        await repo.finish_session(conn, session.id, repo.COMPLETED, when)


async def fill(storage: Storage, q: Questionnaire) -> None:
    await fill_quarter(storage, q)
    await qr_visitor(storage, q)
    await paper_form(storage, q, SITE_APPLICANT, utc("2025-08-06T04:00:00"))
    await paper_form(storage, q, BLANK_CHANNEL, utc("2025-08-07T04:00:00"), blank="5")
    await set_total(storage, PERSONAL, "offline", 8)
    await set_total(storage, PERSONAL, "online", 2)
    await set_total(storage, SITE, "online", 1)  # fewer than the two who answered: flagged


EXPECTED_UNIT1 = [
    [PERSONAL, "онлайн", 2, 0, 0.0, 0, "—"],
    [PERSONAL, "оффлайн", 8, 4, 50.0, 5, 80.0],
    [PERSONAL, "канал не указан", "—", 1, "—", 1, 0.0],
    [SITE, "онлайн", 1, 2, 200.0, 2, 50.0],
    [SITE, "оффлайн", "нет данных", 0, "—", 0, "—"],
]


async def test_channel_is_the_answer_to_5_15_for_every_source(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill(storage, questionnaire)
    out = tmp_path / "a2.xlsx"
    rows = await write_appendix2(
        storage,
        questionnaire,
        groups=process_groups(questionnaire, []),
        quarter="2025Q3",
        period=quarter_period("2025Q3", NSK),
        unit="1",
        unit_label=UNIT1,
        out=out,
    )
    assert [row.cells() for row in rows[:5]] == EXPECTED_UNIT1
    assert len(rows) == 19  # nine points x online/offline, and one «канал не указан» line
    assert [row.over for row in rows[:5]] == [False, False, False, True, False]
    sheet = load_workbook(out)["Приложение 2"]
    table = [[c.value for c in row] for row in sheet.iter_rows(min_row=11, max_row=15, max_col=7)]
    assert table == EXPECTED_UNIT1
    # The share above 100 % is shown and flagged in the cell beside the table.
    assert sheet["H14"].value == OVER_NOTE
    assert [sheet.cell(r, 8).value for r in (11, 12, 13, 15)] == [None] * 4


async def test_all_units_workbook_and_summary(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill(storage, questionnaire)
    # A paper form with 3(13) blank belongs to no unit: counted apart, in no sheet.
    await paper_form(storage, questionnaire, SITE_APPLICANT, utc("2025-08-08T04:00:00"), blank="3")
    # Unit 2 (F: telegram f, point 1, 5(15) = 2(4), satisfied) enters its own online total.
    async with storage.transaction() as conn:
        from storage import reports_repo

        await reports_repo.set_client_total(
            conn, quarter="2025Q3", unit="2", process_group=PERSONAL, channel="online", total=4,
            now=utc("2025-10-01T00:00:00"), by="t",
        )  # fmt: skip
    out = tmp_path / "all.xlsx"
    done = await write_appendix2_all(
        storage,
        questionnaire,
        groups=process_groups(questionnaire, []),
        quarter="2025Q3",
        period=quarter_period("2025Q3", NSK),
        out=out,
    )
    book = load_workbook(out)
    assert book.sheetnames == [  # Excel allows 31 characters: cut at a word
        SUMMARY_SHEET,
        "Управление развития малого и…",
        "Управление инвестиционной…",
        "Управление внешнеэкономической…",
        "Управление развития туризма",
        "Управление стратегического…",
    ]
    unit1 = book.worksheets[1]
    assert unit1["A6"].value == UNIT1
    assert [
        [c.value for c in r] for r in unit1.iter_rows(min_row=11, max_row=15, max_col=7)
    ] == EXPECTED_UNIT1
    unit2 = book.worksheets[2]
    assert [c.value for c in unit2[11]][:7] == [PERSONAL, "онлайн", 4, 1, 25.0, 1, 100.0]
    summary = book[SUMMARY_SHEET]
    assert summary["A6"].value == "все структурные подразделения (сводно)"
    assert [[c.value for c in r] for r in summary.iter_rows(min_row=11, max_row=15, max_col=7)] == [
        [PERSONAL, "онлайн", 6, 1, 16.7, 1, 100.0],  # totals 2 + 4, F only
        [PERSONAL, "оффлайн", 8, 4, 50.0, 5, 80.0],
        [PERSONAL, "канал не указан", "—", 1, "—", 1, 0.0],
        [SITE, "онлайн", 1, 2, 200.0, 2, 50.0],
        [SITE, "оффлайн", "нет данных", 0, "—", 0, "—"],
    ]
    assert summary["H14"].value == OVER_NOTE
    assert done.without_unit == 1
    assert [row.cells() for row in done.summary[:5]] == [
        [c.value for c in r] for r in summary.iter_rows(min_row=11, max_row=15, max_col=7)
    ]


async def test_summary_names_units_without_a_total(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill_quarter(storage, questionnaire)
    # A C D (unit 1, point 1, in person) have no total; unit 2 entered 3 offline but nobody came.
    async with storage.transaction() as conn:
        from storage import reports_repo

        await reports_repo.set_client_total(
            conn, quarter="2025Q3", unit="2", process_group=PERSONAL, channel="offline", total=3,
            now=utc("2025-10-01T00:00:00"), by="t",
        )  # fmt: skip
    done = await write_appendix2_all(
        storage,
        questionnaire,
        groups=process_groups(questionnaire, []),
        quarter="2025Q3",
        period=quarter_period("2025Q3", NSK),
        out=tmp_path / "all.xlsx",
    )
    assert done.without_unit == 0
    offline = done.summary[1]
    assert offline.cells() == [PERSONAL, "оффлайн", 3, 3, 100.0, 4, 75.0]
    assert offline.note() == f"Число клиентов не внесено: {UNIT1}"


async def test_form_heading_and_print_layout(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill(storage, questionnaire)
    out = tmp_path / "a2.xlsx"
    rows = await write_appendix2(
        storage,
        questionnaire,
        groups=process_groups(questionnaire, []),
        quarter="2025Q3",
        period=quarter_period("2025Q3", NSK),
        unit="1",
        unit_label=UNIT1,
        out=out,
    )
    sheet = load_workbook(out)["Приложение 2"]
    assert (sheet["E1"].value, sheet["E2"].value) == (HEADING, HEADING_TO)
    assert HEADING_TO == (
        "к Порядку взаимодействия с внешним клиентом при предоставлении мер государственной поддержки "
        "министерством экономического развития Новосибирской области"
    )
    assert [sheet.cell(r, 1).value for r in range(4, 9)] == [
        TITLE,
        SUBTITLE,
        UNIT1,
        "(структурное подразделение министерства)",
        "за период 07.2025 - 09.2025",
    ]
    end = 11 + len(rows)
    assert [sheet.cell(r, 1).value for r in range(end + 1, end + 4)] == [
        "Руководитель структурного подразделения _____",
        "(подпись) _____",
        "(расшифровка подписи)",
    ]
    assert str(sheet.cell(end + 5, 1).value).startswith("² В соответствии с Перечнем точек взаимодействия")
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.page_setup.paperSize == 9  # A4
    assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.print_title_rows == "$10:$10"
    for r in range(10, end):
        for c in range(1, 8):
            border = sheet.cell(r, c).border
            assert {border.left.style, border.right.style, border.top.style, border.bottom.style} == {"thin"}


async def test_quarterly_report_has_the_appendix2_section(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill(storage, questionnaire)
    out = tmp_path / "report.xlsx"
    await write_report(
        storage,
        questionnaire,
        period=quarter_period("2025Q3", NSK),
        unit="1",
        unit_label=UNIT1,
        title="3 квартал 2025 г.",
        out=out,
        groups=process_groups(questionnaire, []),
        quarter="2025Q3",
    )
    book = load_workbook(out)
    assert "Приложение 2" in book.sheetnames
    sheet = book["Приложение 2"]
    assert sheet["A1"].value == "Для внутреннего пользования, не подлежит опубликованию"
    assert [c.value for c in sheet[4]][:6] == [
        "Группа процессов",
        "Вид канала связи",
        "Клиентов, человек",
        "Оставили обратную связь, человек",
        "Доля оставивших обратную связь, %",
        "Общий уровень удовлетворенности, %",
    ]
    assert [[c.value for c in r] for r in sheet.iter_rows(min_row=5, max_row=9, max_col=6)] == [
        [PERSONAL, "онлайн", 2, 0, 0.0, None],
        [PERSONAL, "оффлайн", 8, 4, 50.0, 80.0],
        [PERSONAL, "канал не указан", None, 1, None, 0.0],
        [SITE, "онлайн", 1, 2, 200.0, 50.0],
        [SITE, "оффлайн", None, 0, None, None],
    ]
    assert sheet["G8"].value == OVER_NOTE
    # All units: the summary of the units' forms.
    await write_report(
        storage,
        questionnaire,
        period=quarter_period("2025Q3", NSK),
        unit=None,
        unit_label="все структурные подразделения",
        title="3 квартал 2025 г.",
        out=out,
        groups=process_groups(questionnaire, []),
        quarter="2025Q3",
    )
    sheet = load_workbook(out)["Приложение 2"]
    assert [c.value for c in sheet[5]][:6] == [PERSONAL, "онлайн", 2, 1, 50.0, 100.0]  # F of unit 2


async def test_letter_and_import_sources_follow_5_15_too(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    from reports.paper import import_paper

    when = utc("2025-11-03T04:00:00")
    # A letter's link (source letter, point 3 «Электронная почта»), answered «Лично в органе власти».
    key = await create_key(storage, questionnaire, {"2": "3", "3": "1"}, "letter", "Письмо", when)
    chat = Chat(Conversation(storage, questionnaire, CONSENT, clock=lambda: when), user="l", channel="vk")
    await chat.start(key)
    for text in QR_VISITOR:
        assert (await chat.text(text)).answered is not None
    # An imported file: one form of the same point with 15 = 4 (online), satisfied.
    sheet = tmp_path / "forms.csv"
    sheet.write_text(
        "11;12;13;14;15;17;18;19;21;23;24;27;28;29\n1;3;1;1;4;2;03.11.2025 10:00;1;1;5;5;5;5;5\n",
        encoding="utf-8",
    )
    assert await import_paper(storage, questionnaire, sheet, NSK, when) == 1
    rows = await write_appendix2(
        storage,
        questionnaire,
        groups=process_groups(questionnaire, []),
        quarter="2025Q4",
        period=quarter_period("2025Q4", NSK),
        unit="1",
        unit_label=UNIT1,
        out=tmp_path / "q4.xlsx",
    )
    assert [row.cells() for row in rows if row.respondents] == [
        ["Электронная почта", "онлайн", "нет данных", 1, "—", 1, 100.0],
        ["Электронная почта", "оффлайн", "нет данных", 1, "—", 1, 100.0],
    ]
