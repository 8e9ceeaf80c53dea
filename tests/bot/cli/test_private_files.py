"""Files with personal data are created 0600 whatever the umask: the SQLite database, its -wal and
-shm files, `otklik backup` copies and exports."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.cli.main import main
from reports.export import export_file
from reports.period import date_range
from storage import repository as repo
from storage.schema import respondents
from storage.store import Storage
from survey_flow.model import Questionnaire


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


async def _write_someone(storage: Storage) -> None:
    async with storage.transaction() as conn:
        await repo.get_or_create_respondent(conn, "telegram", "42", datetime.now(UTC), name="Анна")


async def test_database_wal_and_shm_are_private(umask: int, tmp_path: Path) -> None:
    path = tmp_path / "data" / "otklik.db"
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    try:
        await _write_someone(storage)
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)  # WAL mode: both exist while the database is open
        assert {f.name: oct(mode(f)) for f in files} == {f.name: "0o600" for f in files}
        async with storage.transaction() as conn:
            assert (await conn.execute(select(respondents.c.name))).scalar_one() == "Анна"
    finally:
        await storage.close()
    assert mode(path) == 0o600


async def test_export_is_private(umask: int, tmp_path: Path, questionnaire: Questionnaire) -> None:
    path = tmp_path / "otklik.db"
    url = f"sqlite+aiosqlite:///{path}"
    storage = await Storage.open(url)
    try:
        await _write_someone(storage)
        for fmt in ("csv", "xlsx"):
            out = tmp_path / f"export.{fmt}"
            await export_file(
                storage, questionnaire, period=date_range(None, None, ZoneInfo("UTC")), unit=None,
                out=out, fmt=fmt, with_contacts=True,  # type: ignore[arg-type]
            )  # fmt: skip
            assert mode(out) == 0o600, fmt
    finally:
        await storage.close()


async def test_backup_is_private(umask: int, tmp_path: Path) -> None:
    path = tmp_path / "otklik.db"
    url = f"sqlite+aiosqlite:///{path}"
    storage = await Storage.open(url)
    try:
        await _write_someone(storage)
    finally:
        await storage.close()
    copy = tmp_path / "backups" / "copy.db"
    assert await asyncio.to_thread(main, ["--database", url, "backup", "--out", str(copy)]) == 0
    assert mode(copy) == 0o600
