"""`otklik paper-form`: the printable questionnaire of Appendix 1, generated from its definition.

Every question with both numbers, a box per option with the code the operator types back
(`otklik paper`, `otklik import-paper`), the condition notes, the footnote ¹, lines for the date and
the difficulties texts, and QR codes to the chat bots. A4 portrait, black on white, DejaVu Sans
embedded (the copy that ships with matplotlib, so no system font is needed), text 10 pt or larger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from reports.qr import Link, qr_image
from storage.channels import Channel
from survey_flow.model import OTHER_LABEL, Option, Question, Questionnaire

FONT = "DejaVu"
BODY = 10.5  # pt; nothing on the form is smaller than SMALL
SMALL = 10.0
TITLE = 12.5
LINE = 5.2  # mm per line of body text
MARGIN = 15.0  # mm
BOX = 3.6  # mm, the side of an answer box
QR_SIZE = 30.0  # mm
INDENT = 4.0  # mm, answer boxes under their question
HEADING = "ФОРМА"
INSTRUCTION = (
    "Отметьте, пожалуйста, один вариант ответа в каждом вопросе (поставьте в квадрате ✓ или ✗). "
    "Любой вопрос можно оставить без ответа."
)
QR_CAPTION = "Анкету можно заполнить и в чат-боте: наведите камеру телефона на QR-код."
LAST_LINE = (
    "Заполненная анкета вносится в систему «Отклик» по напечатанным кодам (номера в скобках и коды "
    "вариантов) командой otklik paper (ввод с клавиатуры) или otklik import-paper (таблица CSV/XLSX)."
)
FOOTNOTE_MARK = "¹"


def plain_links(bot_username: str, vk_group_id: int, max_username: str = "") -> list[Link]:
    """Links that open the bots without a prefill key (the form is not tied to a place)."""
    found: list[Link] = []
    if bot_username:
        found.append(Link(Channel.TELEGRAM, "Telegram", f"https://t.me/{bot_username.lstrip('@')}"))
    if vk_group_id > 0:
        found.append(Link(Channel.VK, "ВКонтакте", f"https://vk.me/club{vk_group_id}"))
    if max_username:
        found.append(Link(Channel.MAX, "MAX", f"https://max.ru/{max_username.lstrip('@')}"))
    return found


def font_files() -> dict[str, Path]:
    """DejaVu Sans from matplotlib's data (a dependency), so a fresh machine needs no font package."""
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return {
        "": folder / "DejaVuSans.ttf",
        "B": folder / "DejaVuSans-Bold.ttf",
        "I": folder / "DejaVuSans-Oblique.ttf",
        "BI": folder / "DejaVuSans-BoldOblique.ttf",
    }


@dataclass(frozen=True)
class Preset:
    """A question answered in advance for forms printed for one place (its option is shown ticked)."""

    question: str  # the form's question code
    option: str  # option code


class _Form(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", SMALL)
        self.cell(0, 5, f"Страница {self.page_no()} из {{nb}}", align="C")


def _new_pdf() -> _Form:
    pdf = _Form(orientation="P", unit="mm", format="A4")
    for style, path in font_files().items():
        pdf.add_font(FONT, style, str(path))
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_title("Анкета обратной связи (Приложение № 1 к Порядку)")
    pdf.set_creator("Отклик")
    pdf.alias_nb_pages()
    pdf.add_page()
    return pdf


def _lines(pdf: FPDF, width: float, text: str) -> int:
    found = pdf.multi_cell(width, LINE, text, dry_run=True, output=MethodReturnValue.LINES)
    assert isinstance(found, list)
    return len(found)


def _room(pdf: FPDF, height: float) -> None:
    """Start a new page unless `height` mm still fit: a question is not split from its first box."""
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()


def _text(pdf: FPDF, text: str, *, style: str = "", size: float = BODY, indent: float = 0.0) -> None:
    pdf.set_font(FONT, style, size)
    pdf.set_x(pdf.l_margin + indent)
    pdf.multi_cell(pdf.epw - indent, LINE, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _box(pdf: FPDF, x: float, y: float, ticked: bool) -> None:
    top = y + (LINE - BOX) / 2
    pdf.set_line_width(0.3)
    pdf.rect(x, top, BOX, BOX)
    if ticked:
        pdf.line(x + 0.6, top + 0.6, x + BOX - 0.6, top + BOX - 0.6)
        pdf.line(x + 0.6, top + BOX - 0.6, x + BOX - 0.6, top + 0.6)


def _option(pdf: FPDF, x: float, width: float, label: str, *, ticked: bool = False) -> float:
    """One box with its code and text at `x`; returns the height used."""
    y = pdf.get_y()
    _box(pdf, x, y, ticked)
    pdf.set_font(FONT, "", BODY)
    pdf.set_xy(x + BOX + 1.5, y)
    pdf.multi_cell(width - BOX - 1.5, LINE, label, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return pdf.get_y() - y


def _options(pdf: FPDF, options: list[str], columns: int) -> None:
    """Options in `columns` columns, filled down each column like a printed list."""
    pdf.set_font(FONT, "", BODY)  # measured in the font they are printed in
    gap = 2.0
    width = (pdf.epw - INDENT - gap * (columns - 1)) / columns
    per_column = -(-len(options) // columns)
    for row in range(per_column):
        cells = [options[c * per_column + row] for c in range(columns) if c * per_column + row < len(options)]
        height = max(_lines(pdf, width - BOX - 1.5, label) for label in cells) * LINE
        _room(pdf, height)
        y = pdf.get_y()
        for index, label in enumerate(cells):
            pdf.set_y(y)
            _option(pdf, pdf.l_margin + INDENT + index * (width + gap), width, label)
        pdf.set_y(y + height + 0.6)


def _label(option: Option) -> str:
    return f"{option.printed_code}. {option.text}"


def _columns(labels: Iterable[str]) -> int:
    longest = max((len(label) for label in labels), default=0)
    return 3 if longest <= 28 else 2 if longest <= 45 else 1


def _question_heading(pdf: FPDF, q: Questionnaire, question: Question, first: bool) -> None:
    mark = FOOTNOTE_MARK if first and q.footnote else ""
    # As in the order: the number, the note to whoever runs the survey, then the question.
    parts = [f"**{question.printed_code}{mark}.**"]
    if question.condition_note:
        parts.append(f"__{question.condition_note}__")
    text = question.text
    if question.instruction and question.kind != "scale":
        text += f" ({question.instruction})"
    parts.append(f"**{text}**")
    title = " ".join(parts)
    pdf.set_font(FONT, "B", BODY)
    _room(pdf, (_lines(pdf, pdf.epw, title.replace("*", "").replace("__", "")) + 1.5) * LINE)
    pdf.ln(1.5)
    pdf.set_font(FONT, "", BODY)  # the markup sets bold and italic from the regular face
    pdf.set_x(pdf.l_margin)
    pdf.multi_cell(pdf.epw, LINE, title, align="L", markdown=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _choice(pdf: FPDF, question: Question, preset: Preset | None) -> None:
    if preset is not None:
        option = question.option(preset.option)
        assert option is not None  # resolved by the caller
        _room(pdf, LINE)
        _option(pdf, pdf.l_margin + INDENT, pdf.epw - INDENT, _label(option), ticked=True)
        return
    labels = [_label(option) for option in question.options]
    _options(pdf, labels, min(_columns(labels), len(labels)))
    if question.allow_other:
        _room(pdf, LINE)
        y = pdf.get_y()
        _option(pdf, pdf.l_margin + INDENT, 40, f"{OTHER_LABEL}:")
        pdf.line(pdf.l_margin + INDENT + 28, y + LINE - 0.8, pdf.l_margin + pdf.epw, y + LINE - 0.8)
        pdf.set_y(y + LINE + 0.6)


def _scale(pdf: FPDF, question: Question) -> None:
    pdf.set_font(FONT, "I", SMALL)
    note = f"({question.instruction})" if question.instruction else ""
    _room(pdf, LINE)
    y = pdf.get_y()
    x = pdf.l_margin + INDENT
    for score in ("1", "2", "3", "4", "5"):
        _box(pdf, x, y, False)
        pdf.set_font(FONT, "", BODY)
        pdf.set_xy(x + BOX + 1.2, y)
        pdf.cell(8, LINE, score)
        x += 16
    pdf.set_font(FONT, "I", SMALL)
    pdf.set_xy(x + 2, y)
    pdf.cell(0, LINE, note)
    pdf.set_y(y + LINE + 0.6)


def _write_line(pdf: FPDF, label: str, count: int = 1) -> None:
    pdf.set_font(FONT, "", BODY)
    _room(pdf, count * (LINE + 2.5))
    for index in range(count):
        y = pdf.get_y() + 2.5
        x = pdf.l_margin + INDENT
        if index == 0 and label:
            pdf.set_xy(x, y)
            pdf.cell(pdf.get_string_width(label) + 2, LINE, label)
            x += pdf.get_string_width(label) + 2
        pdf.line(x, y + LINE - 0.8, pdf.l_margin + pdf.epw, y + LINE - 0.8)
        pdf.set_y(y + LINE)
    pdf.ln(0.8)


def _date_line(pdf: FPDF) -> None:
    pdf.set_font(FONT, "", BODY)
    _room(pdf, LINE + 3)
    pdf.set_x(pdf.l_margin + INDENT)
    pdf.cell(0, LINE + 2, "Дата: «____» ______________ 20____ г.     Время: ____ ч ____ мин")
    pdf.ln(LINE + 3)


def _header(pdf: FPDF, q: Questionnaire, links: list[Link], subtitle: str) -> None:
    qr_width = len(links) * (QR_SIZE + 4)
    text_width = pdf.epw - qr_width - 4
    top = pdf.get_y()
    for index, link in enumerate(links):
        x = pdf.l_margin + pdf.epw - (len(links) - index) * (QR_SIZE + 4) + 4
        pdf.image(qr_image(link.url, box_size=8), x=x, y=top, w=QR_SIZE, h=QR_SIZE)
        pdf.set_font(FONT, "", SMALL)
        pdf.set_xy(x, top + QR_SIZE)
        pdf.cell(QR_SIZE, LINE, link.title, align="C")
    pdf.set_xy(pdf.l_margin, top)
    pdf.set_font(FONT, "B", TITLE)
    pdf.multi_cell(text_width, 6, HEADING, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(text_width, 6, q.title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", SMALL)
    if subtitle:
        pdf.ln(1)
        pdf.multi_cell(text_width, LINE, subtitle, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if links:
        pdf.ln(1)
        pdf.multi_cell(text_width, LINE, QR_CAPTION, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), top + (QR_SIZE + LINE if links else 0)) + 2)
    _text(pdf, INSTRUCTION, size=SMALL)


def build_form(q: Questionnaire, links: list[Link], presets: list[Preset], subtitle: str = "") -> bytes:
    """The PDF of the form; `presets` are printed as already ticked (the place of a stack of forms)."""
    pdf = _new_pdf()
    _header(pdf, q, links, subtitle)
    preset_of = {preset.question: preset for preset in presets}
    first = True
    scale_intro_done = False
    followups: list[Question] = []
    for block in q.blocks:
        questions = [x for x in q.questions if x.block == block.number]
        if not questions:
            continue
        _room(pdf, 4 * LINE)
        pdf.ln(3)
        _text(pdf, block.title, style="B", size=TITLE)
        for question in questions:
            if question.kind == "scale" and not scale_intro_done:
                _room(pdf, 4 * LINE)
                pdf.ln(1.5)
                _text(pdf, q.scale_intro, style="I")
                scale_intro_done = True
            _question_heading(pdf, q, question, first)
            first = False
            if question.kind == "auto_datetime":
                _date_line(pdf)
            elif question.kind == "scale":
                _scale(pdf, question)
            else:
                _choice(pdf, question, preset_of.get(question.code))
            if q.has_followup(question):
                followups.append(question)
        if block.number == q.blocks[0].number and q.footnote:
            _room(pdf, 4 * LINE)
            pdf.ln(2)
            pdf.set_line_width(0.2)
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + 50, pdf.get_y())
            pdf.ln(1)
            _text(pdf, f"{FOOTNOTE_MARK} {q.footnote}", size=SMALL)
    if followups:
        scores = ", ".join(q.followup.scores[:-1]) + f" или {q.followup.scores[-1]}"
        span = f"{followups[0].printed_code}–{followups[-1].printed_code}"
        _room(pdf, 6 * LINE)
        pdf.ln(3)
        _text(
            pdf,
            f"В случае, если оценка по вопросам {span} составляет {scores} балла: {q.followup.text}:",
            style="B",
        )
        for question in followups:
            _write_line(pdf, f"к {question.printed_code}:", 2)
    _room(pdf, 3 * LINE)
    pdf.ln(3)
    _text(pdf, LAST_LINE, style="I", size=SMALL)
    return bytes(pdf.output())
