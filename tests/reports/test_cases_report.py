"""The responsiveness section of the quarterly report: hand-computed figures on known cases
(SQLite and PostgreSQL), every cell of the sheet, and nothing personal in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from reports.analysis import MARKING, write_report
from reports.period import quarter_period
from storage import cases
from storage.cases import ClosedBy, Direction
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.reports.data import B, C, D, E
from tests.storage.cases_data import questionnaire_of

NSK = ZoneInfo("Asia/Novosibirsk")
NOW = datetime(2025, 10, 15, tzinfo=UTC)  # when the report is made
UNIT1 = "Управление развития малого и среднего предпринимательства"
UNIT2 = "Управление инвестиционной политики"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Planned:
    user: str
    inputs: list[str]
    unit: str
    opened: str
    deadline: str
    answered: str | None = None
    closed: tuple[str, ClosedBy] | None = None


# Deadlines are local midnights (17:00 UTC). Hours to the first answer in the comments.
PLAN = [
    Planned(
        "c1", B, "1", "2025-07-01T03:00", "2025-07-04T17:00", answered="2025-07-02T03:00"
    ),  # 24 h, in time
    Planned("c2", D, "1", "2025-08-04T03:00", "2025-08-07T17:00", answered="2025-08-08T03:00"),  # 96 h, late
    Planned("c3", C, "1", "2025-09-01T03:00", "2025-09-04T17:00"),  # no answer, deadline passed
    Planned("c4", E, "1", "2025-09-29T03:00", "2025-10-20T17:00"),  # no answer, deadline ahead of NOW
    Planned(
        "c5", B, "1", "2025-09-10T03:00", "2025-09-12T17:00", closed=("2025-09-11T03:00", ClosedBy.WITHDRAWAL)
    ),
    Planned(  # 6 h, in time
        "c6", D, "1", "2025-07-15T03:00", "2025-07-18T17:00", answered="2025-07-15T09:00",
        closed=("2025-07-16T03:00", ClosedBy.STAFF),
    ),
    Planned("c7", B, "2", "2025-08-20T03:00", "2025-08-22T17:00", answered="2025-08-21T05:00"),  # 26 h
    Planned("c8", D, "1", "2025-06-30T13:00", "2025-07-03T17:00"),  # 20:00 on 30 June local: Q2
    Planned("c9", B, "1", "2025-09-30T17:10", "2025-10-03T17:00"),  # 00:10 on 1 October local: Q4
]  # fmt: skip

# Subdivision, opened, in time, late, without answer, in progress, withdrawn, share %, median h.
UNIT1_ROW = [UNIT1, 6, 2, 1, 1, 1, 1, 50.0, 24.0]  # share 2/4; median of 6, 24, 96
UNIT2_ROW = [UNIT2, 1, 1, 0, 0, 0, 0, 100.0, 26.0]
TOTAL_ROW = ["Итого", 7, 3, 1, 1, 1, 1, 60.0, 25.0]  # 3/5; median of 6, 24, 26, 96
# B: 11 15 17; C: 12; D: 11 12 13; E: 17 (the follow-ups with a difficulty text).
DIFFICULTIES_UNIT1 = [
    (UNIT1, "11(23)", 4, "Доступность информации"),  # c1 c2 c5 c6
    (UNIT1, "12(24)", 3, "Документы и заявка"),  # c2 c3 c6
    (UNIT1, "13(25)", 2, "Вежливость и компетентность"),  # c2 c6
    (UNIT1, "15(27)", 2, "Удобство интерфейса"),  # c1 c5
    (UNIT1, "17(29)", 3, "Сроки"),  # c1 c4 c5
]
DIFFICULTIES_UNIT2 = [
    (UNIT2, "11(23)", 1, "Доступность информации"),
    (UNIT2, "15(27)", 1, "Удобство интерфейса"),
    (UNIT2, "17(29)", 1, "Сроки"),
]


async def enter_cases(storage: Storage, q: Questionnaire) -> None:
    for plan in PLAN:
        opened = utc(plan.opened)
        respondent, session = await questionnaire_of(storage, q, plan.user, plan.inputs, opened)
        async with storage.transaction() as conn:
            await cases.record_reply_consent(
                conn, respondent, agreed=True, channel="telegram", text_version="r1", now=opened
            )
            case = await cases.open_case(
                conn, session, unit=plan.unit, channel="telegram", now=opened, deadline_at=utc(plan.deadline)
            )
            if plan.answered:
                answered = utc(plan.answered)
                await cases.add_message(
                    conn,
                    case.number,
                    direction=Direction.TO_RESPONDENT,
                    text="Ответ",
                    now=answered,
                    staff="tg:1",
                )
                assert await cases.mark_answered(conn, case.number, answered)
            if plan.closed:
                at, by = plan.closed
                if by == ClosedBy.WITHDRAWAL:
                    assert await cases.end_reply_consent(conn, respondent, channel="telegram", now=utc(at))
                else:
                    assert await cases.close_case(conn, case.number, by=by, now=utc(at), staff="tg:1")


def sheet_rows(path: Path) -> tuple[list[list[object]], list[tuple[object, ...]], list[str]]:
    sheet = load_workbook(path)["Реагирование"]
    assert sheet["A1"].value == MARKING
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=4)]
    assert rows[0][:2] == ["Структурное подразделение", "Открыто обращений"]
    table = []
    for row in rows[1:]:
        if not isinstance(row[1], int):
            break
        table.append(row[:9])
    start = next(i for i, row in enumerate(rows) if row[:2] == ["Структурное подразделение", "Вопрос"])
    difficulties = [tuple(row[:4]) for row in rows[start + 1 :] if row[0] is not None]
    texts = [str(cell) for row in rows for cell in row if cell is not None]
    return table, difficulties, texts


async def test_one_unit_hand_computed(storage: Storage, questionnaire: Questionnaire, tmp_path: Path) -> None:
    await enter_cases(storage, questionnaire)
    out = tmp_path / "report.xlsx"
    analysis = await write_report(
        storage, questionnaire, period=quarter_period("2025Q3", NSK), unit="1", unit_label=UNIT1,
        title="3 квартал 2025 г.", out=out, now=NOW,
    )  # fmt: skip
    assert analysis.responsiveness is not None
    table, difficulties, texts = sheet_rows(out)
    assert table == [UNIT1_ROW]
    assert difficulties == DIFFICULTIES_UNIT1
    # Pseudonymous: no messenger id, name or text of the respondents or of the answers.
    for secret in ("c1", "Имя", "Разъяснение", "Долго искал информацию", "Грубили"):
        assert not any(secret in text for text in texts), secret


async def test_all_units_with_a_total(storage: Storage, questionnaire: Questionnaire, tmp_path: Path) -> None:
    await enter_cases(storage, questionnaire)
    out = tmp_path / "all.xlsx"
    await write_report(
        storage, questionnaire, period=quarter_period("2025Q3", NSK), unit=None,
        unit_label="все структурные подразделения", title="3 квартал 2025 г.", out=out, now=NOW,
    )  # fmt: skip
    table, difficulties, _ = sheet_rows(out)
    assert table == [UNIT1_ROW, UNIT2_ROW, TOTAL_ROW]
    assert difficulties == DIFFICULTIES_UNIT1 + DIFFICULTIES_UNIT2


async def test_a_case_still_in_progress_is_decided_by_the_report_time(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await enter_cases(storage, questionnaire)
    out = tmp_path / "later.xlsx"
    later = datetime(2025, 10, 21, tzinfo=UTC)  # c4's deadline has passed by now
    await write_report(
        storage, questionnaire, period=quarter_period("2025Q3", NSK), unit="1", unit_label=UNIT1,
        title="3 квартал 2025 г.", out=out, now=later,
    )  # fmt: skip
    table, _, _ = sheet_rows(out)
    assert table == [[UNIT1, 6, 2, 1, 2, 0, 1, 40.0, 24.0]]


async def test_a_quarter_without_cases(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    out = tmp_path / "empty.xlsx"
    await write_report(
        storage, questionnaire, period=quarter_period("2025Q3", NSK), unit=None, unit_label="все",
        title="3 квартал 2025 г.", out=out, now=NOW,
    )  # fmt: skip
    sheet = load_workbook(out)["Реагирование"]
    assert sheet["A5"].value == "Обращений за период нет"
