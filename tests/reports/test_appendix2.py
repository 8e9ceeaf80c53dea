"""Appendix 2: the fixture quarter and staff-entered totals in, every cell of the table out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.config import ProcessGroup, ReportsConfig
from reports.appendix2 import (
    HEADER,
    OTHER_GROUP,
    process_groups,
    resolve_channel,
    resolve_group,
    write_appendix2,
)
from reports.errors import ReportError
from reports.period import quarter_period
from storage import reports_repo
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.reports.data import fill_quarter

NSK = ZoneInfo("Asia/Novosibirsk")
NOW = datetime(2025, 10, 5, tzinfo=UTC)
PERSONAL = "Личный приём в здании министерства"
SITE = "Официальный сайт министерства"


async def set_total(storage: Storage, group: str, channel: str, total: int, quarter: str = "2025Q3") -> None:
    async with storage.transaction() as conn:
        await reports_repo.set_client_total(
            conn,
            quarter=quarter,
            unit="1",
            process_group=group,
            channel=channel,
            total=total,
            now=NOW,
            by="t",
        )


async def test_default_groups_every_cell(
    storage: Storage, questionnaire: Questionnaire, tmp_path: Path
) -> None:
    await fill_quarter(storage, questionnaire)
    await set_total(storage, PERSONAL, "online", 30)
    await set_total(storage, PERSONAL, "online", 40)  # corrected: the last value counts
    await set_total(storage, PERSONAL, "offline", 8)
    await set_total(storage, SITE, "online", 3)
    await set_total(storage, SITE, "offline", 5, quarter="2025Q2")  # another quarter: not used
    groups = process_groups(questionnaire, [])
    out = tmp_path / "appendix2.xlsx"
    rows = await write_appendix2(
        storage,
        questionnaire,
        groups=groups,
        quarter="2025Q3",
        period=quarter_period("2025Q3", NSK),
        unit="1",
        unit_label="Управление развития малого и среднего предпринимательства",
        out=out,
    )
    assert len(rows) == 18  # nine points x two channels, no «other» answers
    sheet = load_workbook(out)["Приложение 2"]
    assert sheet["A4"].value == "ИНФОРМАЦИЯ"
    assert sheet["A6"].value == "Управление развития малого и среднего предпринимательства"
    assert sheet["A7"].value == "(структурное подразделение министерства)"
    assert sheet["A8"].value == "за период 07.2025 - 09.2025"
    assert [c.value for c in sheet[10]][:7] == HEADER
    table = [[c.value for c in row] for row in sheet.iter_rows(min_row=11, max_row=28, max_col=7)]
    # By 5(15): A, C (chat) and E (paper) in person, all satisfied, D in person, not satisfied:
    # offline, persons a, c and E; B online on the site (not satisfied).
    assert table[:4] == [
        [PERSONAL, "онлайн", 40, 0, 0.0, 0, "—"],
        [PERSONAL, "оффлайн", 8, 3, 37.5, 4, 75.0],
        [SITE, "онлайн", 3, 1, 33.3, 1, 0.0],
        [SITE, "оффлайн", "нет данных", 0, "—", 0, "—"],
    ]
    for row in table[4:]:
        assert row[1:] in (
            ["онлайн", "нет данных", 0, "—", 0, "—"],
            ["оффлайн", "нет данных", 0, "—", 0, "—"],
        )
    assert table[4][0] == "Электронная почта"
    after = [sheet.cell(r, 1).value for r in range(30, 33)]
    assert after == [
        "Руководитель структурного подразделения _____",
        "(подпись) _____",
        "(расшифровка подписи)",
    ]


async def test_configured_groups(storage: Storage, questionnaire: Questionnaire, tmp_path: Path) -> None:
    await fill_quarter(storage, questionnaire)
    groups = process_groups(
        questionnaire,
        ReportsConfig(
            process_groups=[
                ProcessGroup(name="Очные обращения", points=["1"]),
                ProcessGroup(name="Электронные каналы", points=["2", "3"]),
            ]
        ).group_pairs(),
    )
    assert resolve_group(groups, "очные ОБРАЩЕНИЯ") == "Очные обращения"
    assert resolve_group(groups, OTHER_GROUP) == OTHER_GROUP
    with pytest.raises(ReportError, match="нет группы процессов"):
        resolve_group(groups, "Телефон")
    await set_total(storage, "Электронные каналы", "online", 0)
    rows = await write_appendix2(
        storage,
        questionnaire,
        groups=groups,
        quarter="2025Q3",
        period=quarter_period("2025Q3", NSK),
        unit="1",
        unit_label="x",
        out=tmp_path / "a2.xlsx",
    )
    assert [row.cells() for row in rows] == [
        ["Очные обращения", "онлайн", "нет данных", 0, "—", 0, "—"],
        ["Очные обращения", "оффлайн", "нет данных", 3, "—", 4, 75.0],
        ["Электронные каналы", "онлайн", 0, 1, "—", 1, 0.0],  # a zero total: share not computed
        ["Электронные каналы", "оффлайн", "нет данных", 0, "—", 0, "—"],
    ]


def test_bad_configuration_and_channel(questionnaire: Questionnaire) -> None:
    with pytest.raises(ReportError, match="нет точек взаимодействия с кодами 42"):
        process_groups(questionnaire, [("x", ["1", "42"])])
    with pytest.raises(ReportError, match="входит в группы «a» и «b»"):
        process_groups(questionnaire, [("a", ["1"]), ("b", ["2", "1"])])
    assert resolve_channel("Онлайн") == "online"
    assert resolve_channel("offline") == "offline"
    with pytest.raises(ReportError, match="online"):
        resolve_channel("почта")
