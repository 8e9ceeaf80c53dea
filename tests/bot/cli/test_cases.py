"""`otklik cases list|show|export` on SQLite and PostgreSQL: pseudonymous, the export private."""

from __future__ import annotations

import csv
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli.main import main
from storage import cases as cases_repo
from storage.cases import Direction
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import Database
from tests.reports.data import B
from tests.storage.cases_data import questionnaire_of

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _schema(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    if database.schema:
        monkeypatch.setenv("OTKLIK_DATABASE__PG_SCHEMA", database.schema)


async def test_list_show_and_a_private_pseudonymous_export(
    database: Database,
    storage: Storage,
    questionnaire: Questionnaire,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    respondent, session = await questionnaire_of(storage, questionnaire, "5550123", B, T0)
    async with storage.transaction() as conn:
        await cases_repo.record_reply_consent(
            conn, respondent, agreed=True, channel="telegram", text_version="1", now=T0
        )
        case = await cases_repo.open_case(
            conn, session, unit="1", channel="telegram", now=T0, deadline_at=T0 + timedelta(days=3)
        )
        await cases_repo.add_message(
            conn,
            case.number,
            direction=Direction.TO_RESPONDENT,
            text="Ответ =1+1",
            now=T0,
            staff="telegram:903",
        )
        pseudonym = await cases_repo.pseudonym_of(conn, case.number)
    await storage.close()
    url = ["--database", database.url]

    assert await _main([*url, "cases", "list"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith(f"№ {case.number} · ") and "открыто, ответа еще нет" in listing
    assert await _main([*url, "cases", "list", "--unit", "2"]) == 0
    assert capsys.readouterr().out.strip() == "Обращений нет."
    assert await _main([*url, "cases", "show", str(case.number)]) == 0
    shown = capsys.readouterr().out
    assert "Долго искал информацию" in shown and "Подразделение [pending]: Ответ =1+1" in shown
    out = tmp_path / "cases.csv"
    assert await _main([*url, "cases", "export", "--out", str(out)]) == 0
    capsys.readouterr()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0][:3] == ["номер", "респондент (псевдоним)", "подразделение"]
    assert rows[1][0] == str(case.number) and rows[1][1] == pseudonym
    text = out.read_text(encoding="utf-8")
    assert "5550123" not in text and "Имя 5550123" not in text and "903" not in text
    assert await _main([*url, "cases", "show", "999"]) == 2


async def _main(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)
