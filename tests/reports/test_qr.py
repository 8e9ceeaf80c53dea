"""QR codes decoded back to their links (zxing-cpp), the key prefilling a real conversation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from bot.cli.main import main
from bot.core.conversation import Conversation
from reports.qr import create_key
from storage import repository as repo
from storage.schema import survey_sessions
from storage.store import Storage
from survey_flow.model import Questionnaire
from tests.conftest import CONSENT
from tests.fakes.chat import Chat

NOW = datetime(2025, 8, 1, 3, 0, tzinfo=UTC)


def decode(path: Path) -> list[str]:
    with Image.open(path) as image:
        return sorted(result.text for result in zxingcpp.read_barcodes(image))


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "qr.db"}"\n'
        '[telegram]\nbot_username = "otklik_test_bot"\n[vk]\ngroup_id = 4242\n',
        encoding="utf-8",
    )
    assert main(["migrate"]) == 0  # the key is stored: the database must exist
    return tmp_path


def test_qr_files_decode_to_the_links(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qr", "--point", "1", "--unit", "1", "--measure", "Грант", "--out", "qr"]) == 0
    out = capsys.readouterr().out
    match = re.search(r"Ключ ([A-Za-z0-9_-]+): Личный приём в здании министерства / Управление развития", out)
    assert match, out
    key = match.group(1)
    telegram = f"https://t.me/otklik_test_bot?start={key}"
    vk = f"https://vk.me/club4242?ref={key}"
    folder = configured / "qr"
    assert decode(folder / "telegram.png") == [telegram]
    assert decode(folder / "vk.png") == [vk]
    assert sorted(decode(folder / "poster.png")) == sorted([telegram, vk])
    assert b"<svg" in (folder / "telegram.svg").read_bytes()
    assert (folder / "poster.pdf").read_bytes().startswith(b"%PDF")


def test_no_bot_configured_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert main(["--database", url, "qr", "--point", "1", "--unit", "1", "--out", "qr"]) == 2
    assert "bot_username" in capsys.readouterr().err
    assert main(["--database", url, "qr", "--point", "99", "--unit", "1", "--out", "qr"]) == 2
    assert "--point: нет варианта «99»" in capsys.readouterr().err


async def test_the_key_prefills_and_tags_a_conversation(
    storage: Storage, questionnaire: Questionnaire
) -> None:
    key = await create_key(storage, questionnaire, {"2": "1", "3": "2"}, "qr", "QR: приемная", NOW)
    chat = Chat(
        Conversation(storage, questionnaire, CONSENT, clock=lambda: NOW), user="qr-user", channel="telegram"
    )
    result = await chat.start(key)
    assert "Вид меры поддержки" in result.messages[-1].text
    async with storage.transaction() as conn:
        session = (await conn.execute(select(survey_sessions))).one()
        answers = await repo.load_answers(conn, session.id)
    assert (session.source, session.source_ref) == ("qr", key)
    assert {code: (a.option, a.prefilled) for code, a in answers.items()} == {
        "2": ("1", True),
        "3": ("2", True),
    }
