"""`otklik paper-form`: the printed questionnaire read back with poppler and a QR decoder.

pdftotext, pdffonts, pdfinfo and pdftoppm come from poppler-utils; without them the tests skip
with that reason (shown by pytest -ra).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot.cli.main import main
from storage import repository as repo
from storage.store import Storage
from survey_flow.model import Questionnaire

POPPLER = ("pdftotext", "pdffonts", "pdfinfo", "pdftoppm")
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in POPPLER),
    reason="poppler-utils (pdftotext, pdffonts, pdfinfo, pdftoppm) not installed: apt-get install poppler-utils",
)
FOOTNOTE = (
    "Нумерация в скобках предназначена для внесения ответов внешнего клиента, заполнившего анкету "
    "обратной связи на бумажном носителе, на платформу обратной связи структурным подразделением "
    "министерства экономического развития Новосибирской области, уполномоченным по внедрению "
    "клиентоцентричности в министерстве экономического развития Новосибирской области."
)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def tool(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


def make_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[Path, str]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text('[telegram]\nbot_username = "otklik_nso_bot"\n', "utf-8")
    out = tmp_path / "form.pdf"
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert main(["--database", url, "migrate"]) == 0  # the QR key is stored: the database must exist
    assert main(["--database", url, "paper-form", "--out", str(out), *extra]) == 0
    return out, url


def decoded_links(pdf: Path, tmp_path: Path) -> list[str]:
    tool("pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page"))
    (page,) = sorted(tmp_path.glob("page*.png"))
    return [code.text for code in zxingcpp.read_barcodes(Image.open(page))]


def test_the_form_has_every_question_option_note_and_the_qr_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    questionnaire: Questionnaire,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, url = make_form(tmp_path, monkeypatch, "--unit", "2", "--point", "1", "--measure", "1")
    printed = capsys.readouterr().out
    text = flat(tool("pdftotext", "-layout", str(out), "-"))
    raw = flat(tool("pdftotext", str(out), "-"))
    assert "ФОРМА" in raw and flat(questionnaire.title) in raw
    for block in questionnaire.blocks:
        assert block.title in raw
    assert "1(11)¹. Вид меры поддержки" in raw
    for question in questionnaire.questions:
        assert f"{question.printed_code}" in raw
        assert flat(question.text) in raw, question.code
        if question.condition_note:
            assert flat(question.condition_note) in raw, question.code
    assert flat(questionnaire.scale_intro) in raw
    assert "¹ " + FOOTNOTE in raw
    assert "2(4). Онлайн на сайте органа власти" in text  # both numbers of an option
    for district in questionnaire.question("4").options:  # every option of the long list
        assert f"{district.code}. {district.text}" in raw
    # the unit, point and measure of this stack are printed ticked, without the other options
    assert "2. Управление инвестиционной политики" in raw and "1. Управление развития" not in raw
    assert "Дата: «____» ______________ 20____ г." in raw
    assert flat(questionnaire.followup.text) in raw
    for code in ("11(23)", "17(29)"):
        assert f"к {code}:" in raw
    assert raw.endswith(
        "Заполненная анкета вносится в систему «Отклик» по напечатанным кодам (номера в скобках и коды "
        "вариантов) командой otklik paper (ввод с клавиатуры) или otklik import-paper (таблица CSV/XLSX). "
        "Страница 3 из 3"
    )
    info = tool("pdfinfo", str(out))
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info)
    fonts = tool("pdffonts", str(out)).splitlines()[2:]
    assert fonts and all("DejaVuSans" in line and " yes yes " in line for line in fonts)

    (link,) = decoded_links(out, tmp_path)
    key = link.removeprefix("https://t.me/otklik_nso_bot?start=")
    assert key != link and f"Telegram: {link}" in printed

    async def stored_key() -> tuple[dict[str, str], str] | None:
        storage = await Storage.open(url)
        try:
            async with storage.transaction() as conn:
                found = await repo.get_prefill(conn, key)
        finally:
            await storage.close()
        return None if found is None else (dict(found.values), found.source)

    assert asyncio.run(stored_key()) == ({"3": "2", "2": "1", "1": "1"}, "qr")


def test_every_word_is_at_least_10_pt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, _url = make_form(tmp_path, monkeypatch)
    boxes = tool("pdftotext", "-bbox", str(out), "-")
    heights = [
        float(y2) - float(y1)
        for y1, y2 in re.findall(r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)"', boxes)
    ]
    assert len(heights) > 500
    # DejaVu Sans' box is 1.164 em high: 10 pt text gives 11.64 pt.
    assert min(heights) >= 11.6


def test_without_a_place_the_qr_opens_the_bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, _url = make_form(tmp_path, monkeypatch)
    assert decoded_links(out, tmp_path) == ["https://t.me/otklik_nso_bot"]
    raw = flat(tool("pdftotext", str(out), "-"))
    assert "1. Управление развития малого и среднего предпринимательства" in raw


def test_no_bot_configured_prints_the_form_and_says_why_no_qr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert main(["--database", url, "paper-form", "--out", "f.pdf", "--unit", "2"]) == 0
    assert "QR-код не напечатан: не заданы ни [telegram].bot_username, ни [vk].group_id" in (
        capsys.readouterr().err
    )
    assert decoded_links(tmp_path / "f.pdf", tmp_path) == []
    assert main(["--database", url, "paper-form", "--out", "f.txt"]) == 2
    assert main(["--database", url, "paper-form", "--out", "f.pdf", "--unit", "нет такого"]) == 2
    assert main(["--database", url, "paper-form", "--out", "nowhere/f.pdf"]) == 2
    err = capsys.readouterr().err
    assert "укажите файл с расширением .pdf" in err and "не существует" in err
