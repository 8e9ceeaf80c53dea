"""MAX deep links (https://max.ru/<bot>?start=<key>) in QR codes, letters and the paper form, only
while the MAX channel is enabled."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot.cli.main import main
from reports.qr import links_for

MAX_ON = '[max]\nenabled = true\nbot_username = "otklik_nso_bot"\n'


def decode(path: Path) -> list[str]:
    with Image.open(path) as image:
        return sorted(result.text for result in zxingcpp.read_barcodes(image))


def configure(folder: Path, extra: str) -> None:
    (folder / "config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{folder / "l.db"}"\n'
        '[telegram]\nbot_username = "otklik_test_bot"\n[vk]\ngroup_id = 4242\n' + extra,
        encoding="utf-8",
    )


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_links_for_adds_max_only_with_a_bot_name() -> None:
    assert [link.channel for link in links_for("k1", bot_username="b", vk_group_id=0)] == ["telegram"]
    found = links_for("k1", bot_username="", vk_group_id=0, max_username="@otklik_nso_bot")
    assert [(link.channel, link.url) for link in found] == [("max", "https://max.ru/otklik_nso_bot?start=k1")]


def test_qr_codes_and_poster_carry_the_max_link(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(folder, MAX_ON)
    assert main(["migrate"]) == 0
    assert main(["qr", "--point", "1", "--unit", "1", "--out", "qr"]) == 0
    key = re.search(r"Ключ ([A-Za-z0-9_-]+):", capsys.readouterr().out)
    assert key, "no key printed"
    links = sorted(
        [
            f"https://t.me/otklik_test_bot?start={key.group(1)}",
            f"https://vk.me/club4242?ref={key.group(1)}",
            f"https://max.ru/otklik_nso_bot?start={key.group(1)}",
        ]
    )
    assert decode(folder / "qr" / "max.png") == [links[0]]
    assert decode(folder / "qr" / "poster.png") == links  # three codes side by side still fit


def test_a_disabled_max_channel_adds_no_link(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(folder, '[max]\nenabled = false\nbot_username = "otklik_nso_bot"\n')
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["letter-footer", "--bot", "--unit", "1"]) == 0
    assert "max.ru" not in capsys.readouterr().out


def test_letter_footer_names_max(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(folder, MAX_ON)
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["letter-footer", "--bot", "--unit", "1"]) == 0
    second = capsys.readouterr().out.rstrip("\n").split("\n")[1]
    assert re.search(r" или https://max\.ru/otklik_nso_bot\?start=[A-Za-z0-9_-]+ \(MAX\)$", second), second


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_paper_form_prints_the_max_code(folder: Path) -> None:
    configure(folder, MAX_ON)
    assert main(["migrate"]) == 0
    assert main(["paper-form", "--out", "form.pdf"]) == 0
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", "form.pdf", str(folder / "page")],
        check=True, timeout=60,
    )  # fmt: skip
    (page,) = sorted(folder.glob("page*.png"))
    assert decode(page) == sorted(
        ["https://t.me/otklik_test_bot", "https://vk.me/club4242", "https://max.ru/otklik_nso_bot"]
    )
