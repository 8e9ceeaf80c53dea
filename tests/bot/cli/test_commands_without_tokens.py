"""Commands that do not talk to a messenger run without the bots' tokens; `otklik run` still needs them.

An operator's cron job (`otklik backup`) runs with the same config.toml as the service but without
the service's environment file: a channel enabled in the file must not make it fail.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli.main import main
from storage import repository
from storage.store import Storage
from tests.reports.test_paper import GOOD, HEADER

# Both channels on, Telegram in webhook mode; the tokens and the webhook secret are not anywhere.
CONFIG = """
[database]
url = "sqlite+aiosqlite:///{db}"

[telegram]
enabled = true
mode = "webhook"
webhook_url = "https://otklik.example.ru/telegram/hook"
bot_username = "otklik_bot"

[vk]
enabled = true
group_id = 12345
"""

SECRET_VARIABLES = ("OTKLIK_TELEGRAM__TOKEN", "OTKLIK_TELEGRAM__WEBHOOK_SECRET", "OTKLIK_VK__TOKEN")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(db=tmp_path / "otklik.db"), encoding="utf-8")
    (tmp_path / "paper.csv").write_text(HEADER + "\n" + GOOD + "\n", encoding="utf-8")
    return path


async def a_telegram_respondent(url: str, external_id: str) -> None:
    storage = await Storage.open(url)
    try:
        async with storage.transaction() as conn:
            await repository.get_or_create_respondent(conn, "telegram", external_id, datetime.now(UTC))
    finally:
        await storage.close()


COMMANDS = [
    ["migrate"],
    ["import-paper", "paper.csv"],
    ["paper", "--unit", "1"],
    ["export", "--out", "all.csv"],
    ["report", "--quarter", "2025Q3", "--out", "r.xlsx"],
    ["clients", "set", "--quarter", "2025Q3", "--unit", "1", "--group", "1", "--channel", "онлайн", "4"],
    ["clients", "show", "--quarter", "2025Q3", "--unit", "1"],
    ["appendix2", "--quarter", "2025Q3", "--unit", "1", "--out", "a2.xlsx"],
    ["backup", "--out", "backup.db"],
    ["consents", "export", "--output", "consents.csv"],
    ["consents", "record", "--external-id", "123456789", "--grant", "--by", "Иванова И.И."],
    ["forget", "--channel", "telegram", "--id", "123456789"],
    ["qr", "--point", "1", "--unit", "1", "--out", "qr.png"],
    ["letter-footer"],
    ["letter-footer", "--bot", "--unit", "1"],
    ["mailing", "create", "--text", "Пройдите опрос", "--dry-run"],
]


def test_commands_without_messengers_need_no_tokens(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # `otklik paper` at once gets end of input
    for argv in COMMANDS:
        if argv[0] == "consents" and argv[1] == "record":
            asyncio.run(
                a_telegram_respondent(f"sqlite+aiosqlite:///{config.parent / 'otklik.db'}", "123456789")
            )
        code = main(["--config", str(config), *argv])
        err = capsys.readouterr().err
        assert "Ошибка в конфигурации" not in err, (argv, err)
        assert code == 0, (argv, err)
    for name in ("all.csv", "r.xlsx", "a2.xlsx", "backup.db", "consents.csv", "qr.png"):
        assert (config.parent / name).stat().st_size > 0, name


def test_run_still_requires_the_tokens(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "run"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"Ошибка в конфигурации ({config}):",
        "  - telegram.token: не задан токен бота, а канал включен (enabled = true)",
        "  - telegram.webhook_secret: в режиме webhook нужен секрет (1–256 символов A-Z a-z 0-9 _ -)",
        "  - vk.token: не задан токен сообщества, а канал включен (enabled = true)",
    ]
    assert not (config.parent / "otklik.db").exists()  # refused before touching the database


def test_version_is_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"otklik {metadata.version('otklik')}\n"
