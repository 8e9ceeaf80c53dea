"""`[telegram] bot_username` (QR codes, letters, paper forms) is checked against getMe at start:
another bot's name is a warning naming both; the same name, with «@» or other case, is not."""

from __future__ import annotations

import logging

import pytest

from tests.bot.telegram.conftest import Service
from tests.conftest import Database
from tests.fakes.telegram_api import FakeTelegram

ACTUAL = "otklik_test_bot"  # what the fake Bot API's getMe answers


async def started(database: Database, fake: FakeTelegram, username: str) -> None:
    service = await Service(database, fake, bot_username=username).start()
    try:
        await fake.wait_for(lambda: any(method == "getUpdates" for method, _ in fake.calls), timeout=20)
    finally:
        await service.stop()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "bot_username" in r.getMessage()
    ]


async def test_another_bots_name_is_a_warning_naming_both(
    database: Database, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await started(database, fake_tg, "otklik_nso_bot")
    (line,) = warnings(caplog)
    assert "@otklik_nso_bot" in line and f"@{ACTUAL}" in line and "QR" in line


@pytest.mark.parametrize("username", [f"@{ACTUAL}", ACTUAL.upper(), ""])
async def test_the_same_bot_or_none_configured_is_quiet(
    database: Database, fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture, username: str
) -> None:
    caplog.set_level(logging.INFO)
    await started(database, fake_tg, username)
    assert warnings(caplog) == []
    assert any(f"bot @{ACTUAL}" in r.getMessage() for r in caplog.records)  # it did start
