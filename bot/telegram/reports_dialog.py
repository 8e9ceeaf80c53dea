"""`/export` and `/report` for analysts in Telegram: a guided choice, then the file as a document.

The dialog is stateless: each button carries every choice made so far (`Pick` callback data), so
a restart or a second worker loses nothing, and the role is checked again on every press (button
data can be forged). Unit-limited staff are always given their own unit.
"""

from __future__ import annotations

import logging
import re
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.types import Message as TgMessage

from bot.config import Settings, StaffMember
from bot.core.staff import REPORT_ROLES, AccessDenied, StaffCommand, grant
from bot.telegram.filters import has_message
from bot.telegram.staff import StaffFilter
from reports.analysis import write_report
from reports.appendix2 import process_groups, write_appendix2
from reports.errors import ReportError
from reports.export import export_file
from reports.options import UNIT, option_text
from reports.period import Period, quarter_period, quarter_title
from storage.store import Storage
from survey_flow.model import Questionnaire

log = logging.getLogger(__name__)

ALL_UNITS = "*"
MARKING = "Для внутреннего пользования, не подлежит опубликованию."
BAD_BUTTON = "Кнопка устарела или повреждена. Начните заново: /export или /report."
WHATS = frozenset({"export", "report", "app2"})
FORMATS = frozenset({"xlsx", "csv"})
PICK_QUARTER_RE = re.compile(r"(2[0-9]{3})Q[1-4]")  # ASCII only; the years reports can cover


class Pick(CallbackData, prefix="s", sep="|"):
    """`s|<what>|<quarter or 'all'>|<unit or '*'>|<format>`; empty parts are still to choose."""

    what: str  # export, report, app2
    period: str = ""
    unit: str = ""
    fmt: str = ""


def quarters_back(today: date, count: int = 4) -> list[str]:
    year, number = today.year, (today.month - 1) // 3 + 1
    found = []
    for _ in range(count):
        found.append(f"{year}Q{number}")
        number -= 1
        if number == 0:
            year, number = year - 1, 4
    return found


def _keyboard(rows: list[list[tuple[str, Pick]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t, callback_data=p.pack()) for t, p in row] for row in rows
        ]
    )


def next_question(
    pick: Pick, member: StaffMember, q: Questionnaire, today: date
) -> tuple[str, InlineKeyboardMarkup] | None:
    """What to ask next, or None when every choice is made."""
    if not pick.period:
        rows = [[(quarter_title(key), Pick(what=pick.what, period=key))] for key in quarters_back(today)]
        if pick.what == "export":
            rows.append([("За все время", Pick(what=pick.what, period="all"))])
        return "За какой период?", _keyboard(rows)
    if not pick.unit:
        if member.unit:  # limited to their unit: nothing to choose
            pick.unit = member.unit
        else:
            units = q.by_role(UNIT).options
            rows = [[(o.text, Pick(what=pick.what, period=pick.period, unit=o.code))] for o in units]
            if pick.what != "app2":  # Appendix 2 is always per structural unit
                rows.insert(
                    0, [("Все подразделения", Pick(what=pick.what, period=pick.period, unit=ALL_UNITS))]
                )
            return "По какому подразделению?", _keyboard(rows)
    if pick.what == "export" and not pick.fmt:
        rows = [
            [(f, Pick(what=pick.what, period=pick.period, unit=pick.unit, fmt=f)) for f in ("xlsx", "csv")]
        ]
        return "В каком формате?", _keyboard(rows)
    return None


async def start_export(message: TgMessage, member: StaffMember, questionnaire: Questionnaire) -> None:
    asked = next_question(Pick(what="export"), member, questionnaire, datetime.now(UTC).date())
    if asked is not None:
        await message.answer(asked[0], reply_markup=asked[1])


async def start_report(message: TgMessage) -> None:
    rows = [
        [("Квартальный анализ (пункт 11)", Pick(what="report"))],
        [("Отчет по форме Приложения № 2", Pick(what="app2"))],
    ]
    await message.answer("Какой отчет подготовить?", reply_markup=_keyboard(rows))


def reports_router() -> Router:
    router = Router(name="reports")
    router.callback_query.register(on_pick, Pick.filter(), has_message, StaffFilter(REPORT_ROLES))
    # A press refused by StaffFilter was answered there; it goes no further.
    router.callback_query.register(_refused, Pick.filter(), has_message)
    return router


async def _refused(query: CallbackQuery) -> None:
    del query


def well_formed(pick: Pick, q: Questionnaire) -> bool:
    """Whether the dialog could have made this button (the data can be forged)."""
    if pick.what not in WHATS:
        return False
    if pick.period and not (
        (pick.period == "all" and pick.what == "export") or PICK_QUARTER_RE.fullmatch(pick.period)
    ):
        return False
    if pick.unit and not (
        (pick.unit == ALL_UNITS and pick.what != "app2") or q.by_role(UNIT).option(pick.unit) is not None
    ):
        return False
    if pick.fmt and not (pick.what == "export" and pick.fmt in FORMATS):
        return False
    return all((not later or earlier) for earlier, later in ((pick.period, pick.unit), (pick.unit, pick.fmt)))


async def on_pick(
    query: CallbackQuery,
    callback_data: Pick,
    member: StaffMember,
    storage: Storage,
    questionnaire: Questionnaire,
    settings: Settings,
) -> None:
    q = questionnaire
    if not well_formed(callback_data, q):
        log.info("report dialog: a button with data that no dialog makes, refused")
        await query.answer(BAD_BUTTON)
        return
    if callback_data.unit:
        requested = None if callback_data.unit == ALL_UNITS else callback_data.unit
        try:  # the same rule as every other way to get data out (bot/core/staff.py)
            allowed = grant(q, member, requested)
        except AccessDenied as exc:
            await query.answer(str(exc)[:200])
            return
        # A unit-limited member asking for "all units" (forged data) gets their own unit only.
        callback_data.unit = allowed.unit or ALL_UNITS
    message = query.message
    assert isinstance(message, TgMessage)
    pick = callback_data
    asked = next_question(pick, member, q, datetime.now(UTC).date())
    await query.answer()
    if asked is not None:
        await _edit(message, asked[0], asked[1])
        return
    await _edit(message, "Готовлю файл…")
    with tempfile.TemporaryDirectory(prefix="otklik-") as tmp:
        try:
            path, caption = await build_file(pick, settings, storage, q, Path(tmp))
        except ReportError as exc:  # e.g. process groups naming a point the questionnaire lacks
            log.warning("report dialog: %s", exc)
            await _edit(message, f"Файл не подготовлен: {exc}"[:3500])
            return
        await message.answer_document(FSInputFile(path), caption=caption)
    await _edit(message, "Файл отправлен.")


async def _edit(message: TgMessage, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Old or already edited messages cannot always be edited; the dialog goes on regardless."""
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        log.info("dialog message not edited: %s", exc.message)


async def build_file(
    pick: Pick, settings: Settings, storage: Storage, q: Questionnaire, folder: Path
) -> tuple[Path, str]:
    zone = ZoneInfo(settings.reports.timezone)
    unit = None if pick.unit == ALL_UNITS else pick.unit
    unit_label = "все структурные подразделения" if unit is None else option_text(q, UNIT, unit)
    if pick.what == "export":
        period = (
            Period(date(2000, 1, 1), date(2999, 12, 31), zone) if pick.period == "all"
            else quarter_period(pick.period, zone)
        )  # fmt: skip
        out = folder / f"otklik-export-{pick.period}.{pick.fmt}"
        count = await export_file(
            storage, q, period=period, unit=unit, out=out, fmt="csv" if pick.fmt == "csv" else "xlsx"
        )
        return out, f"Анкет: {count}. {unit_label}. {MARKING}"
    period = quarter_period(pick.period, zone)
    title = quarter_title(pick.period)
    out = folder / f"otklik-{pick.what}-{pick.period}.xlsx"
    if pick.what == "app2":
        assert unit is not None
        groups = process_groups(q, settings.reports.group_pairs())
        await write_appendix2(
            storage, q, groups=groups, quarter=pick.period, period=period, unit=unit,
            unit_label=unit_label, out=out,
        )  # fmt: skip
        return out, f"Приложение № 2, {title}, {unit_label}. {MARKING}"
    analysis = await write_report(
        storage, q, period=period, unit=unit, unit_label=unit_label, title=title, out=out,
        groups=process_groups(q, settings.reports.group_pairs()), quarter=pick.period,
    )  # fmt: skip
    return out, f"Квартальный анализ, {title}, {unit_label}: анкет {analysis.questionnaires}. {MARKING}"


EXPORT = StaffCommand("export", REPORT_ROLES, "выгрузка анкет (XLSX или CSV)", start_export)
REPORT = StaffCommand("report", REPORT_ROLES, "квартальный анализ или отчет по Приложению № 2", start_report)
