"""QR codes and letter links: a prefill key per place, Telegram, VK and MAX links, a printable poster.

A key (storage.repository.create_prefill) carries Block 1 answers (point, unit, measure) and the
source («qr» or «letter»), so answers can be counted per poster or per letter.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import matplotlib
import qrcode
import qrcode.image.svg
from PIL import Image, ImageDraw, ImageFont

from reports.errors import ReportError
from storage import repository as repo
from storage.channels import Channel
from storage.store import Storage
from survey_flow import engine
from survey_flow.model import Questionnaire

POSTER_TITLE = "Оцените, пожалуйста, получение меры государственной поддержки"
POSTER_STEPS = (
    "1. Наведите камеру телефона на QR-код Telegram или ВКонтакте.",
    "2. Откройте ссылку и нажмите «Начать».",
    "3. Ответьте на несколько вопросов — это займет 2–3 минуты.",
    "Ваше мнение поможет министерству работать лучше. Спасибо!",
)


@dataclass(frozen=True)
class Link:
    channel: str  # telegram, vk, max
    title: str
    url: str


MAX_POSTER_STEP = "1. Наведите камеру телефона на QR-код Telegram, ВКонтакте или MAX."


def links_for(key: str, *, bot_username: str, vk_group_id: int, max_username: str = "") -> list[Link]:
    """Links with the prefill key; `max_username` only when the MAX channel is enabled."""
    found: list[Link] = []
    if bot_username:
        found.append(
            Link(Channel.TELEGRAM, "Telegram", f"https://t.me/{bot_username.lstrip('@')}?start={key}")
        )
    if vk_group_id > 0:
        found.append(Link(Channel.VK, "ВКонтакте", f"https://vk.me/club{vk_group_id}?ref={key}"))
    if max_username:
        found.append(Link(Channel.MAX, "MAX", f"https://max.ru/{max_username.lstrip('@')}?start={key}"))
    if not found:
        raise ReportError(
            "Не заданы ни [telegram].bot_username, ни [vk].group_id, ни [max].bot_username: ссылку на "
            "опрос построить не из чего"
        )
    return found


async def create_key(
    storage: Storage, q: Questionnaire, values: Mapping[str, str], source: str, label: str, now: datetime
) -> str:
    _answers, problems = engine.prefill_answers(q, values)
    if problems:
        raise ReportError("Нельзя предзаполнить анкету: " + "; ".join(problems))
    async with storage.transaction() as conn:
        return await repo.create_prefill(conn, values, source, label, now)


def qr_image(url: str, box_size: int = 10) -> Image.Image:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(url)
    code.make(fit=True)
    image: Image.Image = code.make_image(fill_color="black", back_color="white").get_image()
    return image.convert("RGB")


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    qr_image(url).save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(url: str) -> bytes:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=4)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont:
    # DejaVu Sans ships with matplotlib and has Cyrillic letters.
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return ImageFont.truetype(str(path), size)


def _cut(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """A text without spaces (an address) in lines of at most `width` pixels, cut anywhere."""
    lines = [""]
    for char in text:
        if lines[-1] and draw.textlength(lines[-1] + char, font=font) > width:
            lines.append("")
        lines[-1] += char
    return lines


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not current:
            current = trial
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def poster(links: list[Link], subtitle: str) -> Image.Image:
    """An A4 page at 150 dpi: title, place, one QR code per link with its address, instructions."""
    width, height, margin = 1240, 1754, 90
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    y = margin
    for font, text in ((_font(52), POSTER_TITLE), (_font(30), subtitle)):
        for line in _wrap(draw, text, font, width - 2 * margin):
            draw.text((width // 2, y), line, font=font, fill="black", anchor="ma")
            y += int(font.size * 1.3)
        y += 30
    size = {1: 640, 2: 460}.get(len(links), 340)  # three codes side by side still fit the page
    gap = (width - len(links) * size) // (len(links) + 1)
    caption, small = _font(40), _font(20)
    for index, link in enumerate(links):
        x = gap + index * (size + gap)
        draw.text((x + size // 2, y), link.title, font=caption, fill="black", anchor="ma")
        page.paste(
            qr_image(link.url, box_size=12).resize((size, size), Image.Resampling.NEAREST), (x, y + 60)
        )
        for number, line in enumerate(_cut(draw, link.url, small, size + gap // 2)):
            draw.text(
                (x + size // 2, y + size + 80 + number * 26), line, font=small, fill="black", anchor="ma"
            )
    y += size + 160 + (26 if len(links) > 2 else 0)
    steps = _font(32)
    shown = POSTER_STEPS
    if any(link.channel == Channel.MAX for link in links):
        shown = (MAX_POSTER_STEP, *POSTER_STEPS[1:])
    for text in shown:
        for line in _wrap(draw, text, steps, width - 2 * margin):
            draw.text((margin, y), line, font=steps, fill="black")
            y += int(steps.size * 1.4)
        y += 10
    return page


def write_qr_files(out: Path, links: list[Link], subtitle: str) -> list[Path]:
    """PNG and SVG per link, a poster PNG and PDF; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for link in links:
        for suffix, data in (("png", qr_png(link.url)), ("svg", qr_svg(link.url))):
            path = out / f"{link.channel}.{suffix}"
            path.write_bytes(data)
            written.append(path)
    page = poster(links, subtitle)
    page.save(out / "poster.png")
    page.save(out / "poster.pdf", resolution=150.0)
    written += [out / "poster.png", out / "poster.pdf"]
    return written
