"""`otklik letter-footer`: the order's note of point 9 word for word with the order's link by
default, a configured link, the chat-bot links only after the prescribed line (`--bot`)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.config import ConfigError, load_settings
from storage import repository as repo
from storage.store import Storage

# Copied from point 9 of the order, without the quotation marks around it.
ORDER_NOTE = (
    "Для оценки уровня Вашей удовлетворенности при взаимодействии с Минэкономразвития НСО при подаче и "
    "рассмотрении Вашего обращения просим Вас пройти краткий опрос удобным для Вас способом: "
    "https://pos.nso.ru/poll/3/644?de=1822&di=1823"
)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config(folder: Path, extra: str = "") -> None:
    (folder / "config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{folder / "l.db"}"\n'
        '[telegram]\nbot_username = "otklik_test_bot"\n[vk]\ngroup_id = 4242\n' + extra,
        encoding="utf-8",
    )


def test_default_is_the_orders_text_and_link(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No bot configured and no database needed: the prescribed note stands on its own.
    assert main(["--database", f"sqlite+aiosqlite:///{folder / 'x.db'}", "letter-footer"]) == 0
    assert capsys.readouterr().out == ORDER_NOTE + "\n"
    assert not (folder / "x.db").exists()


def test_configured_link(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config(folder, '[letter]\nlink = "https://pos.nso.ru/poll/3/700?de=1&di=2"\n')
    assert main(["letter-footer"]) == 0
    assert (
        capsys.readouterr().out
        == ORDER_NOTE.replace(
            "https://pos.nso.ru/poll/3/644?de=1822&di=1823", "https://pos.nso.ru/poll/3/700?de=1&di=2"
        )
        + "\n"
    )


@pytest.mark.parametrize(
    "link", ["http://pos.nso.ru/poll/3/644", "pos.nso.ru/poll", "https://", "https://a b/"]
)
def test_link_must_be_https(folder: Path, link: str) -> None:
    (folder / "c.toml").write_text(f'[letter]\nlink = "{link}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(folder / "c.toml")
    assert "letter.link" in str(info.value) and "https://" in str(info.value)


def test_bad_link_in_the_cli_is_one_clear_error(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config(folder, '[letter]\nlink = "ftp://pos.nso.ru/poll"\n')
    assert main(["letter-footer"]) == 2
    err = capsys.readouterr().err
    assert "letter.link" in err and "Traceback" not in err


def test_bot_links_follow_the_prescribed_line(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config(folder)
    assert main(["migrate"]) == 0  # the key is stored: the database must exist
    capsys.readouterr()
    assert main(["letter-footer", "--bot", "--unit", "1", "--label", "Письмо № 15-1234"]) == 0
    first, second = capsys.readouterr().out.rstrip("\n").split("\n")
    assert first == ORDER_NOTE
    match = re.fullmatch(
        r"Опрос можно пройти и в чат-боте: https://t\.me/otklik_test_bot\?start=([A-Za-z0-9_-]+) \(Telegram\) "
        r"или https://vk\.me/club4242\?ref=([A-Za-z0-9_-]+) \(ВКонтакте\)",
        second,
    )
    assert match and match.group(1) == match.group(2), second

    async def stored() -> repo.PrefillKey | None:
        storage = await Storage.open(f"sqlite+aiosqlite:///{folder / 'l.db'}")
        try:
            async with storage.transaction() as conn:
                return await repo.get_prefill(conn, match.group(1))
        finally:
            await storage.close()

    found = asyncio.run(stored())
    assert found is not None
    assert (found.source, found.label, found.values) == ("letter", "Письмо № 15-1234", {"3": "1"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["letter-footer", "--unit", "1"], "--unit: задаются только вместе с --bot"),
        (
            ["letter-footer", "--point", "1", "--label", "x"],
            "--point, --label: задаются только вместе с --bot",
        ),
        (["letter-footer", "--bot"], "--bot: укажите --unit"),
    ],
)
def test_options_without_bot_and_bot_without_unit(
    folder: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config(folder)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
