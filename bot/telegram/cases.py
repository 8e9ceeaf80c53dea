"""Cases in Telegram: the card's buttons in the unit chat, the answer written in the private chat
with a preview, and `/cases` (docs/cases.md).

The draft of an answer lives in the database (`channel_state`, key `cases:draft:<telegram id>`),
so a restart between writing and sending loses nothing. Staff see the case number, the answers
and the texts only; the respondent's address is read by `CaseDesk.answer` alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from aiogram.types import Message as TgMessage

from bot.cases.access import may_handle, visible_units
from bot.cases.desk import (
    CLOSED_NOTICE,
    CLOSED_TEXT,
    OUTCOME_TEXT,
    STAFF_ANSWER,
    Button,
    CaseAction,
    CaseDesk,
    Outcome,
    button_data,
    case_line,
)
from bot.config import StaffMember
from bot.core.clock import utcnow
from bot.core.staff import ALL_STAFF, StaffCommand, StaffDirectory
from bot.telegram.filters import private_text
from bot.telegram.retry import RetryPolicy, call_with_retry
from bot.telegram.staff import TelegramCommand
from storage import cases as cases_repo
from storage import repository as repo
from storage.cases import CaseStatus, ClosedBy
from storage.store import Storage

log = logging.getLogger(__name__)

REFUSED = "Это обращение другого подразделения: ответить могут его сотрудники и администраторы."
NOT_FOUND = "Обращение не найдено."
ALREADY_CLOSED = "Обращение № {number} уже закрыто."
OPEN_PRIVATE = "Чтобы ответить, откройте личный чат с ботом (/start) и нажмите «Ответить» снова."
WRITE_IN_PRIVATE = "Напишите ответ в личном чате с ботом."
PROMPT = (
    "Обращение № {number}. Напишите ответ клиенту одним сообщением. Он придет от имени "
    "подразделения «{unit}»; Ваше имя и аккаунт клиент не увидит. Отмена: «отмена»."
)
PREVIEW = "Предпросмотр — так клиент увидит ответ:\n\n{signed}"
CANCELLED = "Ответ по обращению № {number} не отправлен."
CLOSED_BY_YOU = "Обращение № {number} закрыто."
NO_DRAFT = "Черновик ответа не найден: нажмите «Ответить» на карточке обращения."
NO_CASES = "Открытых обращений нет."
NOT_YOURS = "Обращения видны сотрудникам подразделений и администраторам."
CASES_HELP = "Подробнее: /cases <номер>."
SEND_LABEL, EDIT_LABEL, CANCEL_LABEL = "Отправить", "Изменить", "Отмена"
CANCEL_WORDS = frozenset({"отмена", "/cancel", "cancel"})
DRAFT_KEY = "cases:draft:{user}"
RESULT = {Outcome.SENT: "доставлен"}


class CasePress(CallbackData, prefix="c", sep="|"):
    action: CaseAction
    number: int


def markup(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=data) for label, data in buttons]]
    )


class TelegramStaffChat:
    """Posts to the unit chats with the Bot API retries (429, network, 5xx)."""

    def __init__(self, bot: Bot, policy: RetryPolicy | None = None) -> None:
        self.bot = bot
        self.policy = policy or RetryPolicy()

    async def post(
        self, chat: int, text: str, *, buttons: Sequence[Button] = (), reply_to: int | None = None
    ) -> int:
        reply = (
            None
            if reply_to is None
            else ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
        )
        sent = await call_with_retry(
            lambda: self.bot.send_message(
                chat, text[:4096], reply_markup=markup(buttons), reply_parameters=reply
            ),
            self.policy,
            what="case notice",
        )
        return sent.message_id

    async def add_buttons(self, chat: int, message_id: int, buttons: Sequence[Button]) -> None:
        await call_with_retry(
            lambda: self.bot.edit_message_reply_markup(
                chat_id=chat, message_id=message_id, reply_markup=markup(buttons)
            ),
            self.policy,
            what="case buttons",
        )


def staff_member(staff: StaffDirectory, user_id: int | None) -> StaffMember | None:
    """The staff lookup of this channel (one place, so the staff model can change under it)."""
    return staff.member(user_id)


def _staff_key(user_id: int) -> str:
    return f"telegram:{user_id}"  # kept for audit only (docs/cases.md)


async def _draft(storage: Storage, user_id: int) -> dict[str, Any] | None:
    async with storage.transaction() as conn:
        raw = await repo.get_state(conn, DRAFT_KEY.format(user=user_id))
    return json.loads(raw) if raw else None


async def _set_draft(storage: Storage, user_id: int, draft: dict[str, Any] | None) -> None:
    value = json.dumps(draft, ensure_ascii=False) if draft is not None else ""
    async with storage.transaction() as conn:
        await repo.set_state(conn, DRAFT_KEY.format(user=user_id), value, utcnow())


def cases_router() -> Router:
    router = Router(name="cases")
    router.callback_query.register(on_case_press, CasePress.filter())
    router.message.register(on_draft_text, private_text)
    return router


async def on_case_press(
    query: CallbackQuery,
    callback_data: CasePress,
    bot: Bot,
    staff: StaffDirectory,
    cases: CaseDesk,
    storage: Storage,
) -> None:
    user_id = query.from_user.id
    member = staff_member(staff, user_id)
    case = await cases.case(callback_data.number)
    if case is None:
        await query.answer(NOT_FOUND)
        return
    if not may_handle(cases.q, member, case.unit):
        await query.answer(REFUSED, show_alert=True)
        return
    action = callback_data.action
    if case.status == CaseStatus.CLOSED and action != CaseAction.CANCEL:
        await query.answer(ALREADY_CLOSED.format(number=case.number), show_alert=True)
        if action == CaseAction.SEND:
            await _set_draft(storage, user_id, None)
        return
    if action == CaseAction.ANSWER or action == CaseAction.EDIT:
        await _set_draft(storage, user_id, {"case": case.number, "text": None})
        try:
            await call_with_retry(
                lambda: bot.send_message(
                    user_id, PROMPT.format(number=case.number, unit=cases.unit_name(case))
                ),
                what="case prompt",
            )
        except TelegramForbiddenError:
            await _set_draft(storage, user_id, None)
            await query.answer(OPEN_PRIVATE, show_alert=True)
            return
        await query.answer(WRITE_IN_PRIVATE if action == CaseAction.ANSWER else None)
        return
    if action == CaseAction.CLOSE:
        closed = await cases.close(case, staff=_staff_key(user_id))
        await query.answer(CLOSED_BY_YOU.format(number=case.number))
        if closed:
            await _notify_thread(
                storage,
                cases,
                case.number,
                CLOSED_NOTICE.format(number=case.number, why=CLOSED_TEXT[ClosedBy.STAFF]),
                bot,
            )
        return
    draft = await _draft(storage, user_id)
    await _drop_buttons(query, bot)
    if action == CaseAction.CANCEL:
        await _set_draft(storage, user_id, None)
        await query.answer()
        await bot.send_message(user_id, CANCELLED.format(number=case.number))
        return
    # SEND: the text previewed is the text sent; a draft of another case is not sent here.
    if draft is None or draft.get("case") != case.number or not draft.get("text"):
        await query.answer(NO_DRAFT, show_alert=True)
        return
    await query.answer()
    await _set_draft(storage, user_id, None)
    text = str(draft["text"])
    outcome = await cases.answer(case, text, staff=_staff_key(user_id))
    await bot.send_message(user_id, OUTCOME_TEXT[outcome].format(number=case.number))
    if outcome == Outcome.SENT:
        await _notify_thread(
            storage,
            cases,
            case.number,
            STAFF_ANSWER.format(number=case.number, result=RESULT[outcome], text=text),
            bot,
        )


async def on_draft_text(message: TgMessage, staff: StaffDirectory, cases: CaseDesk, storage: Storage) -> None:
    """A staff member's private message while an answer is being written; anything else passes on."""
    user = message.from_user
    if user is None or staff_member(staff, user.id) is None:
        raise SkipHandler
    draft = await _draft(storage, user.id)
    if draft is None or draft.get("text") is not None:
        raise SkipHandler
    number = int(draft["case"])
    text = (message.text or "").strip()
    if text.casefold() in CANCEL_WORDS:
        await _set_draft(storage, user.id, None)
        await message.answer(CANCELLED.format(number=number))
        return
    case = await cases.case(number)
    if case is None or not may_handle(cases.q, staff_member(staff, user.id), case.unit):
        await _set_draft(storage, user.id, None)
        await message.answer(REFUSED)
        return
    await _set_draft(storage, user.id, {"case": number, "text": text})
    buttons = [
        (SEND_LABEL, button_data(CaseAction.SEND, number)),
        (EDIT_LABEL, button_data(CaseAction.EDIT, number)),
        (CANCEL_LABEL, button_data(CaseAction.CANCEL, number)),
    ]
    await message.answer(PREVIEW.format(signed=cases.signed(case, text))[:4096], reply_markup=markup(buttons))


async def _drop_buttons(query: CallbackQuery, bot: Bot) -> None:
    """The preview's buttons act once."""
    if query.message is None:
        return
    try:
        await bot.edit_message_reply_markup(
            chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=None
        )
    except TelegramAPIError as exc:
        log.info("preview buttons not removed: %s", exc)


async def _notify_thread(storage: Storage, cases: CaseDesk, number: int, text: str, bot: Bot) -> None:
    async with storage.transaction() as conn:
        thread = await cases_repo.thread_of(conn, number)
    if thread is None:
        return
    try:
        await TelegramStaffChat(bot).post(int(thread[0]), text, reply_to=int(thread[1]))
    except TelegramAPIError as exc:  # the answer is delivered and stored; the copy is a courtesy
        log.warning("case %d: unit chat notice not sent (%s)", number, type(exc).__name__)


async def _cases(message: TgMessage, member: StaffMember, cases: CaseDesk) -> None:
    desk = cases
    allowed, unit = visible_units(desk.q, member)
    if not allowed:
        await message.answer(NOT_YOURS)
        return
    arg = (message.text or "").split(maxsplit=1)[1:]
    if arg and arg[0].strip().isdecimal():
        case = await desk.case(int(arg[0].strip()))
        if case is None or not may_handle(desk.q, member, case.unit):
            await message.answer(NOT_FOUND if case is None else REFUSED)
            return
        await message.answer("\n".join(await desk.thread(case))[:4096])
        return
    async with desk.storage.transaction() as conn:
        going = await cases_repo.list_cases(conn, unit=unit)
    if not going:
        await message.answer(NO_CASES)
        return
    lines = [case_line(case, desk.q, desk.zone) for case in going]
    await message.answer("\n".join([*lines, CASES_HELP])[:4096])


CASES: TelegramCommand = StaffCommand("cases", ALL_STAFF, "обращения клиентов", _cases)
